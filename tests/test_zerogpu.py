"""bnapp on a ZeroGPU Space: what goes to the GPU, what each call asks for, and the real `spaces` package in
ZeroGPU mode against a local stand-in for its device API (`fakezerogpu.py`). The stand-in grants no GPU: this
machine has none for `spaces`' forked worker, so the tests stop where a granted call would attach one."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

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


@pytest.fixture
def zero_gpu_space(synthetic_npz):
    from fakezerogpu import FakeZeroGPU
    from test_hub import _wait_until_serving

    device_api = FakeZeroGPU(quota_left=0)
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "SPACES_GRADIO_AUTO_WRAP")}
    env |= {"PYTHONUNBUFFERED": "1", "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": device_api.url,
            "BNAPP_DATA": str(synthetic_npz), "BNAPP_MAX_SECONDS": "100"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--no-mcp"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_serving(proc)
        yield f"http://127.0.0.1:{port}/", device_api
    finally:
        proc.terminate()
        proc.wait(30)
        device_api.close()


@pytest.mark.e2e
def test_on_zero_gpu_compare_never_asks_for_a_gpu_and_train_asks_for_its_budget(zero_gpu_space):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, device_api = zero_gpu_space
    assert ("/startup-report", {}) in device_api.calls  # `spaces` reported the decorated functions at launch
    client = Client(url, verbose=False, headers={"X-IP-Token": ip_token("visitor")})
    image = handle_file(str(sorted((ROOT / "examples").glob("*.png"))[0]))
    bn, plain, *_ = client.predict(image, "cnn", api_name="/predict")
    assert bn["label"] and plain["label"]
    client.predict("mlp", "CIFAR-10 test images", 8, "eval", "", None, api_name="/activations")
    assert device_api.scheduled() == []  # answered on the Space's CPU: no quota spent, no GPU attached

    with pytest.raises(AppError, match=r"exceeded your free ZeroGPU quota \(50s requested vs\. 0s left\)"):
        client.predict("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128, 0, 30, False, api_name="/train")
    assert device_api.scheduled() == [30 + GPU_MARGIN]  # the run's own budget and the margin (x1.0 here)
    again, *_ = client.predict(image, "cnn", api_name="/predict")  # a refused run leaves the server serving
    assert again["label"] == bn["label"]
