"""The Compare tab's figure: both twins' class probabilities."""
from __future__ import annotations

import plotly.graph_objects as go

from bnapp import CLASSES, TWIN_NAMES, TWINS
from bnapp.ui.figures.base import COLORS, layout_dict, unvalidated_figure


def class_probabilities(probs: dict[str, dict[str, float]], truth: str | None = None) -> go.Figure:
    """Grouped bars: all ten class probabilities for both twins. Built from plain dicts without plotly's
    per-call validation, which costs 12-25 ms (more than the networks) on every prediction; the tests
    check that it equals the validated figure."""
    data = [dict(type="bar", name=TWIN_NAMES[twin], x=list(CLASSES), y=[probs[twin].get(c, 0.0) for c in CLASSES],
                 marker=dict(color=COLORS[twin]), hovertemplate="%{x}: %{y:.1%}<extra>" + TWIN_NAMES[twin] + "</extra>")
            for twin in TWINS]
    layout = dict(barmode="group", yaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="probability")),
                  **layout_dict("Class probabilities, both twins"))
    if truth:
        x = CLASSES.index(truth)
        layout["shapes"] = [dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain",
                                 line=dict(color="#16a34a", dash="dot"))]
        layout["annotations"] = [dict(x=x, xref="x", y=1, yref="y domain", text=f"true: {truth}", showarrow=False,
                                      yanchor="bottom")]
    return unvalidated_figure(data, layout)
