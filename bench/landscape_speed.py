"""What the landscape measurements cost in the Train tab's quick preset, run as the app runs it: the same
steps with and without them (target: at most 40% more time), then the preset with its time budget and the
measurements on (target: it still ends inside the budget, because the step calibration times them too).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/landscape_speed.py [--steps 200]
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
from bnapp.services.state import ServerState, Session  # noqa: E402
from bnapp.services.training import browser_config, preset, train_live  # noqa: E402
from bnapp.training.limits import TrainLimits  # noqa: E402


def run(state: ServerState, steps: int, budget: float, landscape: bool) -> tuple[float, object]:
    settings = preset("quick")
    settings = replace(settings, budget=budget)
    cfg, seconds = browser_config(state.limits, settings)
    if steps:
        cfg = replace(cfg, steps=steps)
    session = Session()
    t0 = time.perf_counter()
    last = None
    for last in train_live(state, session, cfg, seconds, with_landscape=landscape):
        pass
    took = time.perf_counter() - t0
    session.close()
    return took, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="steps of the fixed-length comparison")
    a = p.parse_args()
    print(machine_line())
    state = ServerState(pairs={}, examples=Examples(), limits=TrainLimits.from_env())
    state.use_dataset(load_cifar10(data_path()))
    off, _ = run(state, a.steps, 0, False)
    on, last = run(state, a.steps, 0, True)
    print(f"quick preset, {a.steps} steps, 12 evaluations: without measurements {off:.1f} s, with {on:.1f} s: "
          f"x{on / off:.2f} (target <= x1.40)")
    print("  " + last.summary.splitlines()[-1].strip())
    budget = preset("quick").budget
    took, last = run(state, 0, budget, True)
    print(f"quick preset with its {budget:g} s budget and the measurements: click to summary {took:.1f} s "
          f"(target: inside the budget)")
    for line in last.summary.splitlines():
        if line.startswith(("Time budget", "Loss landscape", "**Done")):
            print("  " + line.strip())


if __name__ == "__main__":
    main()
