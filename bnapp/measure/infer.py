"""Logits for uint8 images, normalised and (optionally) flip-averaged exactly as a checkpoint says.

Training's final evaluation, `bnapp.evaluate`, the app's predictions and the activation views all
go through `logits`, so an accuracy in a checkpoint is measured the way the app predicts.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bnapp.data.batches import normalize
from bnapp.nets.fold import fold_bn
from bnapp.system.precision import autocast


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its input: per-channel mean/std after x/255, and test-time augmentation."""

    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    tta: str = "none"  # "none"; "flip": average with the mirror; "flip-shift": also 1-pixel shifts (6 views)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> InputSpec:
        return InputSpec(tuple(d["mean"]), tuple(d["std"]), d.get("tta", "none"))


def for_inference(model: nn.Module, precision: str) -> nn.Module:
    """The model as predictions run it: an eval-mode copy with BatchNorm folded into the layer before
    it where that is exact (`fold.fold_bn`) and convs in channels_last (the CNN pair's 6-view
    prediction in fp32: 14.0 ms instead of 18.4 on 2 Xeon cores), in fp32 or cast once to bfloat16
    (faster than autocast casting the weights on every call: 10 vs 14 ms). The model itself is left
    as it is: training and activation statistics need its BN layers."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}")
    copied = fold_bn(copy.deepcopy(model).eval()).to(memory_format=torch.channels_last)
    return copied.to(torch.bfloat16) if precision == "bf16" else copied


TTA_WEIGHTS = {"none": (1.0,), "flip": (0.5, 0.5), "flip-shift": (0.25, 0.25, 0.125, 0.125, 0.125, 0.125)}


def _views(model: nn.Module, x: torch.Tensor, tta: str) -> torch.Tensor:
    """Test-time augmentation in one forward pass over all views: "flip" averages each image with its
    mirror; "flip-shift" gives that pair half the weight and the same pair shifted one pixel up-left
    and down-right the other half (airbench's level-2 TTA)."""
    if tta not in TTA_WEIGHTS:
        raise ValueError(f"unknown test-time augmentation {tta!r}")
    views = [x]
    if tta == "flip-shift":
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        h, w = x.shape[-2:]
        views += [padded[..., :h, :w], padded[..., 2:, 2:]]
    if tta != "none":
        views = [v for view in views for v in (view, view.flip(-1))]
    out = model(torch.cat(views).contiguous(memory_format=torch.channels_last)).float()
    weights = torch.tensor(TTA_WEIGHTS[tta], device=out.device).view(-1, 1, 1)
    return (out.view(len(views), len(x), -1) * weights).sum(0)


@torch.no_grad()
def logits(model: nn.Module, images: torch.Tensor, spec: InputSpec, batch_size: int = 500,
           precision: str = "fp32") -> torch.Tensor:
    """Eval-mode float32 logits (N, 10) for uint8 NCHW images (the model's mode is restored). The
    input takes the dtype of the model's weights, so a `for_inference` bf16 copy runs in bf16."""
    weight = next(model.parameters())
    was_training = model.training
    model.eval()
    out = []
    for chunk in images.split(batch_size):
        x = normalize(chunk, spec.mean, spec.std).to(weight.device, weight.dtype)
        with autocast(precision, weight.device):
            y = _views(model, x, spec.tta)
        out.append(y.cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 10)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: InputSpec,
             precision: str = "fp32") -> float:
    """Share of `images` whose `logits` argmax is the label: how every twin's accuracy is measured."""
    return share_right(logits(model, images, spec, precision=precision), labels)


def share_right(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of rows of `scores` (logits or probabilities, (N, 10)) whose largest entry is the label: the one
    definition of accuracy, whatever produced the scores."""
    return float((scores.argmax(1) == labels.to(scores.device)).float().mean()) if len(labels) else float("nan")
