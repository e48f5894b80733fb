"""bnapp on a ZeroGPU Space: what goes to the GPU, what each call asks for, and the real `spaces` package in
ZeroGPU mode against a local stand-in for its device API (`fakezerogpu.py`). Granted calls run in `spaces`'
forked worker as on a Space; only its two CUDA steps (attaching the GPU, moving packed tensors to it) are
no-ops where there is no CUDA (`zerogpu_on_cpu.py`), so the worker trains on the CPU."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, free_port

from bnapp.system import machine, zerogpu
from bnapp.training.limits import TrainLimits
from bnapp.ui.events import GPU_CALLS, GPU_MARGIN


def test_a_train_call_asks_for_its_own_budget_and_a_margin_never_the_whole_limit():
    limits, train = TrainLimits(max_seconds=300), GPU_CALLS["train"]
    assert train.duration(limits, {"budget": 60}) == 60 + GPU_MARGIN  # the preset: 80 s, 120 s of quota at x1.5
    assert train.duration(limits, {"budget": 0}) == train.duration(limits, {"budget": "junk"}) == 300 + GPU_MARGIN
    assert train.duration(limits, {"budget": 10_000}) == 300 + GPU_MARGIN  # the server's limit caps it
    assert train.duration(limits) == 300 + GPU_MARGIN  # asked without arguments: the longest a call may ask
    assert 1.5 * train.duration(limits, {"budget": 60}) <= 120  # an unauthenticated visitor's day starts it


def test_on_zero_gpu_the_main_process_computes_on_the_cpu(monkeypatch):
    monkeypatch.setenv(zerogpu.ZERO_GPU_ENV, "true")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as `spaces` makes it look in the main process
    assert machine.device().type == "cpu"  # predictions, activations, test-time views: the Space's CPU
    monkeypatch.setattr(zerogpu, "_in_gpu_task", True)  # inside a gpu_task: the worker, where CUDA is attached
    assert machine.device().type == "cuda"
    monkeypatch.delenv(zerogpu.ZERO_GPU_ENV)
    monkeypatch.setattr(zerogpu, "_in_gpu_task", False)
    assert machine.device().type == "cuda"  # anywhere else CUDA is used whenever it is there


def ip_token(user: str) -> str:
    """An X-IP-Token as Hugging Face's proxy sends it (a JWT; `spaces` reads its payload, unverified)."""
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none'})}.{part({'user': user, 'plan': 'free'})}.signature"


@pytest.fixture(scope="module")
def zero_gpu_space(tmp_path_factory, synthetic_npz):
    from fakezerogpu import FakeZeroGPU

    folder = tmp_path_factory.mktemp("zero-gpu-space")
    device_api = FakeZeroGPU(quota_left=0)
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "SPACES_GRADIO_AUTO_WRAP")}
    env |= {"PYTHONUNBUFFERED": "1", "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": device_api.url,
            "BNAPP_DATA": str(synthetic_npz), "BNAPP_MAX_SECONDS": "100"}
    port, log = free_port(), folder / "app.log"
    with open(log, "w") as out:
        # a session of its own: the teardown ends `spaces`' forked GPU workers with the server
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "zerogpu_on_cpu.py"), "--port", str(port),
                                 "--no-mcp"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Running on" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None and "Running on" in log.read_text(), log.read_text()[-3000:]
        yield f"http://127.0.0.1:{port}/", device_api, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        device_api.close()


def visitor(url: str):
    """A client as a signed-in free visitor's browser: Hugging Face's proxy adds their X-IP-Token."""
    from gradio_client import Client

    return Client(url, verbose=False, headers={"X-IP-Token": ip_token("visitor")})


TINY_RUN = ("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128)  # arch ... train_subset; then seed, budget, ...


def final(job, timeout: float = 120) -> tuple:
    """The last outputs of a streaming call, once it has ended."""
    deadline = time.monotonic() + timeout
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.done(), "the run did not end"
    return job.outputs()[-1]


@pytest.mark.e2e
def test_on_zero_gpu_compare_needs_no_gpu_and_a_refused_run_says_why(zero_gpu_space):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    url, device_api, _ = zero_gpu_space
    assert ("/startup-report", {}) in device_api.calls  # `spaces` reported the decorated functions at launch
    client = visitor(url)
    image = handle_file(str(sorted((ROOT / "examples").glob("*.png"))[0]))
    bn, plain, *_ = client.predict(image, "cnn", api_name="/predict")
    assert bn["label"] and plain["label"]
    client.predict("mlp", "CIFAR-10 test images", 8, "eval", "", None, api_name="/activations")
    assert device_api.scheduled() == []  # answered on the Space's CPU: no quota spent, no GPU attached

    device_api.quota_left = 0
    with pytest.raises(AppError, match=r"exceeded your free ZeroGPU quota \(50s requested vs\. 0s left\)"):
        client.predict(*TINY_RUN, 0, 30, False, api_name="/train")
    assert device_api.scheduled() == [30 + GPU_MARGIN]  # the run's own budget and the margin (x1.0 here)
    again, *_ = client.predict(image, "cnn", api_name="/predict")  # a refused run leaves the server serving
    assert again["label"] == bn["label"]


@pytest.mark.e2e
def test_on_zero_gpu_a_run_streams_from_the_gpu_worker_and_its_pair_joins_this_sessions_menu(zero_gpu_space):
    from gradio_client import handle_file

    url, device_api, log = zero_gpu_space
    device_api.quota_left, before = 10_000, len(device_api.calls)
    client = visitor(url)
    job = client.submit(*TINY_RUN, 0, 0, False, api_name="/train")
    *_, progress, summary, files, pair = final(job)
    calls = [path for path, _ in device_api.calls[before:]]
    assert calls[:2] == ["/schedule", "/allow"] and calls[-1] == "/release", calls  # granted, used, handed back
    assert device_api.scheduled()[-1] == 100 + GPU_MARGIN  # no budget: the server's limit and the margin
    steps = [o[3] for o in job.outputs() if re.search(r"training: step \d+/", o[3] or "")]
    assert len(steps) >= 2, log.read_text()[-3000:]  # streamed from the worker as it trained
    assert "Done" in summary and len(files) == 4
    assert pair["value"] == "run1-mlp" and "run1-mlp" in [name for _, name in pair["choices"]]  # the menu offers it
    image = handle_file(str(sorted((ROOT / "examples").glob("*.png"))[0]))
    bn, plain, *_ = client.predict(image, "run1-mlp", api_name="/predict")  # the trained pair, in the server
    assert bn["label"] and plain["label"]
    assert device_api.scheduled().count(100 + GPU_MARGIN) == 1  # predicting with it asked for no GPU


@pytest.mark.e2e
def test_on_zero_gpu_stop_reaches_the_gpu_worker_and_keeps_the_partial_run(zero_gpu_space):
    url, device_api, log = zero_gpu_space
    device_api.quota_left = 10_000
    client = visitor(url)
    job = client.submit(*TINY_RUN, 0, 60, False, api_name="/train")  # steps planned to fill 60 s
    deadline = time.monotonic() + 60
    while not any(re.search(r"training: step \d+/", o[3] or "") for o in job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the worker has streamed back a training step
    assert "Stopping" in client.predict(api_name="/stop")
    *_, summary, files, pair = final(job, timeout=60)
    assert "Stopped early; partial result" in summary and pair["value"].startswith("run") and len(files) == 4
    assert [p for p, _ in device_api.calls][-1] == "/release"
    assert device_api.scheduled()[-1] == 60 + GPU_MARGIN




@pytest.mark.e2e
def test_on_zero_gpu_a_run_whose_visitor_cancels_ends_in_the_worker_and_hands_the_gpu_back(zero_gpu_space):
    url, device_api, log = zero_gpu_space
    device_api.quota_left = 10_000
    client = visitor(url)
    job = client.submit(*TINY_RUN, 0, 60, False, api_name="/train")
    deadline = time.monotonic() + 60
    while not any(re.search(r"training: step \d+/", o[3] or "") for o in job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    granted = len(device_api.calls)
    job.cancel()  # the consumer closes the generator: `spaces` sets its worker's stop event
    deadline = time.monotonic() + 30
    while "/release" not in [p for p, _ in device_api.calls[granted:]] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/release" in [p for p, _ in device_api.calls[granted:]], log.read_text()[-3000:]


@pytest.mark.e2e
def test_on_zero_gpu_an_experiment_streams_its_report_from_the_gpu_worker(zero_gpu_space):
    url, device_api, log = zero_gpu_space
    device_api.quota_left, before = 10_000, len(device_api.calls)
    job = visitor(url).submit(api_name="/tutorial_table")
    report = final(job, timeout=120)
    assert "epoch 5 bn" in report and len(job.outputs()) >= 2, log.read_text()[-3000:]  # streamed as it trained
    calls = [path for path, _ in device_api.calls[before:]]
    assert calls[0] == "/schedule" and calls[-1] == "/release", calls


def test_on_zero_gpu_every_gpu_call_fits_an_unauthenticated_visitors_day_unless_the_owner_says_otherwise():
    limits = TrainLimits.from_env({zerogpu.ZERO_GPU_ENV: "true"})
    assert limits.max_seconds == 60
    assert all(1.5 * call.duration(limits) <= 120 for call in GPU_CALLS.values())  # x1.5 on the default slice
    assert TrainLimits.from_env({zerogpu.ZERO_GPU_ENV: "true", "BNAPP_MAX_SECONDS": "180"}).max_seconds == 180
    assert TrainLimits.from_env({}).max_seconds == 300  # elsewhere the usual limit
