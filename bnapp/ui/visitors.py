"""Who is asking, and the line every training event waits in (`services.run_line`), as Gradio sees them.

A visitor is their browser session (Gradio's session hash: one per tab, one per API client) and, on a
Space, also the address they connect from, so that a script opening many sessions still gets one place.
On a Space every request reaches the app through Hugging Face's proxy, so the TCP peer is the proxy's
internal address, shared by everyone; the client is the last public address in `X-Forwarded-For`, the
one the proxy itself appended (entries left of it are whatever the client chose to send).
"""
from __future__ import annotations

import functools
import inspect
import ipaddress
from collections.abc import Callable
from typing import Any

import gradio as gr

from bnapp.services.run_line import Place, RunLine
from bnapp.services.state import Session
from bnapp.training.limits import TrainLimits
from bnapp.ui.events import shown_to_user


def client_address(request: gr.Request) -> str | None:
    """The visitor's address behind Hugging Face's proxy, else the TCP peer's."""
    forwarded = [a.strip() for a in (request.headers.get("x-forwarded-for") or "").split(",") if a.strip()]
    for address in reversed(forwarded):
        try:
            if ipaddress.ip_address(address).is_global:
                return address
        except ValueError:
            continue
    client = getattr(request, "client", None)
    return getattr(client, "host", None)


def visitor_keys(request: gr.Request | None, on_space: bool) -> frozenset[str]:
    """What identifies one visitor here: the session, and on a Space the client address too."""
    if request is None:  # a direct call (tests, the CLI): one anonymous visitor
        return frozenset({"direct"})
    keys = {f"session:{request.session_hash}"}
    address = client_address(request) if on_space else None
    if address:
        keys.add(f"address:{address}")
    return frozenset(keys)


def in_line(fn: Callable, line: RunLine, what: str, expected_seconds: Callable[[dict], float], n_outputs: int,
            note_at: int, on_space: bool) -> Callable:
    """`fn` (a generator handler) behind a place in `line`: a visitor with a run already there, or a full line,
    gets a clear refusal; a waiting one sees their place in output `note_at`; the place is given back when
    the run ends, fails or its client goes away. `expected_seconds` reads the call's arguments by name. Where
    the first argument is the visitor's `Session`, Stop takes a waiting run out of the line. The signature
    gains a `gr.Request` (Gradio fills it in; the API page and the MCP tools do not show it)."""

    signature = inspect.signature(fn)

    @shown_to_user
    @functools.wraps(fn)
    def queued(*args: Any) -> Any:
        request = args[-1] if args and isinstance(args[-1], gr.Request) else None
        args = args[:-1] if request is not None else args
        session = args[0] if args and isinstance(args[0], Session) else None
        if session is not None:
            session.stop.clear()  # a Stop from before this run does not count
        ticket = line.join(visitor_keys(request, on_space), what,
                           expected_seconds(signature.bind_partial(*args).arguments))
        try:
            for place in line.wait(ticket, stopped=lambda: session is not None and session.stop.is_set()):
                yield _only(n_outputs, note_at, place_note(place, what))
            if ticket.started_at is None:
                yield _only(n_outputs, note_at, f"Stopped while waiting: {what} left the line; nothing was trained.")
                return
            yield from fn(*args)
        finally:
            line.leave(ticket)

    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    queued.__signature__ = signature.replace(parameters=[*signature.parameters.values(), request])
    queued.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    return queued


def place_note(place: Place, what: str) -> str:
    """A waiting visitor's note: their place in the line and about how long until their turn."""
    runs = "1 run" if place.ahead == 1 else f"{place.ahead} runs"
    return (f"Waiting for the training cores: {runs} ahead of you (another visitor's), so {what} starts in about "
            f"{place.wait_seconds:.0f} s. It starts on its own; Stop leaves the line.")


def _only(n_outputs: int, at: int, value: str) -> Any:
    """`value` in output `at`, every other output left as it is."""
    if n_outputs == 1:
        return value
    return tuple(value if i == at else gr.update() for i in range(n_outputs))


def training_event(limits: TrainLimits) -> dict:
    """Gradio settings of every event that trains: runs wait in the app's own line (`in_line`: one at a time,
    one per visitor, with their place shown), so Gradio starts each such event at once, never queueing it
    out of sight."""
    return dict(concurrency_id="train", concurrency_limit=limits.max_waiting + 2, show_progress="minimal")
