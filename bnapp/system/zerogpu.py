"""ZeroGPU's wrapper on Spaces. There a GPU is attached only while a function decorated with `spaces.GPU`
runs: `gpu_task` applies that decorator on a ZeroGPU Space (which Hugging Face marks with SPACES_ZERO_GPU,
as the `spaces` package itself reads it) and is the identity everywhere else -- a CPU, a GPU Space, a
laptop with `spaces` installed -- so there nothing changes.
"""
from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

F = TypeVar("F", bound=Callable)


ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set to "true" by Hugging Face on ZeroGPU Spaces only


def on_zero_gpu_space(environ: Mapping[str, str] | None = None) -> bool:
    """True on a ZeroGPU Space. Read as `spaces.config.Settings` reads it (1, t or true, any case), not
    from whether `spaces` is installed: it is on every Gradio Space and in the test environment."""
    value = (os.environ if environ is None else environ).get(ZERO_GPU_ENV)
    return value is not None and value.lower() in ("1", "t", "true")


_in_gpu_task = False  # set in the forked worker that runs a `gpu_task`: only there is the GPU attached


def in_gpu_task() -> bool:
    """True inside a `gpu_task` call on a ZeroGPU Space (its forked worker, where CUDA is attached)."""
    return _in_gpu_task


def gpu_task(fn: F, duration: int | Callable[..., int] = 60) -> F:
    """`spaces.GPU(duration=...)(fn)` on a ZeroGPU Space, else `fn` itself. `duration` (s) is how long one
    call may hold the GPU, and how much of the visitor's daily quota must be left for it to start; a
    function of the call's arguments sizes each call by what it asks for (`spaces` calls it with them)."""
    if not on_zero_gpu_space():
        return fn
    try:
        import spaces
    except ImportError:
        raise RuntimeError(f"{ZERO_GPU_ENV} is set (a ZeroGPU Space) but the `spaces` package is missing: "
                           "add `spaces` to requirements.txt") from None

    def mark() -> None:
        global _in_gpu_task
        _in_gpu_task = True  # the worker's own copy of this module: the main process is untouched

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def on_the_gpu(*args, **kwargs):
            mark()
            yield from fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def on_the_gpu(*args, **kwargs):
            mark()
            return fn(*args, **kwargs)
    return spaces.GPU(duration=duration)(on_the_gpu)
