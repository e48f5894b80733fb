"""The benches in their quick modes, so that a changed endpoint breaks the tests instead of a bench
nobody runs (the numbers are not checked: a bench prints them, the docs record them)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.e2e
def test_the_load_bench_runs_against_the_apps_endpoints(synthetic_npz):
    env = {**os.environ, "BNAPP_DATA": str(synthetic_npz)}
    r = subprocess.run([sys.executable, "bench/load.py", "--quick"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "errors 0;" in r.stdout and "training run in progress throughout" in r.stdout
