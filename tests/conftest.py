"""Shared fixtures. Real-data tests read CIFAR-10 from $BNAPP_DATA; under CI=true they must run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bnapp.data import make_synthetic_npz

ROOT = Path(__file__).resolve().parents[1]


def require_env_file(var: str, what: str) -> Path:
    """The file named by $var, or skip (fail under CI=true, where it must be present)."""
    value = os.environ.get(var)
    if value and Path(value).exists():
        return Path(value)
    message = f"{what}: set {var} to enable (e.g. {var}=../shared/data/cifar10.npz)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} -- under CI=true this test must run")
    pytest.skip(message)


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory) -> Path:
    return make_synthetic_npz(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=256, n_test=64)


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    return require_env_file("BNAPP_DATA", "real CIFAR-10 is needed")
