"""A tiny learnable stand-in for CIFAR-10, for the tests and the benches' quick modes."""
from __future__ import annotations

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
