
import numpy as np
import pytest
import torch
from conftest import images, trained_looking

from bnapp.measure import stats
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import Unit, build_pair


def test_hook_statistics_equal_direct_computation():
    model = trained_looking(build_pair("mlp")["bn"]).eval()
    x = images()
    layers = stats.record(model, x, InputSpec(), "eval")
    assert [layer.name for layer in layers] == ["layer1", "layer2"]
    pre = model.layer1.linear(model.flatten(x.float() / 255))
    post = model.layer1.bn(pre)
    act = torch.relu(post)
    l1 = layers[0]
    assert l1.bn_kind == "BatchNorm1d" and l1.shape == (32, 64)
    for got, want in ((l1.pre, pre), (l1.post, post), (l1.act, act)):
        assert abs(got.mean - want.mean().item()) < 1e-5
        assert abs(got.std - want.std(unbiased=False).item()) < 1e-5
        assert got.min == want.min().item() and got.max == want.max().item()
        q = torch.quantile(want.flatten(), torch.tensor([0.01, 0.15, 0.5, 0.85, 0.99]))
        assert torch.allclose(torch.tensor(list(got.percentiles.values())), q, atol=1e-5)
        assert torch.allclose(torch.tensor(got.channel_mean), want.mean(0), atol=1e-5)
    assert abs(l1.act.zero_fraction - (act == 0).float().mean().item()) < 1e-7
    assert sum(l1.pre.hist_counts) == pre.numel() and sum(l1.post.hist_counts) == post.numel()
    assert len(l1.hist_edges) == stats.BINS + 1 and len(l1.pre.hist_counts) == stats.BINS


def test_train_mode_normalises_with_the_batch_and_leaves_the_model_untouched():
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = stats.record(model, images(16), InputSpec(), "train")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "looking must not update running statistics"
    assert not model.training
    for layer in layers:
        gamma, beta = torch.tensor(layer.bn_params["gamma"]), torch.tensor(layer.bn_params["beta"])
        live = torch.tensor(layer.bn_params["batch_var"]) > 1e-2  # BN's eps shrinks near-constant channels
        assert live.sum() > 0.5 * len(live)
        assert torch.allclose(torch.tensor(layer.post.channel_mean)[live], beta[live], atol=1e-4), layer.name
        assert torch.allclose(torch.tensor(layer.post.channel_std)[live], gamma.abs()[live], rtol=1e-2), layer.name


def test_eval_mode_follows_running_statistics():
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    for layer in stats.record(model, images(16), InputSpec(), "eval"):
        p = {k: torch.tensor(v) for k, v in layer.bn_params.items()}
        expected = (torch.tensor(layer.pre.channel_mean) - p["running_mean"]) / torch.sqrt(p["running_var"] + 1e-5) \
            * p["gamma"] + p["beta"]
        assert torch.allclose(torch.tensor(layer.post.channel_mean), expected, atol=1e-3), layer.name


def test_plain_twin_is_recorded_at_the_same_positions():
    pair = build_pair("cnn")
    result = stats.record_pair(pair, {"bn": InputSpec(), "plain": InputSpec()}, images(8), "eval")
    assert [layer.name for layer in result["bn"]] == [layer.name for layer in result["plain"]]
    for b, p in zip(result["bn"], result["plain"]):
        assert b.shape == p.shape and p.bn_kind == "none" and not p.bn_params
        assert p.pre.mean == p.post.mean  # an empty slot changes nothing
    assert result["bn"][1].bn_kind == "BatchNorm2d" and result["bn"][-1].bn_kind == "BatchNorm1d"


def test_train_mode_refuses_a_single_image():
    import pytest

    with pytest.raises(ValueError, match="batch of 1"):
        stats.record(build_pair("mlp")["bn"], images(1), InputSpec(), "train")


@pytest.mark.slow
def test_figures_build_for_both_architectures_and_the_plain_twin():
    from bnapp.ui.figures import activations as plots

    for arch in ("mlp", "cnn"):
        pair = build_pair(arch)
        for mode in stats.MODES:
            result = stats.record_pair(pair, {"bn": InputSpec(), "plain": InputSpec()}, images(8), mode)
            figs = [plots.layer_overview(result["bn"], result["plain"], mode)]
            for i in range(len(result["bn"])):
                figs += [plots.layer_histograms(result["bn"][i], result["plain"][i], mode),
                         plots.channel_view(result["bn"][i], mode), plots.channel_view(result["plain"][i], mode)]
            assert all(len(f.data) > 0 for f in figs)


def rank_tolerance(p: float, n: int) -> float:
    """Percentile points within which a uniform sample of n values puts the p-th percentile, at 5 sigma
    (the sample's fraction below the true quantile is binomial), plus one sample's step."""
    q = p / 100
    return 100 * (5 * (q * (1 - q) / n) ** 0.5 + 1 / n)


def assert_percentiles_match_numpy(got: dict[int, float], values: np.ndarray, where: str) -> None:
    """Exact (up to float32 rounding) for at most MAX_QUANTILE_SAMPLE values; past that, each sampled
    percentile lies between NumPy's exact percentiles a sampling error below and above it."""
    sampled = values.size > stats.MAX_QUANTILE_SAMPLE
    d = {p: rank_tolerance(p, stats.MAX_QUANTILE_SAMPLE) if sampled else 0.0 for p in stats.PERCENTILES}
    bounds = [q for p in stats.PERCENTILES for q in (max(0.0, p - d[p]), min(100.0, p + d[p]))]
    exact = np.percentile(values, [1, 99, *bounds])  # one partition of the values for all of them
    slack = (1e-6 if sampled else 1e-5) * (float(exact[1] - exact[0]) or 1.0)
    for i, p in enumerate(stats.PERCENTILES):
        lo, hi = exact[2 + 2 * i], exact[3 + 2 * i]
        assert lo - slack <= got[p] <= hi + slack, (where, p, got[p], lo, hi)


# 256 images already put every layer past MAX_QUANTILE_SAMPLE (the sampled path); 1,024 re-tested it at 4x the cost
@pytest.mark.parametrize("n", [1, 16, pytest.param(64, marks=pytest.mark.slow),
                               pytest.param(256, marks=pytest.mark.slow)])
def test_percentiles_match_numpy_for_every_layer_of_a_cnn(n):
    model = trained_looking(build_pair("cnn")["bn"]).eval()
    seen: dict[str, dict[str, np.ndarray]] = {}
    for name, unit in model.named_modules():
        if isinstance(unit, Unit):
            slot = seen.setdefault(name, {})
            unit.bn.register_forward_hook(lambda m, i, o, s=slot: s.update(pre=i[0].numpy().ravel(),
                                                                           post=o.numpy().ravel()))
            unit.act.register_forward_hook(lambda m, i, o, s=slot: s.update(act=o.numpy().ravel()))
    layers = stats.record(model, images(n), InputSpec(), "eval")
    assert len(layers) == len(seen) == 8
    sizes = set()
    for layer in layers:
        for key in ("pre", "post", "act"):
            values = seen[layer.name][key]
            sizes.add(values.size > stats.MAX_QUANTILE_SAMPLE)
            assert_percentiles_match_numpy(getattr(layer, key).percentiles, values, f"{layer.name} {key}")
    assert n > 1 or sizes == {False}, "one image: every layer exact"


def test_percentiles_of_values_growing_left_to_right_are_not_one_column():
    """The old sampler, every (numel // 65536)-th value, lined up with W = 32 and took column 0 only: a
    median of 0.00 where the exact one is 2.25."""
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(0, 4.5, 32).expand(64, 32, 32, 32) + 0.01 * torch.randn(64, 32, 32, 32, generator=g)
    assert x.numel() == 32 * stats.MAX_QUANTILE_SAMPLE
    values = x.contiguous().view(-1)
    got = stats._percentiles(values)
    assert abs(got[50] - 2.25) < 0.1
    assert_percentiles_match_numpy(got, values.numpy(), "left to right")


@pytest.mark.parametrize("was_training", [True, False])
def test_eval_statistics_leave_the_callers_model_in_its_mode(was_training):
    model = build_pair("cnn")["bn"].train(was_training)
    stats.record(model, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), InputSpec(), "eval")
    assert model.training is was_training
