"""The Activations tab's figures, and the layer evolution drawn while a run trains."""
from __future__ import annotations

import plotly.graph_objects as go

from bnapp import TWIN_NAMES, TWINS
from bnapp.ui.figures.base import COLORS, LOG_AXIS, band, layout


def layer_overview(bn_layers: list, plain_layers: list, mode: str) -> go.Figure:
    """Through depth: the 15th/50th/85th percentile band and the std of each layer's values, BN twin
    before and after its BN, plain twin at the same positions."""
    from plotly.subplots import make_subplots

    names = [unit.name for unit in bn_layers]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("15th / 50th / 85th percentiles", "standard deviation (log scale)"))
    series = [("BN twin, before BN", bn_layers, "pre", "#94a3b8", "dot"),
              ("BN twin, after BN", bn_layers, "post", COLORS["bn"], "solid"),
              ("plain twin, same position", plain_layers, "pre", COLORS["plain"], "solid")]
    for label, layers, which, color, dash in series:
        st = [getattr(unit, which) for unit in layers]
        band(fig, names, [s.percentiles[15] for s in st], [s.percentiles[50] for s in st],
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
                        line=dict(color=color, dash=dash), row=row, col=1, legendgroup=name,
                        showlegend=row == 1 or name in ("|gamma|", "sqrt(running var)"),
                        hovertemplate="channel %{x}: %{y:.3g}<extra>" + name + "</extra>")

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


def percentile_lines(fig: go.Figure, steps: list[int], series: list[dict], color: str, col: int, row: int = 1) -> None:
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
    for twin in TWINS:
        percentile_lines(fig, steps, [pt[twin]["act_input"] for _, pt in points], COLORS[twin], 1)
    percentile_lines(fig, steps, [pt["bn"]["bn_input"] for _, pt in points], "#6b7280", 2)
    if points:
        units = list(points[0][1]["bn"]["stds"])
        for twin in TWINS:
            for i, u in enumerate(units):
                fig.add_scatter(x=steps, y=[max(pt[twin]["stds"][u], 1e-6) for _, pt in points], mode="lines",
                                name=TWIN_NAMES[twin], legendgroup=twin, showlegend=i == 0,
                                opacity=0.35 + 0.65 * i / max(1, len(units) - 1),
                                line=dict(color=COLORS[twin], width=1.5), row=1, col=3,
                                hovertemplate=f"{u}, step " + "%{x}: std %{y:.3g}<extra>" + TWIN_NAMES[twin]
                                + "</extra>")
    fig.update_yaxes(**LOG_AXIS, row=1, col=3)
    fig.update_xaxes(title="step")
    return layout(fig, "Inside the networks while they train: 15th/50th/85th percentiles over a fixed probe batch "
                        "(train mode). Left: blue with BN (BN's output), orange without; middle: the BN twin only")
