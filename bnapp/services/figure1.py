"""Ioffe & Szegedy's Figure 1, reproduced on Fashion-MNIST (MNIST's format; real MNIST is not to be had
here) with one click, or on CIFAR-10.

Their setting: MNIST, a network of 3 fully connected hidden layers of 100 sigmoid units, trained with and
without BatchNorm; (a) test accuracy against training steps, (b, c) the 15th, 50th and 85th
percentiles of one last-hidden-layer sigmoid's input over training. Both twins train in lockstep
(same batches, same initial weights); the snapshots are taken by the engine on the training thread,
between steps, both twins at the same step (`evolution.snapshot_pair`).
"""
from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from bnapp import CHECKPOINTS, TWINS
from bnapp.data.cifar10 import Cifar10, draw
from bnapp.measure import evolution
from bnapp.measure.spread import Spread, paired
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
    dataset: str = "fashion-mnist"  # `data.sets.DATASETS`' key

    def drift(self) -> dict[str, float]:
        """Per twin, how far the sigmoids' inputs moved from the first snapshot to the last: each of the layer's
        units' median, moved, averaged over all of them (not one unit's endpoints)."""
        first, last = self.points[0][1], self.points[-1][1]
        return {t: statistics.mean(abs(b - a) for a, b in zip(first[t]["medians"], last[t]["medians"])) for t in TWINS}

    def widths(self) -> dict[str, float]:
        """Per twin, the plotted unit's 15th-85th percentile width at the last snapshot."""
        last = self.points[-1][1]
        return {t: last[t]["act_input"][85] - last[t]["act_input"][15] for t in TWINS}

    def final_accuracy(self) -> dict[str, float] | None:
        """Per twin, the last evaluation's test accuracy (no TTA); None before the first."""
        return {t: self.log.test_acc[t][-1] for t in TWINS} if self.log.eval_steps else None

    def to_dict(self) -> dict:
        return dict(steps=self.log.eval_steps, test_acc={t: self.log.test_acc[t] for t in TWINS},
                    points=[(s, {t: {k: v for k, v in p[t].items() if k in ("act_input", "medians")} for t in TWINS})
                            for s, p in self.points], test_images=self.test_images, dataset=self.dataset)

    @staticmethod
    def from_dict(d: dict) -> Figure1:
        log = RunLog(eval_steps=list(d["steps"]), test_acc={t: list(d["test_acc"][t]) for t in TWINS}, finished=True)
        points = [(s, {t: dict(act_input={int(k): v for k, v in p[t]["act_input"].items()}, medians=p[t]["medians"])
                       for t in TWINS}) for s, p in d["points"]]
        return Figure1(log, points, True, d["test_images"], d["dataset"])


PAPER_STEPS = 50_000  # Ioffe & Szegedy trained Figure 1's networks for 50,000 steps of batch 60
SHIPPED = CHECKPOINTS / "figure1.json"  # the paper-length run, 3 seeds, that the view opens on


DATASET = Figure1.dataset  # the paper's MNIST format; "cifar10" too (`RECIPE_ON`)
# The paper's setting on each dataset; the rate is the plain twin's best validation accuracy after 50,000 steps,
# among 0.3, 1 and 3 (docs/science.md).
RECIPE_ON = {"cifar10": RECIPES["fig1"],
             "fashion-mnist": replace(RECIPES["fig1"], name="fig1-fashion", dataset="fashion-mnist", lr=1.0)}


def figure1_config(seed: int = 0, epochs: float | None = None, steps: int = 0, max_seconds: float = 0,
                   dataset: str = DATASET, lr: float | None = None) -> TrainConfig:
    """Figure 1's run on `dataset`; `max_seconds` (0: none) caps its training time, as the server's limit caps
    the app's; `lr` (None: the recipe's) for choosing the rate on the validation split."""
    r = RECIPE_ON[dataset]
    r = replace(r, epochs=r.epochs if epochs is None else epochs, lr=r.lr if lr is None else lr)
    return TrainConfig("fig1", r, seed=seed, test_subset=TEST_IMAGES, evals_per_run=EVALUATIONS, steps=steps,
                       max_seconds=max_seconds)


def shipped() -> tuple[Figure1, dict] | None:
    """The shipped paper-length figure and its record, or None."""
    if not SHIPPED.exists():
        return None
    record = json.loads(SHIPPED.read_text())
    return Figure1.from_dict(record["figure"]), record


def figure1_run(data: Cifar10, cfg: TrainConfig | None = None) -> Iterator[Figure1]:
    """Train both MLPs; yield the figure's data after each evaluation and at the end."""
    cfg = cfg or figure1_config()
    spec = cfg.recipe.input_spec()
    images = data.x_test[draw(len(data.x_test), PROBE_IMAGES, cfg.seed)]
    probe = lambda models, lr=0.0: evolution.snapshot_pair(models, spec, images, UNIT, CHANNEL)  # noqa: E731
    trainer = PairTrainer(cfg, data, probe=probe)
    fig = Figure1(test_images=len(trainer.data.y_test), dataset=cfg.recipe.dataset,
                  points=[(0, probe(trainer.models()))])  # the start, as the paper
    for ev in trainer.run():
        fig.log.add(ev)
        if ev.probe is not None:
            fig.points.append((ev.step, ev.probe))
        fig.done = ev.kind == "done"
        if ev.probe is not None or fig.done:
            yield fig


def figure1_seeds(data: Cifar10, cfg: TrainConfig, seeds: tuple[int, ...]) -> dict:
    """The paper-length Figure 1 for several seeds: the first seed's figure, and every seed's drift over all
    units and final accuracy, with their spread (what `checkpoints/figure1.json` holds)."""
    per_seed, shown = [], None
    for seed in seeds:
        *_, fig = figure1_run(data, replace(cfg, seed=seed))
        shown = shown or fig
        per_seed.append(dict(seed=seed, drift=fig.drift(), test_acc=fig.final_accuracy()))
    return dict(figure=shown.to_dict(), seeds=per_seed, recipe=asdict(cfg.recipe), steps=cfg.steps,
                drift={t: asdict(Spread.of([s["drift"][t] for s in per_seed])) for t in TWINS},
                test_acc={t: asdict(Spread.of([s["test_acc"][t] for s in per_seed])) for t in TWINS},
                drift_bn_minus_plain=asdict(paired([s["drift"]["bn"] for s in per_seed],
                                                   [s["drift"]["plain"] for s in per_seed])),
                data=data.source)
