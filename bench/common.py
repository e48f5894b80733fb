"""What every bench prints first: the machine, so figures are only compared within one run."""
from __future__ import annotations

import os
import platform

import torch




def cpu_bf16_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return ""
    return ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    flags = cpu_bf16_flags() or "no AMX or AVX512-BF16"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"machine: {cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, "
            f"{flags}, {gpu}, torch {torch.__version__}")


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
