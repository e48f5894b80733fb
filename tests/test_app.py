"""The app end to end: launched on a free port, called with gradio_client as a program would."""
from __future__ import annotations

import io
import json
import os
import re
import threading
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file  # installed with gradio
from gradio_client.exceptions import AppError
from PIL import Image

from bnapp.training.limits import TrainLimits

pytestmark = pytest.mark.e2e
LIMITS = TrainLimits.from_env()  # what the `server` fixture's app was built with


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def train_kwargs(client: Client, **changes) -> dict:
    """/train's arguments by name: a short tutorial-MLP run unless changed, with no time budget (where
    /train takes one, a budget would re-plan the run's steps to fill it)."""
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/train"]["parameters"]
    names = {p["parameter_name"] for p in info}
    args = dict(arch="mlp", recipe="tutorial", epochs=1, batch_size=32, lr=1e-3, optimizer="adam", placement="before",
                train_subset=256, seed=0, budget=0, landscape=False) | changes
    assert set(args) - {"budget", "landscape"} <= names, names
    return {k: v for k, v in args.items() if k in names}


def refusal(call) -> str:
    """The message of the error a request gets."""
    with pytest.raises(AppError) as e:
        call()
    return str(e.value)


def wait_for(condition, what: str, timeout: float = 60) -> None:
    """Until `condition()` holds; `timeout` is only a fail-safe against a hang, far above the expected wait."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def example_path(server) -> str:
    return str(sorted((server[1] / "examples").glob("*.png"))[0])


def test_starting_the_app_writes_nothing_into_the_package(server):
    from conftest import ROOT

    assert not list((ROOT / "bnapp").rglob("*.pyi")), "Gradio writes .pyi files beside component subclasses"


def test_predict_returns_both_twins_and_matches_bnapp(client, server, app_env):
    from bnapp.data.images import open_image
    from bnapp.services.prediction import predict_images
    from bnapp.store.pairs import load_pairs

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


@pytest.mark.parametrize("args,message", [
    (("CIFAR-10 test images", 1, "train"),
     "train mode needs at least 2 images: BatchNorm cannot take statistics of a batch of 1"),
    (("my image (Compare tab)", 16, "eval"), "Upload an image in the Compare tab first, or pick the test images."),
])
def test_activation_requests_bnapp_cannot_serve_get_its_message(client, args, message):
    """Values every component accepts, which only bnapp's own checks refuse."""
    source, n, mode = args
    assert refusal(lambda: client.predict("cnn", source, n, mode, "block2a", None, api_name="/activations")) == message


def test_a_batch_beyond_the_slider_is_refused_by_gradio_before_bnapp(client):
    message = refusal(lambda: client.predict("cnn", "CIFAR-10 test images", 5000, "eval", "block2a", None,
                                             api_name="/activations"))
    assert message == "Value 5000 is greater than maximum value 1024."  # Gradio's Slider(maximum=stats.MAX_BATCH)


def test_training_streams_and_its_pair_then_works(server):
    c = Client(server[0], verbose=False)
    job = c.submit(**train_kwargs(c, epochs=2), api_name="/train")
    updates = list(job)
    assert len(updates) >= 10, len(updates)
    curves, evolution, landscape, progress, summary, files, pair = updates[-1]
    assert "Final test accuracy" in summary and "run1-mlp" in summary
    assert sorted(os.path.basename(f) for f in files) == ["mlp-bn.json", "mlp-bn.safetensors", "mlp-plain.json",
                                                         "mlp-plain.safetensors"]
    bn, plain, *_ = c.predict(handle_file(example_path(server)), "run1-mlp", api_name="/predict")
    assert bn["label"] and plain["label"]


def wait_until_training(job) -> None:
    """Until the run has streamed two updates: it holds the training slot and is stepping."""
    wait_for(lambda: len(job.outputs()) >= 2 or job.done(), "the run's first updates")
    assert not job.done(), job.exception()


# A CNN run of 20 epochs of 512 images in batches of 2: thousands of steps, minutes of work -- a run
# that is still going whenever these tests look, unless it was stopped.
LONG_RUN = dict(arch="cnn", recipe="quick", epochs=20, batch_size=2, lr=0.05, optimizer="sgd", train_subset=512)


def background_runs() -> list[threading.Thread]:
    """The server's training threads (the `server` fixture runs the app in this process)."""
    return [t for t in threading.enumerate() if t.name == "bnapp-background" and t.is_alive()]


def test_stop_ends_a_run_early_and_predictions_answer_meanwhile(server):
    trainer_client, other = Client(server[0], verbose=False), Client(server[0], verbose=False)
    job = trainer_client.submit(**train_kwargs(trainer_client, **LONG_RUN), api_name="/train")
    wait_until_training(job)
    bn, *_ = other.predict(handle_file(example_path(server)), "cnn", api_name="/predict")
    assert bn["label"] and not job.done()  # answered while the run trains
    assert trainer_client.predict(api_name="/stop") == "Stopping after the current step..."
    job.result(timeout=120)
    *_, progress, summary, files, pair = job.outputs()[-1]
    assert summary.startswith("**Stopped early; partial result**")
    done, total = map(int, re.search(r"step (\d+)/(\d+)", progress).groups())
    assert done < total
    seconds = float(re.search(r"\*\* in (\d+) s on ", summary).group(1))
    assert seconds < LIMITS.max_seconds  # ended by Stop, not by the server's time budget (BNAPP_MAX_SECONDS)
    wait_for(lambda: not background_runs(), "the stopped run's thread to end")


@pytest.mark.parametrize("change,message", [
    (dict(epochs=1000), f"epochs must be between 0.01 and {LIMITS.max_epochs:g} (the server's limit, set by "
                        f"BNAPP_MAX_EPOCHS); got 1000"),
    (dict(lr=100), f"learning rate must be between {LIMITS.min_lr:g} and {LIMITS.max_lr:g} (the server's limit, set by "
                   f"BNAPP_MAX_LR); got 100"),
    (dict(lr="nan"), "learning rate must be a finite number, got 'nan'"),
    (dict(batch_size=-5), f"batch size must be between {LIMITS.min_batch} and {LIMITS.max_batch} (the server's limit, "
                          f"set by BNAPP_MAX_BATCH); got -5"),
    (dict(train_subset=10**9), f"training images must be between 32 and {LIMITS.max_train_subset} (the server's "
                               f"limit, set by BNAPP_MAX_TRAIN_SUBSET); got 1e+09"),
    (dict(seed=-1), "seed must be between 0 and 2.14748e+09; got -1"),
])
def test_out_of_range_training_requests_get_bnapps_message(client, change, message):
    """Values the Train tab's components accept (its Number fields have no maximum), refused by bnapp's
    server-side limits -- which a client can reach, whatever the page shows."""
    assert refusal(lambda: client.predict(**train_kwargs(client, **change), api_name="/train")) == message


@pytest.mark.parametrize("change,message", [
    (dict(optimizer="rmsprop"),
     "Value: 'rmsprop' (type: <class 'str'>) is not in the list of choices: ['sgd', 'adam']"),
    (dict(recipe="nope"), "Value: nope is not in the list of choices: "),
    (dict(epochs=0.001), "Value 0.001 is less than minimum value 0.01."),
])
def test_values_outside_a_components_choices_are_refused_by_gradio(client, change, message):
    """Gradio's own validation: these never reach bnapp."""
    assert refusal(lambda: client.predict(**train_kwargs(client, **change), api_name="/train")).startswith(message)


def test_a_cancelled_run_frees_the_training_slot(server):
    first, second = Client(server[0], verbose=False), Client(server[0], verbose=False)
    job = first.submit(**train_kwargs(first, **LONG_RUN), api_name="/train")
    wait_until_training(job)
    assert background_runs()
    job.cancel()  # what a closed tab does to its event
    wait_for(lambda: not background_runs(), "the cancelled run's thread to end")  # left alone it would run for minutes
    updates = list(second.submit(**train_kwargs(second), api_name="/train"))
    assert "Final test accuracy" in updates[-1][4]


# -- the experiments, on an app of their own: the tutorial reports every 500 mini-batches of 10, so it
# needs 1,000 training images (5 epochs of 100 batches) to report once; the `server` fixture has 512.

@pytest.fixture(scope="module")
def lab(app_env, tmp_path_factory):
    from conftest import free_port

    from bnapp.data.synthetic import make_synthetic_npz
    from bnapp.ui import build_app

    root, _, ckpt = app_env
    data = make_synthetic_npz(tmp_path_factory.mktemp("lab") / "lab.npz", n_train=1000, n_test=200)
    demo = build_app(ckpt, root / "examples")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                                                  quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False), data
    demo.close()


@pytest.fixture
def lab_client(lab, monkeypatch):
    client, data = lab
    monkeypatch.setenv("BNAPP_DATA", str(data))  # read where the app first needs training data
    return client


SWEEP_ROW = re.compile(r"lr (\S+) (BN|plain): (?:diverged|(\d+\.\d)%)")


def test_lr_sweep_streams_a_row_for_each_rate_and_twin(lab_client):
    updates = list(lab_client.submit("mlp", "0.0003 0.003", api_name="/lr_sweep"))
    expected = [("0.0003", "BN"), ("0.0003", "plain"), ("0.003", "BN"), ("0.003", "plain")]
    assert [[m.groups()[:2] for m in SWEEP_ROW.finditer(summary)] for _, summary in updates] == \
        [expected[:n] for n in range(1, 5)]  # a row more as each twin's run ends
    plot, summary = updates[-1]
    rows = {(lr, twin): float(acc) if acc else None for lr, twin, acc in SWEEP_ROW.findall(summary)}  # None: diverged
    assert all(0 <= acc <= 100 for acc in rows.values() if acc is not None)
    assert "shows early progress, not which rates train" in summary  # a short sweep claims no trainability
    drawn = {}
    for trace in json.loads(plot["plot"])["data"]:
        # the twins' lines (not diverged/stalled marks)
        if trace.get("name") in ("with BatchNorm", "without BatchNorm"):
            twin = "BN" if trace["name"] == "with BatchNorm" else "plain"
            drawn |= {(f"{x:g}", twin): round(100 * y, 1) for x, y in zip(trace["x"], trace["y"])}
    assert drawn and all(rows[key] == acc for key, acc in drawn.items())  # the plot shows the summary's numbers


@pytest.mark.parametrize("rates,message", [
    ("0.1 100", f"learning rate must be between {LIMITS.min_lr:g} and {LIMITS.max_lr:g} (the server's limit, set by "
                f"BNAPP_MAX_LR); got 100"),
    ("0.1 fast", "Learning rates: numbers separated by spaces, e.g. 0.03 0.1 0.3 1 3"),
    ("1 2 3 4 5 6 7 8 9", "Give between 1 and 8 learning rates."),
])
def test_a_sweep_bnapp_cannot_run_is_refused_before_any_training(client, rates, message):
    assert refusal(lambda: client.predict("mlp", rates, api_name="/lr_sweep")) == message


def test_placement_reports_the_three_accuracies(lab_client):
    updates = list(lab_client.submit("mlp", api_name="/placement"))
    plot, summary = updates[-1]
    for variant in ("BN before ReLU", "BN after ReLU", "no BN"):
        acc = re.search(re.escape(variant) + r": (\d+\.\d)% \+- (\d+\.\d) \(n=3\)", summary)
        assert acc and 0 <= float(acc.group(1)) <= 100, (variant, summary)
    assert re.search(r"BN before ReLU minus BN after ReLU: [+-]\d+\.\d points \+- \d+\.\d "
                     r"\(95%, paired by seed, n=3\): (a difference|no clear difference)", summary), summary
    names = {trace.get("name") for trace in json.loads(plot["plot"])["data"]}
    assert {"BN before ReLU", "BN after ReLU", "no BN"} <= names


def test_tutorial_table_streams_the_tutorials_report(lab_client):
    updates = list(lab_client.submit(api_name="/tutorial_table"))
    assert all(later.startswith(earlier) for earlier, later in zip(updates, updates[1:]))  # line by line
    lines = updates[-1].splitlines()
    assert lines[0] == "Training both MLP twins: 500 steps of batch 10 on 1000 images."
    losses = [re.fullmatch(r"\[\s*(bn|plain)\] Loss after mini-batch\s+100 \(epoch 5\): (\d+\.\d{3})", line)
              for line in lines]
    assert sorted(m.group(1) for m in losses if m) == ["bn", "plain"]  # at mini-batch 500 of 500
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [int(line.split()[1]) for line in epochs] == [1, 2, 3, 4, 5]
    assert all(re.search(r"epoch \d bn: train loss \d+\.\d{3}, test accuracy \d+\.\d%  epoch \d plain: ", line)
               for line in epochs)


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


def test_a_run_with_landscape_measurements_draws_them_and_summarises_them(server):
    c = Client(server[0], verbose=False)
    updates = list(c.submit(**train_kwargs(c, landscape=True, epochs=2), api_name="/train"))
    curves, evolution, landscape, progress, summary, files, pair = updates[-1]
    assert "Loss landscape" in summary and "effective beta-smoothness" in summary
    assert "effective beta-smoothness" in str(landscape) and "gradient predictiveness" in str(landscape)


def test_the_noisy_bn_experiment_streams_to_its_summary(client):
    updates = list(client.submit("mlp", api_name="/noisy_bn"))
    figure, summary = updates[-1]
    assert "mean +- sd over 3 seed(s)" in summary and "noisy BN" in summary and "BN" in summary
    assert "Noisy BN (Santurkar et al. 2018)" in str(figure)


def test_one_run_per_visitor_a_bounded_line_and_each_waiting_visitor_sees_their_place(server):
    """A script with many clients (one running, a full line behind it, one more): the visitor with a run cannot
    queue another (a run or an experiment), the others wait in line and are told their place, a full line is
    refused, predictions still answer."""
    clients = [Client(server[0], verbose=False) for _ in range(LIMITS.max_waiting + 2)]
    holder, first_waiting, *others, late = clients
    running = holder.submit(**train_kwargs(holder, **LONG_RUN), api_name="/train")
    wait_until_training(running)
    message = refusal(lambda: holder.predict(**train_kwargs(holder), api_name="/train"))
    assert message.startswith("You already have your training run running since")
    assert "already have your training run" in refusal(lambda: holder.predict("cnn", "0.1", api_name="/lr_sweep"))
    waiting = first_waiting.submit(**train_kwargs(first_waiting), api_name="/train")
    wait_for(lambda: len(waiting.outputs()) >= 1, "the waiting run's place")
    assert "1 run ahead of you" in waiting.outputs()[0][3] and not waiting.done()
    assert "already have your training run waiting" in refusal(
        lambda: first_waiting.predict(**train_kwargs(first_waiting), api_name="/train"))
    queued = [c.submit(**train_kwargs(c), api_name="/train") for c in others]
    wait_for(lambda: all(len(j.outputs()) >= 1 for j in queued), "every waiting run's place")
    ahead = sorted(int(re.search(r"(\d+) runs? ahead of you", j.outputs()[0][3]).group(1)) for j in queued)
    assert ahead == list(range(2, len(others) + 2))  # each told its own place, behind the run and the first waiting
    assert refusal(lambda: late.predict(**train_kwargs(late), api_name="/train")).startswith(
        f"The server is busy: {LIMITS.max_waiting} runs are waiting for the training cores. Try again in about")
    bn, *_ = late.predict(handle_file(example_path(server)), "cnn", api_name="/predict")
    assert bn["label"]  # predictions never wait in the line
    for job in queued:
        job.cancel()  # closed tabs: their places are given back
    wait_for(lambda: all(j.done() for j in queued), "the cancelled places")
    assert holder.predict(api_name="/stop") == "Stopping after the current step..."
    assert "Final test accuracy" in waiting.result(timeout=120)[4]  # its turn came
    assert "Final test accuracy" in late.submit(**train_kwargs(late), api_name="/train").result(timeout=120)[4]
