"""Load on loopback: 16 concurrent gradio_client clients each send 25 predictions while a training run
is in progress. Prints errors, p50/p95 latency and throughput (target: 0 errors, p95 <= 1 s).

    BNAPP_DATA=../shared/data/cifar10.npz python bench/load.py [--clients 16 --requests 25]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import data_path, launch_local_app, machine_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=25)
    a = ap.parse_args()
    data_path()
    print(machine_line())
    from gradio_client import Client, handle_file

    demo, url = launch_local_app()
    examples = sorted((ROOT / "examples").glob("*.png"))
    trainer = Client(url, verbose=False)
    job = trainer.submit("cnn", "quick", 4, 256, 0.2, "sgd", "before", 8000, 0, api_name="/train")
    while len(job.outputs()) < 2:  # the run is really training before the load starts
        time.sleep(0.2)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        c = Client(url, verbose=False)
        for i in range(a.requests):
            f = handle_file(str(examples[(k + i) % len(examples)]))
            t = time.perf_counter()
            try:
                bn, plain, *_ = c.predict(f, "cnn", api_name="/predict")
                assert bn["label"] and plain["label"]
                with lock:
                    latencies.append(time.perf_counter() - t)
            except Exception as e:  # counted, never fatal: this is what the bench measures
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    training = not job.done()
    trainer.predict(api_name="/stop")
    job.result(timeout=120)
    ms = sorted(1000 * x for x in latencies)
    p95 = statistics.quantiles(ms, n=20)[18] if len(ms) >= 2 else float("nan")
    print(f"{a.clients} clients x {a.requests} predictions, training run in progress throughout: {training}")
    print(f"errors {len(errors)}; latency p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms; "
          f"throughput {len(ms) / wall:.1f} predictions/s over {wall:.1f} s")
    for e in errors[:5]:
        print("  error:", e)
    demo.close()


if __name__ == "__main__":
    main()
