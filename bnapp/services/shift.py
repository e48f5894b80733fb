"""The Test time tab, part 2: corrupted test images and a person's own batch, with BN's statistics
left as trained (running), re-estimated on the batch (adapted), or mixed (Schneider et al. 2020).

Every variant is measured on the same images, fp32, without TTA, in the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

from bnapp import CLASSES
from bnapp.data import corruptions
from bnapp.data.corruptions import SEVERITIES, CorruptionError
from bnapp.data.images import ImageError, image_tensor, open_many, tensor_image, to_model_input
from bnapp.measure.infer import share_right
from bnapp.measure.reports import interval
from bnapp.services import UserError
from bnapp.services.testtime import ImagePool, Progress, cache, pair_key, probabilities
from bnapp.store.pairs import Pair
from bnapp.training.limits import Bound

VARIANTS = ("plain", "running", "adapted", "mixed")
DEFAULT_IMAGES = 512
ADAPT_BATCH = 256  # images whose statistics BN adapts to (the corrupted batch)
DEFAULT_PRIOR = 16.0
PRIOR = Bound("prior strength N", 0, 1024)  # Schneider et al. found N = 16 best; beyond 1024 the mix is eval mode
SEVERITY = Bound("severity", min(SEVERITIES), max(SEVERITIES), whole=True)
MAX_UPLOAD = 256
SHOWN = 8  # corrupted images shown with the twins' answers
SHORT = {"plain": "plain", "running": "BN running", "adapted": "BN adapted", "mixed": "BN mix"}


def variant_names(prior: float, batch: str = "the corrupted batch") -> dict[str, str]:
    return {"plain": "plain twin", "running": "BN twin, running statistics (eval mode)",
            "adapted": f"BN twin, statistics of {batch}",
            "mixed": f"BN twin, Schneider et al.'s mix, N = {prior:g}"}


def _checked_prior(prior: float) -> float:
    try:
        return PRIOR.check(prior)
    except ValueError as e:
        raise UserError(str(e)) from None


def predictions(pair: Pair, images: torch.Tensor, prior: float, batch: int) -> dict[str, torch.Tensor]:
    """Probabilities (N, 10) of every variant; BN statistics are estimated over batches of `batch`."""
    return {"plain": probabilities(pair, "plain", images), "running": probabilities(pair, "bn", images),
            "adapted": probabilities(pair, "bn", images, prior=0, group=batch),
            "mixed": probabilities(pair, "bn", images, prior=prior, group=batch)}


@dataclass
class ShiftView:
    corruption: str
    severity: int
    prior: float
    n: int
    batch: int
    accuracy: dict[str, float]  # variant -> on the corrupted images
    clean: dict[str, float] | None  # variant -> on the same images uncorrupted, once measured (`severities`)
    # (image, truth, variant -> class)
    shown: list[tuple[Image.Image, str, dict[str, str]]] = field(default_factory=list)
    source: str = ""

    def pm(self, p: float) -> float:
        return interval(p, self.n)



def sample(pool: ImagePool, n: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """`n` random test images (a multiple of the adaptation batch) and that batch size."""
    try:
        n = min(int(n), len(pool.labels))
    except (TypeError, ValueError):
        raise UserError("The number of test images must be a whole number.") from None
    if n < 1:
        raise UserError("The number of test images must be at least 1.")
    batch = min(ADAPT_BATCH, n)
    images, labels = pool.sample(n - n % batch, seed=0)
    return images, labels, batch


def _clean_key(pair: Pair, pool: ImagePool, n: int, prior: float) -> tuple:
    return "clean", pair_key(pair), pool.source, n, prior


def _accuracies(probs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    return {v: share_right(p, labels) for v, p in probs.items()}


def shift(pair: Pair, pool: ImagePool, corruption: str, severity: int, prior: float = DEFAULT_PRIOR,
          n: int = DEFAULT_IMAGES) -> ShiftView:
    """Accuracy of every variant on `n` test images corrupted at `severity` (the clean figures cached)."""
    prior = _checked_prior(prior)
    try:
        severity = SEVERITY.check(severity)
        corruptions.check(corruption, severity)
    except (CorruptionError, TypeError, ValueError) as e:
        raise UserError(str(e)) from None
    images, labels, batch = sample(pool, n)
    bad = corruptions.corrupt(images, corruption, severity)
    probs = predictions(pair, bad, prior, batch)
    clean = cache.peek(_clean_key(pair, pool, len(labels), prior))
    shown = [(tensor_image(bad[i], 4), CLASSES[int(labels[i])],
              {v: CLASSES[int(p[i].argmax())] for v, p in probs.items()})
             for i in range(min(SHOWN, len(labels)))]
    return ShiftView(corruption, int(severity), prior, len(labels), batch, _accuracies(probs, labels), clean, shown,
                     pool.source)


def clean(pair: Pair, pool: ImagePool, prior: float = DEFAULT_PRIOR, n: int = DEFAULT_IMAGES) -> dict[str, float]:
    """Cached: every variant's accuracy on the same images as `shift`, uncorrupted."""
    images, labels, batch = sample(pool, n)
    return cache.get(_clean_key(pair, pool, len(labels), prior),
                     lambda: _accuracies(predictions(pair, images, prior, batch), labels))


@dataclass
class SeverityCurve:
    corruption: str
    prior: float
    n: int
    accuracy: dict[str, list[float]]  # variant -> at severity 0 (clean), 1..5

    def pm(self, p: float) -> float:
        return interval(p, self.n)

    @property
    def accuracy_pm(self) -> dict[str, list[float]]:
        """The 95% interval's half-width of each accuracy in `accuracy`."""
        return {v: [self.pm(a) for a in acc] for v, acc in self.accuracy.items()}


def severities(pair: Pair, pool: ImagePool, corruption: str, prior: float = DEFAULT_PRIOR,
               n: int = DEFAULT_IMAGES, progress: Progress | None = None) -> SeverityCurve:
    """Cached: every variant at every severity of one corruption."""
    prior = _checked_prior(prior)
    if corruption not in corruptions.CORRUPTIONS:
        raise UserError(f"Unknown corruption {corruption!r}.")

    def compute() -> SeverityCurve:
        images, labels, batch = sample(pool, n)
        acc: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for s in (0, *corruptions.SEVERITIES):
            if progress:
                progress(s / 6, f"severity {s}" if s else "clean images")
            found = (clean(pair, pool, prior, n) if s == 0 else
                     _accuracies(predictions(pair, corruptions.corrupt(images, corruption, s), prior, batch), labels))
            for v, a in found.items():
                acc[v].append(a)
        return SeverityCurve(corruption, prior, len(labels), acc)
    return cache.get(("severities", pair_key(pair), pool.source, corruption, prior, n), compute)


@dataclass
class UploadView:
    names: list[str]
    images: list[Image.Image]  # what the networks see, enlarged
    predictions: dict[str, list[tuple[str, float]]]  # variant -> (class, p) per image
    problems: list[str]
    prior: float

    def changed(self, variant: str = "adapted") -> int:
        """Images whose BN answer changes when BN adapts to the batch."""
        return sum(a[0] != b[0] for a, b in zip(self.predictions["running"], self.predictions[variant]))



def own_batch(pair: Pair, files: list, prior: float = DEFAULT_PRIOR) -> UploadView:
    """A person's own images as one batch: every readable file is used, each unreadable one is named."""
    prior = _checked_prior(prior)
    try:
        opened, names, problems = open_many(files or [], MAX_UPLOAD)
    except ImageError as e:
        raise UserError(f"{str(e)[0].upper()}{str(e)[1:]}.") from None
    tensors = [image_tensor(to_model_input(img)) for img in opened]
    if not tensors:
        raise UserError("No usable image" + (": " + "; ".join(problems) if problems else "; upload some first."))
    images = torch.stack(tensors)
    probs = predictions(pair, images, prior, len(images))
    top = {v: [(CLASSES[int(i)], float(p[k, i])) for k, i in enumerate(p.argmax(1))] for v, p in probs.items()}
    return UploadView(names, [tensor_image(t, 3) for t in tensors], top, problems, prior)

