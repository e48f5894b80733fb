"""What the landscape measurements cost in the Train tab's quick preset, run as the app runs it: the same
steps with and without them (target: at most 40% more time), then the preset with its time budget and the
measurements on (target: it still ends inside the budget, because the step calibration times them too).
`--quick`: 5 steps of batch 32 with 1 evaluation, then a 3 s budget (the planner's fewest steps), on a
synthetic stand-in where $BNAPP_DATA is unset, only to show the bench still runs (CI).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/landscape_speed.py [--steps 200] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_path, machine_line  # noqa: E402
from bnapp.data.cifar10 import load_cifar10  # noqa: E402
from bnapp.data.images import Examples  # noqa: E402
from bnapp.services.presets import BROWSER_EVALS, MIN_BUDGET, browser_config, preset  # noqa: E402
from bnapp.services.probes import landscape_medians  # noqa: E402
from bnapp.services.state import ServerState, Session  # noqa: E402
from bnapp.services.training import train_live  # noqa: E402
from bnapp.training.limits import TrainLimits  # noqa: E402

QUICK_BUDGET = 3.0  # s, below the browser's least: the planner then chooses its fewest steps (quick mode)
QUICK_STEPS, QUICK_BATCH, QUICK_EVALS = 5, 32, 1


def run(state: ServerState, steps: int, budget: float, landscape: bool, quick: bool = False) -> tuple[float, object]:
    """The quick preset for `steps` (0: as planned) within `budget` s (0: none). Quick mode: a smaller batch,
    fewer evaluations, and a budget under the browser's least, checked at that least and then given to the
    planner as it is."""
    settings = preset("quick")
    settings = replace(settings, budget=max(budget, MIN_BUDGET) if budget else 0)
    if quick:
        settings = replace(settings, batch_size=QUICK_BATCH)
    cfg, seconds = browser_config(state.limits, settings)
    seconds = min(seconds, budget)
    if quick:
        cfg = replace(cfg, evals_per_run=QUICK_EVALS)
    if steps:
        cfg = replace(cfg, steps=steps)
    session = Session()
    t0 = time.perf_counter()
    last = None
    for update in train_live(state, session, cfg, seconds, with_landscape=landscape):
        last = update
    took = time.perf_counter() - t0
    session.close()
    return took, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="steps of the fixed-length comparison")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps and a {QUICK_BUDGET:g} s budget (CI)")
    a = p.parse_args()
    if a.quick:
        a.steps = QUICK_STEPS
    print(machine_line())
    state = ServerState(pairs={}, examples=Examples(), limits=TrainLimits.from_env())
    state.use_dataset(load_cifar10(data_path(a.quick)))
    off, _ = run(state, a.steps, 0, False, a.quick)
    on, last = run(state, a.steps, 0, True, a.quick)
    evaluations = QUICK_EVALS if a.quick else BROWSER_EVALS
    print(f"quick preset, {a.steps} steps, {evaluations} evaluations: without measurements {off:.1f} s, "
          f"with {on:.1f} s: x{on / off:.2f} (target <= x1.40)")
    print(f"  landscape medians: {medians(last.landscape)}")
    budget = QUICK_BUDGET if a.quick else preset("quick").budget
    took, last = run(state, 0, budget, True, a.quick)
    print(f"quick preset with its {budget:g} s budget and the measurements: click to summary {took:.1f} s "
          f"(target: inside the budget)")
    print(f"  {'stopped early' if last.end.stopped else 'done'} in {last.end.seconds:.0f} s on {last.end.trained_on}; "
          f"time budget: {plan_words(last.end.plan)}")
    print(f"  landscape medians: {medians(last.landscape)}")


def plan_words(plan) -> str:
    return (f"{plan.steps} steps planned on {plan.train_images} images, {1000 * plan.step_seconds:.0f} ms a step, "
            f"expected {plan.expected_seconds:.1f} s of {plan.budget:g} s")


def medians(lines) -> str:
    return "; ".join(f"{twin} " + ", ".join(f"{k} {v:.3g}" for k, v in m.items())
                     for twin, m in landscape_medians(lines).items())


if __name__ == "__main__":
    main()
