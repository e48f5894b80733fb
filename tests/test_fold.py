"""BatchNorm folding in the prediction copies: exact where it folds, left alone where it would not be."""
import copy

import pytest
import torch
from conftest import images, trained_looking
from torch import nn

from bnapp import CHECKPOINTS
from bnapp.data.cifar10 import balanced_sample, load_cifar10
from bnapp.measure import infer
from bnapp.measure.infer import InputSpec
from bnapp.nets import fold
from bnapp.nets.models import Unit, build_pair

TOLERANCE = 1e-4


def bn_units(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, Unit) and not isinstance(m.bn, nn.Identity)]


def max_logit_difference(a: nn.Module, b: nn.Module, x: torch.Tensor, spec: InputSpec) -> float:
    return float((infer.logits(a, x, spec) - infer.logits(b, x, spec)).abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("placement", ["before", "after"])
def test_folded_logits_match_the_model(arch, placement):
    model = trained_looking(build_pair(arch, placement)["bn"]).eval()
    folded = infer.for_inference(model, "fp32")
    expected_left = bn_units(model) if placement == "after" else []  # a ReLU between op and BN: never folded
    assert bn_units(folded) == expected_left
    assert bn_units(model) == [n for n, m in model.named_modules() if isinstance(m, Unit)], "the model keeps its BN"
    assert max_logit_difference(model, folded, images(), InputSpec(tta="flip-shift")) <= TOLERANCE


@pytest.mark.slow
def test_a_negative_gamma_after_a_pool_is_not_folded_and_the_rest_still_match(monkeypatch):
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    with torch.no_grad():  # max-pool, then negative scales on channels whose outputs pass the ReLU
        model.block2a.bn.weight[:8] = -1.0
        model.block2a.bn.running_mean[:8] = 10.0  # above every pooled value: -(x - 10) / sigma + beta > 0
    folded = infer.for_inference(model, "fp32")
    assert bn_units(folded) == ["block2a"]
    assert max_logit_difference(model, folded, images(), InputSpec(tta="flip")) <= TOLERANCE
    monkeypatch.setattr(fold, "foldable", lambda unit: isinstance(unit.bn, nn.modules.batchnorm._BatchNorm))
    assert max_logit_difference(model, fold.fold_bn(copy.deepcopy(model)), images(), InputSpec(tta="flip")) > 1e-3, \
        "folding it anyway changes the logits: the check matters here"
    model.block2a.bn.weight.data[:8] = 0.7
    monkeypatch.undo()
    assert bn_units(infer.for_inference(model, "fp32")) == []


def test_a_negative_gamma_right_after_the_op_is_folded():
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    with torch.no_grad():
        model.block2b.bn.weight[:5] *= -1  # no pool in between: any sign folds exactly
    folded = infer.for_inference(model, "fp32")
    assert bn_units(folded) == []
    assert max_logit_difference(model, folded, images(), InputSpec()) <= TOLERANCE


def test_folding_adds_a_bias_where_the_op_had_none_and_keeps_the_model():
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    assert model.head.linear.bias is None
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold.fold_bn(copy.deepcopy(model))
    assert folded.head.linear.bias is not None and folded.block1a.conv.bias is not None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_bf16_copies_are_folded_before_the_cast():
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    cast = infer.for_inference(model, "bf16")
    assert bn_units(cast) == [] and all(p.dtype == torch.bfloat16 for p in cast.parameters())
    assert max_logit_difference(model, cast, images(), InputSpec()) < \
        0.05 * float(infer.logits(model, images(), InputSpec()).abs().max())


@pytest.mark.realdata
def test_shipped_pairs_fold_within_tolerance_on_real_test_images(real_data_path, monkeypatch):

    from bnapp.store.pairs import load_pairs

    monkeypatch.setenv("BNAPP_PRECISION", "fp32")
    data = load_cifar10(real_data_path)
    x = data.x_test[balanced_sample(data.y_test, 250, seed=0)]
    pairs = load_pairs(CHECKPOINTS).pairs
    assert set(pairs) >= {"mlp", "cnn"}
    for name, pair in pairs.items():  # the plain twins have no BN: their copies differ only in memory format
        assert bn_units(pair.predictors["bn"]) == [] and bn_units(pair.models["bn"]) != []
        diff = max_logit_difference(pair.models["bn"], pair.predictors["bn"], x, pair.spec("bn"))
        assert diff <= TOLERANCE, (name, diff)
