"""How an event reaches a service: the server state bound in, people's messages raised as `gr.Error`, the
ZeroGPU call sized per event, and the one image drop zone that hands files to bnapp's own decoder.

Every message meant for a person (a `UserError`, an unreadable image, a missing dataset, a Hub failure)
becomes a `gr.Error` in one place (`shown_to_user`); anything else is a bug and surfaces as one.
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from bnapp.data.cifar10 import DatasetError
from bnapp.data.images import ImageError
from bnapp.services import UserError
from bnapp.services.state import ServerState
from bnapp.store import hub
from bnapp.system import zerogpu
from bnapp.training.limits import TrainLimits
from bnapp.ui import gradio_fixes

PERSON_ERRORS = (UserError, ImageError, DatasetError, hub.HubError)


@dataclass(frozen=True)
class GpuCall:
    """How long one call of a training event may hold a ZeroGPU GPU: the time its run may train (the run's own
    time budget where the event takes one, else the server's limit, BNAPP_MAX_SECONDS) plus `margin`, the
    set-up, final report and hand-back around it. A visitor's quota must cover it (x1.5 on a `large` slice)."""

    margin: int
    budget_arg: str | None = None  # the argument that carries the run's time budget (s), if the event has one

    def duration(self, limits: TrainLimits, arguments: dict | None = None) -> int:
        train = limits.max_seconds
        if self.budget_arg is not None and arguments is not None:
            train = seconds_or(arguments.get(self.budget_arg), limits.max_seconds)
        return int(math.ceil(train)) + self.margin


GPU_MARGIN = 20  # s around a run on the GPU: its set-up, final test report and the weights' way back
# The events that train, by API name: only these go to ZeroGPU's GPU. Everything else (predictions, activations,
# the test-time views, the first screen) runs on the Space's CPU in the main process: no quota, no attach wait.
GPU_CALLS = {
    "train": GpuCall(GPU_MARGIN, budget_arg="budget"), "tutorial_table": GpuCall(GPU_MARGIN),
    "lr_sweep": GpuCall(GPU_MARGIN), "placement": GpuCall(GPU_MARGIN), "figure1": GpuCall(GPU_MARGIN),
    "noisy_bn": GpuCall(GPU_MARGIN),
}


def on_gpu(event: str, fn: Callable, limits: TrainLimits) -> Callable:
    """`fn` as a ZeroGPU call on a ZeroGPU Space, asking for `event`'s duration given the call's own arguments
    (`spaces` passes them to the duration function); elsewhere `fn` itself."""
    call, signature = GPU_CALLS[event], inspect.signature(fn)

    def duration(*args, **kwargs) -> int:
        try:
            arguments = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            arguments = None
        return call.duration(limits, arguments)

    return zerogpu.gpu_task(fn, duration)


def seconds_or(value, limit: float) -> float:
    """A run's time budget as sent (0 or junk: none), as the time it is expected to take: at most `limit`."""
    try:
        budget = float(value)
    except (TypeError, ValueError, OverflowError):
        return limit
    return budget if 0 < budget <= limit else limit


def bind(fn: Callable, *head) -> Callable:
    """`fn` with `head` (the server's state, and what else the server hands it) as its first arguments,
    keeping its docstring and the rest of its signature (a `partial` would lose them): the API page and the
    MCP tools are described from those. `gradio_fixes.name_tools` later names each bound function after its
    endpoint."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def bound(*args, **kwargs):
            yield from fn(*head, *args, **kwargs)
    else:
        @functools.wraps(fn)
        def bound(*args, **kwargs):
            return fn(*head, *args, **kwargs)
    signature = inspect.signature(fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(head):])
    bound.bnapp_endpoint = True
    return bound


def shown_to_user(fn):
    """Raise the services' messages for people as gr.Error (for plain and generator handlers alike)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except PERSON_ERRORS as e:
                raise gr.Error(str(e)) from None
        return gen

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PERSON_ERRORS as e:
            raise gr.Error(str(e)) from None
    return plain


def raw_image(**kwargs) -> gr.Image:
    """An image drop zone (upload or paste) that hands the uploaded file to bnapp's own defensive decoder
    instead of Gradio's, so every bad file gets bnapp's clear message (`gradio_fixes.pass_file_path`)."""
    return gradio_fixes.pass_file_path(gr.Image(type="filepath", image_mode=None, **kwargs))


def endpoint(event: str, fn: Callable, state: ServerState) -> Callable:
    """`fn`, an event that trains, with the server state bound (`bind`) and as a ZeroGPU call of `event`'s
    duration (`on_gpu`). The state is bound before wrapping: ZeroGPU pickles only the call's inputs."""
    return on_gpu(event, bind(fn, state), state.limits)
