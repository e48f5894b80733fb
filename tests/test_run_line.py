"""The line every training event waits in (`services.run_line`) and its Gradio side (`ui.visitors`):
one run at a time, one place per visitor, a bounded line, each waiting visitor told where they stand."""
from __future__ import annotations

import inspect
import threading
from types import SimpleNamespace

import pytest

from bnapp.services import UserError
from bnapp.services.run_line import RunLine
from bnapp.services.state import Session
from bnapp.ui import visitors

A, B, C = (frozenset({f"session:{n}"}) for n in "abc")


def test_one_place_per_visitor_and_the_refusal_names_the_first():
    line = RunLine(max_waiting=4)
    first = line.join(A, "your training run", 60)
    assert first.started_at is not None  # an empty line: it starts at once
    with pytest.raises(UserError, match="already have your training run running since 0 s ago"):
        line.join(A | {"address:203.0.113.9"}, "the learning-rate sweep", 60)
    waiting = line.join(B, "your training run", 60)
    with pytest.raises(UserError, match="already have your training run waiting since"):
        line.join(B, "Figure 1", 60)
    line.leave(first)
    assert waiting.started_at is not None
    line.join(A, "your training run", 60)  # A's first run ended: A may queue again


def test_the_line_is_bounded_and_says_when_to_come_back():
    line = RunLine(max_waiting=1)
    line.join(A, "a run", 100)
    line.join(B, "a run", 100)
    with pytest.raises(UserError, match=r"server is busy: 1 runs are waiting.*Try again in about (99|100) s"):
        line.join(C, "a run", 100)


def test_a_waiting_ticket_knows_its_place_and_wait():
    line = RunLine(max_waiting=4)
    running = line.join(A, "a run", 50)
    b = line.join(B, "a run", 30)
    c = line.join(C, "a run", 30)
    running.started_at -= 20  # it has run for 20 s of its 50
    place = line.place(c)
    assert place.ahead == 2 and place.wait_seconds == pytest.approx(30 + 30, abs=0.5)
    note = visitors.place_note(place, "your run")
    assert "2 runs ahead of you" in note and "about 60 s" in note
    assert line.place(b).ahead == 1 and line.place(b).wait_seconds == pytest.approx(30, abs=0.5)


def test_wait_ends_when_the_turn_comes_or_when_stopped():
    line = RunLine(max_waiting=4)
    first = line.join(A, "a run", 5)
    second = line.join(B, "a run", 5)
    threading.Timer(0.3, line.leave, [first]).start()
    places = list(line.wait(second))
    assert places and places[0].ahead == 1 and second.started_at is not None
    third = line.join(C, "a run", 5)
    stop = {"asked": False}
    threading.Timer(0.3, lambda: stop.update(asked=True)).start()
    for polls, _ in enumerate(line.wait(third, stopped=lambda: stop["asked"])):
        assert polls < 20, "Stop did not end the wait"  # it polls every POLL_SECONDS; Stop came after 0.3 s
    assert polls >= 0 and third.started_at is None
    with pytest.raises(UserError):  # B still holds its place (running) ...
        line.join(B, "a run", 5)
    line.join(C, "a run", 5)  # ... C gave its place back when it stopped waiting


def request(session: str, forwarded: str | None = None, peer: str = "10.16.3.80"):
    return SimpleNamespace(session_hash=session, headers={"x-forwarded-for": forwarded} if forwarded else {},
                           client=SimpleNamespace(host=peer))


def test_a_visitor_is_their_session_and_on_a_space_their_address_too():
    assert visitors.visitor_keys(request("s1"), on_space=False) == {"session:s1"}
    # the proxy appended the real address after whatever the client sent; the internal hop is skipped
    space = visitors.visitor_keys(request("s1", "1.2.3.4, 93.184.216.34, 10.0.0.2"), on_space=True)
    assert space == {"session:s1", "address:93.184.216.34"}
    assert visitors.visitor_keys(request("s2", "bogus"), on_space=True) == {"session:s2", "address:10.16.3.80"}


def test_in_line_shows_the_wait_refuses_a_second_run_and_gives_the_place_back(monkeypatch):
    import gradio as gr

    line = RunLine(max_waiting=2)
    monkeypatch.setattr(visitors, "shown_to_user", lambda fn: fn)

    def run(session, budget=0.0):
        yield ("curves", f"trained for {budget:g} s")

    handler = visitors.in_line(run, line, "your training run", lambda a: float(a.get("budget") or 99), n_outputs=2,
                               note_at=1, on_space=False)
    assert list(inspect.signature(handler).parameters) == ["session", "budget", "request"]
    req = lambda s: gr.Request(request=None, username=None, session_hash=s)  # noqa: E731
    other = line.join(frozenset({"session:other"}), "a run", 40)  # someone else's run is on the cores
    mine = handler(Session(), 25.0, req("me"))
    curves, note = next(mine)
    assert isinstance(curves, dict) and "1 run ahead of you" in note and "about 40 s" in note
    with pytest.raises(UserError, match="already have your training run waiting"):
        next(handler(Session(), 25.0, req("me")))
    line.leave(other)
    assert list(mine)[-1] == ("curves", "trained for 25 s")
    assert next(handler(Session(), 5.0, req("me"))) == ("curves", "trained for 5 s")  # the place was given back
    session = Session()
    other = line.join(frozenset({"session:other"}), "a run", 40)
    waiting = handler(session, 25.0, req("me"))
    next(waiting)
    session.stop.set()  # Stop, pressed while waiting
    assert "Stopped while waiting" in list(waiting)[-1][1]
    mine = handler(Session(), 1.0, req("me"))
    next(mine)
    mine.close()  # the tab closed while waiting: the place is given back
    line.leave(other)
    assert next(handler(Session(), 2.0, req("me"))) == ("curves", "trained for 2 s")
