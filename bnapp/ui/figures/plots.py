"""Plotly figures. Inputs are plain Python numbers and lists, so the UI never touches tensors."""
from __future__ import annotations

import json
import math
from functools import lru_cache

import plotly.graph_objects as go
import plotly.io as pio

from bnapp import CLASSES, TWIN_LABELS

COLORS = {"bn": "#2563eb", "plain": "#f97316"}
NAMES = {"bn": "with BatchNorm", "plain": "without BatchNorm"}
_TICKS = [round(m * 10.0 ** e, 6) for e in range(-6, 5) for m in (1, 2, 5)]
LOG_AXIS = dict(type="log", tickvals=_TICKS, ticktext=[f"{t:g}" for t in _TICKS])  # 1-2-5 labels, not plotly's crowded digits


def _layout_dict(title: str, height: int = 360) -> dict:
    return dict(title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)), height=height + 40,
                template="plotly_white", margin=dict(l=50, r=20, t=100, b=40),
                legend=dict(orientation="h", y=0.92, yanchor="top", x=0, xanchor="left", yref="container"))


def layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(**_layout_dict(title, height))
    return fig


def class_probabilities(probs: dict[str, dict[str, float]], truth: str | None = None) -> go.Figure:
    """Grouped bars: all ten class probabilities for both twins. Built from plain dicts without plotly's
    per-call validation, which costs 12-25 ms (more than the networks) on every prediction; the tests
    check that it equals the validated figure."""
    data = [dict(type="bar", name=NAMES[twin], x=list(CLASSES), y=[probs[twin].get(c, 0.0) for c in CLASSES],
                 marker=dict(color=COLORS[twin]), hovertemplate="%{x}: %{y:.1%}<extra>" + NAMES[twin] + "</extra>")
            for twin in ("bn", "plain")]
    layout = dict(barmode="group", yaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="probability")),
                  **_layout_dict("Class probabilities, both twins"))
    if truth:
        x = CLASSES.index(truth)
        layout["shapes"] = [dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain",
                                 line=dict(color="#16a34a", dash="dot"))]
        layout["annotations"] = [dict(x=x, xref="x", y=1, yref="y domain", text=f"true: {truth}", showarrow=False,
                                      yanchor="bottom")]
    return unvalidated_figure(data, layout)


def unvalidated_figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from dicts that are already valid, with the named template inlined (plotly.js has none)."""
    return go.Figure(data=data, layout={**layout, "template": _template(layout["template"])}, _validate=False)


@lru_cache(maxsize=4)
def _template_json(name: str) -> str:
    return json.dumps(pio.templates[name].to_plotly_json())


def _template(name: str) -> dict:
    return json.loads(_template_json(name))


def _band(fig: go.Figure, x: list[str], lo: list[float], mid: list[float], hi: list[float], name: str, color: str,
          row: int, col: int, dash: str = "solid") -> None:
    fig.add_scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=color, opacity=0.18, line=dict(width=0),
                    hoverinfo="skip", showlegend=False, legendgroup=name, row=row, col=col)
    fig.add_scatter(x=x, y=mid, name=name, mode="lines+markers", line=dict(color=color, dash=dash), legendgroup=name,
                    customdata=list(zip(lo, hi)), row=row, col=col,
                    hovertemplate="%{x}: median %{y:.3g}, 15th-85th %{customdata[0]:.3g} .. %{customdata[1]:.3g}<extra>" + name + "</extra>")


def layer_overview(bn_layers: list, plain_layers: list, mode: str) -> go.Figure:
    """Through depth: the 15th/50th/85th percentile band and the std of each layer's values, BN twin
    before and after its BN, plain twin at the same positions."""
    from plotly.subplots import make_subplots

    names = [l.name for l in bn_layers]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("15th / 50th / 85th percentiles", "standard deviation (log scale)"))
    series = [("BN twin, before BN", bn_layers, "pre", "#94a3b8", "dot"),
              ("BN twin, after BN", bn_layers, "post", COLORS["bn"], "solid"),
              ("plain twin, same position", plain_layers, "pre", COLORS["plain"], "solid")]
    for label, layers, which, color, dash in series:
        st = [getattr(l, which) for l in layers]
        _band(fig, names, [s.percentiles[15] for s in st], [s.percentiles[50] for s in st],
              [s.percentiles[85] for s in st], label, color, 1, 1, dash)
        fig.add_scatter(x=names, y=[max(s.std, 1e-6) for s in st], name=label, mode="lines+markers", showlegend=False,
                        legendgroup=label, line=dict(color=color, dash=dash), row=1, col=2,
                        hovertemplate="%{x}: std %{y:.3g}<extra>" + label + "</extra>")
    fig.update_yaxes(type="log", row=1, col=2)
    return layout(fig, f"Every layer, input to output ({mode} mode)", height=380)


def layer_histograms(bn_layer, plain_layer, mode: str) -> go.Figure:
    """One layer: BN's input and output overlaid on shared bins; the plain twin's same position beside."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=(f"BN twin, {bn_layer.name}: before vs after {bn_layer.bn_kind}",
                                        f"plain twin, {plain_layer.name}: same position (no BN)"))

    def bars(edges: list[float], counts: list[int], name: str, color: str, col: int) -> None:
        total = max(1, sum(counts))
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
        fig.add_bar(x=centers, y=[c / total for c in counts], width=edges[1] - edges[0], name=name, marker_color=color,
                    opacity=0.6, row=1, col=col, hovertemplate="%{x:.3g}: %{y:.1%}<extra>" + name + "</extra>")

    bars(bn_layer.hist_edges, bn_layer.pre.hist_counts, "before BN", "#94a3b8", 1)
    bars(bn_layer.hist_edges, bn_layer.post.hist_counts, "after BN", COLORS["bn"], 1)
    bars(plain_layer.hist_edges, plain_layer.pre.hist_counts, "plain twin", COLORS["plain"], 2)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(tickformat=".0%")
    fig.update_yaxes(title="share of values", row=1, col=1)
    return layout(fig, f"Distribution of values at {bn_layer.name} ({mode} mode; end bins hold the outliers)")


def channel_view(bn_layer, mode: str) -> go.Figure:
    """One layer, channel by channel: means and stds before and after BN, with beta, |gamma| and the
    running statistics that eval mode uses."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("channel means", "channel standard deviations"))
    ch = list(range(len(bn_layer.pre.channel_mean)))
    p = bn_layer.bn_params

    def line(y, name, color, row, mode_="markers", dash=None, size=5):
        fig.add_scatter(x=ch, y=y, name=name, mode=mode_, marker=dict(color=color, size=size),
                        line=dict(color=color, dash=dash), row=row, col=1, legendgroup=name, showlegend=row == 1 or name in
                        ("|gamma|", "sqrt(running var)"), hovertemplate="channel %{x}: %{y:.3g}<extra>" + name + "</extra>")

    line(bn_layer.pre.channel_mean, "before BN", "#94a3b8", 1)
    line(bn_layer.post.channel_mean, "after BN", COLORS["bn"], 1)
    line(bn_layer.pre.channel_std, "before BN", "#94a3b8", 2)
    line(bn_layer.post.channel_std, "after BN", COLORS["bn"], 2)
    fig.data[2].showlegend = fig.data[3].showlegend = False
    if p:
        line(p["beta"], "beta", "#16a34a", 1, "lines", "dot")
        line(p["running_mean"], "running mean", "#a855f7", 1, "lines", "dash")
        line([abs(g) for g in p["gamma"]], "|gamma|", "#16a34a", 2, "lines", "dot")
        line([v ** 0.5 for v in p["running_var"]], "sqrt(running var)", "#a855f7", 2, "lines", "dash")
    fig.update_xaxes(title="channel", row=2, col=1)
    return layout(fig, f"{bn_layer.name}, channel by channel ({mode} mode)", height=480)


def _loss_axis_top(log) -> float | None:
    """Where a twin diverged, the loss axis ends at 1.5x the first loss: a blown-up loss (1e25) would flatten
    the other twin's curve to a line at 0. None (plotly's own range) otherwise."""
    starts = [next((v for v in log.loss[t] if v is not None and math.isfinite(v)), None) for t in ("bn", "plain")]
    if all(log.diverged.get(t) is None for t in ("bn", "plain")) or all(v is None for v in starts):
        return None
    return 1.5 * max(v for v in starts if v is not None)


def training_curves(log, title: str = "Training, both twins in lockstep") -> go.Figure:
    """Loss per step and test accuracy at each evaluation; a diverged twin is marked where it stopped."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("training loss", "test accuracy"))
    top = _loss_axis_top(log)
    for twin in ("bn", "plain"):
        loss = log.loss[twin] if top is None else [v if v is None or v <= top else None for v in log.loss[twin]]
        if top is not None and loss != log.loss[twin]:
            worst = max(v for v in log.loss[twin] if v is not None)
            fig.add_annotation(x=1, xref="x domain", y=1, yref="y domain", xanchor="right", yanchor="top", showarrow=False,
                               text=f"{TWIN_LABELS[twin]} twin's loss leaves the axis (up to {worst:.3g})",
                               font=dict(color=COLORS[twin]))
        fig.add_scatter(x=log.steps, y=loss, name=NAMES[twin], mode="lines", line=dict(color=COLORS[twin]),
                        legendgroup=twin, row=1, col=1, hovertemplate="step %{x}: loss %{y:.3f}<extra>" + NAMES[twin] + "</extra>")
        fig.add_scatter(x=log.eval_steps, y=log.test_acc[twin], name=NAMES[twin], mode="lines+markers", showlegend=False,
                        line=dict(color=COLORS[twin]), legendgroup=twin, row=1, col=2,
                        hovertemplate="step %{x}: %{y:.1%}<extra>" + NAMES[twin] + "</extra>")
        if log.diverged.get(twin) is not None:
            for col in (1, 2):
                fig.add_vline(x=log.diverged[twin], line=dict(color=COLORS[twin], dash="dash"), row=1, col=col,
                              annotation_text=f"{TWIN_LABELS[twin]} twin diverged", annotation_position="top left")
    if top is not None:
        fig.update_yaxes(range=[0, top], row=1, col=1)
    fig.update_xaxes(title="step")
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return layout(fig, title)


def _percentile_lines(fig: go.Figure, steps: list[int], series: list[dict], color: str, col: int, row: int = 1) -> None:
    for p, dash in ((15, "dot"), (50, "solid"), (85, "dot")):
        fig.add_scatter(x=steps, y=[q[p] for q in series], mode="lines", name=f"{p}th percentile",
                        line=dict(color=color, dash=dash), showlegend=False, row=row, col=col,
                        hovertemplate="step %{x}: %{y:.3g}<extra>" + f"{p}th percentile</extra>")


def evolution(points: list[tuple[int, dict]], unit: str) -> go.Figure:
    """During training, one channel of one layer: what its ReLU receives (BN's output in the BN twin)
    and, separately, what BN receives; and every layer's BN-input std."""
    from plotly.subplots import make_subplots

    channel = points[0][1]["bn"]["channel"] if points else 0
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06, subplot_titles=(
        f"{unit}, channel {channel}: the ReLU's input", f"{unit}, channel {channel}: BN's input",
        "std of each layer's BN input (all channels)"))
    steps = [s for s, _ in points]
    for twin in ("bn", "plain"):
        _percentile_lines(fig, steps, [pt[twin]["act_input"] for _, pt in points], COLORS[twin], 1)
    _percentile_lines(fig, steps, [pt["bn"]["bn_input"] for _, pt in points], "#6b7280", 2)
    if points:
        units = list(points[0][1]["bn"]["stds"])
        for twin in ("bn", "plain"):
            for i, u in enumerate(units):
                fig.add_scatter(x=steps, y=[max(pt[twin]["stds"][u], 1e-6) for _, pt in points], mode="lines",
                                name=NAMES[twin], legendgroup=twin, showlegend=i == 0, opacity=0.35 + 0.65 * i / max(1, len(units) - 1),
                                line=dict(color=COLORS[twin], width=1.5), row=1, col=3,
                                hovertemplate=f"{u}, step " + "%{x}: std %{y:.3g}<extra>" + NAMES[twin] + "</extra>")
    fig.update_yaxes(**LOG_AXIS, row=1, col=3)
    fig.update_xaxes(title="step")
    return layout(fig, "Inside the networks while they train: 15th/50th/85th percentiles over a fixed probe batch "
                        "(train mode). Left: blue with BN (BN's output), orange without; middle: the BN twin only")


def figure1(log, points: list[tuple[int, dict]]) -> go.Figure:
    """Ioffe & Szegedy (2015), Figure 1 on CIFAR-10: (a) test accuracy against steps, both nets; (b, c)
    the 15th/50th/85th percentiles of one last-hidden-layer sigmoid's input, without and with BN."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "(a) test accuracy", "(b) without BN: a sigmoid's input", "(c) with BN: the same sigmoid's input (BN's output)"))
    for twin in ("bn", "plain"):
        fig.add_scatter(x=log.eval_steps, y=log.test_acc[twin], mode="lines", name=NAMES[twin],
                        line=dict(color=COLORS[twin]), row=1, col=1)
    steps = [s for s, _ in points]
    for col, twin in ((2, "plain"), (3, "bn")):
        _percentile_lines(fig, steps, [pt[twin]["act_input"] for _, pt in points], COLORS[twin], col)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title="step")
    return layout(fig, "Ioffe & Szegedy's Figure 1, reproduced on CIFAR-10 (3 x 100 sigmoid MLP, batch 60, SGD)")


def lr_sweep(rows: list[dict]) -> go.Figure:
    """Final test accuracy against learning rate for both twins; diverged runs drawn as x at 0,
    stalled ones (near chance at the end) as open circles at their accuracy."""
    fig = go.Figure()
    for twin in ("bn", "plain"):
        mine = sorted((r for r in rows if r["twin"] == twin), key=lambda r: r["lr"])
        ok = [r for r in mine if r["status"] != "diverged"]
        fig.add_scatter(x=[r["lr"] for r in ok], y=[r["test_accuracy"] for r in ok], mode="lines+markers",
                        name=NAMES[twin], line=dict(color=COLORS[twin]), hovertemplate="lr %{x}: %{y:.1%}<extra></extra>")
        for status, symbol, at_zero in (("stalled", "circle-open", False), ("diverged", "x", True)):
            bad = [r for r in mine if r["status"] == status]
            if bad:
                fig.add_scatter(x=[r["lr"] for r in bad], y=[0 if at_zero else r["test_accuracy"] for r in bad],
                                mode="markers", name=f"{NAMES[twin]}: {status}", marker=dict(symbol=symbol, size=14,
                                                                                           color=COLORS[twin]))
    fig.add_hline(y=0.1, line=dict(color="#999", dash="dot"), annotation_text="chance (10%)")
    swept = sorted({r["lr"] for r in rows})  # label exactly the rates that were tried
    fig.update_xaxes(type="log", tickvals=swept, ticktext=[f"{lr:g}" for lr in swept], title="learning rate")
    fig.update_yaxes(tickformat=".0%", title="test accuracy (no TTA)", rangemode="tozero")
    return layout(fig, "Learning-rate robustness: same budget, both twins")


def placement(logs: dict) -> go.Figure:
    """Test accuracy over steps, one line per seed: BN before the ReLU, BN after it, and no BN."""
    fig = go.Figure()
    styles = {"before": ("BN before ReLU", COLORS["bn"], "solid"), "after": ("BN after ReLU", "#7c3aed", "dash")}
    shown: set[str] = set()
    for (key, seed), log in logs.items():
        lines = [(*styles[key], log.test_acc["bn"])]
        if key == "before":
            lines.append(("no BN", COLORS["plain"], "dot", log.test_acc["plain"]))
        for name, color, dash, acc in lines:
            fig.add_scatter(x=log.eval_steps, y=acc, name=name, legendgroup=name, showlegend=name not in shown,
                            mode="lines+markers", line=dict(color=color, dash=dash),
                            hovertemplate=f"{name}, seed {seed}, step %{{x}}: %{{y:.1%}}<extra></extra>")
            shown.add(name)
    fig.update_xaxes(title="step")
    fig.update_yaxes(tickformat=".0%", title="test accuracy (no TTA, 1,000 test images)")
    return layout(fig, "Where should BatchNorm go? One line per seed")


RUN_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "5px,2px", "1px,3px")


def overlay(runs: list[tuple[str, object]]) -> go.Figure:
    """Several runs' curves together: each twin keeps its colour, each run has its own line style."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("training loss", "test accuracy"))
    for i, (name, log) in enumerate(runs):
        dash = RUN_DASHES[i % len(RUN_DASHES)]
        for twin in ("bn", "plain"):
            label = f"{name}, {TWIN_LABELS[twin]}"
            fig.add_scatter(x=log.steps, y=log.loss[twin], name=label, mode="lines", legendgroup=label,
                            line=dict(color=COLORS[twin], dash=dash), row=1, col=1,
                            hovertemplate="step %{x}: loss %{y:.3f}<extra>" + label + "</extra>")
            fig.add_scatter(x=log.eval_steps, y=log.test_acc[twin], name=label, mode="lines+markers", showlegend=False,
                            legendgroup=label, line=dict(color=COLORS[twin], dash=dash), row=1, col=2,
                            hovertemplate="step %{x}: %{y:.1%}<extra>" + label + "</extra>")
    fig.update_xaxes(title="step")
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return layout(fig, "This session's runs overlaid (colour: twin; line style: run)" if runs else
                  "Runs overlaid: train a pair, then tick the runs to compare")
