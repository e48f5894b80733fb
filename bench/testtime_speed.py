"""The Test time tab's default computation, server side: one corruption at one severity on 512 real test
images, for the plain twin and the BN twin with running and with adapted statistics (the issue's target:
at most 5 s on 2 fp32-only cores), then with Schneider et al.'s mix as well (what the tab shows); and
the views computed once per pair (accuracy against batch size, all severities) and the company view.
Always fp32: the test-time views run unfolded models in fp32 whatever the CPU could do in bf16.
`--quick`: the MLP pair (unless --pair), one timed call of each, on a synthetic stand-in where $BNAPP_DATA is
unset, only to show the bench still runs (CI).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/testtime_speed.py [--pair cnn] [--repeats 5] [--quick]
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
from bnapp.data import corruptions  # noqa: E402
from bnapp.data.cifar10 import load_test_set  # noqa: E402
from bnapp.services import shift, testtime  # noqa: E402
from bnapp.services.testtime import ImagePool  # noqa: E402
from bnapp.store.pairs import load_pairs  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of `repeats` calls after one warm-up, and the last result."""
    result = fn()
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds), result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pair", default=None, help="the shipped pair (default: cnn; quick mode: mlp)")
    p.add_argument("--quick", action="store_true", help="the MLP pair, one timed call of each (CI)")
    a = p.parse_args()
    a.pair = a.pair or ("mlp" if a.quick else "cnn")
    if a.quick:
        a.repeats = 1
    print(machine_line())
    pool = ImagePool(*load_test_set(data_path(a.quick)), source="the CIFAR-10 test set")
    pair = load_pairs(CHECKPOINTS).pairs[a.pair]
    images, labels, batch = shift.sample(pool, shift.DEFAULT_IMAGES)

    def three_variants() -> dict:
        bad = corruptions.corrupt(images, "gaussian_noise", 3)
        return {"plain": testtime.probabilities(pair, "plain", bad), "running": testtime.probabilities(pair, "bn", bad),
                "adapted": testtime.probabilities(pair, "bn", bad, prior=0, group=batch)}

    s, _ = timed(three_variants, a.repeats)
    print(f"{a.pair}: Gaussian noise 3 on {len(labels)} images, plain + BN running + BN adapted: median {s:.2f} s "
          f"(target <= 5 s on 2 fp32-only cores)")
    s, v = timed(lambda: shift.shift(pair, pool, "gaussian_noise", 3), a.repeats)
    print(f"{a.pair}: the tab's default (those + the mix, N = {v.prior:g}, and 8 images shown): median {s:.2f} s; "
          + ", ".join(f"{k} {100 * acc:.1f}%" for k, acc in v.accuracy.items()) + f" (+-{100 * v.pm(0.5):.1f} at 50%)")
    image = pool.images[0]
    s, _ = timed(lambda: testtime.company(pair, image, pool), 1)
    print(f"{a.pair}: the company view (3 kinds x 9 batch sizes): {s:.2f} s")
    for name, fn in (("accuracy against batch size", lambda: testtime.accuracy_vs_batch_size(pair, pool)),
                     ("all severities of one corruption", lambda: shift.severities(pair, pool, "contrast"))):
        testtime.cache.clear()
        t = time.perf_counter()
        fn()
        print(f"{a.pair}: {name}, first time (then cached): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
