"""Deep links: the settings that matter, read from a page's URL and checked like any request.

The page writes its state into the URL as it changes (the UI's job); opening that URL hands the query
here. A value that is unknown, out of range or not a number is dropped with a short note, never an
error: a shared link must open, whatever was done to it on the way.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bnapp.data.corruptions import CORRUPTIONS
from bnapp.measure.stats import MODES
from bnapp.nets.models import ARCHS, PLACEMENTS, bn_positions
from bnapp.services.activations import BATCH_IMAGES
from bnapp.services.presets import presets
from bnapp.services.shift import PRIOR, SEVERITY
from bnapp.services.state import ServerState
from bnapp.training.limits import Bound
from bnapp.training.recipes import OPTIMIZERS


@dataclass
class Link:
    """The checked settings of a link (only those it named and that passed) and what was dropped."""

    values: dict[str, object] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return ("Some settings in the link were ignored: " + "; ".join(self.dropped) + ".") if self.dropped else ""


def _number(bound: Bound) -> Callable[[str], object]:
    def check(text: str) -> object:
        return bound.check(text)
    return check


def _choice(options) -> Callable[[str], object]:
    def check(text: str) -> object:
        if text not in options:
            raise ValueError("not one of " + ", ".join(map(str, options)))
        return text
    return check


def checks(state: ServerState, tabs: list[str], experiments: list[str]) -> dict[str, Callable[[str], object]]:
    """Every setting a link may carry, with its rule: the very bounds the server enforces on a request."""
    train = state.limits.bounds()
    return {
        "tab": _choice(tabs), "pair": _choice(list(state.pairs)),
        "example": _choice([p.name for p in state.examples.paths]),
        "layer": lambda text: text, "mode": _choice(MODES), "n": _number(BATCH_IMAGES),
        "corruption": _choice(CORRUPTIONS), "severity": _number(SEVERITY), "prior": _number(PRIOR),
        "arch": _choice(ARCHS), "recipe": _choice(list(presets())), "optimizer": _choice(OPTIMIZERS),
        "placement": _choice(PLACEMENTS), "epochs": _number(train["epochs"]), "batch": _number(train["batch_size"]),
        "lr": _number(train["lr"]), "images": _number(train["train_subset"]), "seed": _number(train["seed"]),
        "budget": _number(train["budget"]), "experiment": _choice(experiments),
    }


def parse(query: Mapping[str, str], state: ServerState, tabs: list[str], experiments: list[str]) -> Link:
    """The settings of `query` that pass their checks; a layer must be one of the linked (or default) pair's.
    `tabs` and `experiments` are the page's own keys (the UI declares them)."""
    rules, link = checks(state, tabs, experiments), Link()
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
