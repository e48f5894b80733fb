"""Live runs sized by a time budget: measure this machine, then choose the steps and the images.

A browser run must end inside its budget on any machine: a 2-core fp32-only CPU, a laptop with
AVX512-BF16, a GPU. `plan_run` trains a few throwaway steps of the very twins the run will train
(same recipe, batch, precision, device and evaluation set), times each phase, and fixes the number of
steps so that set-up, steps, evaluations and the final report fit the budget. The training images
follow from the steps (the recipe's epochs over them), so faster hardware trains on more images. The
learning-rate schedule and the evaluation points are laid over the chosen steps by the engine, and
the steps are recorded, so `python -m bnapp.train --steps N --train-subset M ...` re-runs it exactly.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace

from bnapp.data.batches import normalize
from bnapp.data.cifar10 import Cifar10
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import TrainConfig

CALIBRATION_STEPS = 5  # the first is a warm-up; the others are timed
MIN_STEPS = 10
SAVE_SECONDS = 1.0  # writing both checkpoints and the last figures


@dataclass(frozen=True)
class Plan:
    """What the measurement found and what was chosen."""

    budget: float
    steps: int
    train_images: int
    epochs: float
    step_seconds: float
    eval_seconds: float  # one evaluation of both twins (and its evolution snapshot)
    fixed_seconds: float  # set-up, evaluations, final report and saving
    calibration_seconds: float

    @property
    def expected_seconds(self) -> float:
        return self.calibration_seconds + self.fixed_seconds + self.steps * self.step_seconds


@dataclass(frozen=True)
class Timings:
    """What one phase of a run costs on this machine, in seconds (measured by `measure`)."""

    set_up: float  # building the twins and the trainer
    step: float  # one training step of both twins
    evaluation: float  # one evaluation of both twins, with what the run records at it
    final_report: float  # the final test report
    per_image: float  # normalising one training image, done once before the first step
    calibration: float  # the whole measurement, which the budget pays for too


def measure(cfg: TrainConfig, data: Cifar10, probe=None) -> Timings:
    """Train a few throwaway steps of the very twins `cfg` trains and time each phase."""
    start = time.perf_counter()
    trial = replace(cfg, steps=CALIBRATION_STEPS, evals_per_run=0, max_seconds=0,
                    recipe=replace(cfg.recipe, log_every=1, lookahead=False))
    trainer = PairTrainer(trial, data)
    set_up = time.perf_counter() - start
    marks, kinds = [], []
    for ev in trainer.run():
        marks.append(time.perf_counter())
        kinds.append(ev.kind)
    steps_at = [t for t, k in zip(marks, kinds) if k == "log"]
    step_seconds = statistics.median(b - a for a, b in zip(steps_at[1:], steps_at[2:]) if b > a) \
        if len(steps_at) >= 3 else (steps_at[-1] - start - set_up) / max(1, len(steps_at))
    epoch_eval = marks[kinds.index("epoch")] - steps_at[-1]  # no TTA: what each evaluation during the run costs
    final_report = marks[-1] - marks[kinds.index("epoch")]
    probe_seconds = 0.0
    if probe is not None:
        t = time.perf_counter()
        probe(trainer.models(), trainer.current_lr)
        probe_seconds = time.perf_counter() - t
    t = time.perf_counter()  # a run normalises all of its training images once, before its first step
    normalize(trainer.data.x_train, trainer.spec.mean, trainer.spec.std)
    per_image = (time.perf_counter() - t) / len(trainer.data.y_train)
    return Timings(set_up, step_seconds, max(0.0, epoch_eval) + probe_seconds, max(0.0, final_report), per_image,
                   time.perf_counter() - start)


def choose(cfg: TrainConfig, timings: Timings, budget: float, most_images: int) -> tuple[TrainConfig, Plan]:
    """`cfg` with `steps` and `train_subset` chosen so that a run costing `timings` ends within `budget` seconds
    of the moment the measurement began, on at most `most_images` training images."""
    r, t = cfg.recipe, timings
    fixed = t.set_up + t.final_report + SAVE_SECONDS
    evaluations = cfg.evals_per_run + math.ceil(r.epochs) + 1  # the scheduled ones and one per epoch end
    left = budget - t.calibration - fixed - evaluations * t.evaluation
    steps = int(left / (t.step + t.per_image * r.batch_size / r.epochs))  # images grow with the steps
    if steps * r.batch_size / r.epochs > most_images:  # every image in use: the rest of the budget is steps
        steps = int((left - t.per_image * most_images) / t.step)
    steps = max(MIN_STEPS, steps)
    images = min(most_images, max(r.batch_size, int(steps * r.batch_size / r.epochs)))
    epochs = steps * r.batch_size / images
    plan = Plan(budget, steps, images, epochs, t.step, t.evaluation, fixed + evaluations * t.evaluation,
                t.calibration)
    return replace(cfg, steps=steps, train_subset=images, recipe=replace(r, epochs=epochs)), plan


def plan_run(cfg: TrainConfig, data: Cifar10, budget: float, max_train_images: int,
             probe=None) -> tuple[TrainConfig, Plan]:
    """`cfg` with `steps` and `train_subset` chosen so that the run (after this measurement) ends
    within `budget` seconds of the moment this was called. `probe` is what the run records at each evaluation."""
    return choose(cfg, measure(cfg, data, probe), budget, min(max_train_images, len(data.y_train)))
