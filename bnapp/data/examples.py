"""The app's example images: a fixed rule picks them from the test set, no hand-picking."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from bnapp import CLASSES
from bnapp.data.cifar10 import Cifar10


def export_examples(data: Cifar10, out_dir: str | os.PathLike, per_class: int = 3, seed: int = 0) -> list[dict]:
    """Write the first `per_class` test images of each class in a seeded shuffle of the test set as
    PNGs, with `examples.json` naming their labels (a fixed rule: no hand-picking)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed).permutation(len(data.y_test))
    rows, taken = [], {c: 0 for c in range(10)}
    for i in order:
        c = int(data.y_test[i])
        if taken[c] >= per_class:
            continue
        taken[c] += 1
        name = f"{CLASSES[c]}-test{i:05d}.png"
        Image.fromarray(data.x_test[i].permute(1, 2, 0).numpy()).save(out / name)
        rows.append(dict(file=name, label=CLASSES[c], test_index=int(i)))
        if all(v >= per_class for v in taken.values()):
            break
    rows.sort(key=lambda r: (CLASSES.index(r["label"]), r["test_index"]))
    (out / "examples.json").write_text(json.dumps(dict(
        rule=f"first {per_class} images of each class in a numpy default_rng({seed}) permutation of the test set",
        source=data.source, examples=rows), indent=1))
    return rows
