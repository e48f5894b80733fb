from dataclasses import replace

from bnapp.data.cifar10 import load_cifar10
from bnapp.services import experiments
from bnapp.training import recipes
from bnapp.ui import experiment_text


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


def test_an_experiments_runs_share_the_servers_time_limit_so_the_whole_fits_it(monkeypatch):
    """One experiment is one ZeroGPU call of the server's limit + a margin: its runs together must fit it."""
    from bnapp.services import noisy
    from bnapp.training.limits import TrainLimits

    limits, seen = TrainLimits(max_seconds=60), {}

    def records(name: str):
        return lambda base, *_: seen.update({name: base.max_seconds}) or iter(())

    monkeypatch.setattr(experiments, "lr_sweep", records("sweep"))
    monkeypatch.setattr(experiments, "placement_runs", records("placement"))
    monkeypatch.setattr(noisy, "noisy_runs", records("noisy"))
    list(experiments.sweep_rows(limits, lambda: None, "mlp", [0.01, 0.1, 1.0]))
    list(experiments.placement_logs(limits, lambda: None, "mlp"))
    noisy.noisy_experiment(limits, lambda: None, "mlp")
    assert seen == {"sweep": 20, "placement": 60 / (2 * len(experiments.PLACEMENT_SEEDS)),
                    "noisy": 60 / len(noisy.NOISY_SEEDS)}


def test_a_run_cut_short_by_its_share_of_the_limit_is_said_in_the_summary():
    rows = [dict(lr=0.1, twin=t, status="trains", test_accuracy=0.5, steps=10, stopped_early=t == "bn")
            for t in ("bn", "plain")]
    assert "stopped early" in experiment_text.sweep_summary(rows)
    assert "stopped early" not in experiment_text.sweep_summary([dict(r, stopped_early=False) for r in rows])
