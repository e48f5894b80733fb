"""What the fair pair shows: the gap between two twins each at its own best recipe, with its spread, and what
BN buys measured on the same runs (how many search trials came near each twin's best and at which rates, and
the steps each twin needed to reach the other's final accuracy)."""
from __future__ import annotations

from dataclasses import dataclass

from bnapp import TWINS
from bnapp.measure.spread import Paired, Spread, paired
from bnapp.services import tuning
from bnapp.services.speedup import first_crossing
from bnapp.services.training import recorded_log
from bnapp.store.pairs import Pair

FAIR_PAIR = "cnn-fair"


@dataclass(frozen=True)
class FairGap:
    accuracy: dict[str, Spread]  # per twin, over seeds (fp32, the shipped protocol)
    difference: Paired  # BN minus plain, paired by seed
    forgiveness: dict[str, dict]  # per twin, over the search's trials (`tuning.forgiveness`)
    reach: dict[str, float | None]  # per twin: the step its curve first reached the other's final accuracy
    steps: int  # of each final run
    seeds: int


def fair_gap(pair: Pair, rows: list[dict]) -> FairGap:
    """The gap and what BN buys, from the pair's seed records and its search table."""
    seeds = {t: pair.metadata[t]["seeds"] for t in TWINS}
    acc = {t: seeds[t]["test_accuracy"]["fp32"] for t in TWINS}
    log = recorded_log(pair.metadata)  # the shipped seed's curves, one point per epoch
    reach = {t: first_crossing(log.eval_steps, log.test_acc[t], log.test_acc[other][-1])[0]
             for t, other in (("bn", "plain"), ("plain", "bn"))}
    steps = pair.metadata["bn"]["steps"]
    return FairGap({t: Spread.of(acc[t]) for t in TWINS}, paired(acc["bn"], acc["plain"]),
                   {t: tuning.forgiveness(rows, t) for t in TWINS}, reach, steps, len(acc["bn"]))


def shipped_gap(pairs: dict[str, Pair]) -> FairGap | None:
    """The fair pair's gap, when the pair and its search table are shipped."""
    rows = tuning.read_rows(tuning.SHIPPED_SEARCH)
    pair = pairs.get(FAIR_PAIR)
    if pair is None or not rows or not all("seeds" in pair.metadata[t] for t in TWINS):
        return None
    return fair_gap(pair, rows)
