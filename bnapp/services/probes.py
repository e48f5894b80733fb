"""What a live run records at each evaluation, on the training thread, between steps, both twins at the
same step: the evolution of one unit's distribution (`evolution`), and optionally Santurkar et al.'s
loss-landscape measurements along the gradient (`landscape`)."""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from bnapp.data.batches import normalize
from bnapp.data.cifar10 import Cifar10, balanced_sample, draw
from bnapp.measure import evolution, landscape, stats
from bnapp.measure.landscape import LineStats
from bnapp.training.recipes import TrainConfig

LANDSCAPE_IMAGES = 256  # the fixed training batch both twins are measured on


@dataclass
class Snapshot:
    evolution: dict[str, dict]  # twin -> `evolution.snapshot`
    landscape: dict[str, LineStats] | None = None  # twin -> along its gradient; None when not measured


Probe = Callable[[dict[str, nn.Module], float], Snapshot]


def probe_for(cfg: TrainConfig, data: Cifar10, unit: str, channel: int = 0, with_landscape: bool = False) -> Probe:
    """The snapshot a live run takes at each evaluation: a fixed batch of test images for the evolution
    view; a fixed class-balanced batch of training images for the landscape (the training loss)."""
    r = cfg.recipe
    spec = r.input_spec()
    images = data.x_test[draw(len(data.x_test), stats.default_batch(cfg.arch), cfg.seed)]
    if with_landscape:
        idx = balanced_sample(data.y_train, min(LANDSCAPE_IMAGES, len(data.y_train)), seed=cfg.seed)
        x_land, y_land = normalize(data.x_train[idx], spec.mean, spec.std), data.y_train[idx]
        loss_fn = landscape.cross_entropy(r.label_smoothing)
        etas = landscape.step_sizes(r.lr)  # fixed for the run and both twins

    def probe(models: dict[str, nn.Module], lr: float) -> Snapshot:
        snap = Snapshot(evolution.snapshot_pair(models, spec, images, unit, channel))
        if with_landscape:
            device = next(next(iter(models.values())).parameters()).device
            snap.landscape = landscape.measure_pair(models, x_land.to(device), y_land.to(device), etas, loss_fn)
        return snap
    return probe


def landscape_medians(lines: list[tuple[int, dict[str, dict[str, float]]]]) -> dict[str, dict[str, float]]:
    """Per twin, the medians over a run's evaluations of the effective beta-smoothness, the largest gradient change
    along the line and the loss range (the median of each evaluation's range, not median max - median min)."""
    def median(twin: str, value) -> float:
        return statistics.median(value(p[twin]) for _, p in lines)

    return {twin: dict(beta=median(twin, lambda v: v["beta"]),
                       grad_change_max=median(twin, lambda v: v["grad_change_max"]),
                       loss_range=median(twin, lambda v: v["loss_max"] - v["loss_min"]))
            for twin in (lines[0][1] if lines else {})}
