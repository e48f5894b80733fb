"""How an event reaches a service: the server state bound in, people's messages raised as `gr.Error`, the
ZeroGPU call sized per event, and the one image drop zone that hands files to bnapp's own decoder.

Every message meant for a person (a `UserError`, an unreadable image, a missing dataset, a Hub failure)
becomes a `gr.Error` in one place (`shown_to_user`); anything else is a bug and surfaces as one.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from bnapp.data.cifar10 import DatasetError
from bnapp.data.images import ImageError, open_image
from bnapp.services import UserError
from bnapp.services.state import ServerState
from bnapp.store import hub
from bnapp.system import zerogpu
from bnapp.training.limits import TrainLimits
from bnapp.ui import gradio_fixes

PERSON_ERRORS = (UserError, ImageError, DatasetError, hub.HubError)


@dataclass(frozen=True)
class GpuCall:
    """How long one call of an event may hold a ZeroGPU GPU: `seconds`, plus the server's training budget
    (BNAPP_MAX_SECONDS) for events that train for as long as it allows."""

    seconds: int
    plus_training_budget: bool = False

    def duration(self, limits: TrainLimits) -> int:
        return self.seconds + (int(limits.max_seconds) if self.plus_training_budget else 0)


# Every event that computes, by API name ("(name)": an event without one), and what it asks ZeroGPU for.
GPU_CALLS = {
    "predict": GpuCall(20), "predict_many": GpuCall(30), "activations": GpuCall(30), "(open_page)": GpuCall(30),
    "testtime_company": GpuCall(60), "testtime_batch_size": GpuCall(120), "testtime_shift": GpuCall(30),
    "(first_look)": GpuCall(30), "testtime_severities": GpuCall(120), "testtime_upload": GpuCall(60),
    "train": GpuCall(120, plus_training_budget=True), "tutorial_table": GpuCall(60, plus_training_budget=True),
    "lr_sweep": GpuCall(600), "placement": GpuCall(600), "figure1": GpuCall(600), "noisy_bn": GpuCall(600),
}


def on_gpu(event: str, fn: Callable, limits: TrainLimits) -> Callable:
    """`fn` as a ZeroGPU call of `event`'s duration on a ZeroGPU Space, else `fn` itself."""
    return zerogpu.gpu_task(fn, GPU_CALLS[event].duration(limits))


def bind(fn: Callable, state: ServerState | None = None) -> Callable:
    """`fn` with the server's state (if given) as its first argument, keeping its docstring and the rest of
    its signature (a `partial` would lose them): the API page and the MCP tools are described from those.
    `gradio_fixes.name_tools` later names each bound function after its endpoint."""
    head = () if state is None else (state,)
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


def open_upload(path: str | None, shown_name: str = "the image") -> Image.Image:
    try:
        return open_image(path)
    except ImageError as e:
        raise UserError(f"Could not use {shown_name}: {e}") from None
    except OSError:
        raise UserError(f"Could not read {shown_name}; please upload it again.") from None


def raw_image(**kwargs) -> gr.Image:
    """An image drop zone (upload or paste) that hands the uploaded file to bnapp's own defensive decoder
    instead of Gradio's, so every bad file gets bnapp's clear message (`gradio_fixes.pass_file_path`)."""
    return gradio_fixes.pass_file_path(gr.Image(type="filepath", image_mode=None, **kwargs))


def endpoint(event: str, fn: Callable, state: ServerState) -> Callable:
    """`fn` with the server state bound (`bind`), as a ZeroGPU call of `event`'s duration (`on_gpu`).
    The state is bound before wrapping: ZeroGPU pickles only the call's inputs."""
    return on_gpu(event, bind(fn, state), state.limits)
