"""Preprocessing: every kind of image a person might drop in, generated here."""
import io
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from bnapp.data import images as I
from bnapp.measure import infer
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.services import prediction as P
from bnapp.services.state import pair_title
from bnapp.store import pairs as PR
from bnapp.store.checkpoints import base_metadata, save
from bnapp.system import sharing


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "red")
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 degrees clockwise when shown
    out = I.open_image(png_bytes(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)
    top = np.asarray(out)[2, 10]
    assert top[2] > 200 and top[0] < 60, "after rotation the blue half is on top"


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_modes_become_rgb8(mode):
    base = Image.new("RGB", (33, 17), (200, 100, 50))
    img = base.convert(mode) if mode != "I;16" else Image.fromarray(np.full((17, 33), 40000, np.uint16))
    out = I.open_image(png_bytes(img, "TIFF" if mode == "CMYK" else "PNG"))
    assert out.mode == "RGB" and out.size == (33, 17)


def test_16_bit_is_scaled_not_clipped():
    img = Image.fromarray(np.array([[0, 32768, 65535]], np.uint16))
    out = np.asarray(I.open_image(png_bytes(img)))[0, :, 0]
    assert out.tolist() == [0, 128, 255]


def test_transparency_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(I.open_image(png_bytes(img)))[0, 0].tolist() == [255, 255, 255]


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    px = np.asarray(I.open_image(buf.getvalue()))[0, 0]
    assert px[0] > 200 and px[1] < 50


@pytest.mark.parametrize("size", [(1, 1), (10000, 100), (100, 10000), (32, 32), (640, 480)])
def test_centre_crop_and_resize(size):
    small = I.to_model_input(Image.new("RGB", size, (10, 20, 30)))
    assert small.size == (32, 32)
    assert np.asarray(small)[16, 16].tolist() == [10, 20, 30]


def test_centre_crop_keeps_the_middle():
    img = Image.new("RGB", (300, 100), (0, 0, 0))
    img.paste((255, 255, 255), (100, 0, 200, 100))  # the centre square is white
    assert np.asarray(I.to_model_input(img)).min() > 240


@pytest.mark.parametrize("data,msg", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image at all", "not an image"),
    (png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))[:2000], "truncated"),
])
def test_bad_files_raise_clear_errors(data, msg):
    with pytest.raises(I.ImageError, match=msg):
        I.open_image(data)


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(I.ImageError, match="too large"):
        I.open_image(png_bytes(Image.new("L", (100, 100))))


def test_pairs_load_and_predict(tmp_path):
    for twin, model in build_pair("mlp").items():
        save(model.eval(), base_metadata(ModelConfig("mlp", twin == "bn"), InputSpec()) | {"test_accuracy": 0.5},
             tmp_path / f"mlp-{twin}")
    (tmp_path / "cnn-bn.json").write_text("{}")  # a broken pair is reported, not fatal
    report = PR.load_pairs(tmp_path)
    assert list(report.pairs) == ["mlp"] and "cnn" in report.errors[0]
    preds = P.predict_images(report.pairs["mlp"], [Image.new("RGB", (50, 40), "green")] * 2)
    for twin in ("bn", "plain"):
        probs = list(preds[0].probs[twin].values())
        assert abs(sum(probs) - 1) < 1e-5 and probs == sorted(probs, reverse=True)
    with pytest.raises(I.ImageError, match="at most"):
        P.probabilities(report.pairs["mlp"], torch.zeros(P.MAX_IMAGES + 1, 3, 32, 32, dtype=torch.uint8))


def test_examples_know_their_labels_by_pixels(tmp_path):
    from bnapp.data.cifar10 import load_cifar10
    from bnapp.data.examples import export_examples
    from bnapp.data.synthetic import make_synthetic_npz

    data = load_cifar10(make_synthetic_npz(tmp_path / "d.npz", 64, 200))
    rows = export_examples(data, tmp_path / "ex", per_class=2)
    ex = I.Examples.load(tmp_path / "ex")
    assert len(ex.paths) == len(rows) == 20
    first = I.open_image(ex.paths[0])
    assert ex.truth(first) == rows[0]["label"]
    assert ex.truth(Image.new("RGB", (32, 32))) is None


def test_requests_waiting_for_the_cores_are_answered_by_one_pass(monkeypatch):
    """Concurrent requests are combined into one forward pass per pair, and each gets exactly the
    probabilities it would get alone (eval-mode BN: an image's output ignores its batch-mates)."""
    pairs = {}
    for arch in ("mlp", "cnn"):
        models = {t: m.eval() for t, m in build_pair(arch, seed=3).items()}
        meta = {t: base_metadata(ModelConfig(arch, t == "bn"), InputSpec(tta="flip")) for t in models}
        pairs[arch] = PR.Pair(arch, models, meta)
    gen = torch.Generator().manual_seed(0)
    asks = [(pairs["cnn" if i % 3 else "mlp"],
             torch.randint(0, 256, (1 + i % 2, 3, 32, 32), dtype=torch.uint8, generator=gen))
            for i in range(6)]
    alone = [P._softmax_pair(p, x) for p, x in asks]
    passes = []
    real = P._softmax_pair
    monkeypatch.setattr(P, "_softmax_pair", lambda p, x: passes.append((p.name, len(x))) or real(p, x))
    answers = [None] * len(asks)

    def ask(i):
        answers[i] = P.probabilities(*asks[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    with sharing.cores.interactive():  # the cores are busy: all six requests queue up
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(P._combiner._pending) < len(asks) and time.monotonic() < deadline:
            time.sleep(0.01)
    for t in threads:
        t.join()
    assert sorted(passes) == [("cnn", 6), ("mlp", 3)]  # one pass per pair for all six
    for (pair, _), got, want in zip(asks, answers, alone):
        for twin in ("bn", "plain"):  # bf16 kernels may round differently for another batch size
            assert torch.allclose(got[twin], want[twin], atol=1e-5 if pair.precision == "fp32" else 1e-2)


@pytest.mark.slow
def test_bf16_predictions_run_on_a_bf16_copy_and_fp32_stays_for_the_rest(monkeypatch):
    models = {t: m.eval() for t, m in build_pair("cnn", seed=2).items()}
    meta = {t: base_metadata(ModelConfig("cnn", t == "bn"), InputSpec(tta="flip-shift"))
            | {"test_accuracy": 0.5, "test_accuracy_by_precision": {"fp32": 0.5, "bf16": 0.49}} for t in models}
    monkeypatch.setenv("BNAPP_PRECISION", "bf16")
    pair = PR.Pair("cnn", models, meta)
    assert pair.precision == "bf16" and pair.accuracy("bn") == 0.49 and "49.0%" in pair_title(pair)
    assert all(p.dtype == torch.bfloat16 for p in pair.predictors["bn"].parameters())
    assert all(p.dtype == torch.float32 for p in pair.models["bn"].parameters())  # activations and training keep fp32
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    got = P.probabilities(pair, x)
    for t, model in models.items():
        want = torch.softmax(infer.logits(model, x, pair.spec(t)), dim=1)
        assert got[t].dtype == torch.float32 and torch.allclose(got[t], want, atol=2e-2)
    monkeypatch.setenv("BNAPP_PRECISION", "fp32")
    pair = PR.Pair("cnn", models, meta)
    assert pair.predictors["bn"] is not models["bn"] and \
        all(p.dtype == torch.float32 for p in pair.predictors["bn"].parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in pair.predictors["bn"].modules()) and \
        pair.accuracy("plain") == 0.5
    monkeypatch.setenv("BNAPP_PRECISION", "fp16")
    with pytest.raises(ValueError, match="BNAPP_PRECISION must be one of auto, fp32, bf16"):
        PR.Pair("cnn", models, meta)


def test_accuracy_is_the_share_of_argmax_hits():
    """A model that always answers class 3: accuracy is the share of images labelled 3."""
    class AlwaysThree(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float() + 0 * self.w

    images = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    labels = torch.tensor([3, 3, 3, 1, 2, 3, 0, 9])
    spec = InputSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), tta="none")
    assert infer.accuracy(AlwaysThree(), images, labels, spec) == 0.5
