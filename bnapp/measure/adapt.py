"""BatchNorm at test time with other statistics than the running ones frozen at training time.

`with_statistics(model, prior)` returns a copy whose BN layers normalise with Schneider et al.'s mix
("Improving robustness against common corruptions by covariate shift adaptation", NeurIPS 2020):

    mean = N/(N+n) * running_mean + n/(N+n) * batch_mean     (the same for the variance)

where n is the number of images in the batch and N the prior strength. N = 0 is the batch's own
statistics (what train mode normalises with, "adapted"); N = inf the running ones (eval mode). The
model itself is never touched and no running statistics are updated: this is forward passes only.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from bnapp.data.batches import normalize
from bnapp.measure.infer import InputSpec

RUNNING = math.inf  # prior strength that means "the running statistics only" (eval mode)


class BatchOfOneError(ValueError):
    """BatchNorm1d asked to normalise one image by its own statistics."""


ONE_VALUE_MESSAGE = ("BatchNorm1d cannot normalise a batch of one image with the batch's own statistics: each "
                     "feature has a single value, so its variance is 0 (PyTorch refuses this in train mode too). "
                     "Use 2 or more images, a prior strength N > 0, or the running statistics.")


class MixedStatsNorm(nn.Module):
    """Stands in for one BatchNorm layer: normalises with running and batch statistics mixed. With
    `group` > 0, every `group` consecutive images are a batch of their own (many batches, one pass)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, prior: float, group: int = 0) -> None:
        super().__init__()
        self.bn, self.prior, self.group = bn, prior, group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        if self.prior == RUNNING:
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        n = self.group or len(x)
        if len(x) % n:
            raise ValueError(f"{len(x)} images do not split into batches of {n}")
        if self.prior == 0 and n * x[0, 0].numel() == 1:
            raise BatchOfOneError(ONE_VALUE_MESSAGE)
        xg = x.view(len(x) // n, n, *x.shape[1:])  # (batches, n, C, ...)
        dims = [1] + list(range(3, xg.dim()))
        batch_mean = xg.mean(dim=dims, keepdim=True)
        batch_var = xg.var(dim=dims, unbiased=False, keepdim=True)  # what train mode normalises with
        shape = [1, 1, -1] + [1] * (xg.dim() - 3)
        w = n / (self.prior + n)
        mean = (1 - w) * bn.running_mean.view(shape) + w * batch_mean
        var = (1 - w) * bn.running_var.view(shape) + w * batch_var
        y = (xg - mean) * torch.rsqrt(var + bn.eps) * bn.weight.view(shape) + bn.bias.view(shape)
        return y.view_as(x)


def has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def with_statistics(model: nn.Module, prior: float, group: int = 0) -> nn.Module:
    """An eval-mode copy of `model` whose BN layers use the `prior`-weighted mix (0: the batch's own),
    over batches of `group` images (0: the whole input is one batch)."""
    if not prior >= 0:
        raise ValueError(f"prior strength must be >= 0, got {prior}")
    copied = copy.deepcopy(model).eval()
    for parent in list(copied.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, MixedStatsNorm(child, prior, group))
    return copied


CHUNK = 512  # images per forward pass, at most (rounded to whole batches)


@torch.no_grad()
def logits(model: nn.Module, images: torch.Tensor, spec: InputSpec, prior: float = RUNNING,
           group: int = 0) -> torch.Tensor:
    """fp32 logits (N, 10) on the CPU for uint8 images, BN statistics mixed at `prior` over batches of
    `group` images (0: all `images` are one batch). No TTA: a flipped view would join the batch. The
    same call for both twins and every statistic is what makes their accuracies comparable."""
    m = with_statistics(model, prior, group).to(memory_format=torch.channels_last)
    device = next(m.parameters()).device
    step = (group * max(1, CHUNK // group) if group else len(images)) or 1
    out = [m(normalize(c.to(device), spec.mean, spec.std).contiguous(memory_format=torch.channels_last)).float().cpu()
           for c in images.split(step)]
    return torch.cat(out) if out else torch.zeros(0, 10)
