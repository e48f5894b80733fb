"""The machine: which device runs the work, what the CPU can do fast, and ZeroGPU's wrapper on Spaces.

CUDA is used whenever it is present (a GPU Space, a workstation), else the CPU. On ZeroGPU Spaces a
GPU is attached only while a function decorated with `spaces.GPU` runs: `gpu_task` applies that
decorator on a ZeroGPU Space (which Hugging Face marks with SPACES_ZERO_GPU, as the `spaces` package
itself reads it) and is the identity everywhere else -- a CPU, a GPU Space, a laptop with `spaces`
installed -- so there nothing changes.

Interactive requests come first: `cores` (a `CoreShare`) runs their forward passes one at a time and
tells a training run to wait while any is in flight, and `in_background` runs training on a thread at
the lowest CPU priority (SCHED_IDLE), so it takes only the cores that people's requests leave idle.
"""
from __future__ import annotations

import contextlib
import os
import platform
import queue
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Callable, TypeVar

import torch

F = TypeVar("F", bound=Callable)
JOIN_TIMEOUT = 60.0  # s a stopped run gets to finish its step (a slow CPU step, a final evaluation)
T = TypeVar("T")


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
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe() -> str:
    """One line naming the hardware, printed beside every speed figure."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    flags = ", ".join(cpu_bf16_flags()) or "no AMX or AVX512-BF16"
    return (f"{cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, {flags}, "
            f"{gpu}, torch {torch.__version__}")


ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set to "true" by Hugging Face on ZeroGPU Spaces only


def on_zero_gpu_space() -> bool:
    """True on a ZeroGPU Space. Read as `spaces.config.Settings` reads it (1, t or true, any case), not
    from whether `spaces` is installed: it is on every Gradio Space and in the test environment."""
    value = os.environ.get(ZERO_GPU_ENV)
    return value is not None and value.lower() in ("1", "t", "true")


def gpu_task(fn: F, duration: int = 60) -> F:
    """`spaces.GPU(duration=...)(fn)` on a ZeroGPU Space, else `fn` itself. `duration` (s) is how long one
    call may hold the GPU, and how much of the visitor's daily quota must be left for it to start."""
    if not on_zero_gpu_space():
        return fn
    try:
        import spaces
    except ImportError:
        raise RuntimeError(f"{ZERO_GPU_ENV} is set (a ZeroGPU Space) but the `spaces` package is missing: "
                           "add `spaces` to requirements.txt") from None
    return spaces.GPU(duration=duration)(fn)


class CoreShare:
    """Interactive requests (a prediction, an activation view) and a training run share a few cores.
    Interactive forward passes run one at a time -- on 2 cores, concurrent passes that each spread over
    every core only thrash -- and the trainer waits between steps until no request has been in flight
    for `quiet` seconds, at most `max_wait` per step, so that a run under constant load still moves."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._last_end = 0.0
        self._idle = threading.Condition()
        self._compute = threading.Lock()

    @contextlib.contextmanager
    def interactive(self) -> Iterator[None]:
        with self._idle:
            self._in_flight += 1
        try:
            with self._compute:
                yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._last_end = time.monotonic()
                self._idle.notify_all()

    def wait_for_interactive(self, max_wait: float, quiet: float = 0.5) -> float:
        """Block until no request has been in flight for `quiet` s, at most `max_wait` s; returns the wait."""
        start = time.monotonic()
        deadline = start + max_wait
        with self._idle:
            while True:
                now = time.monotonic()
                calm_at = now if self._in_flight else self._last_end + quiet
                if (not self._in_flight and now >= calm_at) or now >= deadline:
                    return now - start
                self._idle.wait(timeout=min(deadline, max(calm_at, now + 0.01)) - now)


cores = CoreShare()


def lower_thread_priority() -> None:
    """SCHED_IDLE (and nice 19) for the calling thread on Linux: it runs only when nothing else wants the
    CPU, and any request that wakes up preempts it at once; threads it starts, such as OpenMP's
    workers, inherit this. Nothing elsewhere, where `os.setpriority` would lower the whole process."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))


def in_background(items: Iterator[T], stop: Callable[[], None] | None = None) -> Iterator[T]:
    """Iterate `items` on a thread of its own at the lowest CPU priority, handing each item over as it
    comes. Closing this iterator (a closed tab, a cancelled event) calls `stop` and ends the work at its
    next item, so no run outlives its consumer."""
    handed: queue.Queue = queue.Queue()
    closed = threading.Event()
    end = object()

    def work() -> None:
        lower_thread_priority()
        try:
            for item in items:
                handed.put((True, item))
                if closed.is_set():
                    break
        except BaseException as e:  # handed to the consumer, raised there
            handed.put((False, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            handed.put((False, end))

    worker = threading.Thread(target=work, name="bnapp-background", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = handed.get()
            if ok:
                yield item
            elif item is end:
                return
            else:
                raise item
    finally:
        closed.set()
        if stop is not None:
            stop()
        worker.join(timeout=JOIN_TIMEOUT)
        if worker.is_alive():
            warnings.warn(f"bnapp: a background run did not end within {JOIN_TIMEOUT:g} s of being stopped", stacklevel=2)
