"""Experiments beyond one run, each built from `PairTrainer` runs on the same data and seed: a
learning-rate sweep, BN before vs after the ReLU, and the tutorial's own report. The presets the app
offers are dataclasses here; `python -m bnapp.experiments` prints the same numbers.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, replace

from bnapp import TWINS
from bnapp.data.cifar10 import Cifar10
from bnapp.measure import infer
from bnapp.measure.spread import Paired, Spread, paired
from bnapp.services import UserError
from bnapp.services.speedup import run_status
from bnapp.services.training import RunLog
from bnapp.training.engine import PairTrainer, Progress
from bnapp.training.limits import TrainLimits, TrainSettings
from bnapp.training.recipes import RECIPES, TrainConfig, default_recipe

MAX_SWEEP_RATES = 8
TRAINABILITY_STEPS = 1000  # fewer steps measure early progress, not whether a rate trains
PLACEMENT_SEEDS = (0, 1, 2)
TTA_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class ExperimentPreset:
    """A short, fixed budget shared by every run of an experiment, per architecture."""

    epochs: float
    train_subset: int
    batch_size: dict[str, int]  # per arch
    lr: dict[str, float | None]  # per arch; None: the recipe's own (or the rate being swept)
    test_subset: int = 1000
    evals_per_run: int = 0

    def config(self, limits: TrainLimits, arch: str, lr: float | None = None, runs: int = 1) -> TrainConfig:
        """The checked config of one of the experiment's `runs` runs (ValueError -> UserError naming the value).
        Each may train its share of the server's time limit, so the whole experiment fits that limit, as one
        training run does (and so does the ZeroGPU call it makes: `ui.events.GPU_CALLS`)."""
        recipe = experiment_recipe(arch)
        rate = lr if lr is not None else (self.lr[arch] or RECIPES[recipe].lr)
        try:
            settings = TrainSettings(arch, recipe, self.epochs, self.batch_size[arch], rate, RECIPES[recipe].optimizer,
                                     train_subset=self.train_subset)
            cfg = limits.config(settings, test_subset=self.test_subset, evals_per_run=self.evals_per_run)
            return replace(cfg, max_seconds=limits.max_seconds / runs)
        except ValueError as e:
            raise UserError(str(e)) from None


SWEEP = ExperimentPreset(epochs=1, train_subset=4096, batch_size={"cnn": 256, "mlp": 64, "fig1": 60},
                         lr={"cnn": None, "mlp": None, "fig1": None})
PLACEMENT = ExperimentPreset(epochs=2, train_subset=4096, batch_size={"cnn": 256, "mlp": 32, "fig1": 60},
                             lr={"cnn": None, "mlp": 1e-3, "fig1": None}, evals_per_run=8)
def experiment_recipe(arch: str) -> str:
    """Each architecture's shortest recipe: the experiments repeat it over rates and seeds."""
    try:
        return default_recipe(arch, short=True)
    except ValueError as e:
        raise UserError(str(e)) from None


def lr_sweep(base: TrainConfig, data: Cifar10, lrs: list[float]) -> Iterator[tuple[float, Progress | dict]]:
    """Both twins at each learning rate, same budget and seed. Yields (lr, progress event) while a run
    trains and (lr, summary row) when it ends. PyTorch's weight decay shrinks the weights by lr x wd a
    step, so `Recipe.at_rate` keeps that product, the regulariser, the same at every rate."""
    for lr in lrs:
        trainer = PairTrainer(replace(base, recipe=base.recipe.at_rate(lr)), data)
        last = None
        for ev in trainer.run():
            last = ev
            yield lr, ev
        for twin in TWINS:
            t = trainer.twins[twin]
            losses = [h["train_loss"] for h in t.history if h["train_loss"] is not None]
            yield lr, dict(lr=lr, twin=twin, status=run_status(t.diverged_at, t.test_accuracy),
                           test_accuracy=t.test_accuracy, final_train_loss=losses[-1] if losses else None,
                           diverged_at_step=t.diverged_at, seconds=last.elapsed if last else 0.0,
                           steps=trainer.step, stopped_early=trainer.stopped_early)


def tta_rows(base: TrainConfig, data: Cifar10, seeds: tuple[int, ...] = TTA_SEEDS) -> Iterator[dict]:
    """Each seed's pair trained once, then both twins scored with every test-time augmentation on the
    same images in the same precision (pass `holdout` data: the choice is made on validation). One row
    per (seed, twin, tta), yielded as each seed ends."""
    for seed in seeds:
        trainer = PairTrainer(replace(base, seed=seed), data)
        for _ in trainer.run():
            pass
        for twin, t in trainer.twins.items():
            for tta in infer.TTA_WEIGHTS:
                acc = infer.accuracy(t.model, data.x_test, data.y_test, replace(trainer.spec, tta=tta),
                                     trainer.precision)
                yield dict(seed=seed, twin=twin, tta=tta, accuracy=acc)


@dataclass(frozen=True)
class TtaChoice:
    """Each twin's mean accuracy per TTA over seeds and each TTA's gain over none, paired (same model, same images,
    so its spread is the sd of the per-seed gains); `chosen`: the best mean of the twin the choice is made for."""

    chosen: str
    made_for: str
    seeds: int
    accuracy: dict[str, dict[str, float]]  # twin -> tta -> mean accuracy
    gain: dict[str, dict[str, Spread]]  # twin -> tta (not "none") -> its gain over none


def tta_choice(rows: list[dict], twin: str = "bn") -> TtaChoice:
    """The TTA with the best mean accuracy of `twin` over seeds, and every twin's numbers beside it."""
    by = {(r["seed"], r["twin"], r["tta"]): r["accuracy"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    names = sorted({r["twin"] for r in rows}, key=TWINS.index)
    accuracy = {n: {tta: statistics.mean(by[s, n, tta] for s in seeds) for tta in infer.TTA_WEIGHTS} for n in names}
    gain = {n: {tta: Spread.of([by[s, n, tta] - by[s, n, "none"] for s in seeds])
                for tta in infer.TTA_WEIGHTS if tta != "none"} for n in names}
    return TtaChoice(max(accuracy[twin], key=accuracy[twin].get), twin, len(seeds), accuracy, gain)


def largest_trainable_rate(rows: list[dict], twin: str) -> float | None:
    """The largest swept rate at which `twin` neither diverged nor stalled (Bjorck et al. 2018), from runs of
    at least `TRAINABILITY_STEPS` steps (shorter runs: None, the claim cannot be made)."""
    long_enough = [r for r in rows if r["twin"] == twin and r.get("steps", 0) >= TRAINABILITY_STEPS]
    return max((r["lr"] for r in long_enough if r["status"] == "trains"), default=None)


@dataclass(frozen=True)
class Trainability:
    """What a sweep may say about trainability: the shortest run's steps and, only where every run had at least
    `TRAINABILITY_STEPS`, each twin's largest rate that trains (None: the runs were too short for the claim)."""

    steps: int
    largest: dict[str, float | None] | None


def trainability(rows: list[dict]) -> Trainability:
    steps = min((r.get("steps", 0) for r in rows), default=0)
    if steps < TRAINABILITY_STEPS:
        return Trainability(steps, None)
    return Trainability(steps, {t: largest_trainable_rate(rows, t) for t in TWINS})


def placement_runs(base: TrainConfig, data: Cifar10, seeds: tuple[int, ...] = PLACEMENT_SEEDS
                   ) -> Iterator[tuple[str, int, Progress]]:
    """The same budget with BN before and after the ReLU, for each seed. Yields (placement, seed, event);
    the plain twin has no BN to place, so its runs are the same network and serve as the common baseline."""
    for seed in seeds:
        for placement in ("before", "after"):
            trainer = PairTrainer(replace(base, placement=placement, seed=seed), data)
            for ev in trainer.run():
                yield placement, seed, ev


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
    configs = [SWEEP.config(limits, arch, lr, runs=len(lrs)) for lr in lrs]
    rows: list[dict] = []
    for _, item in lr_sweep(configs[0], data_source(), lrs):
        if isinstance(item, dict):
            rows.append(item)
            yield list(rows)


def placement_logs(limits: TrainLimits, data_source, arch: str) -> Iterator[dict]:
    """The app's placement experiment: every run's log, keyed (placement, seed), after each evaluation."""
    base = PLACEMENT.config(limits, arch, runs=2 * len(PLACEMENT_SEEDS))  # each seed: BN before, then after
    logs: dict[tuple[str, int], RunLog] = {}
    for placement, seed, ev in placement_runs(base, data_source()):
        log = logs.setdefault((placement, seed), RunLog())
        log.add(ev)
        if ev.test_acc:  # each evaluation, and each run's end
            yield logs


def placement_finals(logs: dict) -> dict[str, list[float]]:
    """Final accuracy (last evaluation: no TTA, the same test images) per variant, one per finished seed."""
    finals: dict[str, list[float]] = {"BN before ReLU": [], "BN after ReLU": [], "no BN": []}
    for (placement, _), log in logs.items():
        if not log.finished:
            continue
        finals[f"BN {placement} ReLU"].append(log.test_acc["bn"][-1])
        if placement == "before":
            finals["no BN"].append(log.test_acc["plain"][-1])
    return finals


@dataclass(frozen=True)
class PlacementResult:
    """Each variant's final accuracy over its finished seeds; BN before against after, paired by seed, once
    every seed trained both; whether runs stopped early at their share of the server's time limit."""

    finals: dict[str, Spread]
    before_vs_after: Paired | None
    stopped: bool


def placement_result(logs: dict) -> PlacementResult:
    finals = {k: v for k, v in placement_finals(logs).items() if v}
    before, after = finals.get("BN before ReLU", []), finals.get("BN after ReLU", [])
    both = len(before) == len(after) == len(PLACEMENT_SEEDS)  # each seed trains both placements: they pair up
    return PlacementResult({k: Spread.of(v) for k, v in finals.items()}, paired(before, after) if both else None,
                           any(log.stopped for log in logs.values()))
