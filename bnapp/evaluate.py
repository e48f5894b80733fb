"""Evaluate checkpoints on the CIFAR-10 test set, exactly as the app predicts (`bnapp.measure.infer`).

    python -m bnapp.evaluate --data ../shared/data/cifar10.npz checkpoints/
    python -m bnapp.evaluate --data ../shared/data/cifar10.npz --write checkpoints/   # record it in each JSON

`--write` measures every checkpoint in fp32 and bf16 with the TTA its JSON names, on the whole test
set, and writes the result into the JSON: `test_accuracy` (fp32, as before), `test_accuracy_by_precision`,
the fp32 per-class accuracy and confusion matrix, and an `evaluation` record of how it was measured.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from bnapp.data.cifar10 import DatasetError, load_cifar10
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.services.shipping import checkpoint_stems, write_evaluation
from bnapp.store.checkpoints import CheckpointError, load
from bnapp.system.precision import PRECISIONS, resolve_precision


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnapp.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint files (x.safetensors, x.json or x) or folders")
    p.add_argument("--data", default=None, help="CIFAR-10 .npz or torchvision root (else $BNAPP_DATA)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="predict in fp32 or bf16 ('auto': what the app uses on this machine)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {checkpoint, test_accuracy}")
    p.add_argument("--write", action="store_true",
                   help="measure in fp32 and bf16 and write the results into each checkpoint's JSON")
    args = p.parse_args(argv)
    try:
        data = load_cifar10(args.data)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    precision = resolve_precision(args.precision, torch.device("cpu"))
    results, failed = [], 0
    command = "python -m bnapp.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
    for stem in checkpoint_stems(args.checkpoints):
        try:
            if args.write:
                report = write_evaluation(stem, data, command)
                print(f"{stem}: wrote " + ", ".join(f"{p} {100 * a:.2f}%"
                                                    for p, a in report["test_accuracy_by_precision"].items())
                      + f" (tta={report['evaluation']['tta']})")
                precision = "fp32"  # what the written report holds
            else:
                model, meta = load(stem)
                report = class_report(model, InputSpec.from_dict(meta["input"]), data, precision)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        results.append(dict(checkpoint=str(stem.with_suffix(".safetensors")) if stem.suffix == "" else str(stem),
                            test_accuracy=report["test_accuracy"], per_class_accuracy=report["per_class_accuracy"]))
    if args.json:
        print(json.dumps([{"checkpoint": r["checkpoint"], "test_accuracy": r["test_accuracy"]} for r in results]))
    else:
        for r in results:
            print(f"{r['checkpoint']}: test accuracy {100 * r['test_accuracy']:.2f}% ({precision})")
            print("  " + "  ".join(f"{c} {100 * a:.1f}%" for c, a in r["per_class_accuracy"].items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
