"""Evaluate checkpoints on the CIFAR-10 test set, exactly as the app predicts (`bnapp.infer`).

    python -m bnapp.evaluate --data ../shared/data/cifar10.npz checkpoints/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from . import CLASSES, infer
from .checkpoints import CheckpointError, load
from .data import Cifar10, DatasetError, load_cifar10
from .infer import InputSpec


def class_report(model: nn.Module, spec: InputSpec, data: Cifar10, precision: str = "fp32") -> dict:
    """Test accuracy, per-class accuracy and the confusion matrix (rows: true class), predicted in
    `precision` as the app does (`infer.for_inference`)."""
    pred = infer.logits(infer.for_inference(model, precision), data.x_test, spec).argmax(1)
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((data.y_test, pred), torch.ones_like(pred), accumulate=True)
    per_class = confusion.diag().float() / confusion.sum(1).clamp(min=1)
    return dict(
        test_accuracy=float((pred == data.y_test).float().mean()),
        per_class_accuracy={c: round(float(a), 4) for c, a in zip(CLASSES, per_class)},
        confusion_matrix=confusion.tolist(),
    )


def checkpoint_stems(args: list[str]) -> list[Path]:
    """Expand folders into the checkpoints they hold."""
    stems: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            stems += sorted(q.with_suffix("") for q in p.glob("*.safetensors"))
        else:
            stems.append(p.with_suffix("") if p.suffix in (".json", ".safetensors") else p)
    return stems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bnapp.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint files (x.safetensors, x.json or x) or folders")
    p.add_argument("--data", default=None, help="CIFAR-10 .npz or torchvision root (else $BNAPP_DATA)")
    p.add_argument("--precision", choices=infer.PRECISIONS, default="fp32",
                   help="predict in fp32 or bf16 ('auto': what the app uses on this machine)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {checkpoint, test_accuracy}")
    args = p.parse_args(argv)
    try:
        data = load_cifar10(args.data)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    precision = infer.resolve_precision(args.precision, torch.device("cpu"))
    results, failed = [], 0
    for stem in checkpoint_stems(args.checkpoints):
        try:
            model, meta = load(stem)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        report = class_report(model, InputSpec.from_dict(meta["input"]), data, precision)
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
