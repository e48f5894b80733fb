"""The optimizer both twins share and its learning-rate schedule."""
from __future__ import annotations

import torch
from torch import nn

from bnapp.nets.models import Unit
from bnapp.training.recipes import OPTIMIZERS, Recipe


def param_roles(model: nn.Module) -> dict[str, str]:
    """Each trainable parameter's role, which sets its rate and decay: "invariant" (a weight that a BN
    follows directly, so the loss does not change when it is scaled), "shift" (BN's beta; or, for recipes
    with `shifts="all"`, a conv/linear bias, the shift of a layer that no BN normalises), "bn-scale"
    (gamma), or "weight" (everything else)."""
    roles: dict[str, str] = {}
    for unit_name, unit in model.named_modules():
        if not isinstance(unit, Unit):
            continue
        has_bn = isinstance(unit.bn, nn.modules.batchnorm._BatchNorm)
        prefix = f"{unit_name}.{unit.op_name}."
        roles[prefix + "weight"] = "invariant" if has_bn and unit.placement == "before" else "weight"
        roles[prefix + "bias"] = "op-bias"
        if has_bn:
            roles[f"{unit_name}.bn.weight"] = "bn-scale"
            roles[f"{unit_name}.bn.bias"] = "shift"
    return roles


def _param_groups(model: nn.Module, r: Recipe) -> list[dict]:
    roles = param_roles(model)
    by_role: dict[str, list[nn.Parameter]] = {"weight": [], "invariant": [], "shift": []}
    for name, p in model.named_parameters():
        role = roles.get(name, "weight")
        if role == "bn-scale" and r.freeze_bn_weight:
            p.requires_grad_(False)
        if not p.requires_grad:
            continue
        if role == "op-bias":
            role = "shift" if r.shifts == "all" else "weight"
        by_role["weight" if role == "bn-scale" else role].append(p)
    scale = r.bn_bias_lr_scale
    settings = {"weight": (r.lr, r.weight_decay), "invariant": (r.lr, r.weight_decay * r.bn_decay_scale),
                "shift": (r.lr * scale, r.weight_decay / scale)}
    return [dict(params=ps, lr=settings[role][0], weight_decay=settings[role][1], base_lr=settings[role][0],
                 momentum=r.momentum, nesterov=r.momentum > 0, recipe=r, role=role)
            for role, ps in by_role.items() if ps]


def pair_optimizer(models: list[tuple[nn.Module, Recipe]]) -> torch.optim.Optimizer:
    """One optimizer over both twins' parameters, each twin's groups at its own recipe (every update is
    per parameter, so this is the same maths as one optimizer per twin); fused kernels where this torch
    has them."""
    groups = [g for m, r in models for g in _param_groups(m, r)]
    kinds = {r.optimizer for _, r in models}
    if not kinds <= set(OPTIMIZERS):
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {sorted(kinds - set(OPTIMIZERS))}")
    if len(kinds) > 1:
        raise ValueError("both twins must use one optimizer kind (sgd or adam)")
    if kinds == {"adam"}:
        for g in groups:
            del g["momentum"], g["nesterov"]
        make = lambda **k: torch.optim.Adam(groups, **k)  # noqa: E731
    else:
        make = lambda **k: torch.optim.SGD(groups, lr=models[0][1].lr, **k)  # noqa: E731
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
