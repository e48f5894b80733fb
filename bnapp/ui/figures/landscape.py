"""Plotly figures for "why BatchNorm helps": Santurkar et al.'s Figure 4 measured live, and noisy BN."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bnapp import TWIN_NAMES
from bnapp.measure.landscape import FACTORS
from bnapp.ui.figures.base import COLORS, LOG_AXIS, layout

VARIANT_NAMES = {**TWIN_NAMES, "noisy": "noisy BatchNorm"}
VARIANT_COLORS = {**COLORS, "noisy": "#9333ea"}


def _band(fig: go.Figure, steps: list[int], low: list[float], high: list[float], twin: str, col: int,
          show: bool) -> None:
    color = VARIANT_COLORS[twin]
    fig.add_scatter(x=steps, y=high, mode="lines", line=dict(color=color, width=1), legendgroup=twin, showlegend=False,
                    row=1, col=col, hovertemplate="step %{x}: max %{y:.3g}<extra>" + VARIANT_NAMES[twin] + "</extra>")
    fig.add_scatter(x=steps, y=low, mode="lines", line=dict(color=color, width=1), fill="tonexty", opacity=0.3,
                    name=VARIANT_NAMES[twin], legendgroup=twin, showlegend=show, row=1, col=col,
                    hovertemplate="step %{x}: min %{y:.3g}<extra>" + VARIANT_NAMES[twin] + "</extra>")


def landscape(points: list[tuple[int, dict[str, dict[str, float]]]], measured: bool = True) -> go.Figure:
    """At each evaluation, both twins: the loss range along the gradient, the range of gradient changes,
    and the effective beta-smoothness (log scale), as in Santurkar et al. (2018), Figure 4. Empty, and
    saying why, when the run does not measure it."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "loss landscape: loss along the gradient (min-max)", "gradient predictiveness: l2 change of the gradient",
        "effective beta-smoothness"))
    steps = [s for s, _ in points]
    twins = list(points[0][1]) if points else []
    for twin in twins:
        at = [p[twin] for _, p in points]
        _band(fig, steps, [a["loss_min"] for a in at], [a["loss_max"] for a in at], twin, 1, True)
        _band(fig, steps, [a["grad_change_min"] for a in at], [a["grad_change_max"] for a in at], twin, 2, False)
        fig.add_scatter(x=steps, y=[a["beta"] for a in at], mode="lines+markers", line=dict(color=VARIANT_COLORS[twin]),
                        legendgroup=twin, showlegend=False, row=1, col=3,
                        hovertemplate="step %{x}: %{y:.3g}<extra>" + VARIANT_NAMES[twin] + "</extra>")
    fig.update_yaxes(**LOG_AXIS, row=1, col=2)
    fig.update_yaxes(**LOG_AXIS, row=1, col=3)
    fig.update_xaxes(title="step")
    if not measured:
        return layout(fig, "Why BN helps: not measured in this run (tick 'Measure the loss landscape' and train again)")
    return layout(fig, "Why BN helps (Santurkar et al. 2018, Fig. 4), measured on this run: moving "
                       f"{min(FACTORS):g}x-{max(FACTORS):g}x the peak learning rate (one fixed grid) along the "
                       "gradient, on a fixed training batch")


def noisy_bn(logs: dict[int, object], points: list[tuple[int, dict]], unit: str) -> go.Figure:
    """Left: each variant's test accuracy over steps (one line per seed); right: the 15th/50th/85th
    percentiles of one channel of `unit`'s activation input (what the next layer is fed), first seed."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "test accuracy (each seed a line)", f"{unit}, channel 0: the ReLU's input, 15th/50th/85th percentiles"))
    for i, log in enumerate(logs.values()):
        for twin, acc in log.test_acc.items():
            fig.add_scatter(x=log.eval_steps, y=acc, mode="lines+markers", line=dict(color=VARIANT_COLORS[twin]),
                            name=VARIANT_NAMES[twin], legendgroup=twin, showlegend=i == 0, row=1, col=1,
                            hovertemplate="step %{x}: %{y:.1%}<extra>" + VARIANT_NAMES[twin] + "</extra>")
    steps = [s for s, _ in points]
    for twin in (points[0][1] if points else {}):
        for p, dash in ((15, "dot"), (50, "solid"), (85, "dot")):
            fig.add_scatter(x=steps, y=[pt[twin]["act_input"][p] for _, pt in points], mode="lines",
                            line=dict(color=VARIANT_COLORS[twin], dash=dash), showlegend=False, row=1, col=2,
                            hovertemplate=f"{p}th percentile, step " + "%{x}: %{y:.3g}<extra>" + VARIANT_NAMES[twin]
                            + "</extra>")
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title="step")
    return layout(fig, "Noisy BN (Santurkar et al. 2018): BN with random per-channel scale and shift after every BN "
                       "layer, new every step, against BN and no BN; same batches, same initial weights")
