"""Device correctness without a GPU: every compute path run with the models on PyTorch's `meta` device.

A meta tensor has a device, a shape and a dtype but no data, and an op that mixes it with a non-scalar
CPU tensor fails exactly as one mixing a CUDA tensor with a CPU tensor does ("Tensor on device cpu is
not on the expected device meta!"). So a tensor made on the CPU where it should follow the model's
device fails here as it would on a GPU. `MetaAsDevice` lets each path run to its end: where the code
reads a result back to the host (`.cpu()`, `.tolist()`, `float()`), which a GPU answers with data, it
answers zeros of the result's shape and dtype. The numbers are meaningless; the devices are checked.
"""
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from bnapp.data.cifar10 import load_cifar10
from bnapp.measure import evolution, infer, stats
from bnapp.measure.infer import InputSpec
from bnapp.measure.reports import class_report
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.services import experiments, prediction
from bnapp.store.checkpoints import base_metadata
from bnapp.store.pairs import Pair
from bnapp.training import engine
from bnapp.training.recipes import RECIPES, TrainConfig

TTAS = tuple(infer.TTA_WEIGHTS)
READBACK = {torch.Tensor.cpu, torch.Tensor.to, torch.Tensor.tolist, torch.Tensor.item, torch.Tensor.numpy,
            torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__bool__, torch.Tensor.__index__}
NO_DATA = ("Cannot copy out of meta tensor", "cannot be called on meta tensors")


class MetaAsDevice(TorchFunctionMode):
    """The meta device as a stand-in GPU: reading a meta tensor back gives zeros; everything else as is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in READBACK:
            return func(*args, **kwargs)
        try:
            return func(*args, **kwargs)
        except (NotImplementedError, RuntimeError) as e:
            if not any(m in str(e) for m in NO_DATA):
                raise
        return func(torch.zeros(args[0].shape, dtype=args[0].dtype), *args[1:], **kwargs)


@pytest.fixture
def on_meta(monkeypatch):
    """Inside the stand-in; the engine's optimizer unfused (meta has no fused kernels, CUDA and CPU do)."""
    build = engine.pair_optimizer

    def unfused(models):
        optimizer = build(models)
        for group in optimizer.param_groups:
            group["fused"], group["foreach"] = False, True
        return optimizer

    monkeypatch.setattr(engine, "pair_optimizer", unfused)
    with MetaAsDevice():
        yield


def meta_pair(arch: str, tta: str = "flip-shift") -> tuple[dict[str, torch.nn.Module], dict[str, dict]]:
    models = {t: m.to("meta") for t, m in build_pair(arch, seed=1).items()}
    metadata = {t: base_metadata(ModelConfig(arch, t == "bn"), InputSpec(tta=tta)) | {"test_accuracy": 0.5}
                for t in models}
    return models, metadata


def images(n=4):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def all_on_meta(model: torch.nn.Module) -> bool:
    return all(t.is_meta for t in [*model.parameters(), *model.buffers()])


@pytest.mark.slow
def test_the_stand_in_refuses_what_a_gpu_refuses(on_meta):
    x = torch.ones(2, 3, device="meta")
    with pytest.raises(RuntimeError, match="not on the expected device meta"):
        x * torch.ones(1, 1)  # what infer._views did with its TTA weights before they followed the logits
    assert (x * torch.tensor(2.0)).is_meta  # a 0-dim CPU tensor is allowed, on CUDA too
    assert torch.equal(x.cpu(), torch.zeros(2, 3)) and x.sum().tolist() == 0.0 and float(x[0, 0]) == 0.0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("tta", TTAS)
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_logits_on_the_models_device(on_meta, arch, tta, precision):
    model = build_pair(arch)["bn"].to("meta")
    for m in (model, infer.for_inference(model, precision)):  # training evaluates the model, predictions its copy
        assert all_on_meta(m)
        assert infer.logits(m, images(), InputSpec(tta=tta)).shape == (4, 10)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("tta", TTAS)
def test_pair_predictions_on_the_pairs_device(on_meta, monkeypatch, tta, precision):
    monkeypatch.setenv("BNAPP_PRECISION", precision)
    pair = Pair("cnn", *meta_pair("cnn", tta))
    assert pair.precision == precision and all(all_on_meta(m) for m in pair.predictors.values())
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    [pred] = prediction.predict_images(pair, [rgb])
    assert set(pred.probs) == {"bn", "plain"} and len(pred.probs["bn"]) == 10


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_class_report_on_the_models_device(on_meta, synthetic_npz, precision):
    data = load_cifar10(synthetic_npz)
    model = build_pair("cnn")["bn"].to("meta")
    report = class_report(model, InputSpec(tta="flip-shift"), data, precision)
    assert sum(map(sum, report["confusion_matrix"])) == len(data.y_test) and len(report["per_class_accuracy"]) == 10


@pytest.mark.parametrize("mode", stats.MODES)
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_activation_statistics_on_the_models_device(on_meta, arch, mode):
    models, _ = meta_pair(arch)
    specs = {t: InputSpec() for t in models}
    result = stats.record_pair(models, specs, images(), mode)
    assert [layer.name for layer in result["bn"]] == [layer.name for layer in result["plain"]] \
        and result["bn"][0].bn_params
    unit = result["bn"][-1].name
    assert evolution.snapshot_pair(models, InputSpec(), images(), unit)["plain"]["unit"] == unit  # training's probe


@pytest.mark.slow
@pytest.mark.parametrize("arch,recipe", [("mlp", "tutorial"), ("cnn", "fast")])
def test_training_steps_and_evaluations_on_the_configured_device(on_meta, synthetic_npz, arch, recipe):
    data = load_cifar10(synthetic_npz)
    r = replace(RECIPES[recipe], epochs=2, batch_size=64, precision="fp32", log_every=1)  # autocast has no meta device
    cfg = TrainConfig(arch, r, device="meta", evals_per_run=2)
    unit = "layer1" if arch == "mlp" else "block2b"
    probe = lambda models, lr: evolution.snapshot_pair(models, InputSpec(), images(8), unit)  # noqa: E731
    trainer = engine.PairTrainer(cfg, data, probe=probe)
    events = list(trainer.run())
    assert events[-1].kind == "done" and trainer.step == trainer.total_steps == 8
    assert any(e.probe is not None for e in events) and sum(e.kind == "epoch" for e in events) == 2
    assert all(all_on_meta(t.model) and t.test_accuracy is not None and t.report for t in trainer.twins.values())


@pytest.mark.slow
def test_experiments_on_the_configured_device(on_meta, synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=1, batch_size=64), device="meta")
    rows = [item for _, item in experiments.lr_sweep(base, data, [1e-3]) if isinstance(item, dict)]
    assert [row["twin"] for row in rows] == ["bn", "plain"]
    assert [item[-1].kind for item in experiments.placement_runs(base, data, seeds=(0,))].count("done") == 2


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_test_time_views_on_the_pairs_device(on_meta, arch):
    """Test images stay on the CPU (where the app keeps them) and go to the model's device for BN
    statistics running, adapted, mixed or grouped. (A generator cannot live on meta: the corruptions'
    noise follows the images' device, checked on CUDA by the gpu tier.)"""
    from bnapp.services import shift, testtime

    pair = Pair(arch, *meta_pair(arch))
    pool = testtime.ImagePool(images(64), torch.arange(64) % 10, "stand-in")
    view = shift.shift(pair, pool, "gaussian_noise", 3, prior=16, n=64)
    assert set(view.accuracy) == set(shift.VARIANTS)
    company = testtime.company(pair, images(1)[0], pool)
    assert company.prob[testtime.KINDS[0]][-1] is not None
