"""The Test time tab, part 1: a BN twin's prediction depends on the batch it shares and on batch size.

In eval mode BatchNorm uses the running statistics frozen at training time, and an image's prediction
is its own. With the batch's statistics (train mode, or test-time adaptation) the other images in the
batch are part of every image's input. Everything here is forward passes on copies (`bnapp.measure.adapt`),
fp32, without TTA, the same for both twins.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from PIL import Image

from bnapp import CLASSES
from bnapp.data.cifar10 import draw
from bnapp.data.images import image_tensor, to_model_input
from bnapp.measure import adapt
from bnapp.measure.adapt import RUNNING, BatchOfOneError
from bnapp.measure.infer import share_right
from bnapp.measure.reports import interval
from bnapp.services import UserError
from bnapp.store.pairs import Pair
from bnapp.system import sharing

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
KINDS = ("random test images", "test images of one class", "copies of itself")
DRAWS = 3  # companies drawn per batch size for the random kinds
CURVE_IMAGES = 1024  # accuracy against batch size: divisible by every size
Progress = Callable[[float, str], None]


@dataclass
class ImagePool:
    """Labelled test images to draw company and measurements from."""

    images: torch.Tensor  # uint8 (N, 3, 32, 32)
    labels: torch.Tensor  # int64 (N,)
    source: str  # in words, e.g. "10000 real CIFAR-10 test images"

    def sample(self, n: int, seed: int, cls: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` images drawn at random (never a prefix: the file is grouped by class); with replacement
        only when the pool is smaller than `n`."""
        idx = torch.arange(len(self.labels)) if cls is None else (self.labels == cls).nonzero().flatten()
        if len(idx) == 0:
            raise UserError(f"No test images of class {CLASSES[cls]} available.")
        pick = idx[draw(len(idx), n, seed)]
        return self.images[pick], self.labels[pick]


def probabilities(pair: Pair, twin: str, images: torch.Tensor, prior: float = RUNNING, group: int = 0) -> torch.Tensor:
    """Softmax (N, 10) of one twin under the given BN statistics; person-facing error for BN1d alone."""
    try:
        with sharing.cores.interactive():
            return torch.softmax(adapt.logits(pair.models[twin], images, pair.spec(twin), prior, group), dim=1)
    except BatchOfOneError as e:
        raise UserError(str(e)) from None


@dataclass
class CompanyView:
    """One image's BN-twin prediction in eval mode and inside batches of each kind and size."""

    target: str  # the class the BN twin gives the image in eval mode
    bn_eval: list[float]  # its probabilities, eval mode
    plain: list[float]  # the plain twin's, which no batch can change
    company_class: str
    sizes: list[int]
    prob: dict[str, list[list[float] | None]] = field(default_factory=dict)  # kind -> per size: P(target) per draw
    top: dict[str, list[list[str] | None]] = field(default_factory=dict)  # kind -> per size: top class per draw
    undefined: str = ""  # why a size has no value (BN1d and a batch of one)

    def changed(self, kind: str) -> tuple[int, int]:
        """(batches where the top class differs from eval mode, batches measured) for one kind."""
        tops = [t for per_size in self.top[kind] if per_size for t in per_size]
        return sum(t != self.target for t in tops), len(tops)



def company(pair: Pair, image: Image.Image | torch.Tensor, pool: ImagePool, company_class: str | None = None,
            seed: int = 0, progress: Progress | None = None) -> CompanyView:
    """`image` (any PIL image, or uint8 (3, 32, 32)) in train-mode BN inside batches of 1..256: random
    test images, test images of one class (by default the class the BN twin finds least likely), or
    copies of itself. The image is first in each batch; `DRAWS` companies per size for the random kinds."""
    if isinstance(image, Image.Image):
        image = image_tensor(to_model_input(image))
    eval_p = probabilities(pair, "bn", image[None])[0]
    plain_p = probabilities(pair, "plain", image[None])[0]
    target = int(eval_p.argmax())
    cls = int(eval_p.argmin()) if company_class in (None, "") else _class_index(company_class)
    view = CompanyView(CLASSES[target], eval_p.tolist(), plain_p.tolist(), CLASSES[cls], list(SIZES))
    for k, kind in enumerate(KINDS):
        view.prob[kind], view.top[kind] = [], []
        if progress:
            progress(k / len(KINDS), kind)
        for size in SIZES:
            draws = 1 if kind == KINDS[2] or size == 1 else DRAWS
            batches = []
            for d in range(draws):
                others = (image[None].expand(size - 1, -1, -1, -1) if kind == KINDS[2] else
                          pool.sample(size - 1, seed + 1000 * size + d, cls if kind == KINDS[1] else None)[0])
                batches.append(torch.cat([image[None], others]))
            try:
                p = probabilities(pair, "bn", torch.cat(batches), prior=0, group=size)[::size]
            except UserError as e:
                view.undefined = str(e)
                view.prob[kind].append(None)
                view.top[kind].append(None)
                continue
            view.prob[kind].append(p[:, target].tolist())
            view.top[kind].append([CLASSES[int(i)] for i in p.argmax(1)])
    return view


def _class_index(name: str) -> int:
    if name not in CLASSES:
        raise UserError(f"Company class must be one of {', '.join(CLASSES)}, not {name!r}.")
    return CLASSES.index(name)


@dataclass
class BatchSizeCurve:
    """Accuracy of the BN twin with each batch's own statistics, against batch size, on `n` images."""

    sizes: list[int]
    n: int
    batch_stats: list[float | None]  # None where undefined (BN1d, a batch of one)
    running: float  # the BN twin in eval mode
    plain: float
    source: str
    undefined: str = ""

    def pm(self, p: float) -> float:
        return interval(p, self.n)

    @property
    def batch_stats_pm(self) -> list[float]:
        """The 95% interval's half-width of each batch-statistics accuracy (0 where undefined)."""
        return [self.pm(a) if a is not None else 0.0 for a in self.batch_stats]



class _Cache:
    """Results that cost seconds, computed once per pair and settings (a few dozen kept)."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def peek(self, key):
        """The value if it was computed, else None."""
        with self._lock:
            return self._items.get(key)

    def get(self, key, compute: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


cache = _Cache()


def pair_key(pair: Pair) -> tuple:
    """Pairs with one name (session runs are called run1-cnn in every session) are told apart by their uid."""
    return pair.name, pair.uid


def accuracy_vs_batch_size(pair: Pair, pool: ImagePool, progress: Progress | None = None) -> BatchSizeCurve:
    """Cached: `CURVE_IMAGES` random test images in batches of each size, BN with batch statistics."""
    def compute() -> BatchSizeCurve:
        images, labels = pool.sample(min(CURVE_IMAGES, len(pool.labels)), seed=0)
        n = len(labels)

        def acc(p: torch.Tensor) -> float:
            return share_right(p, labels)
        running, plain = acc(probabilities(pair, "bn", images)), acc(probabilities(pair, "plain", images))
        out, why = [], ""
        for i, size in enumerate(SIZES):
            if progress:
                progress(i / len(SIZES), f"batches of {size}")
            usable = n - n % size
            try:
                p = probabilities(pair, "bn", images[:usable], prior=0, group=size) if usable else None
                out.append(None if p is None else share_right(p, labels[:usable]))
            except UserError as e:
                out.append(None)
                why = str(e)
        return BatchSizeCurve(list(SIZES), n, out, running, plain, pool.source, why)
    return cache.get(("batch-size", pair_key(pair), pool.source), compute)
