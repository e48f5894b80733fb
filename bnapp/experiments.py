"""Experiments beyond one run, from the command line (the experiments are `bnapp.services.experiments`).

    python -m bnapp.experiments lr-sweep --arch cnn --recipe fast --lrs 1.5 0.5 0.15 0.05 --epochs 2 \\
        --train-subset 20000
    python -m bnapp.experiments landscape --recipe quick --epochs 2 --train-subset 6000 --test-subset 1000
    python -m bnapp.experiments noisy-bn --recipe quick --epochs 3 --train-subset 8192 --test-subset 1000
    python -m bnapp.experiments tta --validation --arch cnn --recipe fast --lr 0.3 --epochs 2 --train-subset 20000
    python -m bnapp.experiments tune --twin both --trials 8 --out runs/tune/cnn-fair.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bnapp import TWINS
from bnapp.data.cifar10 import DatasetError, holdout, load_cifar10
from bnapp.services.experiments import (
    lr_sweep,
    placement_runs,
    placement_summary,
    trainability_line,
    tta_choice,
    tta_rows,
)
from bnapp.services.figure1 import Figure1, figure1_config, figure1_seeds
from bnapp.services.noisy import noisy_runs
from bnapp.services.probes import describe_landscape, probe_for
from bnapp.services.shipping import EXPERIMENTS_PROG
from bnapp.services.training import RunLog
from bnapp.services.tuning import best, forgiveness, read_rows, run_search
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.training.search import trials

PROG = EXPERIMENTS_PROG
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=("lr-sweep", "placement", "figure1", "landscape", "noisy-bn", "tta", "tune"),
                   help="lr-sweep: both twins at each --lrs; placement: BN before vs after the ReLU, 3 seeds; "
                        "figure1: Ioffe & Szegedy's Figure 1 (3 x 100 sigmoid MLP); landscape: Santurkar et al.'s "
                        "loss-landscape measurements at 8 evaluations of one run; noisy-bn: BN, noisy BN and no BN, "
                        "3 seeds; tta: both twins scored with each test-time augmentation, 3 seeds; "
                        "tune: the recipe search (bnapp.training.search) on the validation split, resumable, "
                        "one row per trial and twin")
    p.add_argument("--validation", action="store_true",
                   help="score on 5,000 class-balanced training images held out (make choices here, not on test)")
    p.add_argument("--arch", default="cnn", choices=("mlp", "cnn", "fig1"))
    p.add_argument("--recipe", default="fast", choices=sorted(RECIPES))
    p.add_argument("--lrs", type=float, nargs="+", default=None, help="lr-sweep: the learning rates")
    p.add_argument("--lr", type=float, default=None,
                   help="all but lr-sweep and figure1: the rate (default: the recipe's)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    p.add_argument("--twin", default="both", choices=("both", *TWINS), help="tune: which twins to search for")
    p.add_argument("--trials", type=int, default=8, help="tune: trials per twin (the anchors, then seeded draws)")
    p.add_argument("--out", default="runs/tune/cnn-fair.jsonl",
                   help="tune: the table, appended to and resumed; figure1: the record written")
    p.add_argument("--steps", type=int, default=0,
                   help="lr-sweep, figure1: train this many steps (Figure 1's paper: 50000)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="figure1: these seeds (default: --seed), each one's drift and accuracy recorded "
                        "(the first seed's figure)")
    return p


def _figure1(a: argparse.Namespace, data, argv: list[str] | None) -> int:
    """Figure 1 for each of --seeds (else --seed): the first seed's percentiles over the run, every seed's
    drift and accuracy with their spread; --out writes the record (what checkpoints/figure1.json holds)."""
    record = figure1_seeds(data, figure1_config(epochs=a.epochs, steps=a.steps), tuple(a.seeds or [a.seed]))
    fig = Figure1.from_dict(record["figure"])
    columns = [(t, q) for t in ("plain", "bn") for q in (15, 50, 85)]
    print(f"{'step':>6} " + " ".join(f"{t + ' p' + str(q):>10}" for t, q in columns))
    for step, point in fig.points[:: max(1, len(fig.points) // 10)] + fig.points[-1:]:
        print(f"{step:>6} " + " ".join(f"{point[t]['act_input'][q]:>10.3f}" for t, q in columns))
    print(fig.summary())
    print(json.dumps({k: record[k] for k in ("seeds", "drift", "test_acc", "drift_bn_minus_plain")}, indent=1))
    if a.out:
        record["command"] = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
        Path(a.out).write_text(json.dumps(record, indent=1))
    return 0


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
                      evals_per_run=8, steps=a.steps)
    if a.experiment == "figure1":
        return _figure1(a, data, argv)
    if a.experiment == "tune":
        return _tune(a, load_cifar10(a.data))
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
    print(trainability_line(rows))
    return 0


def _tune(a: argparse.Namespace, data) -> int:
    """The search on the validation split, always (choices are never made on the test set)."""
    chosen = trials(a.trials, a.seed)
    twins = TWINS if a.twin == "both" else (a.twin,)
    path = Path(a.out)
    print(f"{'trial':>5} {'twin':>6} {'lr':>7} {'wd':>8} {'warmup':>6} {'smooth':>6} {'shift x':>7} {'init':>11} "
          f"{'val acc':>8}")
    for row in run_search(holdout(data), chosen, path, twins, a.seed):
        print(f"{row['trial']:>5} {row['twin']:>6} {row['lr']:>7g} {row['weight_decay']:>8g} {row['warmup']:>6g} "
              f"{row['label_smoothing']:>6g} {row['bn_bias_lr_scale']:>7g} {row['init']:>11} "
              f"{100 * row['val_accuracy']:>7.2f}%", flush=True)
    rows = read_rows(path)
    for twin in twins:
        f, b = forgiveness(rows, twin), best(rows, twin)
        print(f"{twin}: best trial {b['trial']} ({100 * f['best']:.2f}%); {f['near_best']} of {f['trials']} trials "
              f"within 1 point, at lr {f['lr_range'][0]:g}-{f['lr_range'][1]:g}")
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
