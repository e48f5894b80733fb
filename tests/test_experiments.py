from dataclasses import replace

import pytest

from bnapp import experiments, train
from bnapp.data import load_cifar10


def test_lr_sweep_marks_a_diverged_twin_and_carries_on(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = train.TrainConfig("mlp", replace(train.RECIPES["tutorial"], epochs=1, batch_size=32, log_every=0))
    rows = [item for _, item in experiments.lr_sweep(base, data, [1e-3, 1e30]) if isinstance(item, dict)]
    assert [(r["lr"], r["twin"]) for r in rows] == [(1e-3, "bn"), (1e-3, "plain"), (1e30, "bn"), (1e30, "plain")]
    assert all(r["diverged_at_step"] is None for r in rows[:2])
    assert any(r["diverged_at_step"] is not None for r in rows[2:])


def test_placement_runs_train_before_and_after(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = train.TrainConfig("mlp", replace(train.RECIPES["tutorial"], epochs=1, batch_size=32, lr=1e-3, log_every=0))
    done = {p: ev for p, ev in experiments.placement_runs(base, data) if ev.kind == "done"}
    assert set(done) == {"before", "after"} and all(ev.test_acc["bn"] is not None for ev in done.values())


def test_tutorial_lines_use_the_tutorials_words(synthetic_npz):
    lines = list(experiments.tutorial_lines(load_cifar10(synthetic_npz), epochs=1, log_every=5))
    assert any("Loss after mini-batch" in line and "[   bn]" in line for line in lines)
    assert any("epoch 1 bn: train loss" in line for line in lines)


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 1e6, "epochs must be between"), ("lr", float("inf"), "finite"), ("lr", "abc", "number"),
    ("batch_size", 0, "batch size"), ("batch_size", 3.5, "whole number"), ("train_subset", -1, "training images"),
    ("seed", [1], "number"),
])
def test_limits_refuse_bad_values(field, value, message):
    args = dict(arch="mlp", recipe="tutorial", epochs=1, batch_size=32, lr=1e-3, optimizer="adam", placement="before",
                train_subset=256, seed=0)
    args[field] = value
    with pytest.raises(ValueError, match=message):
        train.TrainLimits().config(**args)


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BNAPP_MAX_EPOCHS", "2")
    monkeypatch.setenv("BNAPP_MAX_SECONDS", "not a number")
    limits = train.TrainLimits.from_env()
    assert limits.max_epochs == 2 and limits.max_seconds == train.TrainLimits().max_seconds
    with pytest.raises(ValueError, match="BNAPP_MAX_EPOCHS"):
        limits.config("mlp", "tutorial", 3, 32, 1e-3, "adam", "before", 256, 0)
