"""Device choice, the ZeroGPU wrapper (with the real `spaces` package), and how requests share the cores."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

# build_app's GPU events: API name -> the handler it calls. What each asks ZeroGPU for is `events.GPU_CALLS`,
# where `max_seconds` is the server's training budget (BNAPP_MAX_SECONDS); the subprocess below sets it to 100.
import pytest
import spaces  # requirements-test.txt: the real package, as on a Space
import spaces.config
import torch
from conftest import ROOT, in_thread

from bnapp.system import machine, sharing, zerogpu
from bnapp.training.limits import TrainLimits

MAX_SECONDS = 100
EVENT_HANDLERS = {"predict": "compare", "predict_many": "compare_many", "activations": "activations",
                  "train": "train_run", "lr_sweep": "run_lr_sweep", "placement": "run_placement",
                  "figure1": "run_figure1", "noisy_bn": "run_noisy_bn", "tutorial_table": "run_tutorial_table",
                  "testtime_company": "company", "testtime_batch_size": "batch_size",
                  "testtime_shift": "distribution_shift", "testtime_severities": "severities",
                  "testtime_upload": "own_images"}
TRAINING = {"train", "lr_sweep", "placement", "figure1", "noisy_bn", "tutorial_table"}  # only these go to the GPU


def gpu_events() -> dict[str, tuple[str, int]]:
    """Event -> (the function its ZeroGPU call runs, the seconds it asks for at most): an experiment's whole
    handler; for Train, its run's training (`services.training.run_events`)."""
    from bnapp.ui.events import GPU_CALLS

    limits = TrainLimits(max_seconds=MAX_SECONDS)
    assert set(GPU_CALLS) == TRAINING
    return {name: ("run_events" if name == "train" else EVENT_HANDLERS[name], GPU_CALLS[name].duration(limits))
            for name in TRAINING}


def innermost(fn):
    """The handler a wrapped event function calls in the end (each wrapper keeps `__wrapped__`)."""
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def test_device_is_cuda_when_present_else_cpu():
    assert machine.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert machine.cpu_name() in machine.describe()


@pytest.mark.parametrize("value", [None, "", "false", "0", "no", "true", "True", "TRUE", "1", "t"])
def test_zero_gpu_is_read_from_the_environment_as_spaces_reads_it(monkeypatch, value):
    """SPACES_ZERO_GPU, which Hugging Face sets on ZeroGPU Spaces: bnapp and `spaces` agree on every
    value -- and with `spaces` installed (as here), unset means no ZeroGPU."""
    if value is None:
        monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    else:
        monkeypatch.setenv("SPACES_ZERO_GPU", value)
    assert zerogpu.on_zero_gpu_space() == spaces.config.Settings().zero_gpu == \
        (value in ("true", "True", "TRUE", "1", "t"))


@pytest.fixture
def recorded_spaces_gpu(monkeypatch):
    """`spaces.GPU` replaced by a recorder that passes every call on to the real decorator."""
    calls, real = [], spaces.GPU

    def recording(*args, **kwargs):
        calls.append(kwargs.get("duration"))
        return real(*args, **kwargs)

    monkeypatch.setattr(spaces, "GPU", recording)
    return calls


def event_functions(demo) -> dict[str, object]:
    """api_name -> the function Gradio calls for that event, with the bound server state taken off."""
    return {f.api_name: f.fn.__wrapped__ if getattr(f.fn, "bnapp_endpoint", False) else f.fn for f in demo.fns.values()
            if isinstance(f.api_name, str)}


@pytest.mark.slow
def test_without_zero_gpu_nothing_is_wrapped_though_spaces_is_installed(monkeypatch, recorded_spaces_gpu, app_env):
    from bnapp.ui import build_app

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    root, _, ckpt = app_env
    functions = event_functions(build_app(ckpt, root / "examples"))
    assert recorded_spaces_gpu == []  # ZeroGPU's decorator is never even consulted
    for api_name, handler in EVENT_HANDLERS.items():
        if not api_name.startswith("("):
            assert innermost(functions[api_name]).__name__ == handler, api_name


def test_zero_gpu_without_the_spaces_package_is_an_error_at_start(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "spaces", None)  # what `import spaces` meets where it is not installed
    with pytest.raises(RuntimeError, match="add `spaces` to requirements.txt"):
        zerogpu.gpu_task(lambda: None, 20)


# Run in a fresh interpreter, as a ZeroGPU Space starts app.py: `spaces` patches torch for ZeroGPU at
# import, which must not leak into this test session. Import order is recorded by a finder that sees
# every top-level import first; durations by a recorder around the real `spaces.GPU`. Starting the app's
# process takes ~10 s on 2 cores, so these tests are in the e2e tier.
ZERO_GPU_START = r'''
import importlib.abc, json, pickle, sys
from multiprocessing.reduction import ForkingPickler

root, checkpoints, examples = sys.argv[1:4]
first_imports = []

class RecordImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("spaces", "torch") and name not in first_imports:
            first_imports.append(name)
        return None

sys.meta_path.insert(0, RecordImports())
sys.path.insert(0, root)
import app  # noqa: F401  -- what the Space runs

import spaces
asked = {}
real_gpu = spaces.GPU

def recording_gpu(*args, **kwargs):
    decorate = real_gpu(*args, **kwargs)
    def wrap(fn):
        wrapped, inner = decorate(fn), fn
        while hasattr(inner, "__wrapped__"):
            inner = inner.__wrapped__
        duration = kwargs.get("duration")
        # called bare: the longest it asks
        asked[id(wrapped)] = (inner.__name__, duration() if callable(duration) else duration)
        return wrapped
    return wrap

spaces.GPU = recording_gpu
from bnapp.services import presets
from bnapp.system.sharing import StopFlag
from bnapp.training.limits import TrainLimits
from bnapp.ui import build_app

events = {}
for f in build_app(checkpoints, examples).fns.values():
    if not isinstance(f.api_name, str) or f.fn is None:  # js-only events run in the browser
        continue
    # spaces.GPU(bind(handler, state)) where wrapped, bind(handler, state) where not; training events
    # wait in the run line first (`visitors.in_line`), outside the GPU call
    chain, fn = [], f.fn
    while fn is not None:
        chain.append(fn)
        fn = getattr(fn, "__wrapped__", None)
    gpu = next((g for g in chain if id(g) in asked), None)  # what spaces.GPU returned (wrappers copy its attributes)
    handler = chain[-1].__name__  # the handler itself, under all its wrappers
    key = f"({handler})" if f.api_name == "false" or f.api_name.startswith("false_") else f.api_name
    events[key] = dict(handler=handler, gpu=asked.get(id(gpu)), line_outside_gpu=gpu is None or chain.index(gpu) > 0)
# What spaces hands its forked GPU worker on each call of the run's training: its inputs, pickled (ForkingPickler).
cfg, seconds = presets.browser_config(TrainLimits(), presets.preset("quick"))
try:
    ForkingPickler.dumps(((StopFlag(), cfg, seconds, True), {}))
    handoff = None
except Exception as e:
    handoff = f"{type(e).__name__}: {e}"
print("RESULT " + json.dumps(dict(first_imports=first_imports, events=events, gpu_functions=list(asked.values()),
                                 handoff=handoff)))
'''


@pytest.fixture(scope="module")
def zero_gpu_start(app_env):
    """build_app in a fresh `python` on a (simulated) ZeroGPU Space, after `import app`."""
    root, _, ckpt = app_env
    env = {k: v for k, v in os.environ.items() if k not in ("BNAPP_DATA", "SPACE_ID", "SPACES_GRADIO_AUTO_WRAP")}
    # The device API is only called when a wrapped function runs, never here: nothing listens on port 9.
    env |= {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9",
            "BNAPP_MAX_SECONDS": str(MAX_SECONDS)}
    r = subprocess.run([sys.executable, "-c", ZERO_GPU_START, str(ROOT), str(ckpt), str(root / "examples")], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(out for out in r.stdout.splitlines() if out.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.e2e
def test_on_zero_gpu_app_py_imports_spaces_before_torch(zero_gpu_start):
    assert zero_gpu_start["first_imports"] == ["spaces", "torch"]


@pytest.mark.e2e
def test_on_zero_gpu_each_gpu_call_is_wrapped_by_spaces_with_its_duration(zero_gpu_start):
    events, expected = zero_gpu_start["events"], gpu_events()
    assert sorted(map(tuple, zero_gpu_start["gpu_functions"])) == sorted(expected.values())
    # the experiments are GPU calls as a whole; Train's handler stays in the server and calls its run's GPU call
    wrapped = {name: tuple(e["gpu"]) for name, e in events.items() if e["gpu"]}
    assert wrapped == {name: call for name, call in expected.items() if name != "train"}
    assert events["train"]["handler"] == "train_run" and events["train"]["gpu"] is None
    # predictions, activations and the test-time views run on the Space's CPU; the rest does no heavy work
    assert set(events) - set(wrapped) >= {"stop", "load_hub", "push", *(set(EVENT_HANDLERS) - TRAINING)}
    # no quota spent waiting in the run line
    assert all(e["line_outside_gpu"] for e in events.values())


@pytest.mark.e2e
def test_on_zero_gpu_a_runs_training_call_can_be_handed_to_the_gpu_worker(zero_gpu_start):
    assert zero_gpu_start["handoff"] is None


# -- sharing the cores: waits are checked against events, with bounds far from what a working CoreShare takes


def waiter(share: sharing.CoreShare, **kwargs) -> tuple[threading.Thread, dict]:
    """wait_for_interactive on a thread of its own; `out` gets its return value and when it returned."""
    out: dict = {}

    def wait():
        out["waited"] = share.wait_for_interactive(**kwargs)
        out["returned_at"] = time.monotonic()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    return t, out


def test_training_does_not_wait_when_no_request_came():
    share = sharing.CoreShare()
    t, out = waiter(share, max_wait=3600, quiet=30)  # were it to wait for a quiet spell, it would take 30 s
    t.join(timeout=20)
    assert not t.is_alive() and out["waited"] < 30


def test_training_waits_while_a_request_is_in_flight_and_then_for_a_quiet_moment():
    share, inside, release = sharing.CoreShare(), threading.Event(), threading.Event()
    ended = {}

    def request():
        with share.interactive():
            inside.set()
            release.wait(30)
            ended["at"] = time.monotonic()  # before the request ends: the quiet moment starts after this

    r = threading.Thread(target=request, daemon=True)
    r.start()
    assert inside.wait(10)
    t, out = waiter(share, max_wait=3600, quiet=0.2)
    t.join(timeout=0.5)
    assert t.is_alive(), "training went on while a request was in flight"
    release.set()
    r.join(timeout=10)
    t.join(timeout=20)
    assert not t.is_alive()
    assert out["returned_at"] >= ended["at"] + 0.2  # the quiet moment after the request ended


def test_under_constant_load_training_still_moves_after_max_wait():
    share, inside, release = sharing.CoreShare(), threading.Event(), threading.Event()

    def request():
        with share.interactive():
            inside.set()
            release.wait(60)

    r = threading.Thread(target=request, daemon=True)
    r.start()
    assert inside.wait(10)
    t, out = waiter(share, max_wait=0.3, quiet=0.2)
    t.join(timeout=20)
    release.set()
    r.join(timeout=10)
    assert not t.is_alive() and out["waited"] >= 0.3  # it returned, still under load, once max_wait was up


def test_interactive_passes_run_one_at_a_time():
    share, inside, most = sharing.CoreShare(), [0], [0]
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

    got = list(sharing.in_background(numbers()))
    assert [g[0] for g in got] == [0, 1, 2]
    assert all(name == "bnapp-background" for *_, name in got)
    if sys.platform.startswith("linux"):
        assert all(p == (19, os.SCHED_IDLE) for _, p, _ in got)
        assert policy() != (19, os.SCHED_IDLE)  # the caller keeps its priority


def test_in_background_raises_the_workers_error_in_the_caller():
    def failing():
        yield 1
        raise ValueError("diverged setup")

    it = sharing.in_background(failing())
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

    it = sharing.in_background(endless(), stop=stopped.set)
    assert next(it) == 1
    it.close()  # what a closed tab does to the event's generator
    assert stopped.is_set() and cleaned.is_set()
    n = len(produced)
    time.sleep(0.1)
    assert len(produced) == n
    assert not any(t.name == "bnapp-background" and t.is_alive() for t in threading.enumerate())


def test_a_run_that_ignores_stop_does_not_hang_its_consumer(monkeypatch):
    monkeypatch.setattr(sharing, "JOIN_TIMEOUT", 0.3)
    release = threading.Event()

    def stubborn():
        yield 1
        release.wait(30)  # a step that does not end when asked to stop
        yield 2

    def consume_one():
        with pytest.warns(UserWarning, match="did not end"):
            for item in sharing.in_background(stubborn()):
                return item

    finished, out = in_thread(consume_one, 10)
    release.set()
    assert finished and out == [1]
