"""The machine: which device runs the work and what the CPU can do fast, named beside every speed figure.

CUDA is used whenever it is present (a GPU Space, a workstation), else the CPU; on a ZeroGPU Space only inside
a `gpu_task` (training), where the GPU is attached.
"""
from __future__ import annotations

import os
import platform
from functools import lru_cache

import torch

from bnapp.system import zerogpu


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_name() -> str:
    return _cpuinfo().get("model name") or platform.processor() or "unknown CPU"


def cpu_bf16_flags() -> list[str]:
    flags = _cpuinfo().get("flags", "").split()
    return [f for f in ("amx_bf16", "avx512_bf16") if f in flags]


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: where bf16 autocast trains convs 2-3x faster than fp32."""
    return bool(cpu_bf16_flags())


def device() -> torch.device:
    """CUDA when present, else the CPU. On a ZeroGPU Space the GPU is attached only inside a `gpu_task`
    (training): everything else, predictions included, runs on the Space's CPU in the main process."""
    if zerogpu.on_zero_gpu_space() and not zerogpu.in_gpu_task():
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(where: torch.device) -> str:
    """The GPU's or the CPU's name, for a run's summary ("trained on ...")."""
    return torch.cuda.get_device_name(where) if where.type == "cuda" else cpu_name()


def describe() -> str:
    """One line naming the hardware, printed beside every speed figure."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    flags = ", ".join(cpu_bf16_flags()) or "no AMX or AVX512-BF16"
    return (f"{cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, {flags}, "
            f"{gpu}, torch {torch.__version__}")
