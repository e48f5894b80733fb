"""Activation statistics before and after BatchNorm, recorded with forward hooks.

For every `Unit` of both twins, one forward pass records three tensors: the BN slot's input
("pre": what BN normalises; in the plain twin, the same conv/linear output), its output ("post")
and the activation's output ("act", post-ReLU). Each gets summary statistics, per-channel means and
stds and a histogram; pre and post share their bin edges so they can be overlaid.

Modes: "eval" uses BN's running statistics (what inference does); "train" normalises with the
batch's own statistics. Looking never changes a model: train mode runs on a copy.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from bnapp.data.batches import normalize
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import Unit

PERCENTILES = (1, 15, 50, 85, 99)
MAX_QUANTILE_SAMPLE = 1 << 16  # percentiles: exact up to this many values, else from a random sample this size
BINS = 60
MAX_BATCH = 1024
MODES = ("eval", "train")


@dataclass
class TensorStats:
    mean: float
    std: float
    min: float
    max: float
    percentiles: dict[int, float]
    zero_fraction: float
    channel_mean: list[float]
    channel_std: list[float]
    hist_counts: list[int] = field(default_factory=list)
    nonfinite_fraction: float = 0.0  # NaN or infinite values (a twin whose weights blew up); the rest: over finite ones


@dataclass
class LayerStats:
    name: str  # the unit, e.g. "block2a"
    bn_kind: str  # "BatchNorm2d", "BatchNorm1d" or "none" (the plain twin's empty slot)
    shape: tuple[int, ...]  # of the pre-BN tensor, e.g. (N, C, H, W)
    pre: TensorStats
    post: TensorStats
    act: TensorStats
    hist_edges: list[float]  # shared by pre and post
    act_hist_edges: list[float]
    bn_params: dict[str, list[float]] = field(default_factory=dict)  # gamma, beta, running_*, batch_*


def _channel_dims(x: torch.Tensor) -> list[int]:
    return [d for d in range(x.dim()) if d != 1]


def _percentiles(flat: torch.Tensor) -> dict[int, float]:
    """Exact up to MAX_QUANTILE_SAMPLE values, else from a seeded uniform random sample of that many
    (a stride would line up with the N x C x H x W grid and sample one column or one pixel only)."""
    if flat.numel() > MAX_QUANTILE_SAMPLE:
        g = torch.Generator(device=flat.device).manual_seed(0)
        flat = flat[torch.randint(0, flat.numel(), (MAX_QUANTILE_SAMPLE,), generator=g, device=flat.device)]
    q = torch.quantile(flat, torch.tensor([p / 100 for p in PERCENTILES], dtype=flat.dtype, device=flat.device))
    return {p: float(v) for p, v in zip(PERCENTILES, q)}


def finite_values(x: torch.Tensor) -> torch.Tensor:
    """The finite values of `x`, flat (all of them, without a copy, in the usual case); one 0 if none is."""
    flat = x.reshape(-1)
    if bool(torch.isfinite(flat).all()):
        return flat
    finite = flat[torch.isfinite(flat)]
    return finite if finite.numel() else flat.new_zeros(1)


def tensor_stats(x: torch.Tensor, percentiles: dict[int, float], edges: torch.Tensor) -> TensorStats:
    """`x` contiguous float32 (N, C, ...). Channel moments come from per-channel sums, one pass each. NaN and
    infinite values (a diverged twin's) are counted and left out of every statistic; huge finite ones are
    summed in float64, where their squares do not overflow."""
    finite = torch.isfinite(x)
    nonfinite = 1.0 - float(finite.float().mean())
    flat = x.view(-1)[finite.view(-1)] if nonfinite else x.view(-1)
    flat = flat if flat.numel() else x.new_zeros(1)
    lo, hi = float(flat.min()), float(flat.max())
    if nonfinite or max(-lo, hi) > 1e18:
        x, flat = torch.where(finite, x, torch.nan).double(), flat.double()
    average = torch.nanmean if nonfinite else torch.mean
    per_channel = x.transpose(0, 1).reshape(x.shape[1], -1)
    ch_mean = average(per_channel, 1)
    ch_var = average(per_channel * per_channel, 1) - ch_mean * ch_mean
    if nonfinite:  # over the finite values; channels may hold different numbers of them
        mean = float(flat.mean())
        var = float(flat.var(unbiased=False)) if flat.numel() > 1 else 0.0
    else:
        mean = float(ch_mean.mean())
        var = float((ch_var + ch_mean * ch_mean).mean()) - mean * mean
    counts = torch.histc(flat.float(), bins=len(edges) - 1, min=float(edges[0]), max=float(edges[-1]))
    counts[0] += int((flat < edges[0]).sum())  # histc drops values outside its range: keep them in the end bins
    counts[-1] += int((flat > edges[-1]).sum())
    return TensorStats(
        mean=mean, std=max(var, 0.0) ** 0.5, min=lo, max=hi,
        percentiles=percentiles, zero_fraction=float((flat == 0).sum()) / flat.numel(),
        channel_mean=ch_mean.tolist(), channel_std=ch_var.clamp(min=0).sqrt().tolist(),
        hist_counts=[int(c) for c in counts], nonfinite_fraction=nonfinite,
    )


def _edges(*percentiles: dict[int, float]) -> torch.Tensor:
    """Bin edges covering the 1st..99th percentiles of all given tensors (outliers land in the end
    bins), so one stray value cannot squash the histogram."""
    lo, hi = min(p[1] for p in percentiles), max(p[99] for p in percentiles)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.05 * (hi - lo)
    return torch.linspace(lo - pad, hi + pad, BINS + 1)


def _layer(name: str, unit: Unit, pre: torch.Tensor, post: torch.Tensor, act: torch.Tensor) -> LayerStats:
    pre, post, act = (t.detach().float().contiguous() for t in (pre, post, act))
    q = {k: _percentiles(finite_values(t)) for k, t in (("pre", pre), ("post", post), ("act", act))}
    edges = _edges(q["pre"], q["post"])
    act_edges = _edges(q["act"])
    bn = unit.bn
    params: dict[str, list[float]] = {}
    if isinstance(bn, nn.modules.batchnorm._BatchNorm):
        dims = _channel_dims(pre)
        params = dict(
            gamma=bn.weight.detach().tolist(), beta=bn.bias.detach().tolist(),
            running_mean=bn.running_mean.tolist(), running_var=bn.running_var.tolist(),
            batch_mean=pre.float().mean(dim=dims).tolist(),
            batch_var=pre.float().var(dim=dims, unbiased=False).tolist(),
        )
    return LayerStats(name, type(bn).__name__ if params else "none", tuple(pre.shape),
                      tensor_stats(pre, q["pre"], edges), tensor_stats(post, q["post"], edges),
                      tensor_stats(act, q["act"], act_edges),
                      edges.tolist(), act_edges.tolist(), params)


@torch.no_grad()
def record(model: nn.Module, images: torch.Tensor, spec: InputSpec, mode: str = "eval") -> list[LayerStats]:
    """One forward pass over uint8 images; statistics for every unit, input to output."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "train" and len(images) < 2:
        raise ValueError("train mode needs at least 2 images: BatchNorm cannot take statistics of a batch of 1")
    was_training = model.training
    model = copy.deepcopy(model).train() if mode == "train" else model.eval()
    captured: dict[str, dict[str, torch.Tensor]] = {}
    handles = []
    units = [(n, m) for n, m in model.named_modules() if isinstance(m, Unit)]
    for name, unit in units:
        slot = captured.setdefault(name, {})

        def on_bn(m, inp, out, slot=slot):
            slot["pre"], slot["post"] = inp[0], out

        def on_act(m, inp, out, slot=slot):
            slot["act"] = out

        handles += [unit.bn.register_forward_hook(on_bn), unit.act.register_forward_hook(on_act)]
    try:
        device = next(model.parameters()).device
        model(normalize(images, spec.mean, spec.std).to(device).contiguous(memory_format=torch.channels_last))
    finally:
        for h in handles:
            h.remove()
        if mode == "eval":
            model.train(was_training)  # the caller's model keeps its mode
    return [_layer(name, unit, captured[name]["pre"].cpu(), captured[name]["post"].cpu(), captured[name]["act"].cpu())
            for name, unit in units]


def record_pair(models: dict[str, nn.Module], specs: dict[str, InputSpec], images: torch.Tensor,
                mode: str = "eval") -> dict[str, list[LayerStats]]:
    return {twin: record(m, images, specs[twin], mode) for twin, m in models.items()}


def default_batch(arch: str) -> int:
    """The batch the Activations view uses by default. For the CNN, 16 images keep every statistic of
    both twins within 300 ms on 2 CPU cores (about 0.2 s; 32 take 0.37 s, 256 about 3 s: the fp32
    forward passes and the statistics of the large early feature maps grow with N). Any N up to
    1024 can still be asked for. The MLP's activations are small: 256 take about 20 ms."""
    return 16 if arch == "cnn" else 256
