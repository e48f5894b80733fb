"""Shared fixtures. Real-data tests read CIFAR-10 from $BNAPP_DATA; under CI=true they must run."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from bnapp.data.cifar10 import load_cifar10
from bnapp.data.examples import export_examples
from bnapp.data.synthetic import make_synthetic_idx, make_synthetic_npz
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.store.checkpoints import base_metadata, save

ROOT = Path(__file__).resolve().parents[1]


def images(n: int = 32, seed: int = 0) -> torch.Tensor:
    """Random uint8 images (N, 3, 32, 32), seeded."""
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def trained_looking(model: nn.Module, seed: int = 1) -> nn.Module:
    """BN layers with gammas, betas and running statistics far from their initial 1, 0, 0, 1 (mode unchanged)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=g)
            m.running_mean = torch.randn(m.num_features, generator=g)
            m.running_var = torch.rand(m.num_features, generator=g) + 0.5
    return model


def skip_unless_ci(message: str) -> None:
    """Skip with `message` -- or fail under CI=true, where the dataset, browser and test tools are present."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} -- under CI=true this test must run")
    pytest.skip(message)


def require_env_file(var: str, what: str) -> Path:
    """The file named by $var, or skip (fail under CI=true, where it must be present)."""
    value = os.environ.get(var)
    if value and Path(value).exists():
        return Path(value)
    skip_unless_ci(f"{what}: set {var} to enable (e.g. {var}=../shared/data/cifar10.npz)")


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory) -> Path:
    return make_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=256, n_test=64)


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    return require_env_file("BNAPP_DATA", "real CIFAR-10 is needed")


def in_thread(fn, seconds: float) -> tuple[bool, list]:
    """Run fn on a thread; (finished within `seconds`, [result or exception])."""
    out: list = []

    def call() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # handed back to the test
            out.append(e)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    data_path = make_synthetic_npz(root / "tiny.npz", n_train=512, n_test=200)
    ckpt = root / "checkpoints"
    for arch in ("mlp", "cnn"):
        for twin, model in build_pair(arch, seed=1).items():
            meta = base_metadata(ModelConfig(arch, twin == "bn"), InputSpec()) | {"test_accuracy": 0.5}
            save(model.eval(), meta, ckpt / f"{arch}-{twin}")
    export_examples(load_cifar10(data_path), root / "examples", per_class=1)
    make_synthetic_idx(root / "fashion", n_train=240, n_test=60)  # Figure 1's data (`BNAPP_FASHION_DATA`)
    return root, data_path, ckpt


@pytest.fixture(scope="module")
def server(app_env):
    from bnapp.ui import build_app

    root, data_path, ckpt = app_env
    env = {"BNAPP_DATA": str(data_path), "BNAPP_FASHION_DATA": str(root / "fashion")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    demo = build_app(ckpt, root / "examples")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                                                  max_file_size="10mb", show_error=True, quiet=True, mcp_server=True)
    yield f"http://127.0.0.1:{port}/", root
    demo.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A fresh Hub stand-in and a fresh HF cache; huggingface_hub reads these at import, so patch both."""
    from fakehub import FakeHub
    from huggingface_hub import constants

    server = FakeHub()
    for var, value in {"HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf"),
                       "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for var in ("SPACE_ID", "SYSTEM", "OAUTH_CLIENT_ID"):
        monkeypatch.delenv(var, raising=False)
    yield server
    server.close()


@pytest.fixture
def pair_dir(tmp_path):
    out = tmp_path / "run"
    for twin, model in build_pair("mlp", seed=3).items():
        meta = base_metadata(ModelConfig("mlp", twin == "bn"), InputSpec()) | {
            "test_accuracy": 0.48 if twin == "bn" else 0.42, "test_images": 10000, "recipe": "tutorial",
            "epochs": 5.0, "command": "python -m bnapp.train --arch mlp --recipe tutorial"}
        save(model.eval(), meta, out / f"mlp-{twin}")
    return out


