"""Prediction latency with the shipped CNN pair: (1) server-side side-by-side prediction for one image
(decode, crop/resize, both twins, probabilities); (2) a gradio_client round trip on loopback.

    python bench/predict_speed.py [--n 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import launch_local_app, machine_line  # noqa: E402
from bnapp.predict import load_pairs, open_image, predict_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms  (n={len(ms)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    print(machine_line())
    pair = load_pairs(ROOT / "checkpoints").pairs["cnn"]
    example = sorted((ROOT / "examples").glob("*.png"))[0]
    for _ in range(10):
        predict_images(pair, [open_image(example)])
    ms = []
    for _ in range(a.n):
        t = time.perf_counter()
        predict_images(pair, [open_image(example)])
        ms.append(1000 * (time.perf_counter() - t))
    print(f"server-side, one image, both CNN twins (fp32, flip+shift TTA: 6 views): {percentiles(ms)}")

    from gradio_client import Client, handle_file

    demo, url = launch_local_app()
    client = Client(url, verbose=False)
    f = handle_file(str(example))
    for _ in range(5):
        client.predict(f, "cnn", api_name="/predict")
    ms = []
    for _ in range(min(a.n, 100)):
        t = time.perf_counter()
        client.predict(f, "cnn", api_name="/predict")
        ms.append(1000 * (time.perf_counter() - t))
    print(f"gradio_client round trip on loopback, /predict with the CNN pair: {percentiles(ms)}")
    demo.close()


if __name__ == "__main__":
    main()
