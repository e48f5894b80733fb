"""Sharing a few cores between people's requests and a training run: requests come first.

`cores` (a `CoreShare`) runs interactive forward passes one at a time and tells a training run to wait
while any is in flight, and `in_background` runs training on a thread at the lowest CPU priority
(SCHED_IDLE), so it takes only the cores that people's requests leave idle. A `StopFlag` reaches a run
wherever it trains, a ZeroGPU worker process included.
"""
from __future__ import annotations

import contextlib
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

JOIN_TIMEOUT = 60.0  # s a stopped run gets to finish its step (a slow CPU step, a final evaluation)
T = TypeVar("T")


class StopFlag:
    """Stop, as a file: set by the server when a visitor clicks Stop, read by their run between steps. On a
    ZeroGPU Space the run trains in a forked worker that holds copies of the server's objects, so a flag in
    memory would never reach it; a file in the shared temporary folder does. Pickles as its path."""

    def __init__(self) -> None:
        self.path = Path(tempfile.gettempdir()) / f"bnapp-stop-{uuid.uuid4().hex}"

    def set(self) -> None:
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_set(self) -> bool:
        return self.path.exists()


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
            warnings.warn(f"bnapp: a background run did not end within {JOIN_TIMEOUT:g} s of being stopped",
                          stacklevel=2)
