"""The datasets a run can train on, each with its image shape and normalisation: one table."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from bnapp.data.cifar10 import CIFAR_MEAN, CIFAR_STD, Cifar10, load_cifar10
from bnapp.data.fashion_mnist import FASHION_MEAN, FASHION_STD, load_fashion_mnist


@dataclass(frozen=True)
class DatasetInfo:
    label: str
    shape: tuple[int, int, int]  # one image, CHW
    mean: tuple[float, ...]  # per channel, of x/255 over the training images
    std: tuple[float, ...]
    load: Callable[[str | os.PathLike | None], Cifar10]

    @property
    def inputs(self) -> int:
        """Values per image: what a fully connected first layer takes."""
        c, h, w = self.shape
        return c * h * w


DATASETS = {"cifar10": DatasetInfo("CIFAR-10", (3, 32, 32), CIFAR_MEAN, CIFAR_STD, load_cifar10),
            "fashion-mnist": DatasetInfo("Fashion-MNIST", (1, 28, 28), FASHION_MEAN, FASHION_STD, load_fashion_mnist)}


def load(name: str, path: str | os.PathLike | None = None) -> Cifar10:
    """`name`'s images from `path` (each loader's own default where None); raises DatasetError."""
    return DATASETS[name].load(path)
