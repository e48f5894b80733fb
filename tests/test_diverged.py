"""A twin that diverged in training (weights blown up, outputs NaN or infinite), as the shipped high-rate pair's
plain twin did: every view says so instead of crashing or reading a class out of NaNs."""
import math

import torch
from conftest import images, trained_looking

from bnapp.measure import stats
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import build_pair
from bnapp.services import activations, prediction
from bnapp.services.prediction import NO_ANSWER
from bnapp.store.pairs import Pair
from bnapp.ui import testtime_text as words
from bnapp.ui import text
from bnapp.ui.figures.compare import class_probabilities

SMALL = (8, 16, 16)


def diverged_pair() -> Pair:
    """The plain twin's block1b weights scaled to 1e30: finite weights, NaN/inf from there on (as shipped `cnn`)."""
    models = {t: trained_looking(m).eval() for t, m in build_pair("cnn", seed=2, widths=SMALL).items()}
    with torch.no_grad():
        models["plain"].block1b.conv.weight.mul_(1e30)
        models["plain"].block2a.conv.weight.mul_(1e30)
    assert all(torch.isfinite(p).all() for p in models["plain"].parameters())
    return Pair("cnn", models, {t: {"arch": "cnn", "input": InputSpec().to_dict()} for t in models})


def test_a_diverged_twin_has_no_answer_and_the_other_twin_still_does():
    pair = diverged_pair()
    pred = prediction.predict_images(pair, [_image()])[0]
    assert pred.probs["plain"] == {NO_ANSWER: 0.0} and not pred.answers("plain") and pred.answers("bn")
    assert not pred.agree and len(pred.probs["bn"]) == 10 and math.isclose(sum(pred.probs["bn"].values()), 1,
                                                                           rel_tol=1e-4)
    line = text.verdict(pred, "cat")
    assert "The plain twin has no answer" in line and "plain no answer" in line and "With BatchNorm: " in line
    figure = class_probabilities(pred.probs, "cat")
    assert list(figure.data[1].y) == [0.0] * 10  # the plain twin's bars: none


def test_activation_statistics_of_a_diverged_twin_count_what_is_not_finite():
    pair = diverged_pair()
    x = images(16)
    result = stats.record_pair(pair.models, {t: InputSpec() for t in pair.models}, x, "eval")
    plain = {layer.name: layer for layer in result["plain"]}
    assert plain["block1a"].act.nonfinite_fraction == 0 and plain["block3b"].act.nonfinite_fraction > 0.5
    for layer in result["plain"]:
        for s in (layer.pre, layer.post, layer.act):
            assert all(math.isfinite(v) for v in (s.mean, s.std, s.min, s.max, *s.percentiles.values()))
            assert sum(s.hist_counts) <= math.prod(layer.shape)
    assert all(layer.act.nonfinite_fraction == 0 for layer in result["bn"])
    view = activations.look_inside(pair, x, "16 random images", "eval", None)
    note = text.activation_note(view)
    assert "The plain twin's values are not all finite numbers" in note and "The BN twin's values" not in note


def test_the_company_view_says_a_diverged_plain_twin_has_no_answer():
    from bnapp.services.testtime import KINDS, CompanyView

    def view(plain: list[float]) -> CompanyView:
        return CompanyView("cat", [0.1] * 10, plain, "dog", [2], {k: [[0.5]] for k in KINDS},
                           {k: [["cat"]] for k in KINDS})

    assert "the plain twin has no answer" in words.company_summary(view([math.nan] * 10)).split("\n")[0]
    assert "the plain twin says cat" in words.company_summary(view([0.0] * 3 + [1.0] + [0.0] * 6))


def test_the_training_curves_keep_the_scale_of_the_start_when_a_twin_blows_up():
    from bnapp.services.training import RunLog
    from bnapp.ui.figures.training import training_curves

    log = RunLog(steps=[10, 20, 30], loss={"bn": [2.2, 1.5, 1.2], "plain": [2.3, 4e3, 2.5e25]},
                 eval_steps=[30], test_acc={"bn": [0.5], "plain": [0.1]}, diverged={"bn": None, "plain": 30})
    figure = training_curves(log)
    assert tuple(figure.layout.yaxis.range) == (0, 1.5 * 2.3)
    assert list(figure.data[2].y) == [2.3, None, None]  # the plain twin's loss past the axis is not drawn ...
    assert any("plain twin's loss leaves the axis (up to 2.5e+25)" in a.text
               for a in figure.layout.annotations)  # ... but said
    log.diverged["plain"] = None  # a run where nothing diverged keeps plotly's own range
    assert training_curves(log).layout.yaxis.range is None


def _image():
    from PIL import Image

    return Image.new("RGB", (32, 32), (120, 60, 200))
