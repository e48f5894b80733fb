"""Why BN helps: the landscape measurements (Santurkar et al. 2018) and noisy BN."""
from dataclasses import replace

import pytest
import torch
from conftest import trained_looking
from torch import nn

from bnapp.data.cifar10 import load_cifar10
from bnapp.measure import landscape
from bnapp.nets.models import Unit, build_pair
from bnapp.nets.noisy_bn import NoisyNorm, noisy_copy, without_noise
from bnapp.services import noisy, probes
from bnapp.services.training import RunLog
from bnapp.training.engine import PairTrainer
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.ui import experiment_text


class Quadratic(nn.Module):
    """L(w) = 1/2 w^T A w, whatever the input: its gradient is A w and its Hessian A."""

    def __init__(self, a: torch.Tensor, w: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("a", a)
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.w @ self.a @ self.w


def energy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out


def test_on_a_quadratic_the_smoothness_is_the_hessian_along_the_gradient():
    a = torch.diag(torch.tensor([4.0, 1.0, 0.25]))
    dummy = torch.zeros(1), torch.zeros(1)
    # along an eigenvector the gradient change per distance is exactly its eigenvalue
    s = landscape.measure(Quadratic(a, torch.tensor([1.0, 0.0, 0.0])), *dummy, etas=landscape.step_sizes(0.1),
                          loss_fn=energy)
    assert s.beta == pytest.approx(4.0, rel=1e-5) and s.grad_norm == pytest.approx(4.0)
    # in general it is ||A g|| / ||g||, the Hessian's size along the gradient g = A w, the same at every step size
    w = torch.tensor([0.3, -1.0, 2.0])
    g = a @ w
    s = landscape.measure(Quadratic(a, w), *dummy, etas=landscape.step_sizes(0.05), loss_fn=energy)
    assert s.beta == pytest.approx(float((a @ g).norm() / g.norm()), rel=1e-5)
    # gradient change at step eta is eta ||A g||: smallest at 0.25 x lr, largest at 4 x lr
    assert s.grad_change_min == pytest.approx(0.25 * 0.05 * float((a @ g).norm()), rel=1e-5)
    assert s.grad_change_max == pytest.approx(4 * 0.05 * float((a @ g).norm()), rel=1e-5)
    assert s.loss == pytest.approx(float(0.5 * w @ a @ w)) and s.loss_min <= s.loss <= s.loss_max


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_a_measurement_leaves_the_model_exactly_as_it_was(arch):
    model = trained_looking(build_pair(arch, seed=0, widths=(8, 16, 16))["bn"]).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    rng = torch.get_rng_state()
    s = landscape.measure_pair({"bn": model}, x, y, etas=landscape.step_sizes(0.1))["bn"]
    assert s.loss_min <= s.loss <= s.loss_max and s.beta > 0 and s.grad_norm > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights and running statistics
    assert all(p.grad is None for p in model.parameters()) and model.training
    assert torch.equal(rng, torch.get_rng_state())


def tiny_cfg(**changes) -> TrainConfig:
    r = replace(RECIPES["quick"], epochs=2, batch_size=32, widths=(8, 16, 16), precision="fp32", log_every=1)
    return replace(TrainConfig("cnn", r, evals_per_run=3, device="cpu"), **changes)


def final_state(trainer: PairTrainer) -> dict[str, dict[str, torch.Tensor]]:
    list(trainer.run())
    return {n: {k: v.clone() for k, v in t.model.state_dict().items()} for n, t in trainer.twins.items()}


@pytest.mark.slow
def test_a_run_with_landscape_measurements_is_the_run_without_them_bit_for_bit(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    cfg = tiny_cfg(noisy_bn=True)  # the noisy twin draws random noise: the measurement must not shift its draws
    with_probe = PairTrainer(cfg, data, probe=probes.probe_for(cfg, data, "block2b", with_landscape=True))
    events = []
    probe = with_probe._probe
    with_probe._probe = lambda models, lr: events.append(lr) or probe(models, lr)
    a = final_state(with_probe)
    b = final_state(PairTrainer(cfg, data))
    assert len(events) >= 2 and all(lr > 0 for lr in events)
    for twin in a:
        for key in a[twin]:
            assert torch.equal(a[twin][key], b[twin][key]), (twin, key)


def test_noisy_bn_is_the_identity_in_eval_mode_and_new_noise_every_training_step():
    bn = trained_looking(nn.Sequential(nn.BatchNorm2d(4)))[0]
    layer = NoisyNorm(bn).eval()
    x = torch.randn(8, 4, 5, 5)
    assert torch.equal(layer(x), bn.eval()(x))
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    assert torch.equal(without_noise(layer)(x), bn(x))  # a probe's noise-free pass


def test_noisy_bn_draws_santurkars_noise_per_activation_from_a_distribution_drawn_per_step():
    from bnapp.nets import noisy_bn as N

    layer = NoisyNorm(nn.Identity()).train()  # its output is then the noise itself: s x a + m
    zeros, ones = torch.zeros(64, 16, 6, 6), torch.ones(64, 16, 6, 6)
    shifts = layer(zeros)  # m ~ U(mu_j - r, mu_j + r), mu_j ~ U(-n_mu, n_mu)
    per_channel = shifts.transpose(0, 1).reshape(16, -1)
    assert (per_channel.std(1) > 0.5 * 2 * N.R_MU / 12 ** 0.5).all()  # varies over samples and positions
    assert (per_channel.max(1).values - per_channel.min(1).values <= 2 * N.R_MU + 1e-6).all()
    assert (per_channel.mean(1).abs() <= N.N_MU + N.R_MU).all() and per_channel.mean(1).std() > 0.1
    scales = layer(ones) - layer(zeros)  # two draws: mean scale per channel in [1, n_sigma], +- the shifts
    mean_scale = scales.mean(dim=(0, 2, 3))
    assert ((mean_scale > 1 - 2 * N.N_MU - 0.1) & (mean_scale < N.N_SIGMA + 2 * N.N_MU)).all()
    again = layer(zeros).transpose(0, 1).reshape(16, -1).mean(1)
    assert not torch.allclose(again, per_channel.mean(1), atol=0.05)  # the distribution itself moves each step


@pytest.mark.slow
def test_the_noisy_twin_starts_as_the_bn_twin_and_leaves_bn_and_plain_untouched(synthetic_npz):
    models = build_pair("cnn", seed=0, widths=(8, 16, 16))
    copy_ = noisy_copy(models["bn"])
    wrapped = [u for u in copy_.modules() if isinstance(u, Unit)]
    assert all(isinstance(u.bn, NoisyNorm) for u in wrapped)
    assert all(torch.equal(p, q) for p, q in zip(models["bn"].parameters(), copy_.parameters()))
    data = load_cifar10(synthetic_npz)
    three = final_state(PairTrainer(tiny_cfg(noisy_bn=True, evals_per_run=0), data))
    two = final_state(PairTrainer(tiny_cfg(evals_per_run=0), data))
    assert set(three) == {"bn", "plain", "noisy"}
    for twin in two:  # same batches in the same order: a third twin changes nothing for the other two
        assert all(torch.equal(two[twin][k], three[twin][k]) for k in two[twin])


def _log(acc: dict[str, float]) -> RunLog:
    log = RunLog()
    log.eval_steps, log.finished = [10], True
    log.test_acc = {t: [a] for t, a in acc.items()}
    return log


def test_the_noisy_experiment_claims_only_what_exceeds_the_seeds_spread():
    point = lambda m: {v: {"act_input": {15: m - 1, 50: m, 85: m + 1}} for v in noisy.VARIANTS}  # noqa: E731
    run = noisy.NoisyRun("block2b", 3, points=[(0, point(0.0)), (5, point(1.0))])
    run.logs = {s: _log({"bn": 0.50 + d, "noisy": 0.49 - d, "plain": 0.20 + d}) for s, d in enumerate((0, 0.01, -0.01))}
    text = experiment_text.noisy_summary(run)
    assert "noisy BN minus BN: -1.0 points +- 5.0 (95%, paired by seed, n=3): no clear difference" in text
    assert "noisy BN minus no BN: +29.0 points +- 5.0 (95%, paired by seed, n=3): a difference" in text
    run.logs = {s: _log({"bn": 0.50 + d, "noisy": 0.30 - d, "plain": 0.31 + d}) for s, d in enumerate((0, 0.01, -0.01))}
    text = experiment_text.noisy_summary(run)
    assert "noisy BN minus BN: -20.0 points" in text and \
        "noisy BN minus BN: -20.0 points +- 5.0 (95%, paired by seed, n=3): a difference" in text
    assert "noisy BN minus no BN: -1.0 points +- 5.0 (95%, paired by seed, n=3): no clear difference" in text
    assert "moved by 1.00" in text


def test_the_landscape_summary_names_both_twins_medians():
    stats = lambda beta: dict(loss=1.0, loss_min=0.9, loss_max=1.2, grad_change_min=0.1, grad_change_max=beta,  # noqa: E731
                              beta=beta, grad_norm=1.0)
    lines = [(s, {"bn": stats(1.0 + s), "plain": stats(10.0 + s)}) for s in (1, 2, 3)]
    text = experiment_text.landscape_summary(probes.landscape_medians(lines), len(lines))
    assert "3 measurements" in text and "3 with BN vs 12 without" in text


def test_the_landscape_is_probed_on_one_fixed_grid_whatever_the_scheduled_rate(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    cfg = tiny_cfg()
    probe = probes.probe_for(cfg, data, "block2b", with_landscape=True)
    models = build_pair("cnn", widths=cfg.recipe.widths)
    early, late = probe(models, 0.001).landscape, probe(models, 1.0).landscape  # scheduled rates far apart
    assert early == late
    assert landscape.step_sizes(cfg.recipe.lr) == tuple(f * cfg.recipe.lr for f in landscape.FACTORS)


def test_the_loss_range_summarised_is_the_median_of_each_evaluations_range():
    point = lambda lo, hi: {t: dict(beta=1.0, grad_change_max=1.0, loss_min=lo, loss_max=hi) for t in ("bn", "plain")}  # noqa: E731
    lines = [(1, point(0.0, 10.0)), (2, point(9.0, 10.0)), (3, point(9.0, 19.0))]  # ranges 10, 1, 10
    medians = probes.landscape_medians(lines)  # median(max) - median(min) would say 1
    assert medians["bn"]["loss_range"] == medians["plain"]["loss_range"] == 10
