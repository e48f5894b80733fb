"""The services layer: the review's latent bugs, each pinned by a test that failed before its fix."""
from __future__ import annotations

import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

import pytest
import torch

from bnapp.measure import evolution, stats
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import build_pair
from bnapp.services import UserError, prediction, training
from bnapp.services import state as S
from bnapp.store import hub
from bnapp.system import sharing
from bnapp.training.engine import PairTrainer
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import RECIPES, TrainConfig


def tiny_mlp_cfg(**kw) -> TrainConfig:
    return TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=1, batch_size=32, lr=1e-3, log_every=2), seed=0,
                       evals_per_run=3, **kw)


@pytest.fixture
def server_state(synthetic_npz, monkeypatch, tmp_path) -> S.ServerState:
    monkeypatch.setenv("BNAPP_DATA", str(synthetic_npz))
    return S.ServerState.load(tmp_path / "no-checkpoints", tmp_path / "no-examples", limits=TrainLimits())


def in_thread(fn, seconds: float) -> tuple[bool, list]:
    """Run fn on a thread; (finished within `seconds`, [result or exception])."""
    out: list = []

    def call() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # handed back to the test
            out.append(e)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out


@pytest.mark.parametrize("was_training", [True, False])
def test_eval_statistics_leave_the_callers_model_in_its_mode(was_training):
    model = build_pair("cnn")["bn"].train(was_training)
    stats.record(model, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), InputSpec(), "eval")
    assert model.training is was_training


def test_a_hub_repo_that_loads_nothing_leaves_no_pair_and_no_crash(monkeypatch, tmp_path):
    def no_pair(*_):
        raise hub.HubError("nobody/nothing: not found on the Hub")

    monkeypatch.setattr(S, "load_hub_pairs", no_pair)
    state = S.ServerState.load(tmp_path / "empty", tmp_path / "no-examples", hub_repo="nobody/nothing", limits=TrainLimits())
    assert state.pairs == {} and state.default_pair is None
    assert any("Hub pair not loaded" in e for e in state.load_errors)


def test_an_error_during_training_is_not_reported_as_a_failed_save(server_state, monkeypatch):
    def broken_run(self):
        raise OSError("the dataset file went away")
        yield  # a generator, like the real run

    monkeypatch.setattr(PairTrainer, "run", broken_run)
    with pytest.raises(OSError, match="dataset file went away"):
        list(training.train_live(server_state, S.Session(), tiny_mlp_cfg()))


def test_a_failed_save_says_so_and_the_session_ends_its_run(server_state, monkeypatch):
    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(S, "save_run", disk_full)
    session = S.Session()
    with pytest.raises(UserError, match="Could not write the run's checkpoint files"):
        list(training.train_live(server_state, session, tiny_mlp_cfg()))
    assert session.trainer is None and session.pairs == {}


def test_evolution_snapshots_are_taken_on_the_training_thread_both_twins_at_one_step(server_state, monkeypatch):
    seen = []
    real = evolution.snapshot_pair

    def recording(models, *args):
        seen.append((threading.current_thread().name, {n: m.training for n, m in models.items()}))
        return real(models, *args)

    monkeypatch.setattr(evolution, "snapshot_pair", recording)
    updates = list(training.train_live(server_state, S.Session(), tiny_mlp_cfg()))
    points = updates[-1].points
    assert len(points) == len(seen) >= 2
    assert {name for name, _ in seen} == {"bnapp-background"}
    assert [s for s, _ in points] == [u.event.step for u in updates if u.evaluated]
    assert all(set(p) == {"bn", "plain"} for _, p in points)


def test_a_run_that_ignores_stop_does_not_hang_its_consumer(monkeypatch):
    monkeypatch.setattr(sharing, "JOIN_TIMEOUT", 0.3)
    release = threading.Event()

    def stubborn():
        yield 1
        release.wait(30)  # a step that does not end when asked to stop
        yield 2

    def consume_one():
        with pytest.warns(UserWarning, match="did not end"):
            for item in sharing.in_background(stubborn()):
                return item

    finished, out = in_thread(consume_one, 10)
    release.set()
    assert finished and out == [1]


def test_a_prediction_whose_answer_never_comes_times_out(monkeypatch):
    monkeypatch.setattr(prediction, "ANSWER_TIMEOUT", 0.3)
    monkeypatch.setattr(prediction._Combiner, "_answer", staticmethod(lambda batch: None))
    pair = S.Pair("mlp", build_pair("mlp"), {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})
    finished, out = in_thread(lambda: prediction.probabilities(pair, torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), 10)
    assert finished and isinstance(out[0], FutureTimeout)


@pytest.mark.parametrize("recipe", [pytest.param(r, marks=pytest.mark.slow) if r == "fast" else r for r in sorted(RECIPES)])
def test_every_preset_of_the_train_tab_runs_to_its_pair(server_state, recipe):
    settings = training.preset(recipe)
    arch = settings.arch
    cfg, _ = training.browser_config(server_state.limits, replace(settings, batch_size=min(settings.batch_size, 64),
                                                                  train_subset=128, budget=0))
    session = S.Session()
    final = list(training.train_live(server_state, session, replace(cfg, steps=2)))[-1]
    assert final.pair_name in session.pairs and session.pairs[final.pair_name].metadata["bn"]["arch"] == arch
    session.close()


def test_compare_starts_on_the_first_example_the_twins_disagree_on(tmp_path):
    from bnapp.data.cifar10 import load_cifar10
    from bnapp.data.examples import export_examples
    from bnapp.data.images import Examples, open_image
    from bnapp.data.synthetic import make_synthetic_npz
    from bnapp.services.prediction import first_disagreement, predict_images

    data = load_cifar10(make_synthetic_npz(tmp_path / "d.npz", n_train=64, n_test=64))
    export_examples(data, tmp_path / "ex", per_class=2)
    examples = Examples.load(tmp_path / "ex")
    pair = S.Pair("cnn", {t: m.eval() for t, m in build_pair("cnn", seed=3, widths=(8, 16, 16)).items()},
                  {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})
    paths = sorted(examples.paths, key=lambda p: p.name)
    preds = predict_images(pair, [open_image(p) for p in paths])
    expected = next((p for p, pred in zip(paths, preds) if not pred.agree), paths[0])
    assert first_disagreement(pair, examples) == expected
    assert first_disagreement(pair, Examples()) is None


def test_a_pairs_recorded_history_becomes_curves():
    from bnapp.services.training import recorded_log

    history = [dict(epoch=e, train_loss=2.0 / e, train_acc=0.1 * e, test_acc=0.2 * e) for e in (1, 2, 3)]
    meta = {t: {"history": history, "steps": 300, "epochs": 3, "diverged_at_step": None} for t in ("bn", "plain")}
    log = recorded_log(meta)
    assert log.steps == log.eval_steps == [100, 200, 300] and log.test_acc["bn"] == [0.2, 0.4, 0.6000000000000001]
    assert log.loss["plain"][0] == 2.0 and log.finished


def test_the_app_opens_on_the_pair_at_the_plain_nets_best_rate_when_shipped():
    def pair(name: str, arch: str) -> S.Pair:
        models = build_pair(arch, widths=(8, 16, 16)) if arch == "cnn" else build_pair(arch)
        return S.Pair(name, models, {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})

    def opened_on(*names: str) -> str | None:
        return S.ServerState({n: pair(n, "mlp" if n == "mlp" else "cnn") for n in names}, S.Examples(),
                             limits=TrainLimits()).default_pair

    assert opened_on("mlp", "cnn", "cnn-best") == "cnn-best"
    assert opened_on("mlp", "cnn") == "cnn" and opened_on("mlp", "mine") == "mlp"


def test_a_link_keeps_what_passes_its_checks_and_names_what_it_drops(tmp_path):
    from bnapp.services import links

    TABS, EXPERIMENTS = ["compare", "train"], ["sweep", "noisy"]
    state = S.ServerState({"cnn": S.Pair("cnn", build_pair("cnn"), {t: {"input": InputSpec().to_dict()}
                                                                     for t in ("bn", "plain")})},
                          S.Examples(), limits=TrainLimits())
    link = links.parse({"tab": "train", "pair": "cnn", "layer": "block2a", "mode": "train", "n": "64", "lr": "0.05",
                        "severity": "3", "experiment": "noisy", "budget": "60"}, state, TABS, EXPERIMENTS)
    assert link.values == dict(tab="train", pair="cnn", layer="block2a", mode="train", n=64, lr=0.05, severity=3,
                               experiment="noisy", budget=60.0) and link.note == ""
    bad = links.parse({"tab": "nowhere", "pair": "../etc", "layer": "layer9", "n": "2.5", "lr": "1e9", "seed": "x",
                       "budget": "nan", "foo": "1"}, state, TABS, EXPERIMENTS)
    assert bad.values == {}
    for part in ("tab='nowhere'", "pair='../etc'", "layer='layer9' (not a layer of this pair)", "n='2.5' (number of test images must be a whole number",
                 "lr='1e9' (learning rate must be between", "seed='x' (seed must be a number", "budget='nan'", "unknown setting 'foo'"):
        assert part in bad.note, (part, bad.note)


@pytest.mark.slow
def test_finished_runs_are_kept_for_the_overlay_and_listed_by_their_settings(server_state):
    session = S.Session()
    cfg = replace(tiny_mlp_cfg(), seed=3)
    for _ in range(2):
        list(training.train_live(server_state, session, cfg))
    assert [r.name for r in session.finished] == ["run1-mlp", "run2-mlp"]
    label = session.finished[0].label
    assert label.startswith("run1-mlp: mlp tutorial, adam lr") and "seed 3" in label and "BN " in label
    chosen = training.overlay_runs(session, [label])
    assert [r.name for r in chosen] == ["run1-mlp"] and chosen[0].log.eval_steps
    from bnapp.ui.figures import training as plots
    fig = plots.overlay([(r.name, r.log) for r in session.finished])
    assert {d.name for d in fig.data} == {"run1-mlp, BN", "run1-mlp, plain", "run2-mlp, BN", "run2-mlp, plain"}
