"""Santurkar et al.'s (2018) measurements of the loss landscape along the gradient, without touching the model.

"How Does Batch Normalization Help Optimization?" (Figure 4): from the current weights w, with g the
gradient of the training loss L on a fixed batch, move to w - eta * g for a fixed grid of step sizes eta
(the same at every evaluation and for both twins) and record

- *loss landscape*: the range (min to max) of L along that line;
- *gradient predictiveness*: the l2 change of the gradient, ||grad L(w - eta g) - g||;
- *effective beta-smoothness*: the largest gradient change per distance moved,
  max ||grad L(w - eta g) - g|| / ||eta g||.

All passes are `torch.func.functional_call`s on detached copies of the weights and of the BN buffers, in
the model's own mode (train mode while training: BN normalises with the batch's statistics, as in the
loss being optimised), in fp32. The model's weights, gradients, buffers and mode are never touched, so a
run with measurements is the run without them, step for step.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

FACTORS = (0.25, 1.0, 4.0)  # the grid of step sizes, in multiples of the recipe's peak rate (3 keep the cost +40%)
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LineStats:
    """What one measurement found along the gradient line of one model."""

    loss: float  # at the current weights
    loss_min: float  # along the line, the current weights included
    loss_max: float
    grad_change_min: float  # ||grad L(w - eta g) - g|| over the step sizes
    grad_change_max: float
    beta: float  # max over the step sizes of grad change / distance moved
    grad_norm: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _loss_and_grad(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                   x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> tuple[float, list[torch.Tensor]]:
    leaves = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    fresh = {n: b.clone() for n, b in buffers.items()}  # train-mode BN updates running statistics: on clones
    out = functional_call(model, {**leaves, **fresh}, (x,))
    loss = loss_fn(out.float(), y)
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return float(loss.detach()), [g.detach() for g in grads]


def _norm(tensors: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum((t.float() ** 2).sum() for t in tensors)))


def cross_entropy(label_smoothing: float = 0.0) -> LossFn:
    """The training loss of a recipe."""
    return partial(F.cross_entropy, label_smoothing=label_smoothing)


@torch.enable_grad()
def step_sizes(peak_lr: float) -> tuple[float, ...]:
    """One fixed grid of absolute step sizes for a whole run and both twins: `FACTORS` x the recipe's peak rate
    (multiples of the *scheduled* rate would probe at distances that vary many-fold over a run)."""
    return tuple(f * peak_lr for f in FACTORS)


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, etas: tuple[float, ...],
            loss_fn: LossFn = F.cross_entropy) -> LineStats:
    """The loss range, gradient changes and effective beta-smoothness of `model` along its gradient
    on the batch (x, y), at the absolute step sizes `etas`. Only trainable parameters move."""
    params = {n: p.detach().float() for n, p in model.named_parameters() if p.requires_grad}
    fixed = {n: t.detach() for n, t in [*model.named_buffers(), *model.named_parameters()] if n not in params}
    loss0, g0 = _loss_and_grad(model, params, fixed, x, y, loss_fn)
    g_norm = _norm(g0)
    losses, changes, betas = [loss0], [], []
    for eta in etas:
        moved = {n: p - eta * g for (n, p), g in zip(params.items(), g0)}
        loss, g = _loss_and_grad(model, moved, fixed, x, y, loss_fn)
        change = _norm([a - b for a, b in zip(g, g0)])
        losses.append(loss)
        changes.append(change)
        betas.append(change / max(eta * g_norm, 1e-12))
    return LineStats(loss0, min(losses), max(losses), min(changes), max(changes), max(betas), g_norm)


def measure_pair(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, etas: tuple[float, ...],
                 loss_fn: LossFn = F.cross_entropy) -> dict[str, LineStats]:
    """Every twin on the same batch at the same step sizes."""
    return {name: measure(m, x, y, etas, loss_fn) for name, m in models.items()}
