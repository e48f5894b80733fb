import json
from dataclasses import replace

import pytest
import torch

from bnapp import TWINS, evaluate, train
from bnapp.data.cifar10 import load_cifar10
from bnapp.store import checkpoints
from bnapp.training import recipes, runs
from bnapp.training.engine import PairTrainer


def tiny_cfg(arch="mlp", recipe="tutorial", **kw):
    r = replace(recipes.RECIPES[recipe], **kw)
    return recipes.TrainConfig(arch, r, seed=0)


@pytest.mark.slow
def test_lockstep_twins_see_identical_batches(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    trainer = PairTrainer(tiny_cfg("cnn", "fast", epochs=1, batch_size=64, precision="fp32"), data)
    seen = {"bn": [], "plain": []}
    for name, t in trainer.twins.items():
        t.model.stem.register_forward_hook(lambda m, i, o, name=name: seen[name].append(i[0].clone())
                                           if m.training else None)
    list(trainer.run())
    assert len(seen["bn"]) == trainer.total_steps == 4
    for a, b in zip(seen["bn"], seen["plain"]):
        assert torch.equal(a, b)


def test_tutorial_recipe_decreases_loss(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    trainer = PairTrainer(tiny_cfg(epochs=3, lr=1e-3, log_every=0), data)
    events = list(trainer.run())
    for twin in TWINS:
        hist = trainer.twins[twin].history
        assert hist[-1]["train_loss"] < hist[0]["train_loss"], (twin, hist)
    assert events[-1].kind == "done" and all(events[-1].test_acc[t] is not None for t in TWINS)


def test_runs_are_deterministic(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    results = [runs.train_pair(tiny_cfg(epochs=1), data) for _ in range(2)]
    for twin in TWINS:
        a, b = (r.models[twin].state_dict() for r in results)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_ends_between_steps_and_keeps_the_partial_result(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    trainer = PairTrainer(tiny_cfg(epochs=5, log_every=3), data)
    for ev in trainer.run():
        if ev.kind == "log":
            trainer.stop()
    assert ev.kind == "done" and ev.stopped and ev.step == 3
    result = runs.finish(trainer)
    assert result.metadata["bn"]["stopped_early"] and result.metadata["bn"]["steps"] == 3


def test_a_diverging_twin_is_frozen_and_the_other_carries_on(synthetic_npz, monkeypatch):
    # a bf16 copy for the final evaluation would call the patched fp32 forward
    monkeypatch.setenv("BNAPP_PRECISION", "fp32")
    data = load_cifar10(synthetic_npz)
    trainer = PairTrainer(tiny_cfg(epochs=2, batch_size=32), data)
    plain = trainer.twins["plain"].model
    real_forward, calls = plain.forward, []

    def blows_up_at_step_3(x):
        calls.append(1)
        out = real_forward(x)
        return out * float("nan") if len(calls) >= 3 and plain.training else out

    plain.forward = blows_up_at_step_3
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    done = list(trainer.run())[-1]
    assert done.diverged == {"bn": None, "plain": 2}
    assert trainer.step == trainer.total_steps == 16
    assert len([c for c in calls]) >= 3 and trainer.twins["bn"].history[-1]["train_loss"] is not None
    assert any(not torch.equal(before[k], v) for k, v in plain.state_dict().items())  # trained 2 steps
    assert all(torch.isfinite(v).all() for v in plain.state_dict().values()), "a NaN step is never applied"


def test_cli_trains_saves_and_evaluates(synthetic_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(["--arch", "mlp", "--recipe", "tutorial", "--data", str(synthetic_npz), "--out", str(out),
                       "--epochs", "1", "--batch-size", "32"]) == 0
    for twin in TWINS:
        meta = json.loads((out / f"mlp-{twin}.json").read_text())
        for key in ("arch", "bn", "placement", "recipe", "seed", "epochs", "history", "test_accuracy", "data",
                    "versions", "per_class_accuracy", "confusion_matrix", "command", "wall_time_seconds"):
            assert key in meta, key
        assert meta["bn"] == (twin == "bn") and 0 <= meta["test_accuracy"] <= 1
        assert set(meta["history"][0]) >= {"epoch", "train_loss", "train_acc", "test_acc"}
        checkpoints.load(out / f"mlp-{twin}")
    capsys.readouterr()
    assert evaluate.main(["--json", "--data", str(synthetic_npz), str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["checkpoint"].split("/")[-1] for r in rows} == {"mlp-bn.safetensors", "mlp-plain.safetensors"}
    metas = {t: json.loads((out / f"mlp-{t}.json").read_text()) for t in TWINS}
    for r in rows:
        twin = "bn" if r["checkpoint"].endswith("-bn.safetensors") else "plain"
        assert abs(r["test_accuracy"] - metas[twin]["test_accuracy"]) < 1e-9


def test_cli_reports_a_missing_dataset(tmp_path, capsys):
    assert train.main(["--arch", "mlp", "--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path)]) == 2
    assert "nope.npz" in capsys.readouterr().err


def test_each_arch_trains_with_its_own_recipe_unless_told_otherwise():
    """One rule (`recipes.default_recipe`): the CLI trains an arch's longest recipe, the experiments its shortest."""
    from bnapp import train
    from bnapp.training.recipes import default_recipe

    assert [default_recipe(a) for a in ("mlp", "cnn", "fig1")] == ["tutorial", "fast", "fig1"]
    assert [default_recipe(a, short=True) for a in ("mlp", "cnn", "fig1")] == ["tutorial", "quick", "fig1"]
    for arch, recipe in (("fig1", "fig1"), ("mlp", "tutorial"), ("cnn", "fast")):
        cfg = train.config_from_args(train._parser().parse_args(["--arch", arch, "--out", "x"]))
        assert cfg.recipe.name == recipe and cfg.recipe.arch == arch
