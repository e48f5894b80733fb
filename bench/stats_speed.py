"""Activation statistics: every layer of both shipped CNN twins (and MLP twins) for one batch of
real test images, in eval and train mode, at the default batch and at 256. `--quick`: the default batch only,
2 timed calls, on a synthetic stand-in where $BNAPP_DATA is unset, only to show the bench still runs (CI).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/stats_speed.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_path, machine_line  # noqa: E402
from bnapp import CHECKPOINTS  # noqa: E402
from bnapp.data.cifar10 import draw, load_test_set  # noqa: E402
from bnapp.measure import stats  # noqa: E402
from bnapp.store.pairs import load_pairs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the default batch only, 2 timed calls (CI)")
    a = p.parse_args()
    repeats = 2 if a.quick else 7
    print(machine_line())
    x_test, _ = load_test_set(data_path(a.quick))
    pairs = load_pairs(CHECKPOINTS).pairs
    for name in ("cnn", "mlp"):
        pair = pairs[name]
        specs = {t: pair.spec(t) for t in pair.models}
        for n in sorted({stats.default_batch(name)} | (set() if a.quick else {256})):
            images = x_test[draw(len(x_test), n)]
            for mode in stats.MODES:
                stats.record_pair(pair.models, specs, images, mode)
                ms = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    stats.record_pair(pair.models, specs, images, mode)
                    ms.append(1000 * (time.perf_counter() - t))
                default = " (default)" if n == stats.default_batch(name) else ""
                print(f"{name} pair, {n:4d} images{default:10s} {mode:5s} mode: median {statistics.median(ms):7.1f} ms")


if __name__ == "__main__":
    main()
