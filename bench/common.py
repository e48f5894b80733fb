"""What every bench prints first: the machine, so figures are only compared within one run."""
from __future__ import annotations

import os

from bnapp import hardware




def machine_line() -> str:
    return "machine: " + hardware.describe()


def data_path() -> str:
    path = os.environ.get("BNAPP_DATA", "../shared/data/cifar10.npz")
    if not os.path.exists(path):
        raise SystemExit(f"set BNAPP_DATA to CIFAR-10 .npz (tried {path})")
    return path


def launch_local_app():
    """The app on a free loopback port, as `python app.py` builds it; returns (demo, url)."""
    import socket

    from bnapp.ui import build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = build_app()
    demo.queue(default_concurrency_limit=4).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                                                  quiet=True)
    return demo, f"http://127.0.0.1:{port}/"
