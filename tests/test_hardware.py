"""Device choice and the ZeroGPU wrapper: identity without `spaces`, spaces.GPU around every GPU event with it."""
from __future__ import annotations

import sys

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
