"""One line for everything that trains (a Train run, an experiment): first come, first served, one at a
time, at most one place per visitor, and a bounded number waiting.

A public server is shared: without this, one visitor -- or one script -- could queue a dozen runs and
hold the training cores (or the GPU) for an hour. Here a visitor is known by their keys (the browser
session, and on a Space also the client address, `ui.visitors`); a visitor who already has a run waiting
or running is told which, and a full line says how long until a place is likely to free up. While a
ticket waits, `wait` yields its place and an estimate from the running run's remaining time, so the
visitor sees where they stand.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bnapp.services import UserError

POLL_SECONDS = 0.5  # how often a waiting ticket looks again (and re-reports its place)


@dataclass(eq=False)
class Ticket:
    """A place in the line: what it is for, whose it is and how long it is expected to take."""

    what: str  # for people: "a training run", "the learning-rate sweep"
    keys: frozenset[str]  # the visitor's
    expected_seconds: float  # its time budget (or the server's limit per run)
    joined_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None

    def remaining(self, now: float) -> float:
        if self.started_at is None:
            return self.expected_seconds
        return max(0.0, self.expected_seconds - (now - self.started_at))


@dataclass(frozen=True)
class Place:
    """Where a waiting ticket stands: how many are ahead of it and about how long until its turn."""

    ahead: int
    wait_seconds: float


class RunLine:
    """`running` tickets at a time; behind them at most `max_waiting`, in the order they came."""

    def __init__(self, max_waiting: int, running: int = 1) -> None:
        self.max_waiting, self.running = max_waiting, running
        self._tickets: list[Ticket] = []  # running ones first, then waiting ones in order
        self._changed = threading.Condition()

    def join(self, keys: frozenset[str], what: str, expected_seconds: float) -> Ticket:
        """A ticket at the end of the line, or UserError: the visitor already has one, or the line is full."""
        with self._changed:
            now = time.monotonic()
            mine = next((t for t in self._tickets if t.keys & keys), None)
            if mine is not None:
                state = ("running since", mine.started_at) if mine.started_at is not None else ("waiting since",
                                                                                                 mine.joined_at)
                raise UserError(f"You already have {mine.what} {state[0]} {now - state[1]:.0f} s ago; one run per "
                                f"visitor at a time. Wait for it to finish, or press Stop, then start {what}.")
            waiting = len(self._tickets) - self._running_count()
            if waiting >= self.max_waiting:
                free = min((t.remaining(now) for t in self._tickets if t.started_at is not None), default=0.0)
                raise UserError(f"The server is busy: {waiting} runs are waiting for the training cores. "
                                f"Try again in about {free:.0f} s.")
            ticket = Ticket(what, keys, float(expected_seconds))
            self._tickets.append(ticket)
            self._start_next(now)
            return ticket

    def wait(self, ticket: Ticket, stopped: Callable[[], bool] = lambda: False) -> Iterator[Place]:
        """Yield the ticket's place until its turn comes, or until `stopped()`: then it leaves the line
        (`ticket.started_at` stays None)."""
        while True:
            with self._changed:
                if ticket.started_at is not None:
                    return
                place = self.place(ticket)
            if stopped():
                self.leave(ticket)
                return
            yield place
            with self._changed:
                if ticket.started_at is None:
                    self._changed.wait(POLL_SECONDS)

    def place(self, ticket: Ticket) -> Place:
        with self._changed:
            now = time.monotonic()
            index = self._tickets.index(ticket)
            ahead = self._tickets[:index]
            # the first free slot comes when the soonest running run ends; each one waiting ahead then runs in turn
            running = sorted(t.remaining(now) for t in ahead if t.started_at is not None)
            wait = (running[0] if len(running) >= self.running else 0.0) + sum(
                t.expected_seconds for t in ahead if t.started_at is None) / self.running
            return Place(len(ahead), wait)

    def leave(self, ticket: Ticket) -> None:
        """The ticket's run ended (or it gave up waiting): the next one starts."""
        with self._changed:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._start_next(time.monotonic())

    def _running_count(self) -> int:
        return sum(t.started_at is not None for t in self._tickets)

    def _start_next(self, now: float) -> None:
        for t in self._tickets[: self.running]:
            if t.started_at is None:
                t.started_at = now
        self._changed.notify_all()
