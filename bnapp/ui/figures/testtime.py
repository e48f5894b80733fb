"""Plotly figures of the Test time tab, from plain numbers (the UI never touches tensors)."""
from __future__ import annotations

import plotly.graph_objects as go

from bnapp.ui.figures.base import COLORS, layout

VARIANT_COLORS = {"plain": COLORS["plain"], "running": COLORS["bn"], "adapted": "#16a34a", "mixed": "#9333ea"}
KIND_COLORS = ("#16a34a", "#9333ea", "#dc2626")
SIZE_TICKS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
SIZE_AXIS = dict(type="log", tickvals=SIZE_TICKS, ticktext=[str(t) for t in SIZE_TICKS],
                 title=dict(text="batch size (images sharing BN's statistics)"))
DASHES = {"mixed": "dash"}  # the mix often lies on the adapted line: keep both visible


def _hline(fig: go.Figure, y: float, name: str, color: str, dash: str = "dash") -> None:
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color=color, dash=dash)))
    fig.add_hline(y=y, line=dict(color=color, dash=dash))


def company(sizes: list[int], prob: dict[str, list[list[float] | None]], bn_eval: float, plain: float,
            target: str) -> go.Figure:
    """Per kind of company: each draw as a dot and their mean as a line; eval mode and the plain twin flat."""
    fig = go.Figure()
    for (kind, per_size), color in zip(prob.items(), KIND_COLORS):
        xs = [s for s, p in zip(sizes, per_size) if p]
        means = [sum(p) / len(p) for p in per_size if p]
        fig.add_trace(go.Scatter(x=xs, y=means, mode="lines+markers", name=f"train mode, {kind}",
                                 line=dict(color=color), legendgroup=kind))
        dots = [(s, v) for s, p in zip(sizes, per_size) if p for v in p]
        fig.add_trace(go.Scatter(x=[d[0] for d in dots], y=[d[1] for d in dots], mode="markers", showlegend=False,
                                 marker=dict(color=color, size=5, opacity=0.45), legendgroup=kind,
                                 hovertemplate="batch %{x}: %{y:.1%}<extra>one batch</extra>"))
    _hline(fig, bn_eval, "BN twin, eval mode (running statistics)", COLORS["bn"])
    _hline(fig, plain, "plain twin (no BN: no batch dependence)", COLORS["plain"], "dot")
    fig.update_layout(xaxis=SIZE_AXIS, yaxis=dict(range=[0, 1.02], tickformat=".0%",
                                                  title=dict(text=f"P({target}) for this image")))
    return layout(fig, f"The BN twin's probability of '{target}' for one image, by the batch it shares", 380)


def batch_size(sizes: list[int], accuracy: list[float | None], pm: list[float], running: float, running_pm: float,
               plain: float, n: int) -> go.Figure:
    """Accuracy with each batch's own statistics, with 95% intervals, against eval mode and the plain twin."""
    keep = [i for i, a in enumerate(accuracy) if a is not None]
    fig = go.Figure(go.Scatter(x=[sizes[i] for i in keep], y=[accuracy[i] for i in keep], mode="lines+markers",
                               name="BN twin, each batch's own statistics (train mode)", line=dict(color="#16a34a"),
                               error_y=dict(type="data", array=[pm[i] for i in keep], visible=True)))
    fig.add_hrect(y0=running - running_pm, y1=running + running_pm, fillcolor=COLORS["bn"], opacity=0.12, line_width=0)
    _hline(fig, running, "BN twin, eval mode (running statistics), 95% band", COLORS["bn"])
    _hline(fig, plain, "plain twin", COLORS["plain"], "dot")
    fig.update_layout(xaxis=SIZE_AXIS, yaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="test accuracy")))
    return layout(fig, f"Test accuracy against batch size ({n} test images, 95% intervals)", 380)


def severities(accuracy: dict[str, list[float]], pm: dict[str, list[float]], names: dict[str, str],
               corruption: str) -> go.Figure:
    """Each variant's accuracy from clean (0) to severity 5, with 95% intervals."""
    fig = go.Figure()
    for v, acc in accuracy.items():
        fig.add_trace(go.Scatter(x=list(range(len(acc))), y=acc, mode="lines+markers", name=names[v],
                                 line=dict(color=VARIANT_COLORS[v], dash=DASHES.get(v, "solid")),
                                 error_y=dict(type="data", array=pm[v], visible=True)))
    fig.update_layout(xaxis=dict(tickvals=list(range(6)), ticktext=["clean", "1", "2", "3", "4", "5"],
                                 title=dict(text="severity")),
                      yaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="test accuracy")))
    return layout(fig, f"{corruption}: accuracy against severity (95% intervals)", 380)
