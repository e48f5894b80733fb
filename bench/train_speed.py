"""Training speed, all in one run on one machine:
(a) the tutorial's own loop: a torchvision-style dataset returning PIL images through
    transforms.ToTensor(), DataLoader(batch_size=10, shuffle=True, num_workers=1), one MLP;
(b) bnapp's engine training both MLP twins in lockstep at batch 10 (both twins' images counted);
(c) the CNN at the fast recipe's batch size, bf16 autocast and fp32.
(b) and (c) run on the CPU and, where present, on CUDA. Process start-up and data loading are
excluded from every figure. `--quick`: 20 batch-10 steps after 5 warm-up batches (the engine logging every
5), 1 step of a narrow CNN (16, 32, 64) at batch 16, on a synthetic stand-in where $BNAPP_DATA is unset,
only to show the bench still runs (CI).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/train_speed.py [--steps 3000] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

from bench.common import data_path, machine_line  # noqa: E402
from bnapp.data.cifar10 import load_cifar10  # noqa: E402
from bnapp.training.engine import PairTrainer  # noqa: E402
from bnapp.training.recipes import RECIPES, TrainConfig  # noqa: E402


class TutorialCIFAR10(Dataset):
    """What torchvision's CIFAR10 does per item: a PIL image from the HWC array, then the transform."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y, self.transform = x, y, transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def tutorial_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32 * 3, 64), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))


def tutorial_loop(x: np.ndarray, y: np.ndarray, steps: int, warmup: int = 50) -> float:
    torch.manual_seed(0)
    loader = DataLoader(TutorialCIFAR10(x, y), batch_size=10, shuffle=True, num_workers=1)
    mlp = tutorial_mlp()
    loss_function = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(mlp.parameters(), lr=1e-4)
    it = iter(loader)
    for _ in range(warmup):  # warm-up: worker start and first batches are start-up, not training
        next(it)
    start, current_loss, n = time.perf_counter(), 0.0, 0
    for i, (inputs, targets) in enumerate(it):
        if i == steps:
            break
        optimizer.zero_grad()
        outputs = mlp(inputs)
        loss = loss_function(outputs, targets)
        loss.backward()
        optimizer.step()
        current_loss += loss.item()
        n += len(targets)
    return n / (time.perf_counter() - start)


def engine_images_per_sec(data, arch: str, recipe: str, steps: int, device: str, **overrides) -> float:
    r = replace(RECIPES[recipe], **overrides)
    epochs = (steps + 20) / (len(data.y_train) // r.batch_size)
    trainer = PairTrainer(TrainConfig(arch, replace(r, epochs=epochs), device=device), data)
    run = trainer.run()
    for ev in run:  # the first event: warm-up excluded
        if ev.kind == "log":
            break
    t0, s0 = time.perf_counter(), trainer.step
    for _ in run:
        if trainer.step - s0 >= steps:
            break
    dt = time.perf_counter() - t0
    run.close()
    if trainer.step == s0:
        raise SystemExit(f"{arch} {recipe}: the run ended before any step was timed (its first log came at its end)")
    return 2 * (trainer.step - s0) * r.batch_size / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="batch-10 steps timed for (a) and (b)")
    ap.add_argument("--cnn-steps", type=int, default=6, help="CNN steps timed per precision")
    ap.add_argument("--quick", action="store_true", help="20 batch-10 steps, 1 step of a narrow CNN at batch 16 (CI)")
    a = ap.parse_args()
    warmup, cnn_batch = (5, 16) if a.quick else (50, RECIPES["fast"].batch_size)
    cnn = {"widths": (16, 32, 64)} if a.quick else {}
    mlp = {"log_every": 5} if a.quick else {}  # the timing starts at the first log (the tutorial's: step 500)
    if a.quick:
        a.steps, a.cnn_steps = 20, 1
    data = load_cifar10(data_path(a.quick))
    print(machine_line())
    x = data.x_train.permute(0, 2, 3, 1).numpy()
    y = data.y_train.numpy()
    tut = tutorial_loop(x, y, a.steps, warmup)
    print(f"(a) tutorial loop, 1 MLP, batch 10:            {tut:9.0f} images/s")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        eng = engine_images_per_sec(data, "mlp", "tutorial", a.steps, device, **mlp)
        print(f"(b) bnapp engine on {device}, 2 MLP twins, batch 10: {eng:9.0f} images/s (both twins)")
        print(f"    ratio (b)/(a): {eng / tut:.2f}x")
        for precision in ("bf16", "fp32"):
            ips = engine_images_per_sec(data, "cnn", "fast", a.cnn_steps, device, precision=precision,
                                        batch_size=cnn_batch, **cnn)
            print(f"(c) CNN twins on {device}, fast recipe, batch {cnn_batch}, {precision}: {ips:9.0f} images/s "
                  "(both twins)")


if __name__ == "__main__":
    main()
