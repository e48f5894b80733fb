"""What one training request may ask for, checked on the server whatever a client sends.

Defaults suit a free 2-vCPU Space; each limit can be changed by an environment variable. A value in
the environment that is not a positive number is an error at start, never silently replaced.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from bnapp.nets.models import ARCHS, PLACEMENTS
from bnapp.training.recipes import RECIPES, TrainConfig

ENV_VARS = {"max_epochs": "BNAPP_MAX_EPOCHS", "max_train_subset": "BNAPP_MAX_TRAIN_SUBSET",
            "max_batch": "BNAPP_MAX_BATCH", "max_lr": "BNAPP_MAX_LR", "max_seconds": "BNAPP_MAX_SECONDS",
            "max_waiting": "BNAPP_MAX_WAITING"}


@dataclass(frozen=True)
class TrainLimits:
    max_epochs: float = 20  # BNAPP_MAX_EPOCHS
    max_train_subset: int = 50_000  # BNAPP_MAX_TRAIN_SUBSET
    max_batch: int = 1024  # BNAPP_MAX_BATCH
    max_lr: float = 10.0  # BNAPP_MAX_LR
    max_seconds: float = 300  # BNAPP_MAX_SECONDS: wall-clock budget per run (a run is stopped, not refused)
    max_waiting: int = 6  # BNAPP_MAX_WAITING: runs waiting behind the one training (one per visitor)
    min_batch: int = 2
    min_lr: float = 1e-6

    @staticmethod
    def from_env(environ: dict[str, str] | None = None) -> TrainLimits:
        """The defaults, overridden by the environment; ValueError naming the variable on a bad value."""
        environ = os.environ if environ is None else environ
        changes = {}
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

    def config(self, arch: str, recipe: str, epochs, batch_size, lr, optimizer: str, placement: str, train_subset,
               seed, test_subset: int = 1000, evals_per_run: int = 0) -> TrainConfig:
        """A checked TrainConfig, or ValueError saying which value is out of range and what is allowed."""
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
        if arch not in ARCHS or placement not in PLACEMENTS or optimizer not in ("sgd", "adam"):
            raise ValueError(f"arch must be one of {ARCHS}, placement one of {PLACEMENTS}, optimizer 'sgd' or 'adam'")
        epochs = checked_number("epochs", epochs, 0.01, self.max_epochs, "BNAPP_MAX_EPOCHS")
        lr = checked_number("learning rate", lr, self.min_lr, self.max_lr, "BNAPP_MAX_LR")
        batch_size = int(checked_number("batch size", batch_size, self.min_batch, self.max_batch, "BNAPP_MAX_BATCH",
                                        whole=True))
        train_subset = int(checked_number("training images", train_subset, batch_size, self.max_train_subset,
                                          "BNAPP_MAX_TRAIN_SUBSET", whole=True))
        seed = int(checked_number("seed", seed, 0, 2**31 - 1, None, whole=True))
        r = replace(RECIPES[recipe].at_rate(lr), epochs=epochs, batch_size=batch_size, optimizer=optimizer, log_every=0)
        return TrainConfig(arch, r, placement, seed, train_subset, test_subset, self.max_seconds,
                           evals_per_run=evals_per_run)


def checked_number(name: str, value, lo: float, hi: float, env: str | None, whole: bool = False) -> float:
    """`value` as a float in [lo, hi], or ValueError with a message for people (naming the env var of a limit)."""
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
