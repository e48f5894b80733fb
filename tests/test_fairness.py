"""The fair pair's numbers: the gap paired by seed, and what BN buys measured on the same runs."""
from dataclasses import replace

import pytest

from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.services import fairness
from bnapp.store.checkpoints import base_metadata
from bnapp.store.pairs import Pair
from bnapp.ui import text


@pytest.fixture(scope="module")
def mlp_pair() -> Pair:
    models = build_pair("mlp", seed=0)
    return Pair("cnn-fair", models, {t: base_metadata(ModelConfig("mlp", t == "bn"), InputSpec()) for t in models})


def fair(mlp_pair, bn_acc, plain_acc, bn_curve, plain_curve):
    meta = {}
    for t, acc, curve in (("bn", bn_acc, bn_curve), ("plain", plain_acc, plain_curve)):
        meta[t] = mlp_pair.metadata[t] | dict(seeds=dict(test_accuracy={"fp32": acc}), steps=400, epochs=len(curve),
                                               history=[dict(epoch=e, test_acc=a) for e, a in enumerate(curve, 1)])
    return replace(mlp_pair, metadata=meta)


ROWS = [dict(trial=i, twin=t, lr=lr, val_accuracy=acc) for i, (lr, accs) in
        enumerate([(0.05, (0.80, 0.81)), (0.1, (0.85, 0.70)), (0.5, (0.855, 0.10)), (1.0, (0.84, 0.10))])
        for t, acc in zip(("bn", "plain"), accs)]


def test_the_gap_is_paired_by_seed_and_each_twin_reaches_the_others_final_accuracy_or_not(mlp_pair):
    pair = fair(mlp_pair, [0.86, 0.87, 0.85], [0.82, 0.825, 0.81], [0.5, 0.7, 0.8, 0.86], [0.4, 0.6, 0.7, 0.75])
    gap = fairness.fair_gap(pair, ROWS)
    assert gap.difference.difference == pytest.approx(0.125 / 3) and gap.difference.differs and gap.seeds == 3
    assert gap.reach["bn"] == pytest.approx(250)  # 0.7 at step 200, 0.8 at 300: the plain final 0.75 halfway
    assert gap.reach["plain"] is None  # the plain twin never got to BN's 0.86
    assert gap.forgiveness["bn"]["near_best"] == 2 and gap.forgiveness["bn"]["lr_range"] == (0.1, 0.5)
    assert gap.forgiveness["plain"]["near_best"] == 1
    words = text.fair_gap(gap)
    assert "BN minus plain +4.17 points" in words and "a difference: the interval excludes 0" in words
    assert "2 of its 4 trials (lr 0.1 to 0.5)" in words and "never reached the BN twin's final accuracy" in words
