"""Snapshots of one unit's input distribution during training: Ioffe & Szegedy's Figure 1 quantity.

Their Figure 1 plots the 15th/50th/85th percentiles of one sigmoid's input over training. In the BN
network that input is BatchNorm's *output*; in the plain network, the layer's pre-activation. A
snapshot records exactly that for one channel of one unit, and separately what enters BN, so a view
can label each for what it is. Snapshots are exact quantiles over a fixed probe batch, from a
train-mode pass on a copy (BN normalises with the probe batch's statistics, as training does; a noisy-BN
twin's noise is off); the
engine takes them on the training thread, between steps, both twins at the same step.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from bnapp.data.batches import normalize
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import Unit
from bnapp.nets.noisy_bn import without_noise

PERCENTILES = (15, 50, 85)


def _channel(x: torch.Tensor, channel: int) -> torch.Tensor:
    """One channel's values over the batch (and positions, for a conv map)."""
    return x[:, channel].reshape(-1).float()


def _quantiles(values: torch.Tensor) -> dict[int, float]:
    q = torch.quantile(values, torch.tensor([p / 100 for p in PERCENTILES], device=values.device))
    return {p: float(v) for p, v in zip(PERCENTILES, q)}


@torch.no_grad()
def snapshot(model: nn.Module, images: torch.Tensor, spec: InputSpec, unit: str, channel: int = 0) -> dict:
    """For `unit`, channel `channel`: percentiles of the activation's input (BN's output in the BN twin)
    and of BN's input; and every unit's BN-input std (how the scale drifts through depth)."""
    probe = without_noise(copy.deepcopy(model).train())  # a noisy-BN twin's own distribution, not its noise
    bn_in: dict[str, torch.Tensor] = {}
    act_in: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in probe.named_modules():
        if isinstance(m, Unit):
            hooks.append(m.bn.register_forward_hook(lambda _m, inp, _o, name=name: bn_in.__setitem__(name, inp[0])))
            hooks.append(m.act.register_forward_hook(lambda _m, inp, _o, name=name: act_in.__setitem__(name, inp[0])))
    try:
        weight = next(probe.parameters())
        probe(normalize(images, spec.mean, spec.std).to(weight.device).contiguous(memory_format=torch.channels_last))
    finally:
        for h in hooks:
            h.remove()
    x = act_in[unit]
    every = x.transpose(0, 1).reshape(x.shape[1], -1).float()  # per channel, over images (and positions)
    return dict(unit=unit, channel=channel, act_input=_quantiles(_channel(x, channel)),
                bn_input=_quantiles(_channel(bn_in[unit], channel)),
                medians=every.median(dim=1).values.tolist(),  # every channel's median: drift over all units
                stds={n: float(v.float().std()) for n, v in bn_in.items()})


def snapshot_pair(models: dict[str, nn.Module], spec: InputSpec, images: torch.Tensor, unit: str,
                  channel: int = 0) -> dict[str, dict]:
    return {twin: snapshot(m, images, spec, unit, channel) for twin, m in models.items()}
