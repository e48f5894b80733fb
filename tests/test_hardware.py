"""Device choice and the ZeroGPU wrapper: identity without `spaces`, spaces.GPU around every GPU event with it."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest
import torch

from bnapp import hardware

FAKE_SPACES = '''
calls = []

def GPU(duration=60):
    def wrap(fn):
        calls.append((fn.__name__, duration))
        return fn
    return wrap
'''


def test_device_is_cuda_when_present_else_cpu():
    assert hardware.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert hardware.cpu_name() in hardware.describe()


def test_gpu_task_is_the_identity_without_spaces(monkeypatch):
    monkeypatch.setattr(hardware, "on_zero_gpu_space", lambda: False)

    def work():
        return 1

    assert hardware.gpu_task(work, 30) is work


def test_with_spaces_every_gpu_event_is_wrapped(tmp_path, monkeypatch, app_env):
    (tmp_path / "spaces.py").write_text(FAKE_SPACES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    from bnapp.ui import build_app

    root, _, ckpt = app_env
    build_app(ckpt, root / "examples")
    import spaces

    wrapped = dict(spaces.calls)
    assert set(wrapped) == {"compare", "compare_many", "activations", "train_run", "run_lr_sweep", "run_placement",
                            "run_tutorial_table"}
    assert wrapped["train_run"] >= 300 and wrapped["compare"] <= 60


def test_training_waits_while_requests_are_in_flight_and_for_a_quiet_moment():
    share = hardware.CoreShare()
    assert share.wait_for_interactive(max_wait=5, quiet=0.2) < 0.1  # nobody asked: no wait
    released = threading.Event()

    def request():
        with share.interactive():
            released.wait(5)

    t = threading.Thread(target=request)
    t.start()
    time.sleep(0.05)
    assert 0.25 <= share.wait_for_interactive(max_wait=0.3, quiet=0.2) < 1  # bounded under constant load
    threading.Timer(0.2, released.set).start()
    waited = share.wait_for_interactive(max_wait=5, quiet=0.2)
    t.join()
    assert 0.35 <= waited < 2  # the request's 0.2 s, then the quiet 0.2 s


def test_interactive_passes_run_one_at_a_time():
    share, inside, most = hardware.CoreShare(), [0], [0]
    lock = threading.Lock()

    def request():
        with share.interactive():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_in_background_hands_over_items_at_low_priority():
    def policy() -> tuple[int, int]:
        tid = threading.get_native_id()
        return os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)

    def numbers():
        for i in range(3):
            yield i, policy(), threading.current_thread().name

    got = list(hardware.in_background(numbers()))
    assert [g[0] for g in got] == [0, 1, 2]
    assert all(name == "bnapp-background" for *_, name in got)
    if sys.platform.startswith("linux"):
        assert all(p == (19, os.SCHED_IDLE) for _, p, _ in got)
        assert policy() != (19, os.SCHED_IDLE)  # the caller keeps its priority


def test_in_background_raises_the_workers_error_in_the_caller():
    def failing():
        yield 1
        raise ValueError("diverged setup")

    it = hardware.in_background(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="diverged setup"):
        next(it)


def test_closing_the_consumer_stops_the_work_and_its_thread():
    stopped, produced, cleaned = threading.Event(), [], threading.Event()

    def endless():
        try:
            while not stopped.is_set():
                produced.append(1)
                yield len(produced)
                time.sleep(0.01)
        finally:
            cleaned.set()

    it = hardware.in_background(endless(), stop=stopped.set)
    assert next(it) == 1
    it.close()  # what a closed tab does to the event's generator
    assert stopped.is_set() and cleaned.is_set()
    n = len(produced)
    time.sleep(0.1)
    assert len(produced) == n
    assert not any(t.name == "bnapp-background" and t.is_alive() for t in threading.enumerate())
