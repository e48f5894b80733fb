"""What every bench prints first: the machine, so figures are only compared within one run."""
from __future__ import annotations

import os
import platform

import torch

from bnapp.infer import cpu_has_fast_bf16


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    flags = "AMX/AVX512-BF16 present" if cpu_has_fast_bf16() else "no fast bf16"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"machine: {cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, "
            f"{flags}, {gpu}, torch {torch.__version__}")


def data_path() -> str:
    path = os.environ.get("BNAPP_DATA", "../shared/data/cifar10.npz")
    if not os.path.exists(path):
        raise SystemExit(f"set BNAPP_DATA to CIFAR-10 .npz (tried {path})")
    return path
