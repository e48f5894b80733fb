"""What every figure shares: the twins' colours and names, the layout, a log axis with readable ticks.
Inputs to every figure are plain Python numbers and lists, so the UI never touches tensors."""
from __future__ import annotations

import json
from functools import lru_cache

import plotly.graph_objects as go
import plotly.io as pio

COLORS = {"bn": "#2563eb", "plain": "#f97316"}
_TICKS = [round(m * 10.0 ** e, 6) for e in range(-6, 5) for m in (1, 2, 5)]
# 1-2-5 labels, not plotly's crowded digits
LOG_AXIS = dict(type="log", tickvals=_TICKS, ticktext=[f"{t:g}" for t in _TICKS])


def layout_dict(title: str, height: int = 360) -> dict:
    return dict(title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)), height=height + 40,
                template="plotly_white", margin=dict(l=50, r=20, t=100, b=40),
                legend=dict(orientation="h", y=0.92, yanchor="top", x=0, xanchor="left", yref="container"))


def layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(**layout_dict(title, height))
    return fig


def unvalidated_figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from dicts that are already valid, with the named template inlined (plotly.js has none)."""
    return go.Figure(data=data, layout={**layout, "template": template(layout["template"])}, _validate=False)


@lru_cache(maxsize=4)
def template_json(name: str) -> str:
    return json.dumps(pio.templates[name].to_plotly_json())


def template(name: str) -> dict:
    return json.loads(template_json(name))


def band(fig: go.Figure, x: list[str], lo: list[float], mid: list[float], hi: list[float], name: str, color: str,
          row: int, col: int, dash: str = "solid") -> None:
    fig.add_scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=color, opacity=0.18, line=dict(width=0),
                    hoverinfo="skip", showlegend=False, legendgroup=name, row=row, col=col)
    fig.add_scatter(x=x, y=mid, name=name, mode="lines+markers", line=dict(color=color, dash=dash), legendgroup=name,
                    customdata=list(zip(lo, hi)), row=row, col=col,
                    hovertemplate="%{x}: median %{y:.3g}, 15th-85th %{customdata[0]:.3g} .. %{customdata[1]:.3g}"
                                  "<extra>" + name + "</extra>")
