"""Tiny learnable stand-ins for CIFAR-10 and Fashion-MNIST, for the tests and the benches' quick modes."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np


def make_synthetic_npz(path: str | os.PathLike, n_train: int = 512, n_test: int = 128, seed: int = 0) -> Path:
    """A tiny learnable CIFAR-format file for tests: each class has its own colour and stripe pattern."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n).astype(np.uint8)
        base = np.zeros((n, 32, 32, 3), np.float32)
        for c in range(10):
            idx = y == c
            colour = np.array([(c * 37) % 256, (c * 91) % 256, (c * 53) % 256], np.float32)
            stripes = ((np.arange(32) // (c + 1)) % 2)[None, :, None, None] * 60.0
            base[idx] = colour + stripes
        x = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        return x, y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    path = Path(path)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def make_synthetic_idx(folder: str | os.PathLike, n_train: int = 256, n_test: int = 64, seed: int = 0,
                       gzipped: bool = True) -> Path:
    """A tiny learnable Fashion-MNIST-format folder (the four idx files) for tests: each class a brighter band."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, array: np.ndarray) -> None:
        magic = 2051 if array.ndim == 3 else 2049
        header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *array.shape))
        path = folder / (f"{name}.gz" if gzipped else name)
        with (gzip.open if gzipped else open)(path, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.normal(40, 20, (n, 28, 28))
        for c in range(10):
            x[y == c, 2 * c + 4: 2 * c + 8, :] += 150
        write(f"{split}-images-idx3-ubyte", np.clip(x, 0, 255))
        write(f"{split}-labels-idx1-ubyte", y)
    return folder
