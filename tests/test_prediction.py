"""Both twins' predictions (`services.prediction`): a request that never gets its answer, and the first screen's
example."""
from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout

import torch
from conftest import in_thread

from bnapp.measure.infer import InputSpec
from bnapp.nets.models import build_pair
from bnapp.services import prediction
from bnapp.services import state as S


def test_a_prediction_whose_answer_never_comes_times_out(monkeypatch):
    monkeypatch.setattr(prediction, "ANSWER_TIMEOUT", 0.3)
    monkeypatch.setattr(prediction._Combiner, "_answer", staticmethod(lambda batch: None))
    pair = S.Pair("mlp", build_pair("mlp"), {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})
    finished, out = in_thread(lambda: prediction.probabilities(pair, torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), 10)
    assert finished and isinstance(out[0], FutureTimeout)


def brightness_twin(bright_class: int) -> torch.nn.Module:
    """A stand-in twin that says class 3 for a dark image and `bright_class` for a white one."""
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    with torch.no_grad():
        m[1].weight.zero_()
        m[1].bias.zero_()
        m[1].bias[3] = 5.0
        m[1].weight[bright_class] = 10.0 / (3 * 32 * 32)  # a white image (x = 1 everywhere) scores 10
    return m.eval()


def test_compare_starts_on_the_first_example_the_twins_disagree_on(tmp_path):
    """The twins disagree exactly on the white images; the first of those in file-name order is shown."""
    from PIL import Image

    from bnapp.data.images import Examples
    from bnapp.services.prediction import first_disagreement

    for name, shade in (("a-dark", 0), ("b-white", 255), ("c-white", 255), ("d-dark", 0)):
        Image.new("RGB", (32, 32), (shade,) * 3).save(tmp_path / f"{name}.png")
    pair = S.Pair("stand-in", {"bn": brightness_twin(3), "plain": brightness_twin(5)},
                  {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})
    shuffled = [tmp_path / f"{n}.png" for n in ("d-dark", "c-white", "a-dark", "b-white")]
    assert first_disagreement(pair, Examples(paths=shuffled)) == tmp_path / "b-white.png"
    dark = [tmp_path / "d-dark.png", tmp_path / "a-dark.png"]
    assert first_disagreement(pair, Examples(paths=dark)) == tmp_path / "a-dark.png"  # none: the first by name
    assert first_disagreement(pair, Examples()) is None
