"""What every bench shares: the machine line printed first (figures are only compared within one run),
the dataset path, and the app started the way people start it."""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bnapp.data.synthetic import make_synthetic_npz
from bnapp.system import machine

ROOT = Path(__file__).resolve().parents[1]


def machine_line() -> str:
    return "machine: " + machine.describe()


def data_path(quick: bool = False, n_train: int = 512, n_test: int = 128) -> str:
    """$BNAPP_DATA (by default ../shared/data/cifar10.npz). A quick mode with none set gets a synthetic
    stand-in of `n_train` / `n_test` images instead (its figures then show only that the bench runs), also
    set as $BNAPP_DATA for the processes the bench starts."""
    if quick and not os.environ.get("BNAPP_DATA"):
        folder = tempfile.mkdtemp(prefix="bnapp-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = str(make_synthetic_npz(Path(folder) / "standin.npz", n_train=n_train, n_test=n_test))
        os.environ["BNAPP_DATA"] = path
        print(f"data: a synthetic stand-in for CIFAR-10, {n_train} training and {n_test} test images (quick mode)")
        return path
    path = os.environ.get("BNAPP_DATA", "../shared/data/cifar10.npz")
    if not os.path.exists(path):
        raise SystemExit(f"set BNAPP_DATA to CIFAR-10 .npz (tried {path})")
    return path


@contextlib.contextmanager
def app_process(timeout: float = 120) -> Iterator[tuple[str, int]]:
    """`python app.py` on a free loopback port, in its own process so the bench's clients do not share
    the server's interpreter; yields (URL, pid) and stops the app afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a full pipe would stall the app
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"app.py exited with {proc.returncode}:\n{log.read()}")
                try:
                    urllib.request.urlopen(url + "config", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"app.py did not answer on {url} within {timeout:g} s") from None
                    time.sleep(0.2)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
