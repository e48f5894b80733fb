"""Ship a twin pair trained with several seeds: every seed measured the same way, the spread recorded.

    python -m bnapp.seeds --name cnn --runs runs/pairs/cnn-hi-s0 runs/pairs/cnn-hi-s1 runs/pairs/cnn-hi-s2 \\
        --out checkpoints --data ../shared/data/cifar10.npz --chosen-by bn

Each run (`python -m bnapp.train ... --name PREFIX`) is a PREFIX-bn / PREFIX-plain pair. Every checkpoint of
every seed is measured as `python -m bnapp.evaluate --write` measures (whole test set, its TTA, fp32 and bf16);
the first run is copied to OUT/NAME-bn|plain with those fields and a `seeds` record: each seed's accuracy,
their mean and standard deviation per precision, which seed is shipped, and each run's command. The pair's
title in the app then shows mean +- sd over the seeds. `--chosen-by TWIN` adds a `choice` record: the
validation split and the rule that chose the runs' learning rate (the sweep's numbers: the model card).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnapp import TWINS
from bnapp.data.cifar10 import DatasetError, load_cifar10
from bnapp.services.shipping import WRITTEN_PRECISIONS, ship
from bnapp.store.checkpoints import CheckpointError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnapp.seeds", description=__doc__.split("\n\n")[0])
    p.add_argument("--name", required=True, help="the shipped pair's name, e.g. cnn")
    p.add_argument("--runs", nargs="+", required=True,
                   help="run prefixes (PREFIX-bn, PREFIX-plain); the first is shipped")
    p.add_argument("--out", default="checkpoints", help="folder of the shipped pairs")
    p.add_argument("--data", default=None, help="CIFAR-10 .npz (else $BNAPP_DATA)")
    p.add_argument("--chosen-by", choices=TWINS, default=None,
                   help="the twin whose best mean validation accuracy chose the runs' learning rate (recorded)")
    p.add_argument("--epochs-tried", type=float, nargs="+", default=None,
                   help="with --chosen-by: the epoch counts compared on validation, when that twin also chose the "
                        "runs' epochs")
    p.add_argument("--search", default=None,
                   help="the recipe search's table the runs were trained from (train --search): shipped beside them")
    a = p.parse_args(argv)
    if a.epochs_tried and not a.chosen_by:
        p.error("--epochs-tried needs --chosen-by")
    command = "python -m bnapp.seeds " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        records = ship(a.name, [Path(r) for r in a.runs], Path(a.out), load_cifar10(a.data), command, a.chosen_by,
                       a.epochs_tried, Path(a.search) if a.search else None)
    except (DatasetError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for twin, r in records.items():
        print(f"{a.name} {twin}: " + "; ".join(
            f"{p} {100 * r['mean'][p]:.2f}% +- {100 * r['sd'][p]:.2f} over seeds {r['seeds']}"
            for p in WRITTEN_PRECISIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
