"""The Train tab's presets, and how a browser's request becomes a checked run: its config and time budget.

A preset is a recipe for both twins, or (`fair`) each twin's own recipe from the shipped search; either way
the twins train in lockstep on the same batches.
"""
from __future__ import annotations

import math
from dataclasses import replace

from bnapp.services import UserError, tuning
from bnapp.training.limits import TrainLimits, TrainSettings
from bnapp.training.recipes import RECIPES, Recipe, TrainConfig

QUICK_SUBSET = 6000  # training images of the quick preset
BROWSER_TEST_IMAGES = 1000
BROWSER_EVALS = 12  # evaluations per browser run, for the accuracy curves
# s a run is planned to fit (`budget.plan_run`); a browser on the same 2 cores adds ~15 s. The tutorial's preset
# has none: it is the tutorial's exact recipe (5 epochs of batch 10), well inside the server's limit.
FAIR = "fair"  # the preset that trains each twin at its own recipe, chosen by the shipped search (cnn-fair's)
BUDGETS = {"quick": 60.0, "fast": 240.0, FAIR: 60.0}
MIN_BUDGET = 15.0


def presets() -> dict[str, tuple[Recipe, Recipe | None]]:
    """The Train tab's presets by name: (its recipe, the plain twin's own recipe or None: the same for both).
    `fair` is there when the shipped search is: each twin at the recipe the search chose for it."""
    own = tuning.own_recipes()
    return {**{n: (r, None) for n, r in sorted(RECIPES.items())}, **({FAIR: (own["bn"], own["plain"])} if own else {})}


def preset(name: str, max_seconds: float = math.inf) -> TrainSettings:
    """The Train tab's settings for a preset: its own values (the BN twin's rate where each twin has its own),
    its training images and time budget (s, at most the server's `max_seconds`); seed and placement as they start."""
    offered = presets()
    name = name if name in offered else "quick"
    r = offered[name][0]
    return TrainSettings(arch=r.arch, recipe=name, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
                         optimizer=r.optimizer, train_subset=QUICK_SUBSET if name == "quick" else 50_000,
                         budget=min(BUDGETS.get(name, 0.0), max_seconds))


def own_recipes(s: TrainSettings) -> tuple[Recipe, Recipe] | None:
    """The twins' own recipes where `s` asks for the fair preset, else None. Those are the searched recipes:
    their rates, batch, optimizer and the network are kept (a changed one is refused, not silently used),
    so the run is the search's and `cli_command` re-runs it from the search's table."""
    if s.recipe != FAIR:
        return None
    if FAIR not in (offered := presets()):
        raise UserError("the fair preset needs the shipped recipe search (checkpoints/cnn-fair-search.jsonl)")
    bn, plain = offered[FAIR]
    searched = dict(arch=bn.arch, lr=bn.lr, batch_size=bn.batch_size, optimizer=bn.optimizer, placement="before")
    names = {k: b.name for k, b in TrainLimits().bounds().items()} | dict(arch="architecture", optimizer="optimizer",
                                                                          placement="BN placement")
    changed = [names[k] for k, v in searched.items() if not _same(getattr(s, k), v)]
    if changed:
        raise UserError(f"The fair preset trains each twin at the recipe its search chose (BN lr {bn.lr:g}, plain lr "
                        f"{plain.lr:g}, batch {bn.batch_size}, {bn.optimizer}, CNN with BN before the ReLU); "
                        f"{', '.join(changed)} changed: choose another preset to change "
                        f"{'it' if len(changed) == 1 else 'them'}.")
    return bn, plain


def _same(sent, value) -> bool:
    if isinstance(value, str):
        return sent == value
    try:
        return math.isclose(float(sent), value, rel_tol=1e-9)
    except (TypeError, ValueError, OverflowError):
        return False


def browser_config(limits: TrainLimits, s: TrainSettings) -> tuple[TrainConfig, float]:
    """The checked config of a browser run (1,000 test images, evaluated about 12 times) and its time
    budget in seconds (0: none; then the epochs and images are used as given)."""
    own = own_recipes(s)
    try:
        cfg = limits.config(s, test_subset=BROWSER_TEST_IMAGES, evals_per_run=BROWSER_EVALS, own=own)
        seconds = limits.bounds()["budget"].check(s.budget)
    except ValueError as e:
        raise UserError(str(e)) from None
    if 0 < seconds < MIN_BUDGET:
        raise UserError(f"time budget must be 0 (none) or at least {MIN_BUDGET:g} s; got {seconds:g}")
    # a budgeted run also stops at its budget at the latest, should the plan misjudge this machine: what a
    # ZeroGPU call asks for (the budget and a margin) then covers it
    return (replace(cfg, max_seconds=seconds) if seconds else cfg), seconds
