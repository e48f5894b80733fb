"""One protocol for choosing a twin's recipe, the same for both twins.

A search is a seeded list of trials: two anchors (a recipe written for a network without BN, and BN's speed-run
recipe at this batch size) and random draws from one space. Every trial is run on both twins, so both get the
same trials, and each twin's recipe is its best trial on the validation split. The space holds what matters for
each twin: the learning rate, the weight decay *independently* of the rate, warm-up, label smoothing, the
learning-rate multiplier of the per-channel shifts (BN's beta in the BN twin, the conv biases in the plain twin)
and the init of the conv filters. Held fixed, for both: batch size (the twins train in lockstep on the same
batches), epochs, Nesterov momentum 0.9, the schedule's shape, augmentation and the test-time protocol.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace

from bnapp.training.recipes import CONV_INITS, Recipe

SEARCHED = ("lr", "weight_decay", "warmup", "label_smoothing", "bn_bias_lr_scale", "init")
NEAR_BEST = 0.01  # "within 1 point of its best": a trial that did about as well as the twin's best


@dataclass(frozen=True)
class SearchSpace:
    lr: tuple[float, float] = (0.02, 0.8)  # log-uniform
    weight_decay: tuple[float, float] = (1e-4, 3e-3)  # log-uniform, drawn independently of lr
    warmup: tuple[float, float] = (0.05, 0.3)  # uniform: the fraction of steps spent warming up
    label_smoothing: tuple[float, ...] = (0.0, 0.1, 0.2)
    bn_bias_lr_scale: tuple[float, ...] = (1.0, 8.0, 64.0)
    init: tuple[str, ...] = CONV_INITS


# Fixed for every trial of both twins: the CNN at (16, 32, 64) (a 10-epoch run of one twin is ~4 min on 2 CPU
# cores, so a search fits one session), batch 256, Nesterov 0.9, a triangle from 0.1x to 0 with the warm-up
# drawn, flip + 2-pixel translation, flip TTA, fp32, every unit's shift at the drawn multiplier.
BASE = Recipe(
    "searched", "cnn", "both", optimizer="sgd", batch_size=256, epochs=8, momentum=0.9, schedule="triangle",
    lr_start=0.1, lr_end=0.0, translate=2, flip=True, standardize=True, tta="flip", precision="fp32", shifts="all",
    widths=(16, 32, 64), description="A trial of the recipe search (bnapp.training.search).")

ANCHORS = {
    # The untuned recipe for a network without BN that trained the full-width plain twin to 90.4% (issue 27).
    "plain-style": dict(lr=0.05, weight_decay=5e-4, warmup=0.2, label_smoothing=0.0, bn_bias_lr_scale=1.0,
                        init="identity"),
    # BN's `fast` recipe at batch 256: its rate scaled by 256/1024, its decay, smoothing and BN-bias multiplier.
    "bn-style": dict(lr=0.075, weight_decay=1.33e-3, warmup=0.23, label_smoothing=0.2, bn_bias_lr_scale=64.0,
                     init="identity"),
}


@dataclass(frozen=True)
class Trial:
    id: int
    origin: str  # "anchor: plain-style", "random"
    values: dict  # the searched values

    def recipe(self, base: Recipe = BASE) -> Recipe:
        return replace(base, name=f"trial-{self.id}", **self.values)

    def recipe_of(self, twin: str, base: Recipe = BASE) -> Recipe:
        """This trial as `twin`'s chosen recipe."""
        return replace(self.recipe(base), name=f"searched-{twin}-trial-{self.id}", made_for=twin)


def draw(space: SearchSpace, rng: random.Random) -> dict:
    def log_uniform(lo: float, hi: float) -> float:
        return float(f"{math.exp(rng.uniform(math.log(lo), math.log(hi))):.3g}")

    return dict(lr=log_uniform(*space.lr), weight_decay=log_uniform(*space.weight_decay),
                warmup=round(rng.uniform(*space.warmup), 2), label_smoothing=rng.choice(space.label_smoothing),
                bn_bias_lr_scale=rng.choice(space.bn_bias_lr_scale), init=rng.choice(space.init))


def trials(n: int, seed: int = 0, space: SearchSpace = SearchSpace()) -> list[Trial]:
    """The search's `n` trials: the anchors first, then seeded draws. The same list for both twins."""
    if n < 1:
        raise ValueError(f"a search needs at least 1 trial, got {n}")
    rng = random.Random(seed)
    out = [Trial(i, f"anchor: {name}", values) for i, (name, values) in enumerate(ANCHORS.items())][:n]
    while len(out) < n:
        out.append(Trial(len(out), "random", draw(space, rng)))
    return out


def protocol(n: int, seed: int, space: SearchSpace = SearchSpace(), base: Recipe = BASE) -> dict:
    """What a record says about how its recipes were chosen."""
    fixed = {k: v for k, v in asdict(base).items() if k not in SEARCHED + ("name", "description")}
    return dict(trials=n, seed=seed, space=asdict(space), anchors=ANCHORS, fixed=fixed,
                rule="each twin's best validation accuracy over the same trials (ties: the earlier trial)")
