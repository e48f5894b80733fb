"""A live training run for the app: config -> trainer -> background thread -> save -> the pair in the menu.

`run_events` trains (on a ZeroGPU Space, in the GPU worker) and yields plain data; `train_live`, in the
server, turns it into a `LiveUpdate` per engine event for the UI, saves the run and offers its pair. The
run shares the cores with people's requests: it steps on a lowest-priority thread and waits between
steps while a request is in flight (`sharing.cores`).
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bnapp import ROOT, TWINS
from bnapp.services import UserError, tuning
from bnapp.services.budget import Plan, plan_run
from bnapp.services.probes import probe_for
from bnapp.services.state import RunRecord, ServerState, Session
from bnapp.system import machine, sharing
from bnapp.system.sharing import StopFlag
from bnapp.training.engine import PairTrainer, Progress
from bnapp.training.recipes import TrainConfig
from bnapp.training.runs import PairResult, finish

MAX_YIELD_PER_STEP = 5.0  # s a step waits for interactive requests in flight (see sharing.CoreShare)
PROBE_UNIT = {"mlp": "layer2", "cnn": "block2b", "fig1": "layer3"}  # the unit the "inside while training" view follows


@dataclass
class RunLog:
    """Progress events gathered into series, for live curves."""

    steps: list[int] = field(default_factory=list)
    loss: dict[str, list[float | None]] = field(default_factory=lambda: {t: [] for t in TWINS})
    eval_steps: list[int] = field(default_factory=list)
    test_acc: dict[str, list[float | None]] = field(default_factory=lambda: {t: [] for t in TWINS})
    diverged: dict[str, int | None] = field(default_factory=lambda: {t: None for t in TWINS})
    finished: bool = False
    stopped: bool = False  # ended early: stopped, or at its time limit

    def add(self, ev: Progress) -> None:
        """Any twins the run has (a noisy-BN run has three) get their series."""
        self.finished = ev.kind == "done"
        self.stopped = self.finished and ev.stopped
        if ev.kind == "log":
            self.steps.append(ev.step)
            for t in ev.loss:
                self.loss.setdefault(t, []).append(ev.loss.get(t))
        if ev.kind != "done" and ev.test_acc and any(v is not None for v in ev.test_acc.values()):
            # one protocol for the curves: no TTA, the training precision (the final report has its own)
            self.eval_steps.append(ev.step)
            for t in ev.test_acc:
                self.test_acc.setdefault(t, []).append(ev.test_acc.get(t))
        self.diverged = dict(ev.diverged)


def recorded_log(meta: dict[str, dict]) -> RunLog:
    """A pair's own training, as its checkpoints recorded it (one point per epoch), in the live curves' form."""
    log = RunLog(finished=True)
    history = {t: meta[t].get("history") or [] for t in TWINS}
    per_epoch = meta["bn"].get("steps", 0) / max(meta["bn"].get("epochs") or 1, 1e-9)
    for i, row in enumerate(history["bn"]):
        step = round(row["epoch"] * per_epoch) if per_epoch else row["epoch"]
        log.steps.append(step)
        log.eval_steps.append(step)
        for t in TWINS:
            other = history[t][i] if i < len(history[t]) else {}
            log.loss[t].append(other.get("train_loss"))
            log.test_acc[t].append(other.get("test_acc"))
    log.diverged = {t: meta[t].get("diverged_at_step") for t in TWINS}
    return log


@dataclass
class LiveUpdate:
    """One moment of a live run, for the UI."""

    event: Progress
    log: RunLog
    points: list[tuple[int, dict]]  # (step, `evolution.snapshot_pair`) at each evaluation
    landscape: list[tuple[int, dict]]  # (step, twin -> `landscape.LineStats`) at each evaluation, if measured
    unit: str
    label: str  # "training", "stopping", "evaluating" or "done"
    evaluated: bool  # this event brought a new evaluation (and evolution point)
    pair_name: str | None = None  # set on the final update: the new pair in the menu
    files: list[Path] = field(default_factory=list)
    end: RunEnd | None = None  # set on the final update: how the run ended (the UI words it: `run_text.run_summary`)


@dataclass
class RunEnd:
    """A run's last word, as it leaves the process that trained it (a ZeroGPU worker too): the twins with
    their metadata, on the CPU, the device it trained on, and what its time budget planned."""

    result: PairResult
    seconds: float
    stopped: bool
    trained_on: str  # the GPU's or the CPU's name, read where it trained
    plan: Plan | None = None  # what a time budget planned (None: no budget)


RunEvents = Callable[[StopFlag, TrainConfig, float, bool], Iterator[Progress | RunEnd]]


def run_events(state: ServerState, stop: StopFlag, cfg: TrainConfig, budget: float = 0,
               with_landscape: bool = False) -> Iterator[Progress | RunEnd]:
    """Train both twins where the training is done -- on a ZeroGPU Space, the GPU worker, a fork of the server
    (`ui.events.on_gpu`) -- yielding each engine event and last a `RunEnd`: only data that can travel back.
    With a `budget` (s) the steps and images are first chosen to fit it on this hardware (`budget.plan_run`,
    which times the landscape measurements too). The run ends between steps once `stop` is set, from any
    process, and keeps what it has; closing the iterator stops it too."""
    data = state.dataset()
    probe = probe_for(cfg, data, PROBE_UNIT[cfg.arch], with_landscape=with_landscape)
    plan: Plan | None = None
    trainer: PairTrainer | None = None

    def between_steps() -> None:
        sharing.cores.wait_for_interactive(MAX_YIELD_PER_STEP)
        if stop.is_set():  # after the wait: a Stop clicked during it counts at once
            trainer.stop()

    def run() -> Iterator[Progress]:  # on the background thread: the measurement too yields to requests
        nonlocal cfg, plan, trainer
        if budget:
            cfg, plan = plan_run(cfg, data, budget, state.limits.max_train_subset, probe)
        trainer = PairTrainer(cfg, data, between_steps=between_steps, probe=probe)
        if stop.is_set():  # Stop was clicked while the machine was being measured
            trainer.stop()
        yield from trainer.run()

    def end() -> None:
        if trainer is not None:
            trainer.stop()

    yield from sharing.in_background(run(), stop=end)
    result = finish(trainer, command=cli_command(cfg))
    for model in result.models.values():
        model.cpu()
    yield RunEnd(result, trainer.seconds, trainer.stopped_early, machine.device_name(trainer.device),
                 plan)


def train_live(state: ServerState, session: Session, cfg: TrainConfig, budget: float = 0,
               with_landscape: bool = False, events: RunEvents | None = None) -> Iterator[LiveUpdate]:
    """A live run for the session, in the server process: `events` (`run_events` with the state bound, or its
    ZeroGPU call) trains, and here its events become `LiveUpdate`s, the finished run is saved in the session's
    folder and offered as a pair. Stop reaches the run through `session.stop`; closing the iterator stops it."""
    events = events or functools.partial(run_events, state)
    unit = PROBE_UNIT[cfg.arch]
    log, points, lines, end, ev = RunLog(), [], [], None, None
    session.running = True
    try:
        with contextlib.closing(events(session.stop, cfg, budget, with_landscape)) as stream:
            for item in stream:
                if isinstance(item, RunEnd):
                    end = item  # the stream still runs to its end: a ZeroGPU call then hands its GPU back
                    continue
                ev = item
                log.add(ev)
                if ev.probe is not None:
                    points.append((ev.step, ev.probe.evolution))
                    if ev.probe.landscape is not None:
                        lines.append((ev.step, {t: v.to_dict() for t, v in ev.probe.landscape.items()}))
                label = "stopping" if session.stop.is_set() else ("evaluating" if ev.kind == "done" else "training")
                yield LiveUpdate(ev, log, points, lines, unit, label, evaluated=ev.probe is not None)
        if end is None or ev is None:
            raise RuntimeError("the training run ended without its result")
        for model in end.result.models.values():
            model.to(machine.device())
        try:
            name, files = session.save_run(end.result, cfg.arch)
            session.record(run_record(name, cfg, end.result.metadata, log))
        except OSError as e:
            raise UserError(f"Could not write the run's checkpoint files: {e}") from None
        yield LiveUpdate(ev, log, points, lines, unit, "done", False, name, files, end)
    finally:
        session.running = False
        session.stop.clear()  # the next run starts afresh


def run_record(name: str, cfg: TrainConfig, meta: dict[str, dict], log: RunLog) -> RunRecord:
    r, bn = cfg.recipe, meta["bn"]
    lr = f"lr {r.lr:g}" if cfg.plain_recipe is None else f"lr {r.lr:g} (BN) / {cfg.plain_recipe.lr:g} (plain)"
    settings = (f"{cfg.arch} {r.name}, {r.optimizer} {lr}, batch {r.batch_size}, {bn['steps']} steps on "
                f"{bn['train_images']} images, BN {cfg.placement} ReLU, seed {cfg.seed}")
    return RunRecord(name, settings, {t: meta[t]["test_accuracy"] for t in TWINS}, log)


def overlay_runs(session: Session, labels: list[str]) -> list[RunRecord]:
    """The session's runs whose labels were chosen, oldest first."""
    return [r for r in session.finished if r.label in (labels or [])]


def cli_command(cfg: TrainConfig) -> str:
    """The command line that re-runs this exact run (the same steps on the same images)."""
    r = cfg.recipe
    if cfg.plain_recipe is not None:  # the fair preset: each twin at its searched recipe (`own_recipes`)
        return (f"python -m bnapp.train --search {tuning.SHIPPED_SEARCH.relative_to(ROOT)} --seed {cfg.seed} "
                f"--steps {cfg.steps or 0} --epochs {r.epochs} --train-subset {cfg.train_subset} "
                f"--test-subset {cfg.test_subset} --out runs/{cfg.arch}")
    return (f"python -m bnapp.train --arch {cfg.arch} --recipe {r.name} --optimizer {r.optimizer} --lr {r.lr} "
            f"--batch-size {r.batch_size} --placement {cfg.placement} --seed {cfg.seed} --steps {cfg.steps or 0} "
            f"--epochs {r.epochs} --train-subset {cfg.train_subset} --test-subset {cfg.test_subset} "
            f"--out runs/{cfg.arch}")


def stop(session: Session) -> str:
    """Stop the session's run after its current step, wherever it trains; it keeps what it has learnt."""
    session.stop.set()
    if not session.running:
        return "No run is training yet; one that is starting will stop as soon as it does."
    return "Stopping after the current step..."
