"""`python -m bnapp.data --export-examples DIR`: write the app's example images."""
import argparse

from bnapp.data.cifar10 import load_cifar10
from bnapp.data.examples import export_examples


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bnapp.data", description="Export the app's example images.")
    ap.add_argument("--data", default=None, help="CIFAR-10 .npz or torchvision root (else $BNAPP_DATA)")
    ap.add_argument("--export-examples", required=True, metavar="DIR", help="folder for the PNGs and examples.json")
    ap.add_argument("--per-class", type=int, default=3)
    a = ap.parse_args(argv)
    rows = export_examples(load_cifar10(a.data), a.export_examples, a.per_class)
    print(f"wrote {len(rows)} examples to {a.export_examples}")


if __name__ == "__main__":
    main()
