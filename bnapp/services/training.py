"""A live training run for the app: config -> trainer -> background thread -> save -> the pair in the menu.

`train_live` yields a `LiveUpdate` per engine event; the UI turns each into figures and text. The
run shares the cores with people's requests: it steps on a lowest-priority thread and waits between
steps while a request is in flight (`hardware.cores`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .. import hardware, stats
from ..engine import PairTrainer, Progress
from ..limits import TrainLimits
from ..recipes import RECIPES, TWINS, TrainConfig
from ..runs import finish
from . import UserError
from .state import ServerState, Session

MAX_YIELD_PER_STEP = 5.0  # s a step waits for interactive requests in flight (see hardware.CoreShare)
QUICK_SUBSET = 6000  # training images of the quick preset
BROWSER_TEST_IMAGES = 1000
BROWSER_EVALS = 12  # evaluations per browser run, for the accuracy curves
PROBE_UNIT = {"mlp": "layer2", "cnn": "block2b"}  # the unit the "inside while training" view follows


@dataclass
class RunLog:
    """Progress events gathered into series, for live curves."""

    steps: list[int] = field(default_factory=list)
    loss: dict[str, list[float | None]] = field(default_factory=lambda: {t: [] for t in TWINS})
    eval_steps: list[int] = field(default_factory=list)
    test_acc: dict[str, list[float | None]] = field(default_factory=lambda: {t: [] for t in TWINS})
    diverged: dict[str, int | None] = field(default_factory=lambda: {t: None for t in TWINS})

    def add(self, ev: Progress) -> None:
        if ev.kind == "log":
            self.steps.append(ev.step)
            for t in TWINS:
                self.loss[t].append(ev.loss.get(t))
        if ev.test_acc and any(v is not None for v in ev.test_acc.values()):
            self.eval_steps.append(ev.step)
            for t in TWINS:
                self.test_acc[t].append(ev.test_acc.get(t))
        self.diverged = dict(ev.diverged)

    def steps_to_reach(self, twin: str, accuracy: float) -> int | None:
        """The first evaluated step at which `twin` reached `accuracy` (the BN paper's "fewer steps")."""
        return next((s for s, a in zip(self.eval_steps, self.test_acc[twin]) if a is not None and a >= accuracy), None)


def recipe_defaults(recipe: str) -> tuple[str, str, float, int, float, int]:
    """The Train tab's fields for a preset: arch, optimizer, epochs, batch size, lr, training images."""
    r = RECIPES.get(recipe, RECIPES["quick"])
    subset = QUICK_SUBSET if recipe == "quick" else 50_000
    return r.arch, r.optimizer, r.epochs, r.batch_size, r.lr, subset


def browser_config(limits: TrainLimits, arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset,
                   seed) -> TrainConfig:
    """The checked config of a browser run: 1,000 test images, evaluated about 12 times per run."""
    try:
        return limits.config(arch, recipe, epochs, batch_size, lr, optimizer, placement, train_subset, seed,
                                   test_subset=BROWSER_TEST_IMAGES, evals_per_run=BROWSER_EVALS)
    except ValueError as e:
        raise UserError(str(e)) from None


def run_summary(meta: dict[str, dict], log: RunLog, seconds: float, stopped: bool) -> str:
    acc = {t: meta[t]["test_accuracy"] for t in TWINS}
    lines = [f"**{'Stopped early; partial result' if stopped else 'Done'}** in {seconds:.0f} s. Final test accuracy: "
             f"**{100 * acc['bn']:.1f}% with BatchNorm, {100 * acc['plain']:.1f}% without** "
             f"({meta['bn']['test_images']} test images, predicted in "
             f"{meta['bn'].get('test_precision', 'fp32')} as Compare does)."]
    for t in TWINS:
        if log.diverged.get(t) is not None:
            lines.append(f"The {'BN' if t == 'bn' else 'plain'} twin **diverged** at step {log.diverged[t]} (loss NaN/inf) "
                         "and was frozen there; the other twin carried on.")
    if log.test_acc["plain"] and log.test_acc["plain"][-1] is not None:
        target = log.test_acc["plain"][-1]
        reach = log.steps_to_reach("bn", target)
        if reach is not None and log.eval_steps:
            lines.append(f"The BN twin reached the plain twin's final accuracy ({100 * target:.1f}%) at step {reach} of "
                         f"{log.eval_steps[-1]}: {log.eval_steps[-1] / max(1, reach):.1f}x fewer steps.")
        else:
            lines.append(f"The BN twin never reached the plain twin's final accuracy ({100 * target:.1f}%) in this run.")
    return "  \n".join(lines)


@dataclass
class LiveUpdate:
    """One moment of a live run, for the UI."""

    event: Progress
    log: RunLog
    points: list[tuple[int, dict]]  # (step, `stats.evolution_point`) at each evaluation
    unit: str
    label: str  # "training", "stopping", "evaluating" or "done"
    evaluated: bool  # this event brought a new evaluation (and evolution point)
    pair_name: str | None = None  # set on the final update: the new pair in the menu
    files: list[Path] = field(default_factory=list)
    summary: str = ""


def train_live(state: ServerState, session: Session, cfg: TrainConfig) -> Iterator[LiveUpdate]:
    """Train both twins on a background thread, yielding updates; at the end the run is saved in the
    session's folder and offered as a pair. Closing the iterator stops the run."""
    trainer = PairTrainer(cfg, state.dataset(),
                          between_steps=lambda: hardware.cores.wait_for_interactive(MAX_YIELD_PER_STEP),
                          probe=_evolution_probe(cfg, state.dataset()))
    session.trainer = trainer
    log, points, unit = RunLog(), [], PROBE_UNIT[cfg.arch]
    try:
        for ev in hardware.in_background(trainer.run(), stop=trainer.stop):
            log.add(ev)
            if ev.probe is not None:
                points.append((ev.step, ev.probe))
            label = "stopping" if trainer.stopping else ("evaluating" if ev.kind == "done" else "training")
            yield LiveUpdate(ev, log, points, unit, label, evaluated=ev.probe is not None)
        result = finish(trainer, command=f"app: {cfg.arch} {cfg.recipe.name} lr={cfg.recipe.lr} "
                                         f"epochs={cfg.recipe.epochs} steps={trainer.step}")
        try:
            name, files = session.save_run(result, cfg.arch)
        except OSError as e:
            raise UserError(f"Could not write the run's checkpoint files: {e}") from None
        summary = run_summary(result.metadata, log, trainer.seconds, trainer.stopped_early)
        yield LiveUpdate(ev, log, points, unit, "done", False, name, files,
                         summary + f"  \nThe pair **{name}** is now in the model-pair menu for Compare and Activations.")
    finally:
        trainer.stop()  # a closed tab or a cancelled event must not leave the run going
        session.trainer = None


def _evolution_probe(cfg: TrainConfig, data):
    """Called by the engine on the training thread at each evaluation: both twins at the same step."""
    spec = cfg.recipe.input_spec()
    images = stats.sample(data.x_test, stats.default_batch(cfg.arch), seed=cfg.seed)
    unit = PROBE_UNIT[cfg.arch]
    return lambda models: stats.evolution_point(models, {t: spec for t in models}, images, unit)


def stop(session: Session) -> str:
    if session.trainer is None:
        return "No run in progress."
    session.trainer.stop()
    return "Stopping after the current step..."
