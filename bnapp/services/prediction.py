"""Predictions: both twins' class probabilities for images, many requests answered by one forward pass."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from bnapp import CLASSES
from bnapp.data.images import Examples, ImageError, image_tensor, open_image, open_many, to_model_input
from bnapp.measure import infer
from bnapp.store.pairs import Pair
from bnapp.system import sharing

MAX_IMAGES = 64  # per call: bounded work whatever a client sends
ANSWER_TIMEOUT = 120.0  # s a request waits for the pass that answers it


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
        with sharing.cores.interactive():  # one pass at a time; whoever gets the cores answers all waiting
            if not request.answer.done():
                with self._mutex:
                    batch, self._pending = self._pending, []
                self._answer(batch)
        return request.answer.result(timeout=ANSWER_TIMEOUT)

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


NO_ANSWER = "no answer: its outputs are not finite numbers"


def label_dict(probs: torch.Tensor) -> dict[str, float]:
    """One image's probabilities as {class: p}, highest first; {NO_ANSWER: 0} from a twin whose outputs are
    NaN or infinite (its weights blew up in training), rather than a class picked from NaNs."""
    if not bool(torch.isfinite(probs).all()):
        return {NO_ANSWER: 0.0}
    order = probs.argsort(descending=True).tolist()
    return {CLASSES[i]: float(probs[i]) for i in order}


@dataclass
class Prediction:
    """Both twins' view of one image."""

    small: Image.Image
    probs: dict[str, dict[str, float]]  # twin -> {class: p}, highest first

    def top1(self, twin: str) -> tuple[str, float]:
        return next(iter(self.probs[twin].items()))

    def answers(self, twin: str) -> bool:
        return NO_ANSWER not in self.probs[twin]

    @property
    def agree(self) -> bool:
        return self.answers("bn") and self.answers("plain") and self.top1("bn")[0] == self.top1("plain")[0]


def predict_images(pair: Pair, images: list[Image.Image]) -> list[Prediction]:
    smalls = [to_model_input(img) for img in images]
    if not smalls:
        return []
    probs = probabilities(pair, torch.stack([image_tensor(s) for s in smalls]))
    return [Prediction(s, {t: label_dict(p[i]) for t, p in probs.items()}) for i, s in enumerate(smalls)]


@dataclass
class Comparison:
    """One image seen by both twins."""

    prediction: Prediction
    truth: str | None  # the true class when the image is one of the shipped test images


@dataclass
class ManyComparison:
    names: list[str]
    predictions: list[Prediction]
    truths: list[str | None]
    problems: list[str]  # "name: why" for each file that could not be used

    @property
    def note(self) -> str:
        note = f"{len(self.predictions)} image(s) compared, twins agree on {sum(p.agree for p in self.predictions)}."
        return note + ("  \nSkipped: " + "; ".join(self.problems) if self.problems else "")


def compare(pair: Pair, image: Image.Image, examples: Examples) -> Comparison:
    pred = predict_images(pair, [image])[0]
    truth = examples.truth(image)
    return Comparison(pred, truth)


def compare_many(pair: Pair, files: list[str], examples: Examples) -> ManyComparison:
    """Every readable file of `files`; the unreadable ones are listed with the reason, not fatal."""
    images, names, problems = open_many(files, MAX_IMAGES)
    return ManyComparison(names, predict_images(pair, images), [examples.truth(img) for img in images], problems)


def first_disagreement(pair: Pair, examples: Examples) -> Path | None:
    """The first shipped example, in file-name order, on which the twins' top classes differ (else the
    first example): what Compare shows before anyone clicks. A fixed rule, not a hand-picked image."""
    paths = sorted(examples.paths, key=lambda p: p.name)
    if not paths:
        return None
    predictions = predict_images(pair, [open_image(p) for p in paths])
    return next((p for p, pred in zip(paths, predictions) if not pred.agree), paths[0])
