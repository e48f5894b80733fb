"""The lockstep engine: a BatchNorm twin and its plain twin trained on the same batches, in the same
order, from the same seed, by one optimizer step over both.

`PairTrainer.run()` yields `Progress` events; `stop()` ends the run between steps. A twin whose loss
turns NaN/inf is marked diverged and frozen; the other carries on. The engine knows nothing of who
consumes it: a server passes `between_steps` (to let interactive requests go first) and `probe` (a
snapshot of both twins taken here, on the training thread, between steps, at each evaluation).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bnapp.data.batches import augment, normalize
from bnapp.data.cifar10 import Cifar10, balanced_sample
from bnapp.data.sets import DATASETS
from bnapp.measure import infer
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.nets.models import apply_init, build_pair, init_whitening
from bnapp.nets.noisy_bn import noisy_copy
from bnapp.system import machine
from bnapp.system.precision import autocast, prediction_precision, resolve_precision
from bnapp.training.optim import lr_factor, pair_optimizer
from bnapp.training.recipes import Recipe, TrainConfig

WHITENING_IMAGES = 5000  # the CNN stem's whitening is fitted on this many training images, 500 per class

Probe = Callable[[dict[str, nn.Module], float], Any]  # (the twins, the current learning rate) -> a snapshot


@dataclass
class Progress:
    """One event of a run. `kind` is "log" (every log_every steps), "epoch" (with test accuracy)
    or "done" (final, with the test accuracy as the app predicts and `stopped` if cut short)."""

    kind: str
    step: int
    total_steps: int
    epoch: float
    loss: dict[str, float | None]  # mean training loss since the last event, per twin
    train_acc: dict[str, float | None]
    test_acc: dict[str, float | None] = field(default_factory=dict)
    diverged: dict[str, int | None] = field(default_factory=dict)  # step at which a twin diverged
    images_per_sec: float = 0.0  # both twins' images
    elapsed: float = 0.0
    eta: float = 0.0
    stopped: bool = False
    probe: Any = None  # what the run's `probe` returned at this evaluation, taken between steps


@dataclass
class TwinState:
    model: nn.Module
    lookahead: dict[str, torch.Tensor] | None = None
    diverged_at: int | None = None
    history: list[dict] = field(default_factory=list)
    loss_sum: float = 0.0  # since the last log event
    correct: int = 0
    seen: int = 0
    epoch_loss_sum: float = 0.0
    epoch_correct: int = 0
    epoch_seen: int = 0
    test_accuracy: float | None = None
    report: dict = field(default_factory=dict)  # per-class accuracy and confusion matrix


class PairTrainer:
    """Holds both twins and their optimizers; `run()` trains them in lockstep."""

    def __init__(self, cfg: TrainConfig, data: Cifar10, between_steps: Callable[[], object] | None = None,
                 probe: Probe | None = None):
        self.cfg, self.recipe = cfg, cfg.recipe  # the BN twin's recipe; `SHARED_FIELDS` are both twins'
        r = self.recipe
        self.data = data.subset(cfg.train_subset or None, cfg.test_subset or None, seed=cfg.seed) \
            if (cfg.train_subset or cfg.test_subset) else data
        if len(self.data.y_train) < r.batch_size and r.batch_size > 1:
            raise ValueError(f"batch size {r.batch_size} is larger than the training set "
                             f"({len(self.data.y_train)} images)")
        made_for = DATASETS[r.dataset]
        if tuple(self.data.x_train.shape[1:]) != made_for.shape:
            raise ValueError(f"the recipe {r.name!r} trains on {made_for.label} images {made_for.shape}; the data "
                             f"holds {tuple(self.data.x_train.shape[1:])} ({self.data.source})")
        self.device = machine.device() if cfg.device == "auto" else torch.device(cfg.device)
        self.precision = resolve_precision(r.precision, self.device)
        self.test_precision = prediction_precision(self.device)
        self.spec = r.input_spec()
        self.steps_per_epoch = len(self.data.y_train) // r.batch_size
        self.total_steps = cfg.steps or max(1, math.ceil(self.steps_per_epoch * r.epochs))
        self._between_steps, self._probe = between_steps, probe
        self.step = 0
        self._log_every = 1
        self._eval_every = max(1, self.total_steps // cfg.evals_per_run) if cfg.evals_per_run else 0
        self._stop = False
        self._seconds = 0.0
        torch.manual_seed(cfg.seed)
        models = build_pair(cfg.arch, cfg.placement, seed=cfg.seed, widths=r.widths, inputs=made_for.inputs)
        models = {name: model for name, model in models.items() if name in cfg.twins}
        for name, model in models.items():
            apply_init(model, cfg.recipe_for(name).init, seed=cfg.seed)
        if cfg.noisy_bn:  # a third twin: the BN twin's copy with noise after every BN (same init, same batches)
            models["noisy"] = noisy_copy(models["bn"])
        whiten_idx = balanced_sample(self.data.y_train, WHITENING_IMAGES, seed=cfg.seed)
        whiten_from = normalize(self.data.x_train[whiten_idx], self.spec.mean, self.spec.std)
        self.twins: dict[str, TwinState] = {}
        for name, model in models.items():
            init_whitening(model, whiten_from)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = self.recipe_of(name).bn_momentum
            model.to(self.device).to(memory_format=torch.channels_last).train()
            self.twins[name] = TwinState(model)
        self.optimizer = pair_optimizer([(t.model, self.recipe_of(n)) for n, t in self.twins.items()])

    def recipe_of(self, twin: str) -> Recipe:
        """The recipe `twin` trains with (the noisy twin is the BN twin's copy: its recipe too)."""
        return self.cfg.recipe_for("plain" if twin == "plain" else "bn")

    def stop(self) -> None:
        """Ask the run to end after the current step; `run()` then evaluates and yields "done"."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        return self._stop

    @property
    def stopped_early(self) -> bool:
        return self._stop and self.step < self.total_steps

    @property
    def current_lr(self) -> float:
        """The learning rate of the weights (BN biases may have a multiple) at this step of the schedule."""
        return self.recipe.lr * lr_factor(self.recipe, self.step, self.total_steps)

    @property
    def seconds(self) -> float:
        """Training time so far (excluding set-up), as recorded in the metadata."""
        return self._seconds

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> Iterator[Progress]:
        r, cfg = self.recipe, self.cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        log_every = self._log_every = r.log_every or max(1, self.steps_per_epoch // 20)
        x_all = normalize(self.data.x_train, self.spec.mean, self.spec.std)  # once; ~600 MB for 50k
        y_all = self.data.y_train
        start = time.perf_counter()
        images_since, t_since = 0, start
        epoch = self.step // max(1, self.steps_per_epoch)
        while self.step < self.total_steps and not self._stop:
            order = torch.randperm(len(y_all), generator=gen)
            for i in range(self.steps_per_epoch):
                if self.step >= self.total_steps or self._stop:
                    break
                idx = order[i * r.batch_size:(i + 1) * r.batch_size]
                x = x_all[idx]
                if r.flip or r.translate:
                    x = augment(x, r.translate, r.flip, gen)
                x = x.to(self.device)
                if self.cfg.arch == "cnn":
                    x = x.contiguous(memory_format=torch.channels_last)
                y = y_all[idx].to(self.device)
                if self._between_steps is not None:
                    self._between_steps()
                self._train_step(x, y)
                self.step += 1
                images_since += len(y) * sum(t.diverged_at is None for t in self.twins.values())
                if cfg.max_seconds and time.perf_counter() - start + self._seconds > cfg.max_seconds:
                    self._stop = True
                if self.step % log_every == 0:
                    now = time.perf_counter()
                    yield self._event("log", epoch + (i + 1) / self.steps_per_epoch, images_since / (now - t_since),
                                      start)
                    images_since, t_since = 0, now
                if all(t.diverged_at is not None for t in self.twins.values()):
                    self._stop = True
            epoch += 1
            self._end_epoch(epoch)
            yield self._event("epoch", float(epoch), 0.0, start)
        self._seconds += time.perf_counter() - start
        for t in self.twins.values():  # final: the recipe's TTA and precision, exactly as the app predicts
            t.report = class_report(t.model, self.spec, self.data, self.test_precision)
            t.test_accuracy = t.report["test_accuracy"]
        yield self._event("done", self.step / max(1, self.steps_per_epoch), 0.0, start, final=True)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Both twins forward on the same batch, one backward through both losses, one optimizer step
        over both parameter sets: the same maths as two separate steps, half the per-step overhead
        (which dominates at the tutorial's batch of 10)."""
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * lr_factor(g["recipe"], self.step, self.total_steps)
        live_names = [n for n, t in self.twins.items() if t.diverged_at is None]
        live = [self.twins[n] for n in live_names]
        with autocast(self.precision, self.device):
            outs = [t.model(x) for t in live]
        losses = [F.cross_entropy(o.float(), y, label_smoothing=self.recipe_of(n).label_smoothing)
                  for n, o in zip(live_names, outs)]
        numbers = torch.stack([torch.stack([loss.detach(), (o.argmax(1) == y).sum().float()])
                               for loss, o in zip(losses, outs)]).tolist()  # one sync for both twins
        kept = []
        for t, loss, (value, correct) in zip(live, losses, numbers):
            if not math.isfinite(value):  # frozen before a NaN step is ever applied
                t.diverged_at = self.step
                continue
            kept.append(loss)
            n = len(y)
            t.loss_sum += value
            t.correct += int(correct)
            t.seen += n
            t.epoch_loss_sum += value * n
            t.epoch_correct += int(correct)
            t.epoch_seen += n
        if not kept:
            return
        self.optimizer.zero_grad(set_to_none=True)  # a diverged twin keeps grad None: the step skips it
        sum(kept[1:], kept[0]).backward()
        self.optimizer.step()
        for n, t in zip(live_names, live):
            if self.recipe_of(n).lookahead and t.diverged_at is None:
                self._lookahead(t)

    def _lookahead(self, t: TwinState, every: int = 5) -> None:
        """From 30% of training on, every 5 steps pull the weights towards a running average whose
        decay grows over training: fast moves early, strong averaging at the end."""
        if self.step < 0.3 * self.total_steps or self.step % every:
            return
        state = t.model.state_dict()
        if t.lookahead is None:
            t.lookahead = {k: v.detach().clone() for k, v in state.items() if v.is_floating_point()}
            return
        decay = 0.95 ** every * (self.step / self.total_steps) ** 3
        with torch.no_grad():
            for k, avg in t.lookahead.items():
                avg.lerp_(state[k], 1 - decay)
                state[k].copy_(avg)

    def _end_epoch(self, epoch: int) -> None:
        for t in self.twins.values():
            if t.lookahead is not None:  # end each epoch on the averaged weights
                with torch.no_grad():
                    state = t.model.state_dict()
                    for k, avg in t.lookahead.items():
                        state[k].copy_(avg)
            seen = max(1, t.epoch_seen)
            t.history.append(dict(
                epoch=epoch,
                train_loss=t.epoch_loss_sum / seen if t.epoch_seen else None,
                train_acc=t.epoch_correct / seen if t.epoch_seen else None,
                test_acc=self._test_accuracy(t.model, replace(self.spec, tta="none"), self.precision),
            ))
            t.epoch_loss_sum, t.epoch_correct, t.epoch_seen = 0.0, 0, 0

    def _test_accuracy(self, model: nn.Module, spec: InputSpec, precision: str) -> float:
        return infer.accuracy(model, self.data.x_test, self.data.y_test, spec, precision)

    def _event(self, kind: str, epoch: float, ips: float, start: float, final: bool = False) -> Progress:
        elapsed = self._seconds if final else self._seconds + time.perf_counter() - start
        loss, acc = {}, {}
        for name, t in self.twins.items():
            loss[name] = t.loss_sum / max(1, t.seen / max(1, self.recipe.batch_size)) if t.seen else None
            acc[name] = t.correct / t.seen if t.seen else None
            if kind == "log":
                t.loss_sum, t.correct, t.seen = 0.0, 0, 0
        probe = None
        if kind == "epoch":
            test = {n: t.history[-1]["test_acc"] if t.history else None for n, t in self.twins.items()}
        elif kind == "log" and self._eval_every and self.step % self._eval_every < max(1, self._log_every):
            quick = replace(self.spec, tta="none")
            test = {n: self._test_accuracy(t.model, quick, self.precision) for n, t in self.twins.items()}
            probe = self._run_probe()
        elif final:
            test = {n: t.test_accuracy for n, t in self.twins.items()}
        else:
            test = {}
        left = self.total_steps - self.step
        eta = elapsed / max(1, self.step) * left if not final else 0.0
        return Progress(kind, self.step, self.total_steps, epoch, loss, acc, test,
                        {n: t.diverged_at for n, t in self.twins.items()}, ips, elapsed, eta, self._stop and final,
                        probe)

    def _run_probe(self) -> Any:
        """The probe with the random generators saved and restored: a noisy-BN twin draws noise in train-mode
        passes, and a snapshot must not move the run's own draws (a run with probes is the run without)."""
        if self._probe is None:
            return None
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            return self._probe(self.models(), self.current_lr)

    def models(self) -> dict[str, nn.Module]:
        return {n: t.model for n, t in self.twins.items()}

