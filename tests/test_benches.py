"""The benches in their quick modes, so that a changed function or endpoint breaks the tests instead of a
bench nobody runs (the numbers are not checked: a bench prints them, the docs record them)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

# bench -> lines its quick mode prints at its end (each must appear). Every bench runs on the synthetic
# stand-in (the shipped checkpoints and examples where it predicts): its figures mean nothing, only that it ran.
QUICK = {
    "landscape_speed": ["evaluations: without measurements", "landscape medians: bn beta",
                        "budget and the measurements: click to summary", "steps planned on"],
    "predict_speed": ["server-side on cpu, one image, both CNN twins (fp32, BN folded, channels_last",
                      "server-side on cpu, one image, both CNN twins (fp32, the models themselves",
                      "round trip on loopback, /predict with the CNN pair",
                      "a Gradio endpoint that does nothing (the floor)"],
    "quick_preset": ["[fp32] widths", "click to summary", "[fp32] time budget: "],
    "startup": ["python -c 'import torch, gradio': median", "python app.py until its URL:", "the app adds"],
    "stats_speed": ["cnn pair,   16 images (default) train mode: median",
                    "mlp pair,  256 images (default) train mode: median"],
    "testtime_speed": ["plain + BN running + BN adapted: median", "the tab's default", "the company view",
                       "accuracy against batch size, first time", "all severities of one corruption, first time"],
    "train_speed": ["(a) tutorial loop", "(b) bnapp engine on cpu", "(c) CNN twins on cpu, fast recipe, batch 16, bf16",
                    "(c) CNN twins on cpu, fast recipe, batch 16, fp32"],
}
OWN_TEST = {"load"}  # bench/load.py --quick: its own test below


def run_bench(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"bench/{name}.py", "--quick"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_bench_has_a_quick_mode_that_runs_in_the_tests():
    benches = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__", "common"}
    assert benches - set(QUICK) - OWN_TEST == set(), "a bench without a quick mode in tests/test_benches.py"
    assert set(QUICK) | OWN_TEST <= benches, "QUICK names a bench that is gone"


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(QUICK))
def test_the_bench_runs_to_its_end_in_its_quick_mode(name, synthetic_npz):
    r = run_bench(name, {**os.environ, "BNAPP_DATA": str(synthetic_npz)})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.stdout.startswith("machine: ")
    missing = [line for line in QUICK[name] if line not in r.stdout]
    assert not missing, f"{missing} not in:\n{r.stdout[-3000:]}"


@pytest.mark.e2e
def test_a_quick_bench_without_a_dataset_makes_its_own_stand_in():
    env = {k: v for k, v in os.environ.items() if k != "BNAPP_DATA"}
    r = run_bench("testtime_speed", env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "a synthetic stand-in for CIFAR-10" in r.stdout and "the company view" in r.stdout


@pytest.mark.e2e
def test_the_load_bench_runs_against_the_apps_endpoints(synthetic_npz):
    env = {**os.environ, "BNAPP_DATA": str(synthetic_npz)}
    r = subprocess.run([sys.executable, "bench/load.py", "--quick"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "errors 0;" in r.stdout and "training run in progress throughout" in r.stdout
