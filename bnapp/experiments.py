"""Experiments beyond one run, each built from `PairTrainer` runs on the same data.

    python -m bnapp.experiments lr-sweep --arch cnn --recipe fast --lrs 1.5 0.5 0.15 0.05 --epochs 2 --train-subset 20000
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Iterator

from .data import Cifar10, DatasetError, load_cifar10
from .train import RECIPES, TWINS, PairTrainer, Progress, TrainConfig, loss_line


def lr_sweep(base: TrainConfig, data: Cifar10, lrs: list[float]) -> Iterator[tuple[float, Progress | dict]]:
    """Both twins at each learning rate, same budget and seed. Yields (lr, progress event) while a
    run trains and (lr, summary row) when it ends; a twin whose loss turns NaN/inf is marked."""
    for lr in lrs:
        trainer = PairTrainer(replace(base, recipe=replace(base.recipe, lr=lr)), data)
        last = None
        for ev in trainer.run():
            last = ev
            yield lr, ev
        for twin in TWINS:
            t = trainer.twins[twin]
            losses = [h["train_loss"] for h in t.history if h["train_loss"] is not None]
            yield lr, dict(lr=lr, twin=twin, test_accuracy=t.test_accuracy, final_train_loss=losses[-1] if losses else None,
                           diverged_at_step=t.diverged_at, trained=t.diverged_at is None and bool(losses) and losses[-1] < 2.2,
                           seconds=last.elapsed if last else 0.0)


def placement_runs(base: TrainConfig, data: Cifar10) -> Iterator[tuple[str, Progress]]:
    """The same budget with BN before and after the ReLU. Yields (placement, event); the plain twin
    has no BN to place, so its two runs are the same network and serve as the common baseline."""
    for placement in ("before", "after"):
        trainer = PairTrainer(replace(base, placement=placement), data)
        for ev in trainer.run():
            yield placement, ev


def tutorial_lines(data: Cifar10, epochs: float = 5, max_seconds: float = 0, log_every: int = 500) -> Iterator[str]:
    """The tutorial's recipe on both twins, yielding its "Loss after mini-batch" report lines."""
    cfg = TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=epochs, log_every=log_every), max_seconds=max_seconds)
    trainer = PairTrainer(cfg, data)
    yield f"Training both MLP twins: {trainer.total_steps} steps of batch 10 on {len(trainer.data.y_train)} images."
    for ev in trainer.run():
        if ev.kind == "log":
            for twin in TWINS:
                if ev.loss.get(twin) is not None:
                    yield loss_line(twin, ev.step, trainer.steps_per_epoch, ev.loss[twin])
        elif ev.kind == "epoch":
            yield "  ".join(f"epoch {int(ev.epoch)} {t}: train loss {trainer.twins[t].history[-1]['train_loss']:.3f}, "
                            f"test accuracy {100 * ev.test_acc[t]:.1f}%" for t in TWINS)
        elif ev.kind == "done" and ev.stopped:
            yield f"Stopped at step {ev.step} (time budget)."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnapp.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=("lr-sweep",))
    p.add_argument("--arch", default="cnn", choices=("mlp", "cnn"))
    p.add_argument("--recipe", default="fast", choices=sorted(RECIPES))
    p.add_argument("--lrs", type=float, nargs="+", required=True)
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    a = p.parse_args(argv)
    recipe = RECIPES[a.recipe] if a.epochs is None else replace(RECIPES[a.recipe], epochs=a.epochs)
    try:
        data = load_cifar10(a.data)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = TrainConfig(a.arch, recipe, seed=a.seed, train_subset=a.train_subset, test_subset=a.test_subset)
    rows = []
    for lr, item in lr_sweep(cfg, data, a.lrs):
        if isinstance(item, dict):
            rows.append(item)
            print(json.dumps(item), flush=True)
    print(f"\n{'lr':>8} {'twin':>6} {'test acc':>9} {'last loss':>10} {'diverged':>9}")
    for r in rows:
        acc = f"{100 * r['test_accuracy']:.1f}%" if r["test_accuracy"] is not None else "-"
        loss = f"{r['final_train_loss']:.3f}" if r["final_train_loss"] is not None else "-"
        print(f"{r['lr']:>8g} {r['twin']:>6} {acc:>9} {loss:>10} {str(r['diverged_at_step'] or '-'):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
