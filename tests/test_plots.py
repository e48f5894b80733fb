"""The prediction bar chart skips plotly's validation for speed: it must equal the validated figure."""
from __future__ import annotations

import json

import plotly.graph_objects as go

from bnapp import CLASSES, plots


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
