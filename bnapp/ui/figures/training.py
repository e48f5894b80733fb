"""The Train tab's figures: training curves, the experiments, this session's runs overlaid."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from bnapp import TWIN_LABELS, TWIN_NAMES, TWINS
from bnapp.data.sets import DATASETS
from bnapp.ui.figures.activations import percentile_lines
from bnapp.ui.figures.base import COLORS, layout


def _loss_axis_top(log) -> float | None:
    """Where a twin diverged, the loss axis ends at 1.5x the first loss: a blown-up loss (1e25) would flatten
    the other twin's curve to a line at 0. None (plotly's own range) otherwise."""
    starts = [next((v for v in log.loss[t] if v is not None and math.isfinite(v)), None) for t in TWINS]
    if all(log.diverged.get(t) is None for t in TWINS) or all(v is None for v in starts):
        return None
    return 1.5 * max(v for v in starts if v is not None)


def training_curves(log, title: str = "Training, both twins in lockstep") -> go.Figure:
    """Loss per step and test accuracy at each evaluation; a diverged twin is marked where it stopped."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("training loss", "test accuracy"))
    top = _loss_axis_top(log)
    for twin in TWINS:
        loss = log.loss[twin] if top is None else [v if v is None or v <= top else None for v in log.loss[twin]]
        if top is not None and loss != log.loss[twin]:
            worst = max(v for v in log.loss[twin] if v is not None)
            fig.add_annotation(x=1, xref="x domain", y=1, yref="y domain", xanchor="right", yanchor="top",
                               showarrow=False,
                               text=f"{TWIN_LABELS[twin]} twin's loss leaves the axis (up to {worst:.3g})",
                               font=dict(color=COLORS[twin]))
        fig.add_scatter(x=log.steps, y=loss, name=TWIN_NAMES[twin], mode="lines", line=dict(color=COLORS[twin]),
                        legendgroup=twin, row=1, col=1,
                        hovertemplate="step %{x}: loss %{y:.3f}<extra>" + TWIN_NAMES[twin] + "</extra>")
        fig.add_scatter(x=log.eval_steps, y=log.test_acc[twin], name=TWIN_NAMES[twin], mode="lines+markers",
                        showlegend=False, line=dict(color=COLORS[twin]), legendgroup=twin, row=1, col=2,
                        hovertemplate="step %{x}: %{y:.1%}<extra>" + TWIN_NAMES[twin] + "</extra>")
        if log.diverged.get(twin) is not None:
            for col in (1, 2):
                fig.add_vline(x=log.diverged[twin], line=dict(color=COLORS[twin], dash="dash"), row=1, col=col,
                              annotation_text=f"{TWIN_LABELS[twin]} twin diverged", annotation_position="top left")
    if top is not None:
        fig.update_yaxes(range=[0, top], row=1, col=1)
    fig.update_xaxes(title="step")
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return layout(fig, title)


def figure1(fig1, run_steps: int = 0) -> go.Figure:
    """Ioffe & Szegedy (2015), Figure 1 (`services.figure1.Figure1`) on its dataset: (a) test accuracy against
    steps, both nets; (b, c) the 15th/50th/85th percentiles of one last-hidden-layer sigmoid's input, without and
    with BN."""
    log, points = fig1.log, fig1.points
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "(a) test accuracy", "(b) without BN: a sigmoid's input",
        "(c) with BN: the same sigmoid's input (BN's output)"))
    for twin in TWINS:
        fig.add_scatter(x=log.eval_steps, y=log.test_acc[twin], mode="lines", name=TWIN_NAMES[twin],
                        line=dict(color=COLORS[twin]), row=1, col=1)
    steps = [s for s, _ in points]
    for col, twin in ((2, "plain"), (3, "bn")):
        percentile_lines(fig, steps, [pt[twin]["act_input"] for _, pt in points], COLORS[twin], col)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title="step")
    length = f", {run_steps:,} steps as the paper" if run_steps else ", a short live run"
    return layout(fig, f"Ioffe & Szegedy's Figure 1 on {DATASETS[fig1.dataset].label} (3 x 100 sigmoid MLP, batch 60, "
                       f"SGD{length})")


def lr_sweep(rows: list[dict]) -> go.Figure:
    """Final test accuracy against learning rate for both twins; diverged runs drawn as x at 0,
    stalled ones (near chance at the end) as open circles at their accuracy."""
    fig = go.Figure()
    for twin in TWINS:
        mine = sorted((r for r in rows if r["twin"] == twin), key=lambda r: r["lr"])
        ok = [r for r in mine if r["status"] != "diverged"]
        fig.add_scatter(x=[r["lr"] for r in ok], y=[r["test_accuracy"] for r in ok], mode="lines+markers",
                        name=TWIN_NAMES[twin], line=dict(color=COLORS[twin]),
                        hovertemplate="lr %{x}: %{y:.1%}<extra></extra>")
        for status, symbol, at_zero in (("stalled", "circle-open", False), ("diverged", "x", True)):
            bad = [r for r in mine if r["status"] == status]
            if bad:
                fig.add_scatter(x=[r["lr"] for r in bad], y=[0 if at_zero else r["test_accuracy"] for r in bad],
                                mode="markers", name=f"{TWIN_NAMES[twin]}: {status}",
                                marker=dict(symbol=symbol, size=14, color=COLORS[twin]))
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
        for twin in TWINS:
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


def forgiving(rows: list[dict]) -> go.Figure:
    """Each twin's validation accuracy over the same search trials: left, sorted from its best trial to its worst;
    right, against the trial's learning rate (weight decay, drawn independently, in the hover)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("every trial, best first", "against the learning rate"))
    for twin in TWINS:
        mine = sorted((r for r in rows if r["twin"] == twin), key=lambda r: -(r["val_accuracy"] or 0))
        hover = [f"trial {r['trial']} ({r['origin']}): lr {r['lr']:g}, wd {r['weight_decay']:g}, warm-up "
                 f"{r['warmup']:g}, smoothing {r['label_smoothing']:g}, shift x{r['bn_bias_lr_scale']:g}, "
                 f"{r['init']} init: {100 * (r['val_accuracy'] or 0):.1f}%" for r in mine]
        accs = [r["val_accuracy"] or 0 for r in mine]
        style = dict(color=COLORS[twin])
        fig.add_scatter(x=list(range(1, len(mine) + 1)), y=accs, mode="lines+markers", name=TWIN_NAMES[twin],
                        line=style, hovertext=hover, hoverinfo="text", row=1, col=1)
        fig.add_scatter(x=[r["lr"] for r in mine], y=accs, mode="markers", name=TWIN_NAMES[twin], showlegend=False,
                        marker=dict(size=11, **style), hovertext=hover, hoverinfo="text", row=1, col=2)
    fig.add_hline(y=0.1, line=dict(color="#999", dash="dot"), annotation_text="chance (10%)")
    fig.update_xaxes(title="trial, sorted by its validation accuracy", dtick=1, row=1, col=1)
    fig.update_xaxes(type="log", title="learning rate", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", title="validation accuracy (flip TTA)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=2)
    return layout(fig, "How forgiving is each twin: the same recipe trials, each twin's validation accuracy")
