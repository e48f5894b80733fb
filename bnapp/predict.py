"""Any image -> the 32x32 picture a model sees -> both twins' class probabilities.

Images are opened defensively: Pillow's decompression-bomb guard stays on, the first frame of an
animation is used, EXIF orientation is applied, alpha is composited on white, 16-bit images are
scaled (not clipped) to 8 bits. Anything unreadable raises `ImageError` with a message for people.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from . import CLASSES, hardware, hub, infer
from .checkpoints import CheckpointError, find_pairs, load
from .infer import InputSpec

MAX_IMAGES = 64  # per call: bounded work whatever a client sends
PAIR_TITLES = {"mlp": "Tutorial MLP (Linear + BatchNorm1d)", "cnn": "CNN (Conv + BatchNorm2d)"}


class ImageError(ValueError):
    """An input that is not a usable image; the message can be shown as it is."""


@dataclass
class Pair:
    """A BN twin and its plain twin, loaded and ready to predict."""

    name: str
    models: dict[str, nn.Module]  # "bn" and "plain"
    metadata: dict[str, dict]
    origin: str = "local"  # "local" (a checkpoint folder) or "hub"
    precision: str = field(init=False)  # what predictions run in (`infer.prediction_precision`)
    predictors: dict[str, nn.Module] = field(init=False, repr=False)  # `models` as predictions run them

    def __post_init__(self) -> None:
        self.precision = infer.prediction_precision(next(self.models["bn"].parameters()).device)
        self.predictors = {t: infer.for_inference(m, self.precision) for t, m in self.models.items()}

    def accuracy(self, twin: str) -> float | None:
        """The twin's test accuracy as this pair predicts: in its precision where that was measured
        (shipped checkpoints hold both in `test_accuracy_by_precision`), else the one on record."""
        meta = self.metadata[twin]
        return meta.get("test_accuracy_by_precision", {}).get(self.precision, meta.get("test_accuracy"))

    @property
    def title(self) -> str:
        meta = self.metadata["bn"]
        acc = ", ".join(f"{t} {100 * self.accuracy(t):.1f}%" for t in ("bn", "plain") if self.accuracy(t) is not None)
        base = (f"{meta['arch'].upper()} pair '{self.name}' from the Hub" if self.origin == "hub" else
                PAIR_TITLES.get(self.name, f"{meta['arch'].upper()} pair '{self.name}'"))
        return f"{base} -- test accuracy {acc}" if acc else base

    def spec(self, twin: str) -> InputSpec:
        return InputSpec.from_dict(self.metadata[twin]["input"])


@dataclass
class PairLoadReport:
    pairs: dict[str, Pair] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # one line per pair that failed to load


def load_pairs(folder: str | os.PathLike, prefix: str = "") -> PairLoadReport:
    """Every complete pair in `folder`, on the app's device; a broken or half pair is reported, not fatal.
    `prefix` names where the pairs came from (e.g. a Hub repo) in their names."""
    report = PairLoadReport()
    folder = Path(folder)
    if not folder.is_dir():
        report.errors.append(f"{folder}: checkpoint folder not found")
        return report
    device = hardware.device()
    for name, (bn_stem, plain_stem) in find_pairs(folder).items():
        try:
            (bn, bn_meta), (plain, plain_meta) = load(bn_stem, device), load(plain_stem, device)
        except CheckpointError as e:
            report.errors.append(f"pair '{prefix}{name}' not loaded: {e}")
            continue
        report.pairs[prefix + name] = Pair(prefix + name, {"bn": bn, "plain": plain}, {"bn": bn_meta, "plain": plain_meta})
    return report


def load_hub_pairs(repo_id: str, revision: str | None = None) -> PairLoadReport:
    """The twin pairs of a Hub model repo, named `owner/name[@revision]:pair`; raises HubError when none load."""
    folder = hub.download_pair(repo_id, revision)
    report = load_pairs(folder, prefix=f"{repo_id.strip()}{'@' + revision.strip() if revision and revision.strip() else ''}:")
    if not report.pairs:
        raise hub.HubError(f"{repo_id}: no compatible pair -- " + "; ".join(report.errors))
    for pair in report.pairs.values():
        pair.origin = "hub"
    return report


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Decode an image into 8-bit RGB, or raise ImageError saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(source, Image.Image):
                img = source
            elif isinstance(source, bytes):
                if not source:
                    raise ImageError("the file is empty (0 bytes)")
                img = Image.open(io.BytesIO(source))
            else:
                if Path(source).stat().st_size == 0:
                    raise ImageError("the file is empty (0 bytes)")
                img = Image.open(source)
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animations: the first frame
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image is too large to process safely ({e})") from e
    except UnidentifiedImageError as e:
        raise ImageError("this file is not an image Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF, ...)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"the image could not be decoded; is it truncated or corrupt? ({e})") from e


def _to_rgb8(img: Image.Image) -> Image.Image:
    if img.width < 1 or img.height < 1:
        raise ImageError("the image has no pixels")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def to_model_input(img: Image.Image) -> Image.Image:
    """Centre-crop to a square and resize (antialiased) to the 32x32 that the networks see."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    square = img.crop((left, top, left + side, top + side))
    return square.resize((32, 32), Image.Resampling.LANCZOS)


def image_tensor(small: Image.Image) -> torch.Tensor:
    """32x32 RGB PIL image -> uint8 (3, 32, 32)."""
    return torch.from_numpy(np.asarray(small, dtype=np.uint8).copy()).permute(2, 0, 1)


def _softmax_pair(pair: Pair, images: torch.Tensor) -> dict[str, torch.Tensor]:
    return {t: torch.softmax(infer.logits(m, images, pair.spec(t)), dim=1) for t, m in pair.predictors.items()}


@dataclass
class _Request:
    pair: Pair
    images: torch.Tensor
    answer: Future = field(default_factory=Future)


class _Combiner:
    """Requests that arrive while a forward pass runs are answered together by the next pass: on a
    2-core CPU one pass over 8 images costs about half as much per image as 8 passes over one, which
    is what keeps many people (or the load bench's 16 clients) answered within a second. Eval-mode
    BatchNorm treats every image on its own, so an image's probabilities do not depend on its company."""

    def __init__(self) -> None:
        self._pending: list[_Request] = []
        self._mutex = threading.Lock()

    def probabilities(self, pair: Pair, images: torch.Tensor) -> dict[str, torch.Tensor]:
        request = _Request(pair, images)
        with self._mutex:
            self._pending.append(request)
        with hardware.cores.interactive():  # one pass at a time; whoever gets the cores answers all waiting
            if not request.answer.done():
                with self._mutex:
                    batch, self._pending = self._pending, []
                self._answer(batch)
        return request.answer.result()

    @staticmethod
    def _answer(batch: list[_Request]) -> None:
        by_pair: dict[int, list[_Request]] = {}
        for r in batch:
            by_pair.setdefault(id(r.pair), []).append(r)
        for group in by_pair.values():
            try:
                probs = _softmax_pair(group[0].pair, torch.cat([r.images for r in group]))
            except Exception as e:  # every request of the pass hears of it, none waits forever
                for r in group:
                    r.answer.set_exception(e)
                continue
            sizes = [len(r.images) for r in group]
            parts = {t: p.split(sizes) for t, p in probs.items()}
            for i, r in enumerate(group):
                r.answer.set_result({t: parts[t][i] for t in probs})


_combiner = _Combiner()


def probabilities(pair: Pair, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Softmax probabilities (N, 10) of both twins for uint8 (N, 3, 32, 32) images."""
    if len(images) > MAX_IMAGES:
        raise ImageError(f"at most {MAX_IMAGES} images per request, got {len(images)}")
    return _combiner.probabilities(pair, images)


def label_dict(probs: torch.Tensor) -> dict[str, float]:
    """One image's probabilities as {class: p}, highest first."""
    order = probs.argsort(descending=True).tolist()
    return {CLASSES[i]: float(probs[i]) for i in order}


@dataclass
class Prediction:
    """Both twins' view of one image."""

    small: Image.Image
    probs: dict[str, dict[str, float]]  # twin -> {class: p}, highest first

    def top1(self, twin: str) -> tuple[str, float]:
        return next(iter(self.probs[twin].items()))

    @property
    def agree(self) -> bool:
        return self.top1("bn")[0] == self.top1("plain")[0]


def predict_images(pair: Pair, images: list[Image.Image]) -> list[Prediction]:
    smalls = [to_model_input(img) for img in images]
    if not smalls:
        return []
    probs = probabilities(pair, torch.stack([image_tensor(s) for s in smalls]))
    return [Prediction(s, {t: label_dict(p[i]) for t, p in probs.items()}) for i, s in enumerate(smalls)]


def pixel_hash(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()


@dataclass
class Examples:
    """The shipped real CIFAR-10 test images, and their true labels found by pixel content
    (never by file name, which a person can choose freely)."""

    paths: list[Path] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # pixel hash -> class

    @staticmethod
    def load(folder: str | os.PathLike) -> "Examples":
        folder = Path(folder)
        index = folder / "examples.json"
        if not index.is_file():
            return Examples()
        ex = Examples()
        for row in json.loads(index.read_text())["examples"]:
            path = folder / row["file"]
            if path.is_file():
                ex.paths.append(path)
                ex.labels[pixel_hash(open_image(path))] = row["label"]
        return ex

    def tensors(self) -> torch.Tensor:
        """All examples as uint8 (N, 3, 32, 32): the Activations view's batch without the dataset."""
        return torch.stack([image_tensor(to_model_input(open_image(p))) for p in self.paths])

    def truth(self, img: Image.Image) -> str | None:
        return self.labels.get(pixel_hash(img))
