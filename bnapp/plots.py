"""Plotly figures. Inputs are plain Python numbers and lists, so the UI never touches tensors."""
from __future__ import annotations

import plotly.graph_objects as go

from . import CLASSES

COLORS = {"bn": "#2563eb", "plain": "#f97316"}
NAMES = {"bn": "with BatchNorm", "plain": "without BatchNorm"}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height, template="plotly_white",
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def class_probabilities(probs: dict[str, dict[str, float]], truth: str | None = None) -> go.Figure:
    """Grouped bars: all ten class probabilities for both twins."""
    fig = go.Figure()
    for twin in ("bn", "plain"):
        fig.add_bar(name=NAMES[twin], x=list(CLASSES), y=[probs[twin][c] for c in CLASSES],
                    marker_color=COLORS[twin], hovertemplate="%{x}: %{y:.1%}<extra>" + NAMES[twin] + "</extra>")
    if truth:
        fig.add_vline(x=CLASSES.index(truth), line=dict(color="#16a34a", dash="dot"),
                      annotation_text=f"true: {truth}", annotation_position="top")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="probability")
    fig.update_layout(barmode="group")
    return _layout(fig, "Class probabilities, both twins")
