"""Prediction latency with the shipped CNN pair: (1) server-side side-by-side prediction for one image
(decode, crop/resize, both twins, probabilities) in fp32 and, where the CPU or GPU is fast at it,
bf16; (2) a gradio_client round trip on loopback to `app.py` (which predicts in bf16 there).

    python bench/predict_speed.py [--n 200]
"""
from __future__ import annotations

import argparse
import os
import ssl
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, app_process, machine_line  # noqa: E402
from bnapp import hardware, infer  # noqa: E402
from bnapp.images import open_image  # noqa: E402
from bnapp.pairs import load_pairs  # noqa: E402
from bnapp.services.prediction import predict_images  # noqa: E402


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms  (n={len(ms)})"


def time_calls(call, n: int) -> list[float]:
    for _ in range(5):
        call()
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        ms.append(1000 * (time.perf_counter() - t))
    return ms


def client_floor(example: Path, n: int, **client_options) -> list[float]:
    """The same upload to a Gradio endpoint that does nothing: what gradio_client and the queue cost
    on this machine, whatever the app does."""
    import gradio as gr
    from gradio_client import Client, handle_file

    with gr.Blocks() as demo:
        img, out = gr.Image(type="filepath"), gr.Textbox()
        img.change(lambda path: "ok", img, out, api_name="nothing")
    demo.queue().launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False, **client_options)
        f = handle_file(str(example))
        return time_calls(lambda: client.predict(f, api_name="/nothing"), n)
    finally:
        demo.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    print(machine_line())
    example = sorted((ROOT / "examples").glob("*.png"))[0]
    precisions = ["fp32"] + (["bf16"] if infer.resolve_precision("auto", hardware.device()) == "bf16" else [])
    for precision in precisions:
        os.environ["BNAPP_PRECISION"] = precision
        pair = load_pairs(ROOT / "checkpoints").pairs["cnn"]
        ms = time_calls(lambda: predict_images(pair, [open_image(example)]), a.n)
        print(f"server-side, one image, both CNN twins ({precision}, flip+shift TTA: 6 views): {percentiles(ms)}")
    os.environ.pop("BNAPP_PRECISION", None)
    print(f"app.py predicts in {infer.prediction_precision(hardware.device())} here (BNAPP_PRECISION=auto)")

    from gradio_client import Client, handle_file

    # gradio_client builds a TLS context (loading the CA bundle) for every upload and download, even over
    # plain http; a client that passes one shared context (httpx takes an SSLContext as `verify`) skips that.
    clients = {"default gradio_client": {}, "gradio_client with one shared TLS context": {"ssl_verify": ssl.create_default_context()}}
    with app_process() as (url, _):
        for kind, options in clients.items():
            client = Client(url, verbose=False, **options)
            f = handle_file(str(example))
            ms = time_calls(lambda: client.predict(f, "cnn", api_name="/predict"), min(a.n, 100))
            print(f"{kind}, round trip on loopback, /predict with the CNN pair (app.py in its own process): {percentiles(ms)}")
    for kind, options in clients.items():
        print(f"{kind}, the same upload to a Gradio endpoint that does nothing (the floor): "
              f"{percentiles(client_floor(example, min(a.n, 100), **options))}")

if __name__ == "__main__":
    main()
