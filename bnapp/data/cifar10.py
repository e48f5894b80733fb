"""CIFAR-10 held in memory as uint8 tensors, and the splits every choice and measurement is made on.

Sources: a NumPy `.npz` with `x_train, y_train, x_test, y_test` (uint8, NHWC), or a torchvision
`CIFAR10` root folder (downloaded there when the network allows, as the tutorial does). The path
comes from `--data`, else the `BNAPP_DATA` environment variable, else torchvision's default root.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "BNAPP_DATA"
DEFAULT_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bnapp" / "cifar10"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
HOW_TO_GET = (
    f"Pass --data PATH (or set {ENV_VAR}) to either a .npz with uint8 arrays x_train (N,32,32,3), y_train (N,), "
    "x_test, y_test -- e.g. ../shared/data/cifar10.npz -- or a folder where torchvision's CIFAR10 "
    "can find or download 'cifar-10-batches-py'."
)


class DatasetError(RuntimeError):
    """The dataset is missing or not in the expected layout; the message says how to fix it."""


@dataclass
class Cifar10:
    """Images as uint8 NCHW tensors and labels as int64, exactly as stored (no normalisation). Fashion-MNIST,
    Figure 1's data, is held the same way (`data.fashion_mnist`)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Cifar10:
        """A random (seeded) subset: the source files are grouped by class, so never take a prefix."""
        g = torch.Generator().manual_seed(seed)
        tr = torch.randperm(len(self.y_train), generator=g)[: n_train or len(self.y_train)]
        te = torch.randperm(len(self.y_test), generator=g)[: n_test or len(self.y_test)]
        return Cifar10(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te], self.source)


HOLDOUT_IMAGES, HOLDOUT_SEED = 5000, 0  # the validation split every choice is made on


def holdout(data: Cifar10, n: int = HOLDOUT_IMAGES, seed: int = HOLDOUT_SEED) -> Cifar10:
    """The training images without a seeded, class-balanced `n`, which take the test set's place: the
    split on which choices (learning rate, epochs, TTA) are made, so the test set is measured once."""
    val = balanced_sample(data.y_train, n, seed)
    keep = torch.ones(len(data.y_train), dtype=torch.bool)
    keep[val] = False
    return Cifar10(data.x_train[keep], data.y_train[keep], data.x_train[val], data.y_train[val],
                   f"{data.source} (validation: {n} class-balanced training images held out, seed {seed})")


def balanced_sample(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of `n` images, as many of each class as the classes allow, seeded: a fair sample of a
    file that is grouped by class (a prefix of CIFAR-10's file would be airplanes only)."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    classes = labels.unique()
    per_class = -(-n // max(1, len(classes)))
    picked = torch.cat([order[labels[order] == c][:per_class] for c in classes])
    return picked[torch.randperm(len(picked), generator=g)][:n]


def draw(count: int, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of `n` seeded random draws from `count` items: without replacement, unless `n` > `count`.
    Never a prefix: the file is grouped by class."""
    g = torch.Generator().manual_seed(seed)
    if n <= count:
        return torch.randperm(count, generator=g)[:n]
    return torch.randint(0, count, (n,), generator=g)


def resolve_path(path: str | os.PathLike | None) -> Path:
    if path:
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_ROOT


def load_cifar10(path: str | os.PathLike | None = None) -> Cifar10:
    """Load once into memory; raise `DatasetError` with one clear message when that fails."""
    p = resolve_path(path)
    if p.suffix == ".npz":
        return _load_npz(p)
    return _load_torchvision(p)


def _check(name: str, x: np.ndarray, y: np.ndarray, where: Path) -> None:
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DatasetError(f"{where}: x_{name} must be uint8 of shape (N, 32, 32, 3), got {x.dtype} {x.shape}. "
                           f"{HOW_TO_GET}")
    if y.ndim != 1 or len(y) != len(x) or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DatasetError(f"{where}: y_{name} must hold one label 0..9 per image. {HOW_TO_GET}")


def _from_numpy(x_train, y_train, x_test, y_test, source: str) -> Cifar10:
    def images(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64))

    return Cifar10(images(x_train), labels(y_train), images(x_test), labels(y_test), source)


def _load_npz(p: Path) -> Cifar10:
    if not p.is_file():
        raise DatasetError(f"CIFAR-10 file not found: {p}. {HOW_TO_GET}")
    try:
        with np.load(p, allow_pickle=False) as d:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(d.files)
            if missing:
                raise DatasetError(f"{p}: missing arrays {sorted(missing)}. {HOW_TO_GET}")
            arrays = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f"{p}: not a readable .npz ({e}). {HOW_TO_GET}") from e
    _check("train", arrays["x_train"], arrays["y_train"], p)
    _check("test", arrays["x_test"], arrays["y_test"], p)
    return _from_numpy(**arrays, source=str(p))


def _load_torchvision(root: Path) -> Cifar10:
    from torchvision.datasets import CIFAR10  # imported here: the app never needs it

    try:
        train = CIFAR10(str(root), train=True, download=True)
        test = CIFAR10(str(root), train=False, download=True)
    except Exception as e:  # network down, partial download, corrupt archive...
        raise DatasetError(f"could not load or download CIFAR-10 into {root} ({type(e).__name__}: {e}). "
                           f"{HOW_TO_GET}") from e
    return _from_numpy(train.data, np.array(train.targets), test.data, np.array(test.targets),
                       source=f"torchvision:{root}")


def load_test_set(path: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Only the test images and labels of a .npz (about 30 MB, read in well under a second), or None
    when no such file is configured: the app then falls back to its shipped examples."""
    p = resolve_path(path)
    if p.suffix != ".npz" or not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as d:
            x, y = d["x_test"], d["y_test"]
        _check("test", x, y, p)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, DatasetError):
        return None
    full = _from_numpy(x[:0], y[:0], x, y, str(p))
    return full.x_test, full.y_test
