"""Fashion-MNIST held in memory as uint8 tensors: the MNIST-format data of Figure 1's experiment.

Ioffe & Szegedy ran their Figure 1 on MNIST; real MNIST is not installable here, Fashion-MNIST (Xiao et al.
2017) ships in MNIST's own idx format and size (60,000 + 10,000 28x28 grey images, 10 classes). Sources, in
order: `--data` or `$BNAPP_FASHION_DATA` (a folder of the four idx files, gzipped or not), Debian's
`dataset-fashion-mnist` package folder, else torchvision's `FashionMNIST` download into the cache.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from bnapp.data.cifar10 import Cifar10, DatasetError

ENV_VAR = "BNAPP_FASHION_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
DEFAULT_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bnapp" / "fashion-mnist"
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)  # over the 60,000 training images
FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
HOW_TO_GET = (f"Pass --data FOLDER (or set {ENV_VAR}) to a folder holding {', '.join(FILES.values())} "
              f"(gzipped or not), or install Debian's dataset-fashion-mnist ({DEBIAN_DIR}), or let torchvision "
              f"download FashionMNIST into {DEFAULT_ROOT}.")
_MAGIC = {3: 2051, 1: 2049}  # the idx header's magic number for images (3 dims) and labels (1 dim)


def read_idx(path: Path, dims: int) -> np.ndarray:
    """One idx file (big-endian header: magic, then each dimension's size; then uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: not readable ({e}). {HOW_TO_GET}") from e
    header = 4 * (1 + dims)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != _MAGIC[dims]:
        raise DatasetError(f"{path}: not an idx file of {dims} dimension(s). {HOW_TO_GET}")
    shape = tuple(int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(1, dims + 1))
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: holds {data.size} bytes where its header says {shape}. {HOW_TO_GET}")
    return data.reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def _folder(path: str | os.PathLike | None) -> Path | None:
    """The folder the files are read from; None: none here, torchvision downloads them."""
    if path or os.environ.get(ENV_VAR):
        return Path(path or os.environ[ENV_VAR])
    return DEBIAN_DIR if _find(DEBIAN_DIR, FILES["y_test"]) else None


def load_fashion_mnist(path: str | os.PathLike | None = None) -> Cifar10:
    """Images as uint8 (N, 1, 28, 28), labels as int64; raise `DatasetError` with one clear message."""
    folder = _folder(path)
    if folder is None:
        folder = _download(DEFAULT_ROOT)
    arrays = {}
    for key, stem in FILES.items():
        found = _find(folder, stem)
        if found is None:
            raise DatasetError(f"Fashion-MNIST: {stem} not found in {folder}. {HOW_TO_GET}")
        arrays[key] = read_idx(found, 3 if key.startswith("x") else 1)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y) or (len(y) and y.max() > 9):
            raise DatasetError(f"{folder}: {split} images and labels do not match. {HOW_TO_GET}")

    def images(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.copy()).unsqueeze(1)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64))

    return Cifar10(images(arrays["x_train"]), labels(arrays["y_train"]), images(arrays["x_test"]),
                   labels(arrays["y_test"]), f"Fashion-MNIST ({folder})")


def _download(root: Path) -> Path:
    from torchvision.datasets import FashionMNIST  # imported here: only a host without the files needs it

    try:
        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except Exception as e:  # network down, partial download, corrupt archive...
        raise DatasetError(f"could not load or download Fashion-MNIST into {root} ({type(e).__name__}: {e}). "
                           f"{HOW_TO_GET}") from e
    return root / "FashionMNIST" / "raw"
