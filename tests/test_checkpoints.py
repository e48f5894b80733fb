import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_model, build_pair
from bnapp.services.state import pair_title
from bnapp.store import checkpoints as C


def saved(tmp_path, arch="mlp", bn=True):
    model = build_model(ModelConfig(arch, bn))
    meta = C.base_metadata(ModelConfig(arch, bn), InputSpec()) | {"test_accuracy": 0.5}
    C.save(model, meta, tmp_path / f"{arch}-{'bn' if bn else 'plain'}")
    return model, tmp_path / f"{arch}-{'bn' if bn else 'plain'}"


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_round_trip_is_bit_exact(tmp_path, arch):
    model, stem = saved(tmp_path, arch)
    loaded, meta = C.load(stem.with_suffix(".safetensors"))
    assert not loaded.training and meta["arch"] == arch and meta["bn"] is True
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert not list(tmp_path.glob("*.tmp")), "temporary files must not be left behind"


def test_truncated_file_is_refused(tmp_path):
    _, stem = saved(tmp_path)
    w = stem.with_suffix(".safetensors")
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(C.CheckpointError, match="mlp-bn.safetensors"):
        C.load(stem)


class Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_pickle_is_refused_without_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, stem = saved(tmp_path)
    stem.with_suffix(".safetensors").write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(C.CheckpointError, match="not a readable safetensors"):
        C.load(stem)
    torch.save({"w": torch.zeros(2)}, stem.with_suffix(".safetensors"))  # a real torch pickle too
    with pytest.raises(C.CheckpointError):
        C.load(stem)
    assert not (tmp_path / "PWNED").exists()


def test_mis_shaped_missing_and_extra_tensors_are_refused(tmp_path):
    model, stem = saved(tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    bad = dict(state, **{"layer1.linear.weight": torch.zeros(64, 10)})
    save_file(bad, stem.with_suffix(".safetensors"))
    with pytest.raises(C.CheckpointError, match="layer1.linear.weight"):
        C.load(stem)
    save_file({k: v for k, v in state.items() if k != "out.bias"}, stem.with_suffix(".safetensors"))
    with pytest.raises(C.CheckpointError, match="missing"):
        C.load(stem)
    save_file(dict(state, extra=torch.zeros(1)), stem.with_suffix(".safetensors"))
    with pytest.raises(C.CheckpointError, match="unexpected"):
        C.load(stem)


def test_bad_metadata_is_refused(tmp_path):
    _, stem = saved(tmp_path)
    meta_path = stem.with_suffix(".json")
    meta_path.write_text("{not json")
    with pytest.raises(C.CheckpointError, match="mlp-bn.json"):
        C.load(stem)
    meta_path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(C.CheckpointError, match="not a bnapp checkpoint"):
        C.load(stem)
    meta_path.unlink()
    with pytest.raises(C.CheckpointError, match="not found"):
        C.load(stem)


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, stem = saved(tmp_path)
    before = stem.with_suffix(".safetensors").read_bytes()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(C, "save_file", disk_full)
    with pytest.raises(OSError):
        C.save(model, {"format": C.FORMAT}, stem)
    assert stem.with_suffix(".safetensors").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_pair_shipped_from_several_seeds_records_each_and_its_spread(synthetic_npz, tmp_path):
    from bnapp.data.cifar10 import load_cifar10
    from bnapp.seeds import main
    from bnapp.store.pairs import load_pairs

    for seed in (0, 1):
        for twin, model in build_pair("mlp", seed=seed).items():
            meta = C.base_metadata(ModelConfig("mlp", twin == "bn"), InputSpec()) | {"seed": seed,
                                                                                      "command": f"train {seed}"}
            C.save(model.eval(), meta, tmp_path / "runs" / f"mlp-s{seed}-{twin}")
    assert main(["--name", "mlp", "--runs", str(tmp_path / "runs" / "mlp-s0"), str(tmp_path / "runs" / "mlp-s1"),
                 "--out", str(tmp_path / "out"), "--data", str(synthetic_npz)]) == 0
    _, meta = C.load(tmp_path / "out" / "mlp-bn")
    record = meta["seeds"]
    assert record["seeds"] == [0, 1] and record["shipped_seed"] == 0 and meta["seed"] == 0
    assert record["commands"] == ["train 0", "train 1"]
    fp32 = record["test_accuracy"]["fp32"]
    assert fp32[0] == meta["test_accuracy"] and record["mean"]["fp32"] == pytest.approx(sum(fp32) / 2)
    data = load_cifar10(synthetic_npz)
    assert all(0 <= a <= 1 for a in fp32) and meta["evaluation"]["test_images"] == len(data.y_test)
    pair = load_pairs(tmp_path / "out").pairs["mlp"]
    assert "over 2 seeds (mean +- sd): BN " in pair_title(pair)
    assert "choice" not in meta  # only with --chosen-by


@pytest.mark.slow
def test_a_pair_chosen_on_validation_records_the_split_and_the_rule(synthetic_npz, tmp_path, capsys):
    """Issue 15: the JSON records the validation split and the rule that chose the runs' rate; runs trained at
    different rates are refused."""
    from bnapp.experiments import PROG, parser
    from bnapp.seeds import main

    runs = []
    for seed, lr, epochs in ((0, 0.03, 25), (1, 0.03, 25), (2, 0.3, 25), (3, 0.03, 10)):
        for twin, model in build_pair("mlp", seed=seed).items():
            meta = C.base_metadata(ModelConfig("mlp", twin == "bn"), InputSpec()) | dict(
                seed=seed, recipe="fast", train_images=50_000, hyperparameters=dict(lr=lr), epochs=epochs)
            C.save(model.eval(), meta, tmp_path / "runs" / f"p-s{seed}-{twin}")
        runs.append(str(tmp_path / "runs" / f"p-s{seed}"))
    args = ["--name", "p", "--out", str(tmp_path / "out"), "--data", str(synthetic_npz), "--chosen-by", "plain"]
    assert main(args + ["--runs", *runs[:2]]) == 0
    choice = C.load(tmp_path / "out" / "p-plain")[1]["choice"]
    assert choice["split"] == dict(held_out_images=5000, class_balanced=True, seed=0, of="the 50,000 training images")
    assert choice["lr"] == 0.03 and "plain twin's best mean validation accuracy" in choice["rule"]
    assert main(args[:-1] + ["bn", "--runs", *runs[:2]]) == 0
    assert "BN twin's best" in C.load(tmp_path / "out" / "p-bn")[1]["choice"]["rule"]
    assert "all 50,000 training images" in choice["final_runs"]
    sweep = parser().parse_args(choice["sweep"].removeprefix(PROG).replace("--lrs ... --seed S", "--lrs 0.1").split())
    assert (sweep.experiment, sweep.validation, sweep.arch, sweep.recipe) == ("lr-sweep", True, "mlp", "fast")
    assert "epochs" not in choice  # only with --epochs-tried
    assert main(args[:-2] + ["--runs", *runs[:3]]) == 2  # with or without --chosen-by: seeds of one pair share its rate
    assert "different learning rates" in capsys.readouterr().err
    assert main(args + ["--runs", runs[0], runs[3]]) == 2 and "different epoch counts" in capsys.readouterr().err
    assert main(args + ["--epochs-tried", "10", "15", "--runs", *runs[:2]]) == 2  # 25 was not among those compared
    assert main(args + ["--epochs-tried", "10", "25", "--runs", *runs[:2]]) == 0
    epochs = C.load(tmp_path / "out" / "p-plain")[1]["choice"]["epochs"]
    assert epochs["chosen"] == 25 and epochs["tried"] == [10, 25] and "plain twin's best mean" in epochs["rule"]
    run = parser().parse_args(epochs["command"].removeprefix(PROG).replace(" E", " 25").split())
    assert (run.experiment, run.validation, run.lr, run.epochs) == ("tta", True, 0.03, 25)
