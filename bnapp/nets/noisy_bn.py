"""Santurkar et al.'s (2018) "noisy BatchNorm": BN followed by noise that moves every layer's
distribution at every step, to test whether BN helps by keeping those distributions steady.

As their Algorithm 1 (arXiv 1805.11604v3, appendix A.2.1, p. 13-14) runs it, at every training step and in
every BN layer: per unit (channel) j, a mean mu_j ~ U(-N_MU, N_MU) and a scale sigma_j ~ U(1, N_SIGMA); then
per activation (each sample and, in a conv layer, each position: "height and width as part of the batch"),
i.i.d. m ~ U(mu_j - R_MU, mu_j + R_MU) and s ~ N(sigma_j, R_SIGMA), and the activation becomes s x a + m.
The paper does not say whether R_SIGMA is N's standard deviation or its variance; here it is the standard
deviation. Nothing in eval mode. The noise comes from the global generator, seeded with the run.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from bnapp.nets.models import Unit

N_MU, N_SIGMA, R_MU, R_SIGMA = 0.5, 1.25, 0.1, 0.1  # the paper's constants (appendix A.2.1)


class NoisyNorm(nn.Module):
    """A BN layer whose output, in training only, gets Santurkar et al.'s per-activation noise."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.bn = bn
        self.noise = True  # `without_noise` turns it off in a probe's copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        if not (self.training and self.noise):
            return y
        channels = y.shape[1]
        per_unit = [1, channels] + [1] * (y.dim() - 2)
        mu = N_MU * (2 * torch.rand(per_unit, device=y.device) - 1)
        sigma = 1 + (N_SIGMA - 1) * torch.rand(per_unit, device=y.device)
        shift = mu + R_MU * (2 * torch.rand(y.shape, device=y.device) - 1)
        scale = sigma + R_SIGMA * torch.randn(y.shape, device=y.device)
        return y * scale.to(y.dtype) + shift.to(y.dtype)


def noisy_copy(bn_model: nn.Module) -> nn.Module:
    """The BN twin with every unit's BN wrapped in `NoisyNorm`: same initial weights, same BN layers."""
    noisy = copy.deepcopy(bn_model)
    for unit in noisy.modules():
        if isinstance(unit, Unit) and isinstance(unit.bn, nn.modules.batchnorm._BatchNorm):
            unit.bn = NoisyNorm(unit.bn)
    return noisy


def without_noise(model: nn.Module) -> nn.Module:
    """`model` with its noise off (in place): a probe measures the network's own distributions, not the
    noise it was trained with."""
    for m in model.modules():
        if isinstance(m, NoisyNorm):
            m.noise = False
    return model
