"""Start-up: `python app.py` until it prints its URL, against a bare `python -c "import torch, gradio"`
until it prints that it has imported, interleaved so that both see the same machine (target: the app adds <= 2 s).
`--quick`: one of each, with no file-cache warm-up, only to show the bench still runs (CI).

    python bench/startup.py [--runs 5] [--quick]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine_line  # noqa: E402


def seconds_until(args: list[str], marker: str) -> float:
    """Seconds from launching `args` to the first output line holding `marker` (the process is then
    stopped: interpreter shut-down is no one's wait)."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:
            if marker in line:
                return time.perf_counter() - t
        raise SystemExit(f"{args} exited with {proc.wait()} before printing {marker!r}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def bare_import() -> float:
    return seconds_until([sys.executable, "-c", "import torch, gradio; print('imported')"], "imported")


def app_until_url() -> float:
    """`python app.py` on the shipped checkpoints, until its "Running on local URL" line."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return seconds_until([sys.executable, "app.py", "--port", str(port)], "Running on local URL")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run of each, no warm-up (CI)")
    a = ap.parse_args()
    if a.quick:
        a.runs = 1
    print(machine_line())
    if not a.quick:
        bare_import()  # warm the file cache for both
    bare, app = [], []
    for _ in range(a.runs):
        bare.append(bare_import())
        app.append(app_until_url())
    fmt = lambda xs: f"median {statistics.median(xs):.2f} s (range {min(xs):.2f}-{max(xs):.2f}, n={len(xs)})"
    print(f"python -c 'import torch, gradio': {fmt(bare)}")
    print(f"python app.py until its URL:      {fmt(app)}")
    print(f"the app adds {statistics.median(app) - statistics.median(bare):+.2f} s (target <= +2 s)")


if __name__ == "__main__":
    main()
