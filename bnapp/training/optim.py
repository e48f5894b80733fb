"""The optimizer both twins share and its learning-rate schedule."""
from __future__ import annotations

import torch
from torch import nn

from bnapp.training.recipes import OPTIMIZERS, Recipe


def _param_groups(model: nn.Module, r: Recipe) -> list[dict]:
    bn_bias, others = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_bn = ".bn." in f".{name}"
        if is_bn and name.endswith("weight") and r.freeze_bn_weight:
            p.requires_grad_(False)
            continue
        (bn_bias if is_bn and name.endswith("bias") else others).append(p)
    scale = r.bn_bias_lr_scale
    groups = [dict(params=others, lr=r.lr, weight_decay=r.weight_decay, base_lr=r.lr)]
    if bn_bias:
        groups.append(dict(params=bn_bias, lr=r.lr * scale, weight_decay=r.weight_decay / scale, base_lr=r.lr * scale))
    return groups


def pair_optimizer(models: list[nn.Module], r: Recipe) -> torch.optim.Optimizer:
    """One optimizer over both twins' parameters (every update is per parameter, so this is the same
    maths as one optimizer per twin); fused kernels where this torch has them."""
    groups = [g for m in models for g in _param_groups(m, r)]
    if r.optimizer == "adam":
        make = lambda **k: torch.optim.Adam(groups, lr=r.lr, **k)  # noqa: E731
    elif r.optimizer == "sgd":
        make = lambda **k: torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.momentum > 0, **k)  # noqa: E731
    else:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {r.optimizer!r}")
    try:
        return make(fused=True)
    except (RuntimeError, ValueError):
        return make(foreach=True)


def lr_factor(r: Recipe, step: int, total: int) -> float:
    if r.schedule == "constant":
        return 1.0
    peak = max(1, int(r.warmup * total))
    if step <= peak:
        return r.lr_start + (1 - r.lr_start) * step / peak
    return 1 + (r.lr_end - 1) * (step - peak) / max(1, total - peak)
