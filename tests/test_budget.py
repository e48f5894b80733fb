"""Runs sized by a time budget, and the recorded command that re-runs one exactly."""
from __future__ import annotations

import shlex
from dataclasses import replace

import pytest
import torch

from bnapp import train
from bnapp.data.cifar10 import load_cifar10
from bnapp.services import budget
from bnapp.services.presets import browser_config
from bnapp.services.state import ServerState, Session
from bnapp.services.training import train_live
from bnapp.store.checkpoints import load
from bnapp.training.limits import TrainLimits, TrainSettings


def test_the_plan_fits_the_budget_and_fixes_steps_and_images():
    """The arithmetic, on fixed timings: measured ones vary with how busy the cores are."""
    cfg, _ = browser_config(TrainLimits(), TrainSettings("cnn", "quick", 2, 32, 0.2, "sgd", "before", 128, 0))
    timings = budget.Timings(set_up=0.5, step=0.1, evaluation=0.2, final_report=0.3, per_image=1e-4, calibration=2.0)
    planned, plan = budget.choose(cfg, timings, 20.0, 50_000)
    evaluations = cfg.evals_per_run + 2 + 1
    assert plan.steps == int((20.0 - 2.0 - (0.5 + 0.3 + budget.SAVE_SECONDS) - evaluations * 0.2) / (0.1 + 1e-4 * 16))
    assert planned.steps == plan.steps and planned.train_subset == plan.train_images == plan.steps * 16
    assert 20.0 - 0.1 <= plan.expected_seconds + plan.steps * 16 * 1e-4 <= 20.0
    assert planned.recipe.epochs == plan.epochs == plan.steps * 32 / plan.train_images
    few, _ = budget.choose(cfg, timings, 20.0, 320)  # every image in use: the rest of the budget buys steps
    assert few.train_subset == 320 and few.steps > 320 // 16
    assert budget.choose(cfg, timings, 10.0, 50_000)[0].steps < planned.steps  # a smaller budget buys fewer
    assert budget.choose(cfg, timings, 1.0, 50_000)[0].steps == budget.MIN_STEPS  # never fewer than MIN_STEPS


@pytest.mark.slow
def test_the_measurement_times_every_phase_of_the_very_run(synthetic_npz):
    cfg, _ = browser_config(TrainLimits(), TrainSettings("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128, 0))
    t = budget.measure(cfg, load_cifar10(synthetic_npz))
    assert t.step > 0 and t.per_image > 0 and t.evaluation >= 0 and t.final_report >= 0
    assert t.calibration >= t.set_up + budget.CALIBRATION_STEPS // 2 * t.step


@pytest.mark.slow
def test_a_browser_run_records_the_command_that_reruns_it_exactly(synthetic_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("BNAPP_DATA", str(synthetic_npz))
    state = ServerState(pairs={}, examples=None, limits=TrainLimits())
    cfg, _ = browser_config(state.limits, TrainSettings("cnn", "quick", 2, 32, 0.2, "sgd", "before", 128, 3))
    cfg = replace(cfg, steps=7, train_subset=96, test_subset=64)  # what a plan fixes
    session = Session()
    final = list(train_live(state, session, cfg))[-1]
    meta = session.pairs[final.pair_name].metadata["bn"]
    args = shlex.split(meta["command"])
    assert args[:3] == ["python", "-m", "bnapp.train"] and "--steps" in args
    out = args.index("--out")
    args[out + 1] = str(tmp_path)
    assert train.main(args[3:] + ["--data", str(synthetic_npz)]) == 0
    again, again_meta = load(tmp_path / "cnn-bn")
    assert again_meta["steps"] == meta["steps"] == 7 and again_meta["train_images"] == 96
    live = session.pairs[final.pair_name].models["bn"].state_dict()
    assert all(torch.equal(v.cpu(), live[k].cpu()) for k, v in again.state_dict().items())
    session.close()


@pytest.mark.slow
def test_stop_clicked_while_the_machine_is_measured_stops_the_run(synthetic_npz, monkeypatch):
    from bnapp.services import training

    monkeypatch.setenv("BNAPP_DATA", str(synthetic_npz))
    state = ServerState(pairs={}, examples=None, limits=TrainLimits())
    session = Session()
    real_plan = training.plan_run

    def plan_then_click_stop(*args, **kwargs):
        planned = real_plan(*args, **kwargs)
        assert "Stopping" in training.stop(session)
        return planned

    monkeypatch.setattr(training, "plan_run", plan_then_click_stop)
    cfg, seconds = browser_config(state.limits,
                                  TrainSettings("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128, 0, 15))
    final = list(train_live(state, session, cfg, seconds))[-1]
    meta = session.pairs[final.pair_name].metadata["bn"]
    assert meta["stopped_early"] and meta["steps"] <= 1
    assert not session.stop.is_set()  # the next run starts afresh
    session.close()
