from dataclasses import replace

from bnapp.data.cifar10 import load_cifar10
from bnapp.services import experiments
from bnapp.training import recipes


def test_lr_sweep_marks_a_diverged_twin_and_carries_on(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = recipes.TrainConfig("mlp", replace(recipes.RECIPES["tutorial"], epochs=1, batch_size=32, log_every=0))
    rows = [item for _, item in experiments.lr_sweep(base, data, [1e-3, 1e30]) if isinstance(item, dict)]
    assert [(r["lr"], r["twin"]) for r in rows] == [(1e-3, "bn"), (1e-3, "plain"), (1e30, "bn"), (1e30, "plain")]
    assert all(r["diverged_at_step"] is None for r in rows[:2])
    assert any(r["diverged_at_step"] is not None and r["status"] == "diverged" for r in rows[2:])


def test_placement_runs_train_before_and_after_for_each_seed(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = recipes.TrainConfig("mlp", replace(recipes.RECIPES["tutorial"], epochs=1, batch_size=32, lr=1e-3,
                                              log_every=0))
    done = {(p, seed): ev for p, seed, ev in experiments.placement_runs(base, data, seeds=(0, 1)) if ev.kind == "done"}
    assert set(done) == {("before", 0), ("after", 0), ("before", 1), ("after", 1)}
    assert all(ev.test_acc["bn"] is not None and ev.test_acc["plain"] is not None for ev in done.values())


def test_tutorial_lines_use_the_tutorials_words(synthetic_npz):
    lines = list(experiments.tutorial_lines(load_cifar10(synthetic_npz), epochs=1, log_every=5))
    assert any("Loss after mini-batch" in line and "[   bn]" in line for line in lines)
    assert any("epoch 1 bn: train loss" in line for line in lines)


def test_the_tutorial_stops_at_its_time_budget_and_says_so(synthetic_npz):
    lines = list(experiments.tutorial_lines(load_cifar10(synthetic_npz), epochs=1, max_seconds=1e-9, log_every=5))
    assert lines[-1] == "Stopped at step 1 (time budget)."
    assert not any("Loss after mini-batch" in line for line in lines)  # the first report would come at step 5
