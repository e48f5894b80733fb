"""Experiments beyond one run, from the command line (the experiments are `bnapp.services.experiments`).

    python -m bnapp.experiments lr-sweep --arch cnn --recipe fast --lrs 1.5 0.5 0.15 0.05 --epochs 2 \\
        --train-subset 20000
    python -m bnapp.experiments landscape --recipe quick --epochs 2 --train-subset 6000 --test-subset 1000
    python -m bnapp.experiments noisy-bn --recipe quick --epochs 3 --train-subset 8192 --test-subset 1000
    python -m bnapp.experiments tta --validation --arch cnn --recipe fast --lr 0.3 --epochs 2 --train-subset 20000
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from bnapp import TWINS
from bnapp.data.cifar10 import DatasetError, holdout, load_cifar10
from bnapp.services.experiments import (
    largest_trainable_rate,
    lr_sweep,
    placement_runs,
    placement_summary,
    tta_choice,
    tta_rows,
)
from bnapp.services.figure1 import figure1_config, figure1_run
from bnapp.services.noisy import noisy_runs
from bnapp.services.probes import describe_landscape, probe_for
from bnapp.services.shipping import EXPERIMENTS_PROG
from bnapp.services.training import RunLog
from bnapp.training.recipes import RECIPES, TrainConfig

PROG = EXPERIMENTS_PROG
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=("lr-sweep", "placement", "figure1", "landscape", "noisy-bn", "tta"),
                   help="lr-sweep: both twins at each --lrs; placement: BN before vs after the ReLU, 3 seeds; "
                        "figure1: Ioffe & Szegedy's Figure 1 (3 x 100 sigmoid MLP); landscape: Santurkar et al.'s "
                        "loss-landscape measurements at 8 evaluations of one run; noisy-bn: BN, noisy BN and no BN, "
                        "3 seeds; tta: both twins scored with each test-time augmentation, 3 seeds")
    p.add_argument("--validation", action="store_true",
                   help="score on 5,000 class-balanced training images held out (make choices here, not on test)")
    p.add_argument("--arch", default="cnn", choices=("mlp", "cnn"))
    p.add_argument("--recipe", default="fast", choices=sorted(RECIPES))
    p.add_argument("--lrs", type=float, nargs="+", default=None, help="lr-sweep: the learning rates")
    p.add_argument("--lr", type=float, default=None,
                   help="all but lr-sweep and figure1: the rate (default: the recipe's)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    if a.experiment == "lr-sweep" and not a.lrs:
        p.error("lr-sweep needs --lrs")
    recipe = RECIPES[a.recipe] if a.epochs is None else replace(RECIPES[a.recipe], epochs=a.epochs)
    recipe = recipe if a.lr is None else recipe.at_rate(a.lr)
    try:
        data = load_cifar10(a.data)
        data = holdout(data) if a.validation else data
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = TrainConfig(a.arch, recipe, seed=a.seed, train_subset=a.train_subset, test_subset=a.test_subset,
                      evals_per_run=8)
    if a.experiment == "figure1":
        for fig in figure1_run(data, figure1_config(a.seed, a.epochs)):
            if fig.done:
                print(f"{'step':>6} " + " ".join(f"{t + ' p' + str(q):>10}" for t in ("plain", "bn")
                                                 for q in (15, 50, 85)))
                for step, point in fig.points[:: max(1, len(fig.points) // 10)] + fig.points[-1:]:
                    print(f"{step:>6} " + " ".join(f"{point[t]['act_input'][q]:>10.3f}" for t in ("plain", "bn")
                                                   for q in (15, 50, 85)))
                print(fig.summary())
        return 0
    if a.experiment == "landscape":
        return _landscape(cfg, data)
    if a.experiment == "noisy-bn":
        *_, run = noisy_runs(cfg, data)  # to the end: each yield is the same experiment, grown
        for seed, log in run.logs.items():
            print(f"seed {seed}: " + ", ".join(f"{t} {100 * acc[-1]:.1f}%" for t, acc in log.test_acc.items()))
        print(run.summary())
        return 0
    if a.experiment == "tta":
        rows = []
        for row in tta_rows(cfg, data):
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(tta_choice(rows)[1])
        return 0
    if a.experiment == "placement":
        logs: dict = {}
        for placement, seed, ev in placement_runs(cfg, data):
            logs.setdefault((placement, seed), RunLog()).add(ev)
        print(placement_summary(logs))
        return 0
    rows = []
    for _, item in lr_sweep(cfg, data, a.lrs):
        if isinstance(item, dict):
            rows.append(item)
            print(json.dumps(item), flush=True)
    print(f"\n{'lr':>8} {'twin':>6} {'test acc':>9} {'last loss':>10} {'status':>9}")
    for r in rows:
        loss = f"{r['final_train_loss']:.3f}" if r["final_train_loss"] is not None else "-"
        print(f"{r['lr']:>8g} {r['twin']:>6} {100 * r['test_accuracy']:>8.1f}% {loss:>10} {r['status']:>9}")
    print("largest rate that trains: " + ", ".join(f"{t} {largest_trainable_rate(rows, t)}" for t in TWINS))
    return 0


def _landscape(cfg: TrainConfig, data) -> int:
    """One run of both twins with the landscape measured at each evaluation, as the Train tab does."""
    from bnapp.services.training import PROBE_UNIT
    from bnapp.training.engine import PairTrainer

    trainer = PairTrainer(cfg, data, probe=probe_for(cfg, data, PROBE_UNIT[cfg.arch], with_landscape=True))
    lines = []
    print(f"{'step':>6} {'twin':>6} {'loss':>7} {'loss range':>11} {'grad change':>19} {'beta':>9}")
    for ev in trainer.run():
        if ev.probe is None:
            continue
        lines.append((ev.step, {t: v.to_dict() for t, v in ev.probe.landscape.items()}))
        for t, v in ev.probe.landscape.items():
            print(f"{ev.step:>6} {t:>6} {v.loss:>7.3f} {v.loss_max - v.loss_min:>11.4f} "
                  f"{v.grad_change_min:>9.3g}-{v.grad_change_max:<9.3g} {v.beta:>9.3g}", flush=True)
    print("final test accuracy: " + ", ".join(f"{t} {100 * s.test_accuracy:.1f}%" for t, s in trainer.twins.items()))
    print(describe_landscape(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
