"""Load on loopback: 16 concurrent gradio_client clients each send 25 predictions to `python app.py`
(its own process) while a training run is in progress. Prints errors, p50/p95 latency, throughput and
CPU per prediction (target: 0 errors, p95 <= 1 s); `--no-training` gives the same load without a run,
`--default-client` the same load from stock clients; `--quick` a few requests and a tiny run (on a synthetic
stand-in where $BNAPP_DATA is unset), only to show the bench still runs against the app's endpoints (CI).

/train is called by its parameters' names and its progress read by its output's label, as the API page
gives them, so a changed endpoint breaks the bench loudly instead of silently.

    BNAPP_DATA=../shared/data/cifar10.npz python bench/load.py [--clients 16 --requests 25] [--no-training]
        [--default-client] [--quick]
"""
from __future__ import annotations

import argparse
import re
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import app_process, cpu_seconds, data_path, machine_line  # noqa: E402
from bnapp import EXAMPLES  # noqa: E402

# The run the load competes with: the CNN's quick preset over 8,000 images, no budget (its steps are fixed)
RUN = dict(arch="cnn", recipe="quick", epochs=4, batch_size=256, lr=0.2, optimizer="sgd", placement="before",
           train_subset=8000, seed=0, budget=0, landscape=False)
QUICK_RUN = RUN | dict(arch="mlp", recipe="tutorial", epochs=20, batch_size=32, lr=1e-3, optimizer="adam",
                       train_subset=256)


def output_index(client, api_name: str, label: str) -> int:
    """Where the output labelled `label` is in `api_name`'s results (from the API page)."""
    returns = client.view_api(print_info=False, return_format="dict")["named_endpoints"][api_name]["returns"]
    labels = [r.get("label") for r in returns]
    if label not in labels:
        raise SystemExit(f"{api_name} has no output labelled {label!r} (it has {labels}): update the bench")
    return labels.index(label)


def training_step(job, progress_at: int) -> int:
    """The step number in the run's latest progress line ("training: step 12/124 ...")."""
    found = re.search(r"step (\d+)/", str(job.outputs()[-1][progress_at]))
    return int(found.group(1)) if found else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=25)
    ap.add_argument("--no-training", action="store_true", help="the same load with no run in progress, for comparison")
    ap.add_argument("--quick", action="store_true", help="2 clients x 3 predictions beside a tiny run (CI)")
    ap.add_argument("--default-client", action="store_true",
                    help="stock gradio_client clients, each building a TLS context per file "
                         "(their CPU is the server's)")
    a = ap.parse_args()
    if a.quick:
        a.clients, a.requests = 2, 3
    data_path(a.quick)  # quick mode without $BNAPP_DATA: a stand-in, which the app is then given
    print(machine_line())
    from gradio_client import Client, handle_file

    examples = sorted(EXAMPLES.glob("*.png"))
    with app_process() as (url, server_pid):
        trainer = Client(url, verbose=False)
        progress_at = output_index(trainer, "/train", "progress")
        job = None if a.no_training else trainer.submit(**(QUICK_RUN if a.quick else RUN), api_name="/train")
        while job and len(job.outputs()) < 2:  # the run is really training before the load starts
            if job.done():
                raise SystemExit(f"/train ended before the load began: {job.exception()}")
            time.sleep(0.2)
        step_before = training_step(job, progress_at) if job else 0
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        # shared: gradio_client would build one per upload and download, loading the CA bundle each time
        # (~2/3 of this process's CPU), which on 2 cores the server pays for
        options = {} if a.default_client else {"ssl_verify": ssl.create_default_context()}

        def worker(k: int) -> None:
            c = Client(url, verbose=False, **options)  # httpx takes an SSLContext as `verify`
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

        t0, server_cpu0, own_cpu0 = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        server_cpu, own_cpu = cpu_seconds(server_pid) - server_cpu0, time.process_time() - own_cpu0
        training = job is not None and not job.done()
        if job:
            steps_during = training_step(job, progress_at) - step_before
            trainer.predict(api_name="/stop")
            job.result(timeout=300)
    ms = sorted(1000 * x for x in latencies)
    p95 = statistics.quantiles(ms, n=20)[18] if len(ms) >= 2 else float("nan")
    print(f"{a.clients} clients x {a.requests} predictions, " + (
        f"training run in progress throughout: {training} ({steps_during} training steps of both twins "
        "during the load)" if job else "no training run"))
    print(f"errors {len(errors)}; latency p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms; "
          f"throughput {len(ms) / wall:.1f} predictions/s over {wall:.1f} s")
    n = max(1, len(ms) + len(errors))
    print(f"CPU per prediction: app {1000 * server_cpu / n:.0f} ms (training included), "
          f"these {a.clients} clients {1000 * own_cpu / n:.0f} ms")
    for e in errors[:5]:
        print("  error:", e)
    if errors or not ms:
        raise SystemExit(f"{len(errors)} of {n} predictions failed")


if __name__ == "__main__":
    main()
