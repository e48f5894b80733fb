"""The app end to end: launched on a free port, called with gradio_client as a program would."""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file  # installed with gradio
from gradio_client.exceptions import AppError
from PIL import Image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def example_path(server) -> str:
    return str(sorted((server[1] / "examples").glob("*.png"))[0])


def test_starting_the_app_writes_nothing_into_the_package(server):
    from conftest import ROOT

    assert not list((ROOT / "bnapp").glob("*.pyi")), "Gradio writes .pyi files beside component subclasses"


def test_predict_returns_both_twins_and_matches_bnapp(client, server, app_env):
    from bnapp.images import open_image
    from bnapp.pairs import load_pairs
    from bnapp.services.prediction import predict_images

    path = example_path(server)
    bn, plain, seen, plot, verdict = client.predict(handle_file(path), "cnn", api_name="/predict")
    for label in (bn, plain):
        assert abs(sum(c["confidence"] for c in label["confidences"]) - 1) < 1e-4
        assert label["label"] == label["confidences"][0]["label"]
    own = predict_images(load_pairs(app_env[2]).pairs["cnn"], [open_image(path)])[0]
    assert bn["label"] == own.top1("bn")[0] and plain["label"] == own.top1("plain")[0]
    assert "True label" in verdict


def write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def image_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def bad_inputs(tmp_path) -> dict[str, str]:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    bomb = Image.new("L", (15000, 15000))  # 225 M pixels > Pillow's limit; compresses to a few hundred KB
    return {
        "not an image": write(tmp_path, "notes.png", b"hello, I am text"),
        "zero bytes": write(tmp_path, "empty.png", b""),
        "truncated": write(tmp_path, "cut.png", image_bytes(noisy)[:3000]),
        "decompression bomb": write(tmp_path, "bomb.png", image_bytes(bomb, optimize=True)),
    }


GOOD_ODD_INPUTS = {
    "animated gif": lambda: image_bytes(Image.new("RGB", (40, 30), "red"), "GIF", save_all=True,
                                         append_images=[Image.new("RGB", (40, 30), "blue")]),
    "16-bit": lambda: image_bytes(Image.fromarray(np.full((20, 30), 50000, np.uint16))),
    "cmyk": lambda: image_bytes(Image.new("CMYK", (20, 20), (0, 50, 100, 0)), "JPEG"),
    "palette": lambda: image_bytes(Image.new("RGB", (20, 20), "green").convert("P")),
    "rgba": lambda: image_bytes(Image.new("RGBA", (20, 20), (0, 0, 255, 128))),
    "grayscale": lambda: image_bytes(Image.new("L", (20, 20), 128)),
    "1x1": lambda: image_bytes(Image.new("RGB", (1, 1), "white")),
    "10000x100 strip": lambda: image_bytes(Image.new("RGB", (10000, 100), "yellow")),
    "exif rotated": lambda: image_bytes(Image.new("RGB", (40, 20), "red"), "JPEG",
                                        exif=(lambda e: (e.__setitem__(274, 6), e)[1])(Image.Exif()).tobytes()),
}


def test_bad_inputs_get_clear_errors_and_the_server_keeps_serving(client, server, tmp_path):
    report = []
    for case, path in bad_inputs(tmp_path).items():
        with pytest.raises(AppError) as e:
            client.predict(handle_file(path), "cnn", api_name="/predict")
        message = str(e.value)
        assert "Could not use the image" in message and "Traceback" not in message, (case, message)
        report.append((case, message))
        bn, *_ = client.predict(handle_file(example_path(server)), "cnn", api_name="/predict")
        assert bn["label"]
    for case, make in GOOD_ODD_INPUTS.items():
        path = write(tmp_path, f"{case.replace(' ', '_')}.img", make())
        bn, plain, *_ = client.predict(handle_file(path), "mlp", api_name="/predict")
        assert bn["label"] and plain["label"], case
        report.append((case, "ok: " + bn["label"]))
    with pytest.raises(AppError, match="Unknown model pair"):
        client.predict(handle_file(example_path(server)), "../../etc/passwd", api_name="/predict")
    print("\n".join(f"{c:>20}: {m}" for c, m in report))


def test_several_images_make_a_table(client, server, tmp_path):
    paths = [handle_file(p) for p in sorted((server[1] / "examples").glob("*.png"))[:3]]
    paths.append(handle_file(bad_inputs(tmp_path)["not an image"]))
    gallery, table, note = client.predict(paths, "mlp", api_name="/predict_many")
    assert len(gallery) == 3 and len(table["data"]) == 3
    assert "Skipped" in note and "notes.png" in note


def test_activations_endpoint_returns_figures(client):
    for mode in ("eval", "train"):
        overview, hist, channels, layer, note = client.predict("cnn", "CIFAR-10 test images", 16, mode, "block2a", None,
                                                               api_name="/activations")
        assert overview["type"] == "plotly" and "block2a" in hist["plot"] and mode in note
    with pytest.raises(AppError, match="maximum value 1024|between 1 and"):
        client.predict("cnn", "CIFAR-10 test images", 5000, "eval", "block2a", None, api_name="/activations")


def test_training_streams_and_its_pair_then_works(server):
    c = Client(server[0], verbose=False)
    job = c.submit("mlp", "tutorial", 2, 32, 1e-3, "adam", "before", 256, 0, api_name="/train")
    updates = list(job)
    assert len(updates) >= 10, len(updates)
    curves, evolution, progress, summary, files, pair = updates[-1]
    assert "Final test accuracy" in summary and "run1-mlp" in summary
    assert sorted(os.path.basename(f) for f in files) == ["mlp-bn.json", "mlp-bn.safetensors", "mlp-plain.json",
                                                         "mlp-plain.safetensors"]
    bn, plain, *_ = c.predict(handle_file(example_path(server)), "run1-mlp", api_name="/predict")
    assert bn["label"] and plain["label"]


def wait_until_training(job) -> None:
    """Until the run has streamed two updates: it holds the training slot and is stepping."""
    while len(job.outputs()) < 2:
        time.sleep(0.1)
        assert not job.done(), job.exception()


def test_stop_ends_a_run_promptly_and_predictions_answer_meanwhile(server):
    trainer_client, other = Client(server[0], verbose=False), Client(server[0], verbose=False)
    job = trainer_client.submit("cnn", "quick", 20, 16, 0.05, "sgd", "before", 512, 0, api_name="/train")
    wait_until_training(job)
    t = time.perf_counter()
    bn, *_ = other.predict(handle_file(example_path(server)), "cnn", api_name="/predict")
    assert bn["label"] and time.perf_counter() - t < 10
    t = time.perf_counter()
    trainer_client.predict(api_name="/stop")
    job.result(timeout=60)
    final_summary = job.outputs()[-1][3]
    assert "Stopped early" in final_summary
    assert time.perf_counter() - t < 30


@pytest.mark.parametrize("args,message", [
    (("mlp", "tutorial", 1000, 32, 1e-3, "adam", "before", 256, 0), "epochs must be between"),
    (("mlp", "tutorial", 1, 32, "nan", "adam", "before", 256, 0), "finite|number"),
    (("mlp", "tutorial", 1, -5, 1e-3, "adam", "before", 256, 0), "batch size"),
    (("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 10**9, 0), "training images"),
    (("mlp", "tutorial", 1, 32, 1e-3, "rmsprop", "before", 256, 0), "not in the list of choices|optimizer"),
    (("mlp", "nope", 1, 32, 1e-3, "adam", "before", 256, 0), "not in the list of choices|unknown recipe"),
])
def test_out_of_range_training_requests_are_refused(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/train")


def test_a_cancelled_run_frees_the_training_slot(server):
    first, second = Client(server[0], verbose=False), Client(server[0], verbose=False)
    job = first.submit("cnn", "quick", 20, 16, 0.05, "sgd", "before", 512, 0, api_name="/train")
    wait_until_training(job)
    job.cancel()  # what a closed tab does to its event
    t = time.perf_counter()
    updates = list(second.submit("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 256, 0, api_name="/train"))
    assert "Final test accuracy" in updates[-1][3]
    assert time.perf_counter() - t < 60, "the cancelled run must not hold the slot"


def test_broken_checkpoints_at_start_leave_the_good_pairs_serving(tmp_path, app_env):
    import shutil

    from bnapp.services.state import ServerState

    root, _, ckpt = app_env
    broken = tmp_path / "ckpt"
    shutil.copytree(ckpt, broken)
    (broken / "cnn-plain.safetensors").write_bytes(b"garbage")
    (broken / "mlp-bn.safetensors").unlink()
    state = ServerState.load(broken, root / "examples")
    assert not state.pairs
    assert len(state.load_errors) == 2 and any("cnn-plain.safetensors" in e for e in state.load_errors)
    (broken / "mlp-bn.safetensors").write_bytes((ckpt / "mlp-bn.safetensors").read_bytes())
    state = ServerState.load(broken, root / "examples")
    assert list(state.pairs) == ["mlp"] and "cnn" in state.load_errors[0]


def test_cached_images_are_never_served_half_written(tmp_path):
    """Gradio 6.31 rewrites a cached image in place, so while two requests show the same image a
    download could read a truncated file (seen under the load bench). bnapp's replacement writes each
    cached image once, atomically: a reader racing a writer always reads the whole file."""
    import gradio as gr

    from bnapp.ui import gradio_fixes

    assert gradio_fixes.install()

    img = Image.effect_noise((160, 160), 64).convert("RGB")
    path = Path(gr.processing_utils.save_pil_to_cache(img, str(tmp_path)))
    whole = path.read_bytes()
    stop = threading.Event()

    def save_again():
        while not stop.is_set():
            assert gr.processing_utils.save_pil_to_cache(img, str(tmp_path)) == str(path)

    writer = threading.Thread(target=save_again)
    writer.start()
    try:
        reads = [path.read_bytes() for _ in range(3000)]
    finally:
        stop.set()
        writer.join()
    assert all(r == whole for r in reads)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging file left behind


def test_app_refuses_an_unknown_precision():
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "BNAPP_PRECISION": "half"}
    r = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "must be one of auto, fp32, bf16, not 'half'" in r.stderr
