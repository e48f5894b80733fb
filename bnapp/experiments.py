"""Experiments beyond one run, from the command line (the experiments are `bnapp.services.experiments`).

    python -m bnapp.experiments lr-sweep --arch cnn --recipe fast --lrs 1.5 0.5 0.15 0.05 --epochs 2 \\
        --train-subset 20000
    python -m bnapp.experiments landscape --recipe quick --epochs 2 --train-subset 6000 --test-subset 1000
    python -m bnapp.experiments noisy-bn --recipe quick --epochs 3 --train-subset 8192 --test-subset 1000
    python -m bnapp.experiments tta --validation --arch cnn --recipe fast --lr 0.3 --epochs 2 --train-subset 20000
    python -m bnapp.experiments tune --twin both --trials 8 --out runs/tune/cnn-fair.jsonl
    python -m bnapp.experiments figure1 --seeds 0 1 2 --steps 50000 --out checkpoints/figure1.json
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bnapp import TWINS
from bnapp.data import sets
from bnapp.data.cifar10 import DatasetError, holdout
from bnapp.services.experiments import lr_sweep, placement_result, placement_runs, trainability, tta_choice, tta_rows
from bnapp.services.figure1 import DATASET, Figure1, figure1_config, figure1_seeds
from bnapp.services.noisy import noisy_runs
from bnapp.services.probes import landscape_medians, probe_for
from bnapp.services.shipping import EXPERIMENTS_PROG
from bnapp.services.training import RunLog
from bnapp.services.tuning import best, forgiveness, read_rows, run_search
from bnapp.system.precision import PRECISIONS
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.training.search import BASE, trials

PROG = EXPERIMENTS_PROG
TUNE_TABLE = "runs/tune/cnn-fair.jsonl"
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
                   help="all but lr-sweep: the rate (default: the recipe's)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="the dataset's file or folder (default: its loader's)")
    p.add_argument("--dataset", default=None, choices=tuple(sets.DATASETS),
                   help=f"figure1 only: the data (default {DATASET}, MNIST's format; the rest: cifar10)")
    p.add_argument("--twin", default="both", choices=("both", *TWINS), help="tune: which twins to search for")
    p.add_argument("--trials", type=int, default=8, help="tune: trials per twin (the anchors, then seeded draws)")
    p.add_argument("--only", type=int, nargs="+", default=None,
                   help="tune: run only these of the trials (e.g. to check that a proxy's ranking holds at full width)")
    p.add_argument("--widths", type=int, nargs=3, default=None,
                   help=f"tune: the CNN's block widths (default: the search's {' '.join(map(str, BASE.widths))})")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help=f"tune: the trials' precision (default: the search's {BASE.precision})")
    p.add_argument("--out", default=None,
                   help=f"tune: the table, appended to and resumed (default {TUNE_TABLE}); figure1: the record "
                        "written (default: none)")
    p.add_argument("--steps", type=int, default=0,
                   help="lr-sweep, figure1: train this many steps (Figure 1's paper: 50000)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="figure1: these seeds (default: --seed), each one's drift and accuracy recorded "
                        "(the first seed's figure)")
    return p


def _figure1(a: argparse.Namespace, data, argv: list[str] | None) -> int:
    """Figure 1 for each of --seeds (else --seed): the first seed's percentiles over the run, every seed's
    drift and accuracy with their spread; --out writes the record (what checkpoints/figure1.json holds)."""
    cfg = figure1_config(epochs=a.epochs, steps=a.steps, dataset=a.dataset or DATASET, lr=a.lr)
    record = figure1_seeds(data, cfg, tuple(a.seeds or [a.seed]))
    fig = Figure1.from_dict(record["figure"])
    columns = [(t, q) for t in ("plain", "bn") for q in (15, 50, 85)]
    print(f"{'step':>6} " + " ".join(f"{t + ' p' + str(q):>10}" for t, q in columns))
    for step, point in fig.points[:: max(1, len(fig.points) // 10)] + fig.points[-1:]:
        print(f"{step:>6} " + " ".join(f"{point[t]['act_input'][q]:>10.3f}" for t, q in columns))
    print(json.dumps({k: record[k] for k in ("seeds", "drift", "test_acc", "drift_bn_minus_plain", "data")}, indent=1))
    if a.out:
        record["command"] = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
        Path(a.out).write_text(json.dumps(record, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    if a.experiment == "lr-sweep" and not a.lrs:
        p.error("lr-sweep needs --lrs")
    if a.dataset not in (None, "cifar10") and a.experiment != "figure1":
        p.error(f"{a.experiment} trains on cifar10 only")
    recipe = RECIPES[a.recipe] if a.epochs is None else replace(RECIPES[a.recipe], epochs=a.epochs)
    recipe = recipe if a.lr is None else recipe.at_rate(a.lr)
    try:
        full = sets.load(a.dataset or (DATASET if a.experiment == "figure1" else "cifar10"), a.data)
        data = holdout(full) if a.validation else full
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = TrainConfig(a.arch, recipe, seed=a.seed, train_subset=a.train_subset, test_subset=a.test_subset,
                      evals_per_run=8, steps=a.steps)
    if a.experiment == "figure1":
        return _figure1(a, data, argv)
    if a.experiment == "tune":
        return _tune(a, full)
    if a.experiment == "landscape":
        return _landscape(cfg, data)
    if a.experiment == "noisy-bn":
        *_, run = noisy_runs(cfg, data)  # to the end: each yield is the same experiment, grown
        for seed, log in run.logs.items():
            print(f"seed {seed}: " + ", ".join(f"{t} {100 * acc[-1]:.1f}%" for t, acc in log.test_acc.items()))
        for variant, diff in (run.compared() or {}).items():
            print(diff.describe("noisy", variant))
        return 0
    if a.experiment == "tta":
        rows = []
        for row in tta_rows(cfg, data):
            rows.append(row)
            print(json.dumps(row), flush=True)
        choice = tta_choice(rows)
        for twin, acc in choice.accuracy.items():
            print(f"{twin}: " + ", ".join(f"{tta} {100 * a:.2f}%" + (f" (gain {100 * choice.gain[twin][tta].mean:+.2f} "
                                                                    f"+- {100 * choice.gain[twin][tta].sd:.2f})"
                                                                    if tta in choice.gain[twin] else "")
                                          for tta, a in acc.items()))
        print(f"chosen ({choice.made_for} twin's best mean over {choice.seeds} seeds): {choice.chosen}")
        return 0
    if a.experiment == "placement":
        logs: dict = {}
        for placement, seed, ev in placement_runs(cfg, data):
            logs.setdefault((placement, seed), RunLog()).add(ev)
        for (placement, seed), log in sorted(logs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"seed {seed}, BN {placement} ReLU: BN twin {100 * log.test_acc['bn'][-1]:.1f}%, plain twin "
                  f"{100 * log.test_acc['plain'][-1]:.1f}%")
        result = placement_result(logs)
        for variant, spread in result.finals.items():
            print(f"{variant}: {spread.percent()} (n={spread.n})")
        if result.before_vs_after is not None:
            print(result.before_vs_after.describe("BN before ReLU", "BN after ReLU"))
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
    t = trainability(rows)
    print(f"largest rate that trains ({t.steps} steps): " + ", ".join(f"{k} {v}" for k, v in t.largest.items())
          if t.largest is not None else f"{t.steps} steps: too short to say which rates train")
    return 0


def _tune(a: argparse.Namespace, data) -> int:
    """The search on the validation split, always (choices are never made on the test set)."""
    chosen = [t for t in trials(a.trials, a.seed) if a.only is None or t.id in a.only]
    base = replace(BASE, **{k: v for k, v in dict(widths=tuple(a.widths) if a.widths else None,
                                                   precision=a.precision).items() if v is not None})
    twins = TWINS if a.twin == "both" else (a.twin,)
    path = Path(a.out or TUNE_TABLE)
    print(f"{'trial':>5} {'twin':>6} {'lr':>7} {'wd':>8} {'warmup':>6} {'smooth':>6} {'shift x':>7} {'init':>11} "
          f"{'val acc':>8}")
    for row in run_search(holdout(data), chosen, path, twins, a.seed, base):
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
    for twin, m in landscape_medians(lines).items():
        print(f"{twin} (medians over {len(lines)} evaluations): beta {m['beta']:.3g}, largest gradient change "
              f"{m['grad_change_max']:.3g}, loss range {m['loss_range']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
