"""Deep links: the settings that matter, read from a page's URL and checked like any request.

The page writes its state into the URL as it changes (the UI's job); opening that URL hands the query
here. A value that is unknown, out of range or not a number is dropped with a short note, never an
error: a shared link must open, whatever was done to it on the way.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bnapp.data.corruptions import CORRUPTIONS
from bnapp.measure.stats import MAX_BATCH, MODES
from bnapp.nets.models import ARCHS, PLACEMENTS, bn_positions
from bnapp.services.state import ServerState
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import RECIPES

TABS = ("compare", "activations", "testtime", "train")
EXPERIMENTS = ("sweep", "placement", "figure1", "noisy", "tutorial")


@dataclass
class Link:
    """The checked settings of a link (only those it named and that passed) and what was dropped."""

    values: dict[str, object] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return ("Some settings in the link were ignored: " + "; ".join(self.dropped) + ".") if self.dropped else ""


def _number(kind: type, low: float, high: float) -> Callable[[str], object]:
    def check(text: str) -> object:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if kind is int and not number.is_integer():
            raise ValueError("not a whole number")
        value = kind(number)
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value
    return check


def _choice(options) -> Callable[[str], object]:
    def check(text: str) -> object:
        if text not in options:
            raise ValueError("not one of " + ", ".join(map(str, options)))
        return text
    return check


def checks(state: ServerState, limits: TrainLimits) -> dict[str, Callable[[str], object]]:
    """Every setting a link may carry, with its rule (the same bounds the server enforces)."""
    return {
        "tab": _choice(TABS), "pair": _choice(list(state.pairs)),
        "example": _choice([p.name for p in state.examples.paths]),
        "layer": lambda text: text, "mode": _choice(MODES), "n": _number(int, 1, MAX_BATCH),
        "corruption": _choice(CORRUPTIONS), "severity": _number(int, 1, 5), "prior": _number(float, 0, 1024),
        "arch": _choice(ARCHS), "recipe": _choice(sorted(RECIPES)), "optimizer": _choice(("sgd", "adam")),
        "placement": _choice(PLACEMENTS), "epochs": _number(float, 0.01, limits.max_epochs),
        "batch": _number(int, 1, limits.max_batch), "lr": _number(float, 1e-8, limits.max_lr),
        "images": _number(int, 1, limits.max_train_subset), "seed": _number(int, 0, 2 ** 31 - 1),
        "budget": _number(float, 0, limits.max_seconds), "experiment": _choice(EXPERIMENTS),
    }


def parse(query: Mapping[str, str], state: ServerState) -> Link:
    """The settings of `query` that pass their checks; a layer must be one of the linked (or default) pair's."""
    rules, link = checks(state, state.limits), Link()
    for key, text in query.items():
        if key not in rules:
            link.dropped.append(f"unknown setting '{key[:40]}'")
            continue
        try:
            link.values[key] = rules[key](str(text))
        except ValueError as e:
            link.dropped.append(f"{key}={str(text)[:40]!r} ({e})")
    pair = state.pairs.get(link.values.get("pair") or state.default_pair)
    if "layer" in link.values and (pair is None or link.values["layer"] not in bn_positions(pair.models["bn"])):
        link.dropped.append(f"layer={str(link.values.pop('layer'))[:40]!r} (not a layer of this pair)")
    return link
