"""Test time: corruptions, BN statistics at test time, and the services behind the Test time tab."""
import colorsys
import copy
import io

import numpy as np
import pytest
import torch
from conftest import images, trained_looking
from PIL import Image
from torch import nn

from bnapp import CLASSES
from bnapp.data import corruptions
from bnapp.measure import adapt
from bnapp.measure.adapt import RUNNING, BatchOfOneError, MixedStatsNorm
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.services import UserError, shift, testtime
from bnapp.services.testtime import ImagePool
from bnapp.store.checkpoints import base_metadata
from bnapp.store.pairs import Pair
from bnapp.ui import testtime_text as words


def smooth_images(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Photo-like uint8 images: smooth colour fields, so blur, JPEG and pixelation change them gradually."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    x = nn.functional.interpolate(low, size=(32, 32), mode="bicubic", align_corners=False)
    x = x + 0.15 * torch.rand(n, 3, 32, 32, generator=g)  # some texture
    return (x.clamp(0, 1) * 255).to(torch.uint8)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(255.0 ** 2 / mse)).item()


@pytest.mark.parametrize("name", corruptions.CORRUPTIONS)
def test_each_corruption_keeps_shape_and_dtype_is_seeded_and_grows_with_severity(name):
    x = smooth_images()
    outs = [corruptions.corrupt(x, name, s, seed=3) for s in corruptions.SEVERITIES]
    for out in outs:
        assert out.shape == x.shape and out.dtype == torch.uint8 and out.device == x.device
    assert torch.equal(outs[2], corruptions.corrupt(x, name, 3, seed=3))  # seeded
    quality = [psnr(x, o) for o in outs]
    assert all(a > b for a, b in zip(quality, quality[1:])), quality  # PSNR falls with every severity step
    assert quality[0] < 60  # severity 1 already changes the images
    if name in ("gaussian_noise", "shot_noise"):
        assert not torch.equal(outs[2], corruptions.corrupt(x, name, 3, seed=4))


def test_corruptions_follow_the_reference_definitions():
    x = smooth_images(4)
    f = x.float() / 255
    # contrast: each channel pulled towards its own mean over the image
    c = corruptions.CONSTANTS["contrast"][4]
    means = f.mean(dim=(2, 3), keepdim=True)
    expected = (((f - means) * c + means).clamp(0, 1) * 255).floor().to(torch.uint8)
    assert torch.equal(corruptions.corrupt(x, "contrast", 5), expected)
    # brightness: + c on HSV value, hue and saturation kept (the reference converts with skimage)
    out = corruptions.corrupt(x, "brightness", 3).float() / 255
    c = corruptions.CONSTANTS["brightness"][2]
    for i, j in ((0, 0), (5, 17), (31, 2)):
        r, g, b = f[1, :, i, j].tolist()
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        ref = colorsys.hsv_to_rgb(h, s, min(v + c, 1.0))
        assert torch.allclose(out[1, :, i, j], torch.tensor(ref), atol=1.5 / 255)
    # JPEG: what PIL gives at the severity's quality
    img = Image.fromarray(x[0].permute(1, 2, 0).numpy())
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=corruptions.CONSTANTS["jpeg_compression"][4])
    ref = torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(corruptions.corrupt(x[:1], "jpeg_compression", 5)[0], ref)


def test_bad_corruption_requests_are_refused_clearly():
    with pytest.raises(corruptions.CorruptionError, match="unknown corruption"):
        corruptions.corrupt(images(2), "fog", 3)
    with pytest.raises(corruptions.CorruptionError, match="severity must be 1 to 5"):
        corruptions.corrupt(images(2), "contrast", 6)
    with pytest.raises(corruptions.CorruptionError, match="uint8"):
        corruptions.corrupt(images(2).float(), "contrast", 3)


def _bn_layer(features: int = 4) -> nn.BatchNorm2d:
    return trained_looking(nn.Sequential(nn.BatchNorm2d(features)))[0].eval()


def test_adapted_statistics_are_the_batchs_own_mean_and_variance():
    bn = _bn_layer()
    x = torch.randn(8, 4, 5, 5) * 3 + 2
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    expected = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    expected = expected * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    assert torch.allclose(MixedStatsNorm(bn, 0)(x), expected, atol=1e-5)
    # Schneider et al.'s mix with N = n: halfway between running and batch statistics
    mixed_mean, mixed_var = (bn.running_mean + mean) / 2, (bn.running_var + var) / 2
    expected = (x - mixed_mean.view(1, -1, 1, 1)) / torch.sqrt(mixed_var.view(1, -1, 1, 1) + bn.eps)
    expected = expected * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    assert torch.allclose(MixedStatsNorm(bn, 8)(x), expected, atol=1e-5)
    assert torch.equal(MixedStatsNorm(bn, RUNNING)(x), bn(x))  # infinite prior: eval mode exactly


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_adapted_model_equals_train_mode_and_groups_equal_separate_batches(arch):
    model = trained_looking(build_pair(arch, seed=0)["bn"]).eval()
    x = torch.randn(12, 3, 32, 32)
    with torch.no_grad():
        train_mode = copy.deepcopy(model).train()
        whole = adapt.with_statistics(model, 0)(x)
        assert torch.allclose(whole, train_mode(x), atol=1e-4)
        grouped = adapt.with_statistics(model, 0, group=4)(x)
        separate = torch.cat([copy.deepcopy(model).train()(c) for c in x.split(4)])
        assert torch.allclose(grouped, separate, atol=1e-4)
        assert not torch.allclose(grouped, whole, atol=1e-3)  # the company matters


def test_a_batch_of_one_in_batchnorm1d_is_a_clear_message_and_a_prior_makes_it_defined():
    model = trained_looking(build_pair("mlp", seed=0)["bn"]).eval()
    with pytest.raises(BatchOfOneError, match="variance is 0"):
        adapt.logits(model, images(1), InputSpec(), prior=0)
    with pytest.raises(BatchOfOneError):
        adapt.logits(model, images(4), InputSpec(), prior=0, group=1)
    assert adapt.logits(model, images(1), InputSpec(), prior=16).shape == (1, 10)


def tiny_pair(arch: str = "cnn") -> Pair:
    models = {t: trained_looking(m).eval() for t, m in build_pair(arch, seed=0, widths=(8, 16, 16)).items()}
    meta = {t: base_metadata(ModelConfig(arch, t == "bn", widths=(8, 16, 16)), InputSpec()) for t in models}
    return Pair(f"tiny-{arch}", models, meta)


def class_grouped_pool(per_class: int = 40) -> ImagePool:
    """Labels grouped by class, as the real file is: a prefix would be one class."""
    labels = torch.arange(10).repeat_interleave(per_class)
    return ImagePool(images(len(labels), seed=5), labels, "a grouped stand-in")


def _snapshot(pair: Pair) -> tuple:
    x = images(6, seed=9).float() / 255
    with torch.no_grad():
        preds = {t: m(x.to(next(m.parameters()).dtype)).clone() for t, m in pair.predictors.items()}
        raw = {t: m(x).clone() for t, m in pair.models.items()}
    state = {t: {k: v.clone() for k, v in m.state_dict().items()} for t, m in pair.models.items()}
    return preds, raw, state, {t: m.training for t, m in pair.models.items()}


@pytest.fixture
def few_sizes(monkeypatch):
    """Batch sizes 1 to 8 only: the same code paths in a fraction of the time."""
    monkeypatch.setattr(testtime, "SIZES", (1, 2, 4, 8))


@pytest.mark.slow
def test_test_time_views_never_touch_the_loaded_pair(tmp_path, few_sizes):
    pair, pool = tiny_pair(), class_grouped_pool()
    preds, raw, state, modes = _snapshot(pair)
    testtime.company(pair, pool.images[0], pool)
    testtime.accuracy_vs_batch_size(pair, pool)
    shift.shift(pair, pool, "contrast", 5, prior=4, n=64)
    shift.severities(pair, pool, "gaussian_noise", prior=0, n=64)
    path = tmp_path / "a.png"
    Image.fromarray(images(1)[0].permute(1, 2, 0).numpy()).save(path)
    shift.own_batch(pair, [str(path), str(path)], prior=0)
    preds2, raw2, state2, modes2 = _snapshot(pair)
    for t in pair.models:  # bit-identical predictions, weights and running statistics; modes kept
        assert torch.equal(preds[t], preds2[t]) and torch.equal(raw[t], raw2[t])
        assert all(torch.equal(state[t][k], state2[t][k]) for k in state[t])
    assert modes == modes2


def test_a_pool_sample_is_random_not_a_prefix_and_one_class_when_asked():
    pool = class_grouped_pool()
    _, labels = pool.sample(40, seed=0)
    assert len(set(labels.tolist())) >= 8
    _, labels = pool.sample(30, seed=0, cls=3)
    assert set(labels.tolist()) == {3}
    _, labels = pool.sample(100, seed=0, cls=3)  # more than the class has: drawn with replacement
    assert len(labels) == 100 and set(labels.tolist()) == {3}


def test_company_view_copies_of_itself_in_batchnorm1d_lose_the_image(few_sizes):
    """With copies of one image every BatchNorm1d feature has variance 0: the output is beta, so two
    different images get exactly the same probabilities; a batch of one is named, not a stack trace."""
    pair, pool = tiny_pair("mlp"), class_grouped_pool()
    a = testtime.company(pair, pool.images[0], pool, company_class="cat")
    b = testtime.company(pair, pool.images[200], pool, company_class="cat")
    assert a.sizes == [1, 2, 4, 8] and a.company_class == "cat"
    copies = testtime.KINDS[2]
    assert a.prob[copies][0] is None and "variance is 0" in a.undefined  # size 1
    top_a = a.top[copies][3]
    assert top_a == b.top[copies][3] and len(top_a) == 1
    assert all(len(d) == testtime.DRAWS for d in a.prob[testtime.KINDS[0]][1:])
    assert "another answer in" in words.company_summary(a)
    with pytest.raises(UserError, match="Company class"):
        testtime.company(pair, pool.images[0], pool, company_class="unicorn")


@pytest.mark.slow
def test_accuracy_against_batch_size_is_measured_and_cached(few_sizes):
    pair, pool = tiny_pair(), class_grouped_pool(per_class=60)
    calls = []
    curve = testtime.accuracy_vs_batch_size(pair, pool, progress=lambda f, what: calls.append(what))
    assert curve.n == 600 and curve.sizes == [1, 2, 4, 8] and len(curve.batch_stats) == 4
    assert curve.batch_stats[0] is None and "variance is 0" in curve.undefined  # the CNN's head is BatchNorm1d
    assert all(0 <= a <= 1 for a in curve.batch_stats[1:]) and calls
    assert testtime.accuracy_vs_batch_size(pair, pool) is curve  # computed once per pair
    assert curve.pm(0.5) == pytest.approx(1.96 * (0.25 / 600) ** 0.5)


def test_a_cached_view_belongs_to_its_pair_even_when_another_has_its_name_and_weights():
    """A session's run1-cnn can reuse a gone pair's memory; an id()-based key then served the old pair's view."""
    first = tiny_pair()
    second = Pair(first.name, first.models, first.metadata)  # same name, same model objects: same id()s
    assert testtime.pair_key(first) != testtime.pair_key(second)


@pytest.mark.slow
def test_shift_view_measures_every_variant_on_the_same_images():
    pair, pool = tiny_pair(), class_grouped_pool()
    v = shift.shift(pair, pool, "contrast", 5, prior=8, n=100)
    assert v.n == 100 and v.batch == 100 and set(v.accuracy) == set(shift.VARIANTS)
    assert len(v.shown) == shift.SHOWN and v.shown[0][1] in CLASSES
    assert "click *All severities*" in words.shift_table(v)
    curve = shift.severities(pair, pool, "contrast", prior=8, n=100)
    assert all(len(a) == 6 for a in curve.accuracy.values())
    again = shift.shift(pair, pool, "contrast", 5, prior=8, n=100)
    assert again.clean == {k: a[0] for k, a in curve.accuracy.items()}  # the same images, clean
    assert again.accuracy == v.accuracy  # seeded: the same corrupted images
    # the mix interpolates: the largest prior is (nearly) the running statistics, 0 is the batch alone
    far = shift.shift(pair, pool, "contrast", 5, prior=shift.PRIOR.high, n=100)
    assert far.accuracy["mixed"] == pytest.approx(far.accuracy["running"], abs=0.01)
    alone = shift.shift(pair, pool, "contrast", 5, prior=0, n=100)
    assert alone.accuracy["mixed"] == alone.accuracy["adapted"]


@pytest.mark.parametrize("args, message", [
    (("fog", 3, 16), "unknown corruption"), (("contrast", 9, 16), "severity must be between 1 and 5"),
    (("contrast", 3.7, 16), "severity must be a whole number"),
    (("contrast", 3, -1), "prior strength N must be between"), (("contrast", 3, "x"), "must be a number")])
def test_bad_shift_requests_get_a_message(args, message):
    with pytest.raises(UserError, match=message):
        shift.shift(tiny_pair(), class_grouped_pool(), *args)


def test_own_batch_uses_every_readable_file_and_names_the_others(tmp_path):
    pair = tiny_pair()
    paths = []
    for i in range(3):
        p = tmp_path / f"ok{i}.png"
        Image.fromarray(images(1, seed=i)[0].permute(1, 2, 0).numpy()).resize((64, 48)).save(p)
        paths.append(str(p))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    u = shift.own_batch(pair, [*paths, str(bad)], prior=0)
    assert u.names == ["ok0.png", "ok1.png", "ok2.png"] and "broken.jpg" in u.problems[0]
    rows = words.upload_rows(u)
    assert len(rows) == 3 and len(rows[0]) == 1 + len(shift.VARIANTS) and "Skipped" in words.upload_note(u)
    with pytest.raises(UserError, match="No usable image"):
        shift.own_batch(pair, [str(bad)])
    with pytest.raises(UserError, match="At most 256"):
        shift.own_batch(pair, [paths[0]] * 257)


@pytest.mark.slow
def test_the_shift_command_prints_the_table_and_refuses_what_it_cannot_do(synthetic_npz, tmp_path, capsys):
    from bnapp.shift import main

    assert main(["--pair", "mlp", "--corruption", "contrast", "pixelate", "--severity", "3", "5", "--images", "64",
                 "--data", str(synthetic_npz)]) == 0
    out = capsys.readouterr().out
    assert "| clean | - |" in out and "| contrast | 5 |" in out and "| pixelate | 3 |" in out
    assert out.count("\n| ") == 1 + 1 + 4  # header, separator... rows: clean + 2 corruptions x 2 severities
    assert main(["--pair", "nope", "--data", str(synthetic_npz)]) == 2
    assert "no pair 'nope'" in capsys.readouterr().err
    assert main(["--pair", "mlp", "--data", str(tmp_path / "none.npz")]) == 2
    assert "no CIFAR-10 .npz" in capsys.readouterr().err
