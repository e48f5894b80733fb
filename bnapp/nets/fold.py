"""BatchNorm folded into the conv or linear layer before it, for prediction copies.

In eval mode BN is a fixed per-channel affine map y = scale * x + shift (scale = gamma / sqrt(var + eps),
shift = beta - mean * scale), so op -> BN equals one op with weights W * scale and bias
b * scale + shift: one pass over the feature map less per unit. It is folded only where that is exact:
directly after the op, or after op -> max-pool when no scale is negative (a max-pool commutes with a
non-decreasing affine map); never with placement "after", where a ReLU sits between op and BN.
"""
from __future__ import annotations

import torch
from torch import nn

from bnapp.nets.models import Unit


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as (scale, shift) per channel."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach(), shift.detach()


def foldable(unit: Unit) -> bool:
    """Whether folding `unit`'s BN into its op leaves the unit's output unchanged."""
    bn = unit.bn
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None or unit.placement != "before":
        return False
    return unit.pool is None or bool((bn_affine(bn)[0] >= 0).all())


@torch.no_grad()
def fold_bn(model: nn.Module) -> nn.Module:
    """Fold, in place, every BN of `model` where that is exact (see `foldable`); the BN becomes an
    Identity. Only for prediction copies: the folded model cannot train or show BN's statistics."""
    for unit in model.modules():
        if not (isinstance(unit, Unit) and foldable(unit)):
            continue
        op = getattr(unit, unit.op_name)
        scale, shift = bn_affine(unit.bn)
        op.weight.mul_(scale.view(-1, *[1] * (op.weight.dim() - 1)))
        bias = shift if op.bias is None else op.bias * scale + shift
        op.bias = nn.Parameter(bias.to(op.weight.dtype), requires_grad=False)
        unit.bn = nn.Identity()
    return model
