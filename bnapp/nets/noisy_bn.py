"""Santurkar et al.'s (2018) "noisy BatchNorm": BN followed by noise that moves every layer's
distribution at every step, to test whether BN helps by keeping those distributions steady.

They add i.i.d. noise of non-zero mean and non-unit variance after each BN layer, drawn from a
distribution that changes at every training step (sec. 2.1, "Does BatchNorm's performance stem from
controlling internal covariate shift?"), and find the noisy network trains about as well as BN. Our
version, as the issue that asked for it describes: per channel, at every training step, multiply by a
scale ~ U(1 - SCALE, 1 + SCALE) and add a shift ~ U(-SHIFT, SHIFT), drawn afresh each step; nothing in
eval mode. The noise comes from the global generator, seeded with the run (`PairTrainer` seeds it).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from bnapp.nets.models import Unit

SCALE = 0.5  # scale ~ U(0.5, 1.5)
SHIFT = 0.5  # shift ~ U(-0.5, 0.5)


class NoisyNorm(nn.Module):
    """A BN layer whose output, in training only, gets a fresh random per-channel scale and shift."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        if not self.training:
            return y
        shape = [1, y.shape[1]] + [1] * (y.dim() - 2)
        scale = 1 + SCALE * (2 * torch.rand(y.shape[1], device=y.device) - 1)
        shift = SHIFT * (2 * torch.rand(y.shape[1], device=y.device) - 1)
        return y * scale.view(shape).to(y.dtype) + shift.view(shape).to(y.dtype)


def noisy_copy(bn_model: nn.Module) -> nn.Module:
    """The BN twin with every unit's BN wrapped in `NoisyNorm`: same initial weights, same BN layers."""
    noisy = copy.deepcopy(bn_model)
    for unit in noisy.modules():
        if isinstance(unit, Unit) and isinstance(unit.bn, nn.modules.batchnorm._BatchNorm):
            unit.bn = NoisyNorm(unit.bn)
    return noisy
