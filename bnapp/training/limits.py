"""What one training request may ask for, checked on the server whatever a client sends.

Defaults suit a free 2-vCPU Space; each limit can be changed by an environment variable. A value in
the environment that is not a positive number is an error at start, never silently replaced.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from bnapp.nets.models import ARCHS, PLACEMENTS
from bnapp.system import zerogpu
from bnapp.training.recipes import OPTIMIZERS, RECIPES, Recipe, TrainConfig

# On a ZeroGPU Space, unless BNAPP_MAX_SECONDS says otherwise: every GPU call then asks for at most this + its
# margin (80 s; x1.5 on the default slice, 120 s), so an unauthenticated visitor's daily 2 minutes start any of them
ZERO_GPU_MAX_SECONDS = 60.0
ENV_VARS = {"max_epochs": "BNAPP_MAX_EPOCHS", "max_train_subset": "BNAPP_MAX_TRAIN_SUBSET",
            "max_batch": "BNAPP_MAX_BATCH", "max_lr": "BNAPP_MAX_LR", "max_seconds": "BNAPP_MAX_SECONDS",
            "max_waiting": "BNAPP_MAX_WAITING"}


@dataclass(frozen=True)
class TrainLimits:
    max_epochs: float = 20  # BNAPP_MAX_EPOCHS
    max_train_subset: int = 50_000  # BNAPP_MAX_TRAIN_SUBSET
    max_batch: int = 1024  # BNAPP_MAX_BATCH
    max_lr: float = 10.0  # BNAPP_MAX_LR
    # BNAPP_MAX_SECONDS: wall-clock budget of a run, or of an experiment's runs together (stopped, not refused)
    max_seconds: float = 300
    max_waiting: int = 6  # BNAPP_MAX_WAITING: runs waiting behind the one training (one per visitor)
    min_batch: int = 2
    min_lr: float = 1e-6

    @staticmethod
    def from_env(environ: dict[str, str] | None = None) -> TrainLimits:
        """The defaults, overridden by the environment; ValueError naming the variable on a bad value."""
        environ = os.environ if environ is None else environ
        changes: dict = {"max_seconds": ZERO_GPU_MAX_SECONDS} if zerogpu.on_zero_gpu_space(environ) else {}
        for f in fields(TrainLimits):
            var = ENV_VARS.get(f.name)
            if var is None or var not in environ:
                continue
            text = environ[var]
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{var} must be a positive number, got {text!r}") from None
            if not (math.isfinite(value) and value > 0) or (f.type == "int" and value != int(value)):
                raise ValueError(f"{var} must be a positive {'whole ' if f.type == 'int' else ''}number, got {text!r}")
            changes[f.name] = int(value) if f.type == "int" else value
        return replace(TrainLimits(), **changes)

    def bounds(self) -> dict[str, Bound]:
        """Every number a training request carries, with its range: the one rule that the server's checks
        and a link's checks (`services.links`) both read."""
        return {
            "epochs": Bound("epochs", 0.01, self.max_epochs, env="BNAPP_MAX_EPOCHS"),
            "lr": Bound("learning rate", self.min_lr, self.max_lr, env="BNAPP_MAX_LR"),
            "batch_size": Bound("batch size", self.min_batch, self.max_batch, whole=True, env="BNAPP_MAX_BATCH"),
            "train_subset": Bound("training images", self.min_batch, self.max_train_subset, whole=True,
                                  env="BNAPP_MAX_TRAIN_SUBSET"),
            "seed": SEED,
            "budget": Bound("time budget", 0, self.max_seconds, env="BNAPP_MAX_SECONDS"),
        }

    def config(self, s: TrainSettings, test_subset: int = 1000, evals_per_run: int = 0,
               own: tuple[Recipe, Recipe] | None = None) -> TrainConfig:
        """A checked TrainConfig, or ValueError saying which value is out of range and what is allowed. `own`:
        (the BN twin's, the plain twin's) recipes of a preset that trains each twin at its own; the request's
        rate is then the BN twin's, and its epochs, batch and optimizer are the two twins' shared ones."""
        if own is None and s.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {s.recipe!r}; choose one of {sorted(RECIPES)}")
        if s.arch not in ARCHS or s.placement not in PLACEMENTS or s.optimizer not in OPTIMIZERS:
            raise ValueError(f"arch must be one of {ARCHS}, placement one of {PLACEMENTS}, "
                             f"optimizer one of {OPTIMIZERS}")
        bounds = self.bounds()
        epochs, lr, seed = (bounds[k].check(getattr(s, k)) for k in ("epochs", "lr", "seed"))
        batch_size = bounds["batch_size"].check(s.batch_size)
        train_subset = replace(bounds["train_subset"], low=batch_size).check(s.train_subset)  # one batch at least
        base, plain = own if own is not None else (RECIPES[s.recipe], None)
        shared = dict(epochs=epochs, batch_size=batch_size, optimizer=s.optimizer, log_every=0)
        return TrainConfig(s.arch, replace(base.at_rate(lr), **shared), s.placement, seed, train_subset, test_subset,
                           self.max_seconds, evals_per_run=evals_per_run,
                           plain_recipe=replace(plain, **shared) if plain is not None else None)


@dataclass(frozen=True)
class TrainSettings:
    """One training request as a person or a client sent it, unchecked (`TrainLimits.config` checks it):
    built once at the edge (the Train tab, the API) and passed on whole."""

    arch: str = "cnn"
    recipe: str = "quick"
    epochs: object = 1.0
    batch_size: object = 128
    lr: object = 0.1
    optimizer: str = "sgd"
    placement: str = "before"
    train_subset: object = 6000
    seed: object = 0
    budget: object = 0.0  # s (0: none; else steps and images are chosen to fit it)
    landscape: bool = False  # measure the loss landscape at each evaluation


@dataclass(frozen=True)
class Bound:
    """A number's allowed range, with the message a person gets when it is outside."""

    name: str
    low: float
    high: float
    whole: bool = False
    env: str | None = None  # the environment variable that sets `high`, named in the message

    def check(self, value) -> float | int:
        """`value` as a number in [low, high] (an int when `whole`), or ValueError with a message for people."""
        v = checked_number(self.name, value, self.low, self.high, self.env, self.whole)
        return int(v) if self.whole else v


def checked_number(name: str, value, lo: float, hi: float, env: str | None, whole: bool = False) -> float:
    """`value` as a float in [lo, hi], or ValueError with a message for people (naming the env var of a limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    try:
        v = float(value)
    except (ValueError, OverflowError):  # not a number, or an integer too large for a float
        raise ValueError(f"{name} must be a number within range, got {str(value)[:40]!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if whole and v != int(v):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not lo <= v <= hi:
        limit = f" (the server's limit, set by {env})" if env else ""
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}{limit}; got {v:g}")
    return v


SEED = Bound("seed", 0, 2**31 - 1, whole=True)  # any seed torch.manual_seed takes from every client
