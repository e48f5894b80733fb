"""The Activations view: both twins' statistics before and after BatchNorm for one batch."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bnapp.data.cifar10 import draw
from bnapp.data.images import image_tensor, to_model_input
from bnapp.measure import stats
from bnapp.measure.stats import LayerStats
from bnapp.services import UserError
from bnapp.services.state import pair_title
from bnapp.store.pairs import Pair
from bnapp.system import sharing
from bnapp.training.limits import SEED, Bound

SOURCES = ("CIFAR-10 test images", "my image (Compare tab)")
BATCH_IMAGES = Bound("number of test images", 1, stats.MAX_BATCH, whole=True)
DEFAULT_LAYER_INDEX = 3  # the fourth unit: deep enough that the plain twin's drift shows


@dataclass
class ActivationView:
    bn: list[LayerStats]
    plain: list[LayerStats]
    layer: str  # the unit shown in detail
    mode: str
    pair_title: str
    batch: str  # what the batch is, in words

    @property
    def layer_names(self) -> list[str]:
        return [unit.name for unit in self.bn]

    @property
    def index(self) -> int:
        return self.layer_names.index(self.layer)


def batch_of(source: str, n, seed, test_images: torch.Tensor | None, test_source: str,
             image=None) -> tuple[torch.Tensor, str]:
    """The uint8 batch a request asks for, and a phrase saying what it is."""
    if source == SOURCES[1]:
        if image is None:
            raise UserError("Upload an image in the Compare tab first, or pick the test images.")
        return image_tensor(to_model_input(image))[None], "your image"
    if source != SOURCES[0]:
        raise UserError(f"Batch must be one of {SOURCES}.")
    try:
        n, seed = BATCH_IMAGES.check(n), SEED.check(seed)
    except ValueError as e:
        raise UserError(str(e)) from None
    if test_images is None:
        raise UserError("No test images available.")
    return test_images[draw(len(test_images), n, seed)], f"{n} of {test_source}"


def look_inside(pair: Pair, images: torch.Tensor, what: str, mode: str, layer: str | None) -> ActivationView:
    """Statistics of every unit of both twins for `images` in `mode`; `layer` (or a default) in detail."""
    if mode not in stats.MODES:
        raise UserError(f"Mode must be one of {stats.MODES}.")
    try:
        with sharing.cores.interactive():
            result = stats.record_pair(pair.models, {t: pair.spec(t) for t in pair.models}, images, mode)
    except ValueError as e:  # e.g. train mode with one image
        raise UserError(str(e)) from None
    bn, plain = result["bn"], result["plain"]
    names = [unit.name for unit in bn]
    layer = layer if layer in names else names[min(DEFAULT_LAYER_INDEX, len(names) - 1)]
    return ActivationView(bn, plain, layer, mode, pair_title(pair), what)
