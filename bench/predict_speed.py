"""Prediction latency with the shipped CNN pair: (1) server-side side-by-side prediction for one image
(decode, crop/resize, both twins, probabilities) on the CPU and, where present, on CUDA: fp32 as the
app runs it (BN folded, channels_last), fp32 as it ran before (the models themselves), and bf16 where
the CPU or GPU is fast at it, beside the compute floor (the twins' FLOPs for the 6 TTA views over this
device's measured fp32 matmul throughput); (2) a gradio_client round trip on loopback to `app.py`.
`--quick`: 2 timed calls of each after 1 warm-up, a small matmul, only to show the bench still runs (CI).

    python bench/predict_speed.py [--n 200] [--quick]
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import ssl
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench.common import app_process, machine_line  # noqa: E402
from bnapp import CHECKPOINTS, EXAMPLES  # noqa: E402
from bnapp.data.images import image_tensor, open_image, to_model_input  # noqa: E402
from bnapp.measure import infer  # noqa: E402
from bnapp.nets.fold import fold_bn  # noqa: E402
from bnapp.services.prediction import predict_images  # noqa: E402
from bnapp.store.pairs import Pair, load_pairs  # noqa: E402
from bnapp.system import machine  # noqa: E402
from bnapp.system.precision import prediction_precision, resolve_precision  # noqa: E402


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms  (n={len(ms)})"


def time_calls(call, n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        ms.append(1000 * (time.perf_counter() - t))
    return ms


def client_floor(example: Path, n: int, warmup: int = 5, **client_options) -> list[float]:
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
        return time_calls(lambda: client.predict(f, api_name="/nothing"), n, warmup)
    finally:
        demo.close()


def pair_on(device: torch.device, precision: str) -> Pair:
    """The shipped CNN pair on `device`, predicting in `precision` (BN folded into the copies)."""
    os.environ["BNAPP_PRECISION"] = precision
    loaded = load_pairs(CHECKPOINTS).pairs["cnn"]
    return Pair(loaded.name, {t: m.to(device) for t, m in loaded.models.items()}, loaded.metadata)


def prediction_flops(pair: Pair, example: Path) -> int:
    """FLOPs of both twins' predictions for one image, all TTA views (a multiply-add counts 2)."""
    x = image_tensor(to_model_input(open_image(example)))[None]
    with FlopCounterMode(display=False) as counter:
        for twin, model in pair.predictors.items():
            infer.logits(model, x, pair.spec(twin))
    return counter.get_total_flops()


def matmul_flops_per_s(device: torch.device, n: int = 2048, repeat: int = 10) -> float:
    """The best of `repeat` fp32 n x n matmuls on `device` (full fp32: no TF32), in FLOP/s."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    best = float("inf")
    for _ in range(repeat + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def server_side(device: torch.device, example: Path, n: int, rounds: int = 5, warmup: int = 5,
                matmul: tuple[int, int] = (2048, 10)) -> None:
    """Each way of predicting on `device`, timed in turns (`rounds` of n / rounds calls each after `warmup`
    untimed ones, so that a passing load on the machine falls on all of them), the app's fp32 figure beside
    the compute floor (`matmul`: the size and repeats of the throughput measurement)."""
    variants = [("fp32, BN folded, channels_last: as the app runs", "fp32", lambda pair: pair.predictors),
                ("fp32, BN folded, weights in contiguous format", "fp32",
                 lambda pair: {t: fold_bn(copy.deepcopy(m).eval()) for t, m in pair.models.items()}),
                ("fp32, the models themselves: as before folding", "fp32", lambda pair: dict(pair.models))]
    if resolve_precision("auto", device) == "bf16":
        variants.append(("bf16, BN folded: a bfloat16 copy", "bf16", lambda pair: pair.predictors))
    flops = prediction_flops(pair_on(device, "fp32"), example)
    throughput = matmul_flops_per_s(device, *matmul)
    floor = (f"compute floor {1000 * flops / throughput:.2f} ms = {flops / 1e9:.3f} GFLOP / "
             f"{throughput / 1e9:.0f} GFLOP/s fp32 matmul")
    pairs = []
    for _, precision, predictors in variants:
        pair = pair_on(device, precision)
        pair.predictors = predictors(pair)
        pairs.append(pair)
    os.environ.pop("BNAPP_PRECISION", None)
    ms: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for times, pair in zip(ms, pairs):
            times += time_calls(lambda pair=pair: predict_images(pair, [open_image(example)]), max(1, n // rounds),
                                warmup)
    for i, ((what, _, _), times) in enumerate(zip(variants, ms)):
        print(f"server-side on {device.type}, one image, both CNN twins ({what}; flip+shift TTA: 6 views): "
              f"{percentiles(times)}" + (f"  [{floor}]" if i == 0 else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="2 timed calls of each after 1 warm-up (CI)")
    a = ap.parse_args()
    rounds, warmup, matmul = (1, 1, (512, 2)) if a.quick else (5, 5, (2048, 10))
    if a.quick:
        a.n = 2
    print(machine_line())
    example = sorted(EXAMPLES.glob("*.png"))[0]
    for device in [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []):
        server_side(device, example, a.n, rounds, warmup, matmul)
    print(f"app.py predicts in {prediction_precision(machine.device())} on {machine.device().type} here "
          "(BNAPP_PRECISION=auto)")
    if importlib.util.find_spec("gradio") is None:
        print("round trips skipped: gradio is not installed here")
        return

    from gradio_client import Client, handle_file

    # gradio_client builds a TLS context (loading the CA bundle) for every upload and download, even over
    # plain http; a client that passes one shared context (httpx takes an SSLContext as `verify`) skips that.
    clients = {"default gradio_client": {},
               "gradio_client with one shared TLS context": {"ssl_verify": ssl.create_default_context()}}
    with app_process() as (url, _):
        for kind, options in clients.items():
            client = Client(url, verbose=False, **options)
            f = handle_file(str(example))
            ms = time_calls(lambda client=client, f=f: client.predict(f, "cnn", api_name="/predict"), min(a.n, 100),
                            warmup)
            print(f"{kind}, round trip on loopback, /predict with the CNN pair (app.py in its own process): "
                  f"{percentiles(ms)}")
    for kind, options in clients.items():
        print(f"{kind}, the same upload to a Gradio endpoint that does nothing (the floor): "
              f"{percentiles(client_floor(example, min(a.n, 100), warmup, **options))}")

if __name__ == "__main__":
    main()
