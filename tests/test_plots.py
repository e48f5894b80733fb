"""The prediction bar chart skips plotly's validation for speed: it must equal the validated figure."""
from __future__ import annotations

import json

import plotly.graph_objects as go

from bnapp import CLASSES
from bnapp.ui.figures import compare as plots


def test_unvalidated_bar_chart_equals_the_validated_one():
    probs = {t: dict(zip(CLASSES, [i / 45 for i in range(10)][:: 1 if t == "bn" else -1])) for t in ("bn", "plain")}
    for truth in (None, "cat"):
        fast = plots.class_probabilities(probs, truth)
        checked = go.Figure(fast.to_plotly_json())  # validation raises on anything plotly does not know
        assert json.loads(fast.to_json()) == json.loads(checked.to_json())
        assert checked.layout.template.layout.plot_bgcolor == "white"  # plotly_white, inlined
        assert [b.name for b in checked.data] == ["with BatchNorm", "without BatchNorm"]
        assert list(checked.data[0].y) == [probs["bn"][c] for c in CLASSES]
        assert bool(checked.layout.shapes) == (truth is not None)


def test_the_landscape_figure_says_when_a_run_did_not_measure_it():
    from bnapp.ui.figures import landscape as landscape_plots

    stats = dict(loss=1.0, loss_min=0.9, loss_max=1.2, grad_change_min=0.1, grad_change_max=0.5, beta=3.0,
                 grad_norm=1.0)
    fig = landscape_plots.landscape([(10, {"bn": stats, "plain": stats})])
    assert "measured on this run" in fig.layout.title.text and len(fig.data) == 2 * 5
    assert "not measured in this run" in landscape_plots.landscape([], measured=False).layout.title.text
