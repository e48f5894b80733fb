from dataclasses import replace

from bnapp import recipes
from bnapp.services import experiments
from bnapp.data import load_cifar10


def test_lr_sweep_marks_a_diverged_twin_and_carries_on(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = recipes.TrainConfig("mlp", replace(recipes.RECIPES["tutorial"], epochs=1, batch_size=32, log_every=0))
    rows = [item for _, item in experiments.lr_sweep(base, data, [1e-3, 1e30]) if isinstance(item, dict)]
    assert [(r["lr"], r["twin"]) for r in rows] == [(1e-3, "bn"), (1e-3, "plain"), (1e30, "bn"), (1e30, "plain")]
    assert all(r["diverged_at_step"] is None for r in rows[:2])
    assert any(r["diverged_at_step"] is not None for r in rows[2:])


def test_placement_runs_train_before_and_after(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = recipes.TrainConfig("mlp", replace(recipes.RECIPES["tutorial"], epochs=1, batch_size=32, lr=1e-3, log_every=0))
    done = {p: ev for p, ev in experiments.placement_runs(base, data) if ev.kind == "done"}
    assert set(done) == {"before", "after"} and all(ev.test_acc["bn"] is not None for ev in done.values())


def test_tutorial_lines_use_the_tutorials_words(synthetic_npz):
    lines = list(experiments.tutorial_lines(load_cifar10(synthetic_npz), epochs=1, log_every=5))
    assert any("Loss after mini-batch" in line and "[   bn]" in line for line in lines)
    assert any("epoch 1 bn: train loss" in line for line in lines)
