"""Ioffe & Szegedy's Figure 1, reproduced on CIFAR-10 with one click.

Their setting: a network of 3 fully connected hidden layers of 100 sigmoid units, trained with and
without BatchNorm; (a) test accuracy against training steps, (b, c) the 15th, 50th and 85th
percentiles of one last-hidden-layer sigmoid's input over training. Both twins train in lockstep
(same batches, same initial weights); the snapshots are taken by the engine on the training thread,
between steps, both twins at the same step (`evolution.snapshot_pair`).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from bnapp import TWINS
from bnapp.data.cifar10 import Cifar10, draw
from bnapp.measure import evolution
from bnapp.services.training import RunLog
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import RECIPES, TrainConfig

UNIT, CHANNEL = "layer3", 0  # the last hidden layer, its first unit: "a typical sigmoid"
PROBE_IMAGES = 1000
TEST_IMAGES = 2000
EVALUATIONS = 30


@dataclass
class Figure1:
    log: RunLog = field(default_factory=RunLog)
    points: list[tuple[int, dict]] = field(default_factory=list)
    done: bool = False
    test_images: int = TEST_IMAGES

    def summary(self) -> str:
        if not self.points:
            return "Training both 3 x 100 sigmoid MLPs..."
        first, last = self.points[0][1], self.points[-1][1]
        spread = {t: last[t]["act_input"][85] - last[t]["act_input"][15] for t in TWINS}
        moved = {t: abs(last[t]["act_input"][50] - first[t]["act_input"][50]) for t in TWINS}
        acc = {t: self.log.test_acc[t][-1] for t in TWINS} if self.log.eval_steps else {}
        text = (f"Step {self.points[-1][0]}: the sigmoid's median input moved {moved['plain']:.2f} without BN and "
                f"{moved['bn']:.2f} with BN since the first snapshot; 15th-85th percentile width now "
                f"{spread['plain']:.2f} without, {spread['bn']:.2f} with.")
        if self.done:
            text = "**Figure 1 done.** " + text
        if acc:
            text += (f" Test accuracy ({len(self.log.eval_steps)} evaluations on {self.test_images} images, no TTA): "
                     f"{100 * acc['bn']:.1f}% with BN, {100 * acc['plain']:.1f}% without.")
        return text


def figure1_config(seed: int = 0, epochs: float | None = None) -> TrainConfig:
    r = RECIPES["fig1"]
    return TrainConfig("fig1", r if epochs is None else replace(r, epochs=epochs), seed=seed, test_subset=TEST_IMAGES,
                       evals_per_run=EVALUATIONS)


def figure1_run(data: Cifar10, cfg: TrainConfig | None = None) -> Iterator[Figure1]:
    """Train both MLPs; yield the figure's data after each evaluation and at the end."""
    cfg = cfg or figure1_config()
    spec = cfg.recipe.input_spec()
    images = data.x_test[draw(len(data.x_test), PROBE_IMAGES, cfg.seed)]
    probe = lambda models, lr=0.0: evolution.snapshot_pair(models, spec, images, UNIT, CHANNEL)  # noqa: E731
    trainer = PairTrainer(cfg, data, probe=probe)
    fig = Figure1(test_images=len(trainer.data.y_test),
                  points=[(0, probe(trainer.models()))])  # the start, as the paper
    for ev in trainer.run():
        fig.log.add(ev)
        if ev.probe is not None:
            fig.points.append((ev.step, ev.probe))
        fig.done = ev.kind == "done"
        if ev.probe is not None or fig.done:
            yield fig
