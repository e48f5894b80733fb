"""Experiments beyond one run, each built from `PairTrainer` runs on the same data and seed: a
learning-rate sweep, BN before vs after the ReLU, and the tutorial's own report. The presets the app
offers are dataclasses here; `python -m bnapp.experiments` prints the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

from ..data import Cifar10
from ..engine import PairTrainer, Progress
from ..limits import TrainLimits
from ..recipes import RECIPES, TWINS, TrainConfig
from . import UserError
from .training import RunLog

MAX_SWEEP_RATES = 8


@dataclass(frozen=True)
class ExperimentPreset:
    """A short, fixed budget shared by every run of an experiment, per architecture."""

    epochs: float
    train_subset: int
    batch_size: dict[str, int]  # per arch
    lr: dict[str, float | None]  # per arch; None: the recipe's own (or the rate being swept)
    test_subset: int = 1000

    def config(self, limits: TrainLimits, arch: str, lr: float | None = None) -> TrainConfig:
        """The checked config of one run (ValueError -> UserError naming the value)."""
        recipe = experiment_recipe(arch)
        rate = lr if lr is not None else (self.lr[arch] or RECIPES[recipe].lr)
        try:
            return limits.config(arch, recipe, self.epochs, self.batch_size[arch], rate, RECIPES[recipe].optimizer,
                                 "before", self.train_subset, 0, test_subset=self.test_subset)
        except ValueError as e:
            raise UserError(str(e)) from None


SWEEP = ExperimentPreset(epochs=1, train_subset=4096, batch_size={"cnn": 256, "mlp": 64}, lr={"cnn": None, "mlp": None})
PLACEMENT = ExperimentPreset(epochs=2, train_subset=4096, batch_size={"cnn": 256, "mlp": 32}, lr={"cnn": None, "mlp": 1e-3})


def experiment_recipe(arch: str) -> str:
    return "quick" if arch == "cnn" else "tutorial"


def lr_sweep(base: TrainConfig, data: Cifar10, lrs: list[float]) -> Iterator[tuple[float, Progress | dict]]:
    """Both twins at each learning rate, same budget and seed. Yields (lr, progress event) while a
    run trains and (lr, summary row) when it ends; a twin whose loss turns NaN/inf is marked."""
    for lr in lrs:
        trainer = PairTrainer(replace(base, recipe=replace(base.recipe, lr=lr)), data)
        last = None
        for ev in trainer.run():
            last = ev
            yield lr, ev
        for twin in TWINS:
            t = trainer.twins[twin]
            losses = [h["train_loss"] for h in t.history if h["train_loss"] is not None]
            yield lr, dict(lr=lr, twin=twin, test_accuracy=t.test_accuracy, final_train_loss=losses[-1] if losses else None,
                           diverged_at_step=t.diverged_at, trained=t.diverged_at is None and bool(losses) and losses[-1] < 2.2,
                           seconds=last.elapsed if last else 0.0)


def placement_runs(base: TrainConfig, data: Cifar10) -> Iterator[tuple[str, Progress]]:
    """The same budget with BN before and after the ReLU. Yields (placement, event); the plain twin
    has no BN to place, so its two runs are the same network and serve as the common baseline."""
    for placement in ("before", "after"):
        trainer = PairTrainer(replace(base, placement=placement), data)
        for ev in trainer.run():
            yield placement, ev


def tutorial_lines(data: Cifar10, epochs: float = 5, max_seconds: float = 0, log_every: int = 500) -> Iterator[str]:
    """The tutorial's recipe on both twins, yielding its "Loss after mini-batch" report lines."""
    cfg = TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=epochs, log_every=log_every), max_seconds=max_seconds)
    trainer = PairTrainer(cfg, data)
    yield f"Training both MLP twins: {trainer.total_steps} steps of batch 10 on {len(trainer.data.y_train)} images."
    for ev in trainer.run():
        if ev.kind == "log":
            for twin in TWINS:
                if ev.loss.get(twin) is not None:
                    yield loss_line(twin, ev.step, trainer.steps_per_epoch, ev.loss[twin])
        elif ev.kind == "epoch":
            yield "  ".join(f"epoch {int(ev.epoch)} {t}: train loss {trainer.twins[t].history[-1]['train_loss']:.3f}, "
                            f"test accuracy {100 * ev.test_acc[t]:.1f}%" for t in TWINS)
        elif ev.kind == "done" and ev.stopped:
            yield f"Stopped at step {ev.step} (time budget)."


def loss_line(twin: str, step: int, steps_per_epoch: int, loss: float) -> str:
    """The tutorial's report line, tagged with the twin."""
    batch = step % steps_per_epoch or steps_per_epoch
    epoch = (step - 1) // steps_per_epoch + 1
    return f"[{twin:>5}] Loss after mini-batch {batch:5d} (epoch {epoch}): {loss:.3f}"


def parse_rates(text: str) -> list[float]:
    """'0.03 0.1, 0.3' -> [0.03, 0.1, 0.3]; UserError on anything else."""
    try:
        lrs = [float(v) for v in text.replace(",", " ").split()]
    except (AttributeError, ValueError):
        raise UserError("Learning rates: numbers separated by spaces, e.g. 0.03 0.1 0.3 1 3") from None
    if not 1 <= len(lrs) <= MAX_SWEEP_RATES:
        raise UserError(f"Give between 1 and {MAX_SWEEP_RATES} learning rates.")
    return lrs


def sweep_rows(limits: TrainLimits, data_source, arch: str, lrs: list[float]) -> Iterator[list[dict]]:
    """The app's sweep: every rate checked against the server's limits first, then the rows so far
    after each rate's run. `data_source` is called only once every value is known to be good."""
    configs = [SWEEP.config(limits, arch, lr) for lr in lrs]
    rows: list[dict] = []
    for lr, item in lr_sweep(configs[0], data_source(), lrs):
        if isinstance(item, dict):
            rows.append(item)
            yield list(rows)


def sweep_summary(rows: list[dict]) -> str:
    parts = []
    for r in rows:
        acc = "diverged" if r["diverged_at_step"] is not None else f"{100 * r['test_accuracy']:.1f}%"
        parts.append(f"lr {r['lr']:g} {'BN' if r['twin'] == 'bn' else 'plain'}: {acc}")
    return "; ".join(parts)


def placement_logs(limits: TrainLimits, data_source, arch: str) -> Iterator[dict]:
    """The app's placement experiment: the logs of both runs after each epoch and at the end."""
    base = PLACEMENT.config(limits, arch)
    logs = {"before": RunLog(), "after": RunLog()}
    for placement, ev in placement_runs(base, data_source()):
        logs[placement].add(ev)
        if ev.kind in ("epoch", "done"):
            yield logs


def placement_summary(logs: dict) -> str:
    parts = []
    for placement, log in logs.items():
        if log.eval_steps:
            parts.append(f"BN {placement} ReLU: {100 * log.test_acc['bn'][-1]:.1f}%")
    if logs["before"].eval_steps:
        parts.append(f"no BN: {100 * logs['before'].test_acc['plain'][-1]:.1f}%")
    return "Test accuracy so far -- " + ", ".join(parts)
