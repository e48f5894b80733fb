"""The Train tab's default preset, run exactly as the app runs it (same limits, defaults, test subset
and evaluation schedule), on real CIFAR-10. Target: <= 90 s and the BN twin >= 5 points ahead.

    BNAPP_DATA=../shared/data/cifar10.npz python bench/quick_preset.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_path, machine_line  # noqa: E402
from bnapp.data import load_cifar10  # noqa: E402
from bnapp.engine import PairTrainer  # noqa: E402
from bnapp.limits import TrainLimits  # noqa: E402
from bnapp.services.training import QUICK_SUBSET, browser_config, recipe_defaults  # noqa: E402


def main() -> None:
    print(machine_line())
    data = load_cifar10(data_path())
    arch, optimizer, epochs, batch, lr, subset = recipe_defaults("quick")
    cfg = browser_config(TrainLimits.from_env(), arch, "quick", epochs, batch, lr, optimizer, "before", subset, 0)
    t0 = time.perf_counter()
    trainer = PairTrainer(cfg, data)
    for ev in trainer.run():
        pass
    seconds = time.perf_counter() - t0
    acc = {t: trainer.twins[t].test_accuracy for t in trainer.twins}
    print(f"quick preset: {arch}, {epochs:g} epochs of {QUICK_SUBSET} images, batch {batch}, lr {lr}, "
          f"{trainer.total_steps} steps, precision {trainer.precision}")
    print(f"wall time {seconds:.1f} s (target <= 90 s); test accuracy on {len(trainer.data.y_test)} real test images: "
          f"BN {100 * acc['bn']:.1f}%, plain {100 * acc['plain']:.1f}%, gap {100 * (acc['bn'] - acc['plain']):+.1f} points "
          f"(target >= +5)")


if __name__ == "__main__":
    main()
