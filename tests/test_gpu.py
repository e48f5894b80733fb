"""The compute paths on CUDA, checked against the CPU: predictions through a Pair (every TTA, fp32 and
bf16, folded copies), class reports, activation statistics, and short lockstep training runs.

    python -m pytest -m gpu tests/test_gpu.py

Skipped where no CUDA device is present. Imports torch, numpy and bnapp's core and services only (no
gradio, plotly or huggingface_hub), so a bare GPU machine with torch runs it. CUDA convs use TF32 by
default: fp32 comparisons with the CPU allow for that; the folding check turns TF32 off.
"""
import copy
from dataclasses import replace

import pytest
import torch
from conftest import trained_looking
from torch import nn

from bnapp.data.cifar10 import load_cifar10
from bnapp.measure import evolution, infer, stats
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.nets.models import ModelConfig, Unit, build_pair
from bnapp.services import prediction
from bnapp.store.checkpoints import base_metadata, load
from bnapp.store.pairs import Pair
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.training.runs import finish, save_run

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]
CUDA = torch.device("cuda")
PROBABILITY_TOLERANCE = {"fp32": 1e-2, "bf16": 5e-2}  # TF32 convs; bf16 weights and activations


def trained_pair(models: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Both twins with trained-looking BN layers, in eval mode."""
    return {t: trained_looking(m).eval() for t, m in models.items()}


def on(models: dict[str, nn.Module], device: torch.device) -> dict[str, nn.Module]:
    """Copies of `models` on `device` (the originals stay where they are)."""
    return {t: copy.deepcopy(m).to(device) for t, m in models.items()}


def images(n=16, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def on_cuda(model: nn.Module) -> bool:
    return all(t.device.type == "cuda" for t in [*model.parameters(), *model.buffers()])


def bn_left(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, Unit) and not isinstance(m.bn, nn.Identity)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("tta", tuple(infer.TTA_WEIGHTS))
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_pair_predictions_on_cuda_match_the_cpu(monkeypatch, arch, tta, precision):
    cpu = trained_pair(build_pair(arch, seed=1))
    metadata = {t: base_metadata(ModelConfig(arch, t == "bn"), InputSpec(tta=tta)) | {"test_accuracy": 0.5}
                for t in cpu}
    monkeypatch.setenv("BNAPP_PRECISION", precision)
    pair = Pair(arch, on(cpu, CUDA), metadata)
    assert pair.precision == precision and all(on_cuda(m) for m in pair.predictors.values())
    assert bn_left(pair.predictors["bn"]) == [] and bn_left(pair.models["bn"]) != []
    x = images()
    got = prediction.probabilities(pair, x)
    for t, model in cpu.items():
        want = torch.softmax(infer.logits(model, x, pair.spec(t)), dim=1)
        assert got[t].device.type == "cpu" and got[t].dtype == torch.float32
        assert torch.allclose(got[t], want, atol=PROBABILITY_TOLERANCE[precision]), (t, (got[t] - want).abs().max())


@pytest.mark.parametrize("placement", ["before", "after"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_folded_predictors_on_cuda_match_the_model(arch, placement):
    model = on(trained_pair(build_pair(arch, placement)), CUDA)["bn"]
    folded = infer.for_inference(model, "fp32")
    assert on_cuda(folded) and (bn_left(folded) == []) == (placement == "before")
    spec = InputSpec(tta="flip-shift")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # cuBLAS matmuls are full fp32 by default
        want, got = infer.logits(model, images(), spec), infer.logits(folded, images(), spec)
    assert float((got - want).abs().max()) <= 1e-4 * max(1.0, float(want.abs().max()))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_class_report_on_cuda(synthetic_npz, precision):
    data = load_cifar10(synthetic_npz)
    cpu = trained_pair(build_pair("cnn"))["bn"]
    want = class_report(cpu, InputSpec(tta="flip-shift"), data, "fp32")
    got = class_report(on({"bn": cpu}, CUDA)["bn"], InputSpec(tta="flip-shift"), data, precision)
    assert sum(map(sum, got["confusion_matrix"])) == len(data.y_test)
    assert abs(got["test_accuracy"] - want["test_accuracy"]) <= (2 if precision == "fp32" else 6) / len(data.y_test)


@pytest.mark.parametrize("mode", stats.MODES)
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_activation_statistics_on_cuda_match_the_cpu(arch, mode):
    cpu = trained_pair(build_pair(arch))
    cuda = on(cpu, CUDA)
    before = {k: v.clone() for k, v in cuda["bn"].state_dict().items()}
    specs = {t: InputSpec() for t in cpu}
    want, got = stats.record_pair(cpu, specs, images(), mode), stats.record_pair(cuda, specs, images(), mode)
    assert all(torch.equal(before[k], v) for k, v in cuda["bn"].state_dict().items()) and not cuda["bn"].training
    for twin in cpu:
        for w, g in zip(want[twin], got[twin]):
            assert (w.name, w.shape, w.bn_kind) == (g.name, g.shape, g.bn_kind)
            for key in ("pre", "post", "act"):
                a, b = getattr(w, key), getattr(g, key)
                scale = max(1.0, a.std)
                assert abs(a.mean - b.mean) <= 1e-2 * scale and abs(a.std - b.std) <= 1e-2 * scale, (twin, w.name, key)
    unit = got["bn"][-1].name
    point = evolution.snapshot_pair(cuda, InputSpec(), images(), unit)  # training's probe
    assert point["bn"]["unit"] == unit and point["bn"]["act_input"][15] <= point["bn"]["act_input"][85]


@pytest.mark.parametrize("precision", ["auto", "fp32"])
@pytest.mark.parametrize("arch,recipe", [("mlp", "tutorial"), ("cnn", "fast"), ("cnn", "quick")])
def test_pair_trainer_on_cuda(synthetic_npz, tmp_path, arch, recipe, precision):
    data = load_cifar10(synthetic_npz)
    r = replace(RECIPES[recipe], epochs=3, batch_size=32, precision=precision, log_every=2)
    if arch == "mlp":
        r = replace(r, lr=1e-3)
    unit = "layer1" if arch == "mlp" else "block2b"
    probe = lambda models, lr: evolution.snapshot_pair(models, InputSpec(), images(8), unit)  # noqa: E731
    trainer = PairTrainer(TrainConfig(arch, r, device="cuda", evals_per_run=3), data, probe=probe)
    assert trainer.device.type == "cuda" and trainer.precision == ("bf16" if precision == "auto" else "fp32")
    events = list(trainer.run())
    assert events[-1].kind == "done" and trainer.step == trainer.total_steps
    assert any(e.probe is not None for e in events)
    for t in trainer.twins.values():
        assert on_cuda(t.model) and t.diverged_at is None and t.test_accuracy is not None
        assert all(h["train_loss"] is not None and h["test_acc"] is not None for h in t.history)
    saved = save_run(finish(trainer), tmp_path, "gpu")  # weights leave the GPU for the file
    model, meta = load(saved[0].with_suffix(""))
    x, spec = images(), InputSpec.from_dict(meta["input"])
    want = infer.logits(trainer.twins["bn"].model, x, spec)
    assert torch.allclose(infer.logits(model, x, spec), want, atol=1e-2 * max(1.0, float(want.abs().max())))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "gaussian_blur", "brightness", "pixelate"])
def test_corruptions_on_cuda_follow_the_images(name):
    from bnapp.data import corruptions

    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = corruptions.corrupt(x.cuda(), name, 3)
    assert out.is_cuda and out.dtype == torch.uint8 and out.shape == x.shape


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_test_time_views_on_cuda_match_the_cpu(arch):
    from bnapp.measure import adapt

    cpu = trained_pair(build_pair(arch))["bn"].eval()
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    for prior, group in ((adapt.RUNNING, 0), (0, 16), (16, 32)):
        want = adapt.logits(cpu, x, InputSpec(), prior, group)
        got = adapt.logits(copy.deepcopy(cpu).cuda(), x, InputSpec(), prior, group)
        assert got.device.type == "cpu" and torch.allclose(got, want, atol=0.05, rtol=0.02)  # TF32 convs
