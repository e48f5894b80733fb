"""Train a BatchNorm twin and its plain twin in lockstep: same batches, same order, same seed.

`PairTrainer.run()` yields `Progress` events that the CLI (below) and the app both consume; `stop()`
ends the run between steps and `result()` returns what was trained so far. A twin whose loss turns
NaN/inf is marked diverged and frozen; the other carries on.

    python -m bnapp.train --arch mlp --recipe tutorial --data ../shared/data/cifar10.npz --out runs/mlp
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import hardware, infer
from .evaluate import class_report
from .data import CIFAR_MEAN, CIFAR_STD, Cifar10, DatasetError, augment, load_cifar10, normalize
from .infer import InputSpec
from .models import ARCHS, PLACEMENTS, ModelConfig, build_pair, init_whitening

TWINS = ("bn", "plain")
MAX_YIELD_PER_STEP = 5.0  # s a step waits for interactive requests in flight (see hardware.CoreShare)


@dataclass(frozen=True)
class Recipe:
    """A named training recipe. Learning rate and weight decay are PyTorch's, for a mean loss."""

    name: str
    arch: str  # the architecture the recipe was made for
    optimizer: str = "sgd"  # "sgd" (Nesterov momentum) or "adam"
    lr: float = 0.1
    batch_size: int = 128
    epochs: float = 10
    momentum: float = 0.9
    weight_decay: float = 0.0
    bn_bias_lr_scale: float = 1.0  # BN biases (beta) learn this much faster; their decay stays the same
    freeze_bn_weight: bool = False  # keep gamma at 1, as fast CIFAR recipes do
    bn_momentum: float = 0.1
    label_smoothing: float = 0.0
    schedule: str = "constant"  # "constant" or "triangle" (linear warm-up to lr, then linear decay)
    warmup: float = 0.23  # triangle: fraction of steps spent warming up
    lr_start: float = 0.2  # triangle: multiples of lr at the first and last step
    lr_end: float = 0.07
    translate: int = 0  # augmentation: random shifts of up to this many pixels (reflect padding)
    flip: bool = False  # augmentation: random horizontal flips
    standardize: bool = False  # subtract CIFAR-10's mean and divide by its std (else x/255 only)
    lookahead: bool = False  # average weights every 5 steps from 30% of training, pulled back
    tta: str = "none"  # evaluation: "flip" averages the logits of each image and its mirror
    precision: str = "auto"  # "auto" (bf16 where the CPU/GPU is fast at it), "fp32" or "bf16"
    log_every: int = 0  # steps between loss reports (0: about 20 per epoch)
    description: str = ""

    def input_spec(self) -> InputSpec:
        if self.standardize:
            return InputSpec(CIFAR_MEAN, CIFAR_STD, self.tta)
        return InputSpec(tta=self.tta)


RECIPES: dict[str, Recipe] = {
    "tutorial": Recipe(
        "tutorial", "mlp", optimizer="adam", lr=1e-4, batch_size=10, epochs=5, precision="fp32",
        log_every=500, description="The tutorial's recipe: Adam lr 1e-4, batch 10, 5 epochs, ToTensor only."),
    # After airbench94's ideas: batch 1024, Nesterov 0.85, triangular lr, label smoothing 0.2,
    # fast BN biases, frozen gamma, flip + 2-pixel translation, lookahead, flip+shift TTA. lr 0.3 is the
    # highest rate of our sweep at which the plain twin still trains (see checkpoints/README.md).
    "fast": Recipe(
        "fast", "cnn", optimizer="sgd", lr=0.3, batch_size=1024, epochs=10, momentum=0.85,
        weight_decay=1.33e-3, bn_bias_lr_scale=64, freeze_bn_weight=True, bn_momentum=0.4,
        label_smoothing=0.2, schedule="triangle", translate=2, flip=True, standardize=True,
        lookahead=True, tta="flip-shift", description="Speed-run CNN recipe (airbench-style), ~10 epochs."),
    "quick": Recipe(
        "quick", "cnn", optimizer="sgd", lr=0.2, batch_size=256, epochs=2, momentum=0.85,
        weight_decay=5e-4, label_smoothing=0.1, schedule="triangle", flip=True, standardize=True,
        description="A short CNN run on a subset, for the browser: shows the gap in under 90 s on 2 cores."),
}


@dataclass
class TrainConfig:
    arch: str = "cnn"
    recipe: Recipe = RECIPES["fast"]
    placement: str = "before"
    seed: int = 0
    train_subset: int = 0  # 0: the whole training set
    test_subset: int = 0  # 0: the whole test set
    max_seconds: float = 0  # wall-clock budget; 0: none
    evals_per_run: int = 0  # also measure test accuracy this many times per run, at log events (0: per epoch only)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


@dataclass(frozen=True)
class TrainLimits:
    """What one request may ask for, checked on the server whatever a client sends. Defaults suit a
    free 2-vCPU Space; each can be changed by the environment variable in its comment."""

    max_epochs: float = 20  # BNAPP_MAX_EPOCHS
    max_train_subset: int = 50_000  # BNAPP_MAX_TRAIN_SUBSET
    max_batch: int = 1024  # BNAPP_MAX_BATCH
    max_lr: float = 10.0  # BNAPP_MAX_LR
    max_seconds: float = 300  # BNAPP_MAX_SECONDS: wall-clock budget per run (a run is stopped, not refused)
    min_batch: int = 2
    min_lr: float = 1e-6

    @staticmethod
    def from_env() -> "TrainLimits":
        d = TrainLimits()
        return TrainLimits(_env_number("BNAPP_MAX_EPOCHS", d.max_epochs), int(_env_number("BNAPP_MAX_TRAIN_SUBSET", d.max_train_subset)),
                           int(_env_number("BNAPP_MAX_BATCH", d.max_batch)), _env_number("BNAPP_MAX_LR", d.max_lr),
                           _env_number("BNAPP_MAX_SECONDS", d.max_seconds))

    def config(self, arch: str, recipe: str, epochs, batch_size, lr, optimizer: str, placement: str, train_subset,
               seed, test_subset: int = 1000, evals_per_run: int = 0) -> TrainConfig:
        """A checked TrainConfig, or ValueError saying which value is out of range and what is allowed."""
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
        if arch not in ARCHS or placement not in PLACEMENTS or optimizer not in ("sgd", "adam"):
            raise ValueError(f"arch must be one of {ARCHS}, placement one of {PLACEMENTS}, optimizer 'sgd' or 'adam'")
        epochs = _number("epochs", epochs, 0.01, self.max_epochs, "BNAPP_MAX_EPOCHS")
        lr = _number("learning rate", lr, self.min_lr, self.max_lr, "BNAPP_MAX_LR")
        batch_size = int(_number("batch size", batch_size, self.min_batch, self.max_batch, "BNAPP_MAX_BATCH", whole=True))
        train_subset = int(_number("training images", train_subset, batch_size, self.max_train_subset,
                                   "BNAPP_MAX_TRAIN_SUBSET", whole=True))
        seed = int(_number("seed", seed, 0, 2**31 - 1, None, whole=True))
        r = replace(RECIPES[recipe], epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, log_every=0)
        return TrainConfig(arch, r, placement, seed, train_subset, test_subset, self.max_seconds, evals_per_run=evals_per_run)


def _number(name: str, value, lo: float, hi: float, env: str | None, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if whole and v != int(v):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not lo <= v <= hi:
        limit = f" (the server's limit, set by {env})" if env else ""
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}{limit}; got {v:g}")
    return v


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


@dataclass
class PairResult:
    models: dict[str, nn.Module]
    metadata: dict[str, dict]  # per twin: what a checkpoint JSON holds


def _param_groups(model: nn.Module, r: Recipe) -> list[dict]:
    bn_bias, others = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_bn = ".bn." in f".{name}"
        if is_bn and name.endswith("weight") and r.freeze_bn_weight:
            p.requires_grad_(False)
            continue
        (bn_bias if is_bn and name.endswith("bias") else others).append(p)
    scale = r.bn_bias_lr_scale
    groups = [dict(params=others, lr=r.lr, weight_decay=r.weight_decay, base_lr=r.lr)]
    if bn_bias:
        groups.append(dict(params=bn_bias, lr=r.lr * scale, weight_decay=r.weight_decay / scale, base_lr=r.lr * scale))
    return groups


def _optimizer(models: list[nn.Module], r: Recipe) -> torch.optim.Optimizer:
    """One optimizer over both twins' parameters (every update is per parameter, so this is the same
    maths as one optimizer per twin); fused kernels where this torch has them."""
    groups = [g for m in models for g in _param_groups(m, r)]
    if r.optimizer == "adam":
        make = lambda **k: torch.optim.Adam(groups, lr=r.lr, **k)  # noqa: E731
    elif r.optimizer == "sgd":
        make = lambda **k: torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.momentum > 0, **k)  # noqa: E731
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {r.optimizer!r}")
    try:
        return make(fused=True)
    except (RuntimeError, ValueError):
        return make(foreach=True)


def lr_factor(r: Recipe, step: int, total: int) -> float:
    if r.schedule == "constant":
        return 1.0
    peak = max(1, int(r.warmup * total))
    if step <= peak:
        return r.lr_start + (1 - r.lr_start) * step / peak
    return 1 + (r.lr_end - 1) * (step - peak) / max(1, total - peak)


class PairTrainer:
    """Holds both twins and their optimizers; `run()` trains them in lockstep."""

    def __init__(self, cfg: TrainConfig, data: Cifar10):
        self.cfg, self.recipe = cfg, cfg.recipe
        r = self.recipe
        self.data = data.subset(cfg.train_subset or None, cfg.test_subset or None, seed=cfg.seed) \
            if (cfg.train_subset or cfg.test_subset) else data
        if len(self.data.y_train) < r.batch_size and r.batch_size > 1:
            raise ValueError(f"batch size {r.batch_size} is larger than the training set ({len(self.data.y_train)} images)")
        self.device = hardware.device() if cfg.device == "auto" else torch.device(cfg.device)
        self.precision = infer.resolve_precision(r.precision, self.device)
        self.test_precision = infer.prediction_precision(self.device)
        self.spec = r.input_spec()
        self.steps_per_epoch = len(self.data.y_train) // r.batch_size
        self.total_steps = max(1, math.ceil(self.steps_per_epoch * r.epochs))
        self.step = 0
        self._log_every = 1
        self._eval_every = max(1, self.total_steps // cfg.evals_per_run) if cfg.evals_per_run else 0
        self._stop = False
        self._seconds = 0.0
        torch.manual_seed(cfg.seed)
        models = build_pair(cfg.arch, cfg.placement, seed=cfg.seed)
        whiten_from = normalize(self.data.x_train[:5000], self.spec.mean, self.spec.std)
        self.twins: dict[str, TwinState] = {}
        for name, model in models.items():
            init_whitening(model, whiten_from)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = r.bn_momentum
            model.to(self.device).to(memory_format=torch.channels_last).train()
            self.twins[name] = TwinState(model)
        self.optimizer = _optimizer([t.model for t in self.twins.values()], r)

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
                hardware.cores.wait_for_interactive(MAX_YIELD_PER_STEP)
                self._train_step(x, y)
                self.step += 1
                images_since += len(y) * sum(t.diverged_at is None for t in self.twins.values())
                if cfg.max_seconds and time.perf_counter() - start + self._seconds > cfg.max_seconds:
                    self._stop = True
                if self.step % log_every == 0:
                    now = time.perf_counter()
                    yield self._event("log", epoch + (i + 1) / self.steps_per_epoch, images_since / (now - t_since), start)
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
        r = self.recipe
        if r.schedule != "constant":
            factor = lr_factor(r, self.step, self.total_steps)
            for g in self.optimizer.param_groups:
                g["lr"] = g["base_lr"] * factor
        live = [t for t in self.twins.values() if t.diverged_at is None]
        with infer.autocast(self.precision, self.device):
            outs = [t.model(x) for t in live]
        losses = [F.cross_entropy(o.float(), y, label_smoothing=r.label_smoothing) for o in outs]
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
        (kept[0] if len(kept) == 1 else kept[0] + kept[1]).backward()
        self.optimizer.step()
        if r.lookahead:
            for t in live:
                if t.diverged_at is None:
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
        out = infer.logits(model, self.data.x_test, spec, batch_size=500, precision=precision)
        return float((out.argmax(1) == self.data.y_test).float().mean())

    def _event(self, kind: str, epoch: float, ips: float, start: float, final: bool = False) -> Progress:
        elapsed = self._seconds if final else self._seconds + time.perf_counter() - start
        loss, acc = {}, {}
        for name, t in self.twins.items():
            loss[name] = t.loss_sum / max(1, t.seen / max(1, self.recipe.batch_size)) if t.seen else None
            acc[name] = t.correct / t.seen if t.seen else None
            if kind == "log":
                t.loss_sum, t.correct, t.seen = 0.0, 0, 0
        if kind == "epoch":
            test = {n: t.history[-1]["test_acc"] if t.history else None for n, t in self.twins.items()}
        elif kind == "log" and self._eval_every and self.step % self._eval_every < max(1, self._log_every):
            quick = replace(self.spec, tta="none")
            test = {n: self._test_accuracy(t.model, quick, self.precision) for n, t in self.twins.items()}
        elif final:
            test = {n: t.test_accuracy for n, t in self.twins.items()}
        else:
            test = {}
        left = self.total_steps - self.step
        eta = elapsed / max(1, self.step) * left if not final else 0.0
        return Progress(kind, self.step, self.total_steps, epoch, loss, acc, test,
                        {n: t.diverged_at for n, t in self.twins.items()}, ips, elapsed, eta, self._stop and final)

    # -- results --------------------------------------------------------------------------------
    def result(self, command: str = "") -> PairResult:
        """Both twins in eval mode, with the metadata a checkpoint stores (see `bnapp.checkpoints`)."""
        from .checkpoints import base_metadata  # metadata layout lives with the file format

        metadata = {}
        for name, t in self.twins.items():
            t.model.eval()
            meta = base_metadata(ModelConfig(self.cfg.arch, name == "bn", self.cfg.placement), self.spec)
            meta.update(
                recipe=self.recipe.name,
                hyperparameters={k: v for k, v in asdict(self.recipe).items() if k not in ("name", "description")},
                seed=self.cfg.seed,
                epochs=self.step / max(1, self.steps_per_epoch),
                steps=self.step,
                train_images=len(self.data.y_train),
                test_images=len(self.data.y_test),
                precision=self.precision,
                device=str(self.device),
                hardware=hardware.describe(),
                history=t.history,
                history_note=f"test_acc per epoch: {self.precision}, no TTA; "
                             f"test_accuracy: {self.test_precision}, tta={self.spec.tta}",
                test_accuracy=t.test_accuracy,
                test_precision=self.test_precision,
                **{k: v for k, v in t.report.items() if k != "test_accuracy"},
                diverged_at_step=t.diverged_at,
                stopped_early=self.stopped_early,
                wall_time_seconds=round(self._seconds, 1),
                data=self.data.source,
                command=command,
            )
            metadata[name] = meta
        return PairResult({n: t.model for n, t in self.twins.items()}, metadata)


def loss_line(twin: str, step: int, steps_per_epoch: int, loss: float) -> str:
    """The tutorial's report line, tagged with the twin."""
    batch = step % steps_per_epoch or steps_per_epoch
    epoch = (step - 1) // steps_per_epoch + 1
    return f"[{twin:>5}] Loss after mini-batch {batch:5d} (epoch {epoch}): {loss:.3f}"


def train_pair(cfg: TrainConfig, data: Cifar10, command: str = "") -> PairResult:
    """Run to the end, discarding progress events."""
    trainer = PairTrainer(cfg, data)
    for _ in trainer.run():
        pass
    return trainer.result(command)


# -- command line -----------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bnapp.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, default="cnn", help="mlp: the tutorial's MLP; cnn: a VGG-style conv net")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                   help="named preset (default: tutorial for mlp, fast for cnn): "
                        + "; ".join(f"{n}: {r.description}" for n, r in sorted(RECIPES.items())))
    p.add_argument("--data", default=None, help="CIFAR-10 .npz or torchvision root (else $BNAPP_DATA)")
    p.add_argument("--out", required=True, help="folder for {arch}-bn/{arch}-plain .safetensors + .json")
    p.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs")
    p.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate (both twins)")
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch size")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=None, help="override the recipe's optimizer")
    p.add_argument("--placement", choices=PLACEMENTS, default="before", help="BN before or after the ReLU")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, data order and augmentation")
    p.add_argument("--train-subset", type=int, default=0, help="train on this many images (0: all)")
    p.add_argument("--test-subset", type=int, default=0, help="evaluate on this many test images (0: all)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None, help="override the recipe's precision")
    p.add_argument("--max-seconds", type=float, default=0, help="stop after this much training time (0: no limit)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--name", default=None, help="file-name prefix (default: the arch)")
    return p


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    recipe = RECIPES[a.recipe or ("tutorial" if a.arch == "mlp" else "fast")]
    overrides = {k: v for k, v in dict(epochs=a.epochs, lr=a.lr, batch_size=a.batch_size,
                                        optimizer=a.optimizer, precision=a.precision).items() if v is not None}
    return TrainConfig(a.arch, replace(recipe, **overrides), placement=a.placement, seed=a.seed,
                       train_subset=a.train_subset, test_subset=a.test_subset, max_seconds=a.max_seconds, device=a.device)


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "  -  "
    return f"{100 * v:5.1f}%" if pct else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from .checkpoints import save

    args = _parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        data = load_cifar10(args.data)
        trainer = PairTrainer(cfg, data)
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = cfg.recipe
    print(f"bnapp: {cfg.arch} twins, recipe {r.name}, {trainer.total_steps} steps of batch {r.batch_size}, "
          f"{len(trainer.data.y_train)} training images, precision {trainer.precision} on {trainer.device}")
    bars = {n: tqdm(total=trainer.total_steps, desc=f"{n:>5}", position=i, leave=True, dynamic_ncols=True)
            for i, n in enumerate(TWINS)}
    last = 0
    for ev in trainer.run():
        for n, bar in bars.items():
            bar.update(ev.step - last)
            bar.set_postfix_str(f"loss {_fmt(ev.loss.get(n))} acc {_fmt(ev.train_acc.get(n), True)}"
                                + (" DIVERGED" if ev.diverged.get(n) is not None else ""))
        last = ev.step
        if ev.kind == "log" and r.log_every:  # the tutorial's own report, for both twins
            for n in TWINS:
                if ev.loss.get(n) is not None:
                    tqdm.write(loss_line(n, ev.step, trainer.steps_per_epoch, ev.loss[n]))
        if ev.kind == "epoch":
            tqdm.write(f"epoch {int(ev.epoch)}: " + "  ".join(
                f"{n} train loss {_fmt(trainer.twins[n].history[-1]['train_loss'])} test {_fmt(ev.test_acc[n], True)}"
                for n in TWINS))
    for bar in bars.values():
        bar.close()
    command = "python -m bnapp.train " + " ".join(argv if argv is not None else sys.argv[1:])
    result = trainer.result(command)
    out = Path(args.out)
    prefix = args.name or cfg.arch
    print(f"\n{'twin':<6} {'train loss (last epoch)':>24} {'test acc':>9} {'diverged':>9}  file")
    for n in TWINS:
        meta = result.metadata[n]
        path = save(result.models[n], meta, out / f"{prefix}-{n}")
        last_loss = meta["history"][-1]["train_loss"] if meta["history"] else None
        print(f"{n:<6} {_fmt(last_loss):>24} {_fmt(meta['test_accuracy'], True):>9} "
              f"{str(meta['diverged_at_step'] or '-'):>9}  {path}")
    print(f"wall time {result.metadata['bn']['wall_time_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
