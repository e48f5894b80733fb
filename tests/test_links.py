"""Deep links (`services.links`): every setting checked with the server's own bounds; what fails is named, never an
error."""
from __future__ import annotations

from bnapp.measure.infer import InputSpec
from bnapp.nets.models import build_pair
from bnapp.services import state as S
from bnapp.training.limits import TrainLimits


def test_a_link_keeps_what_passes_its_checks_and_names_what_it_drops(tmp_path):
    from bnapp.services import links

    TABS, EXPERIMENTS = ["compare", "train"], ["sweep", "noisy"]
    state = S.ServerState({"cnn": S.Pair("cnn", build_pair("cnn"), {t: {"input": InputSpec().to_dict()}
                                                                     for t in ("bn", "plain")})},
                          S.Examples(), limits=TrainLimits())
    link = links.parse({"tab": "train", "pair": "cnn", "layer": "block2a", "mode": "train", "n": "64", "lr": "0.05",
                        "severity": "3", "experiment": "noisy", "budget": "60"}, state, TABS, EXPERIMENTS)
    assert link.values == dict(tab="train", pair="cnn", layer="block2a", mode="train", n=64, lr=0.05, severity=3,
                               experiment="noisy", budget=60.0) and link.note == ""
    bad = links.parse({"tab": "nowhere", "pair": "../etc", "layer": "layer9", "n": "2.5", "lr": "1e9", "seed": "x",
                       "budget": "nan", "foo": "1"}, state, TABS, EXPERIMENTS)
    assert bad.values == {}
    for part in ("tab='nowhere'", "pair='../etc'", "layer='layer9' (not a layer of this pair)",
                 "n='2.5' (number of test images must be a whole number", "lr='1e9' (learning rate must be between",
                 "seed='x' (seed must be a number", "budget='nan'", "unknown setting 'foo'"):
        assert part in bad.note, (part, bad.note)
