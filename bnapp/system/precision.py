"""Which precision the work runs in: fp32, or bf16 where the CPU or GPU is fast at it."""
from __future__ import annotations

import contextlib
import os

import torch

from bnapp.system.machine import cpu_has_fast_bf16


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' picks bf16 on CUDA and on CPUs with fast bf16, else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


PRECISIONS = ("auto", "fp32", "bf16")


def prediction_precision(device: torch.device) -> str:
    """What the app predicts in: $BNAPP_PRECISION, 'auto' by default (bf16 where the CPU or GPU is
    fast at it: a shipped CNN pair then answers in 10 ms instead of 26 ms, its test accuracy within 0.1
    point of fp32's; each JSON's `test_accuracy_by_precision` holds both)."""
    return resolve_precision(precision_choice(os.environ.get("BNAPP_PRECISION", "auto")), device)


def precision_choice(value: str) -> str:
    """A --precision / $BNAPP_PRECISION setting, checked."""
    choice = value.strip().lower()
    if choice not in PRECISIONS:
        raise ValueError(f"--precision / $BNAPP_PRECISION must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return choice


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
