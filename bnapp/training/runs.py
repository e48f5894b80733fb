"""A finished run: both twins with the metadata a checkpoint stores, and the one way to save them.

The CLI (`python -m bnapp.train`) and the app's Train tab both end a run with `finish` and `save_run`,
so a run saved from either holds the same fields.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn

from bnapp import TWINS
from bnapp.data.cifar10 import Cifar10
from bnapp.nets.models import ModelConfig
from bnapp.store.checkpoints import base_metadata, save
from bnapp.system import machine
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import TrainConfig


@dataclass
class PairResult:
    models: dict[str, nn.Module]
    metadata: dict[str, dict]  # per twin: what a checkpoint JSON holds


def run_metadata(trainer: PairTrainer, command: str) -> dict[str, dict]:
    """Per twin: how it was trained, on what, how long, and its final test report."""
    cfg = trainer.cfg
    if trainer.recipe.dataset != "cifar10":  # the app predicts CIFAR-10 images: a checkpoint is a CIFAR-10 net
        raise ValueError(f"only CIFAR-10 twins are saved as checkpoints, not {trainer.recipe.dataset} ones")
    metadata = {}
    for name, t in trainer.twins.items():
        recipe = trainer.recipe_of(name)
        meta = base_metadata(ModelConfig(cfg.arch, name == "bn", cfg.placement, recipe.widths), trainer.spec)
        meta.update(
            recipe=recipe.name,
            hyperparameters={k: v for k, v in asdict(recipe).items() if k not in ("name", "description")},
            seed=cfg.seed,
            epochs=trainer.step / max(1, trainer.steps_per_epoch),
            steps=trainer.step,
            train_images=len(trainer.data.y_train),
            test_images=len(trainer.data.y_test),
            precision=trainer.precision,
            device=str(trainer.device),
            hardware=machine.describe(),
            history=t.history,
            history_note=f"test_acc per epoch: {trainer.precision}, no TTA, "
                         f"the run's {len(trainer.data.y_test)} test images",
            test_accuracy=t.test_accuracy,
            test_precision=trainer.test_precision,
            **{k: v for k, v in t.report.items() if k != "test_accuracy"},
            diverged_at_step=t.diverged_at,
            stopped_early=trainer.stopped_early,
            wall_time_seconds=round(trainer.seconds, 1),
            data=trainer.data.source,
            command=command,
        )
        metadata[name] = meta
    return metadata


def finish(trainer: PairTrainer, command: str = "") -> PairResult:
    """Both twins in eval mode, with their metadata."""
    for t in trainer.twins.values():
        t.model.eval()
    return PairResult(trainer.models(), run_metadata(trainer, command))


def save_run(result: PairResult, folder: str | Path, prefix: str) -> list[Path]:
    """`folder/{prefix}-bn` and `-plain`, weights and JSON each; returns the four paths."""
    files = []
    for twin in TWINS:
        weights = save(result.models[twin], result.metadata[twin], Path(folder) / f"{prefix}-{twin}")
        files += [weights, weights.with_suffix(".json")]
    return files


def train_pair(cfg: TrainConfig, data: Cifar10, command: str = "") -> PairResult:
    """Run to the end, discarding progress events."""
    trainer = PairTrainer(cfg, data)
    for _ in trainer.run():
        pass
    return finish(trainer, command)
