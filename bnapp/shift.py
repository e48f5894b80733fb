"""Print how both twins fare on CIFAR-10-C-style corrupted test images, BN with running, adapted and
mixed statistics (the Test time tab's numbers, from the command line).

    python -m bnapp.shift --pair cnn --corruption gaussian_noise --severity 5 --data ../shared/data/cifar10.npz
"""
from __future__ import annotations

import argparse
import sys

from bnapp import CHECKPOINTS
from bnapp.data import corruptions
from bnapp.data.cifar10 import DatasetError, load_test_set, resolve_path
from bnapp.measure.reports import interval
from bnapp.services import UserError, shift
from bnapp.services.testtime import ImagePool
from bnapp.store.pairs import load_pairs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bnapp.shift", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pair", default="cnn", help="pair name in the checkpoint folder (cnn, mlp, ...)")
    p.add_argument("--checkpoints", default=str(CHECKPOINTS), help="folder holding NAME-bn/NAME-plain")
    p.add_argument("--corruption", nargs="+", choices=corruptions.CORRUPTIONS, default=list(corruptions.CORRUPTIONS))
    p.add_argument("--severity", nargs="+", type=int, choices=corruptions.SEVERITIES,
                   default=list(corruptions.SEVERITIES))
    p.add_argument("--images", type=int, default=2000, help="random test images (a multiple of 256 is used)")
    p.add_argument("--prior", type=float, default=shift.DEFAULT_PRIOR, help="Schneider et al.'s prior strength N")
    p.add_argument("--data", default=None, help="CIFAR-10 .npz (else $BNAPP_DATA)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    report = load_pairs(a.checkpoints)
    test = load_test_set(a.data)
    if a.pair not in report.pairs:
        print(f"error: no pair {a.pair!r} in {a.checkpoints} (found: {', '.join(report.pairs) or 'none'})",
              file=sys.stderr)
        return 2
    if test is None:
        print(f"error: no CIFAR-10 .npz at {resolve_path(a.data)}: pass --data or set BNAPP_DATA", file=sys.stderr)
        return 2
    pair, pool = report.pairs[a.pair], ImagePool(*test, source=f"the CIFAR-10 test set ({len(test[1])} images)")
    names = shift.variant_names(a.prior)
    try:
        base = shift.clean(pair, pool, a.prior, a.images)
        rows = [("clean", "-", base)]
        for c in a.corruption:
            for s in a.severity:
                rows.append((corruptions.LABELS[c], str(s), shift.shift(pair, pool, c, s, a.prior, a.images).accuracy))
    except (UserError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = a.images - a.images % min(shift.ADAPT_BATCH, a.images)
    print(f"pair {a.pair}: {n} random test images, BN statistics over batches of {min(shift.ADAPT_BATCH, n)}, fp32, "
          f"no TTA; 95% interval about +-{100 * interval(0.5, n):.1f} points at 50%\n")
    print("| corruption | severity | " + " | ".join(names[v] for v in shift.VARIANTS) + " |")
    print("|---|---|" + "---|" * len(shift.VARIANTS))
    for label, sev, acc in rows:
        print(f"| {label} | {sev} | " + " | ".join(f"{100 * acc[v]:.1f}%" for v in shift.VARIANTS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
