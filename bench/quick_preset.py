"""The Train tab's default preset, run exactly as the app runs it (same limits, defaults, time budget,
measurement, background thread, evaluations, evolution snapshots and saving; no browser), on real
CIFAR-10. Target: <= 90 s from the click and the BN twin >= 5 points ahead, on any 2-core CPU.
Where the CPU has fast bf16 it is run twice in this one process, as the app runs it (bf16) and
forced to fp32 (as on an fp32-only CPU), so the two are comparable. `--quick`: fp32 only, batch 32, 1
evaluation and a 3 s budget (the planner's fewest steps), on a synthetic stand-in where $BNAPP_DATA is unset,
only to show the bench still runs (CI).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/quick_preset.py [--widths 64 256 256] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_path, machine_line  # noqa: E402
from bnapp.data.cifar10 import load_cifar10  # noqa: E402
from bnapp.data.images import Examples  # noqa: E402
from bnapp.services.presets import MIN_BUDGET, browser_config, preset  # noqa: E402
from bnapp.services.state import ServerState, Session  # noqa: E402
from bnapp.services.training import train_live  # noqa: E402
from bnapp.system import machine  # noqa: E402
from bnapp.training.limits import TrainLimits  # noqa: E402

# quick mode: a budget under the browser's least (checked at that least, then given to the planner as it is,
# which then chooses its fewest steps), a small batch and one evaluation
QUICK_BUDGET, QUICK_BATCH, QUICK_EVALS = 3.0, 32, 1


def run(state: ServerState, precision: str, widths: tuple[int, ...] | None, quick: bool = False) -> None:
    os.environ["BNAPP_PRECISION"] = precision  # what the final report predicts in, as Compare would
    settings = preset("quick")
    if quick:
        settings = replace(settings, batch_size=QUICK_BATCH, budget=MIN_BUDGET)
    cfg, seconds = browser_config(state.limits, settings)
    if quick:
        cfg, seconds = replace(cfg, evals_per_run=QUICK_EVALS), QUICK_BUDGET
    cfg = replace(cfg, recipe=replace(cfg.recipe, precision=precision, widths=widths or cfg.recipe.widths))
    session = Session()
    t0 = time.perf_counter()
    last = None
    for update in train_live(state, session, cfg, seconds):
        last = update
    seconds_taken = time.perf_counter() - t0
    acc = {t: session.pairs[last.pair_name].metadata[t]["test_accuracy"] for t in ("bn", "plain")}
    meta = session.pairs[last.pair_name].metadata["bn"]
    print(f"[{precision}] widths {meta['widths']}: {meta['steps']} steps of batch {settings.batch_size} on "
          f"{meta['train_images']} images; "
          f"click to summary {seconds_taken:.1f} s (budget {seconds:g} s, target <= 90 s); test accuracy on "
          f"{meta['test_images']} test images: BN {100 * acc['bn']:.1f}%, plain {100 * acc['plain']:.1f}%, gap "
          f"{100 * (acc['bn'] - acc['plain']):+.1f} points (target >= +5)")
    plan = last.end.plan
    print(f"[{precision}] time budget: {plan.steps} steps planned, {1000 * plan.step_seconds:.0f} ms a step, "
          f"expected {plan.expected_seconds:.1f} s of {plan.budget:g} s")
    session.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=int, nargs=3, default=None, help="CNN block widths (default: the preset's)")
    p.add_argument("--precisions", nargs="+", default=None, help="default: bf16 and fp32 where bf16 is fast, else fp32")
    p.add_argument("--quick", action="store_true",
                   help=f"fp32 only (unless --precisions), a {QUICK_BUDGET:g} s budget (CI)")
    a = p.parse_args()
    if a.quick and not a.precisions:
        a.precisions = ["fp32"]
    print(machine_line())
    t = time.perf_counter()
    state = ServerState(pairs={}, examples=Examples(), limits=TrainLimits.from_env())
    state.use_dataset(load_cifar10(data_path(a.quick)))
    print(f"dataset loaded in {time.perf_counter() - t:.1f} s (once per server, before the first run)")
    fast_bf16 = machine.cpu_has_fast_bf16() or machine.device().type == "cuda"
    precisions = a.precisions or (["bf16", "fp32"] if fast_bf16 else ["fp32"])
    for precision in precisions:
        run(state, precision, tuple(a.widths) if a.widths else None, a.quick)


if __name__ == "__main__":
    main()
