"""The engine's maths: the triangle learning-rate schedule, lookahead averaging, the time budget, and
the test-time-augmentation views and weights every evaluation and prediction goes through."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bnapp import TWINS
from bnapp.data.cifar10 import load_cifar10
from bnapp.measure.infer import TTA_WEIGHTS, _views
from bnapp.training import runs
from bnapp.training.engine import PairTrainer, TwinState
from bnapp.training.optim import lr_factor
from bnapp.training.recipes import RECIPES, Recipe, TrainConfig

TRIANGLE = Recipe("test", "mlp", schedule="triangle", warmup=0.25, lr_start=0.2, lr_end=0.05)


def tiny_trainer(synthetic_npz, **recipe_changes) -> PairTrainer:
    """Both MLP twins on the 256 synthetic training images: 2 epochs of 8 steps."""
    r = replace(RECIPES["tutorial"], **{"epochs": 2, "batch_size": 32, "lr": 1e-3, "log_every": 0, **recipe_changes})
    return PairTrainer(TrainConfig("mlp", r), load_cifar10(synthetic_npz))


# -- the triangle schedule -----------------------------------------------------------------------


@pytest.mark.parametrize("total", [100, 37, 7])
def test_triangle_starts_at_lr_start_peaks_at_warmup_and_ends_at_lr_end(total):
    peak = max(1, int(TRIANGLE.warmup * total))
    factors = [lr_factor(TRIANGLE, step, total) for step in range(total + 1)]
    assert factors[0] == pytest.approx(0.2)
    assert factors[peak] == pytest.approx(1.0) and max(factors) == pytest.approx(1.0)
    assert factors[total] == pytest.approx(0.05)
    up = [b - a for a, b in zip(factors[:peak], factors[1:peak + 1])]
    down = [b - a for a, b in zip(factors[peak:-1], factors[peak + 1:])]
    assert up == pytest.approx([(1 - 0.2) / peak] * peak)  # linear warm-up
    assert down == pytest.approx([(0.05 - 1) / (total - peak)] * (total - peak))  # linear decay


def test_a_constant_schedule_is_flat():
    assert {lr_factor(RECIPES["tutorial"], step, 50) for step in range(51)} == {1.0}


def test_each_step_trains_at_the_scheduled_rate(synthetic_npz):
    trainer = tiny_trainer(synthetic_npz, optimizer="sgd", lr=0.1, momentum=0.9, schedule="triangle", warmup=0.3,
                          lr_start=0.1, lr_end=0.02)
    used, step = [], trainer.optimizer.step

    def recording_step(*args, **kwargs):
        used.append([g["lr"] for g in trainer.optimizer.param_groups])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    list(trainer.run())
    total = trainer.total_steps
    assert len(used) == total == 16
    for k, lrs in enumerate(used):
        factor = lr_factor(trainer.recipe, k, total)
        assert lrs == pytest.approx([g["base_lr"] * factor for g in trainer.optimizer.param_groups]), k
    assert used[0][0] == pytest.approx(0.1 * 0.1) and max(lrs[0] for lrs in used) == pytest.approx(0.1)


# -- lookahead --------------------------------------------------------------------------------------


def lookahead_twin() -> TwinState:
    torch.manual_seed(0)
    return TwinState(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)))


def floats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def lookahead(t: TwinState, step: int, total: int = 100) -> None:
    PairTrainer._lookahead(SimpleNamespace(step=step, total_steps=total), t)


def test_lookahead_waits_for_30_percent_of_training_and_acts_every_5_steps():
    t = lookahead_twin()
    before = floats(t.model)
    for step in (0, 5, 25, 29, 31, 33, 34):
        lookahead(t, step)
        assert t.lookahead is None, step
    lookahead(t, 30)  # the first: the average starts from the current weights, which stay
    assert t.lookahead is not None and set(t.lookahead) == set(before)  # floats only: not num_batches_tracked
    assert all(torch.equal(t.lookahead[k], before[k]) for k in before)
    assert all(torch.equal(v, before[k]) for k, v in floats(t.model).items())
    with torch.no_grad():
        t.model[0].weight.add_(1.0)
    assert not torch.equal(t.lookahead["0.weight"], t.model[0].weight)  # a copy, not the live tensor


@pytest.mark.parametrize("step", [50, 100])
def test_lookahead_pulls_weights_and_average_together_with_a_decay_that_grows(step):
    t = lookahead_twin()
    lookahead(t, 30)
    average = floats(t.model)
    with torch.no_grad():
        for p in t.model.parameters():
            p.add_(torch.randn_like(p))
        t.model[1].running_mean.add_(3.0)
    weights, counter = floats(t.model), t.model[1].num_batches_tracked.clone()
    lookahead(t, step)
    decay = 0.95 ** 5 * (step / 100) ** 3
    for k in average:
        expected = decay * average[k] + (1 - decay) * weights[k]
        assert torch.allclose(t.lookahead[k], expected, atol=1e-6), k
        assert torch.allclose(t.model.state_dict()[k], expected, atol=1e-6), k
    assert torch.equal(t.model[1].num_batches_tracked, counter)


def test_a_lookahead_run_ends_each_epoch_on_the_average(synthetic_npz):
    trainer = tiny_trainer(synthetic_npz, lookahead=True, epochs=3)  # 24 steps: the last pull is at step 20
    list(trainer.run())
    for twin in TWINS:
        t = trainer.twins[twin]
        assert t.lookahead is not None, twin
        state = t.model.state_dict()
        assert all(torch.equal(state[k], avg) for k, avg in t.lookahead.items()), twin


# -- the time budget --------------------------------------------------------------------------------


def test_a_run_past_its_time_budget_stops_after_the_step_in_progress(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    r = replace(RECIPES["tutorial"], epochs=3, batch_size=32, log_every=0)
    trainer = PairTrainer(TrainConfig("mlp", r, max_seconds=1e-9), data)  # spent by the first step
    events = list(trainer.run())
    assert trainer.step == 1 < trainer.total_steps
    assert events[-1].kind == "done" and events[-1].stopped
    meta = runs.finish(trainer).metadata
    assert all(meta[t]["stopped_early"] and meta[t]["steps"] == 1 for t in TWINS)


@pytest.mark.parametrize("budget", [0, 3600])
def test_a_run_within_its_budget_or_without_one_trains_every_step(synthetic_npz, budget):
    data = load_cifar10(synthetic_npz)
    r = replace(RECIPES["tutorial"], epochs=3, batch_size=32, log_every=0)
    trainer = PairTrainer(TrainConfig("mlp", r, max_seconds=budget), data)
    events = list(trainer.run())
    assert trainer.step == trainer.total_steps == 24 and not events[-1].stopped
    assert not runs.finish(trainer).metadata["bn"]["stopped_early"]


# -- test-time augmentation -------------------------------------------------------------------------


class Features(nn.Module):
    """Returns its input's pixels as the "logits", so each view can be read back; counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x.flatten(1)


def reflect(i: int, n: int) -> int:
    return -i if i < 0 else 2 * (n - 1) - i if i >= n else i


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[..., i, j] = x[..., i + dy, j + dx], mirrored at the border (without the edge pixel twice)."""
    h, w = x.shape[-2:]
    rows = torch.tensor([reflect(i + dy, h) for i in range(h)])
    cols = torch.tensor([reflect(j + dx, w) for j in range(w)])
    return x[..., rows, :][..., cols]


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))  # not square: flips show


def test_no_tta_is_the_image_itself(images):
    model = Features()
    assert torch.equal(_views(model, images, "none"), images.flatten(1)) and model.calls == 1


def test_flip_averages_each_image_with_its_mirror(images):
    model = Features()
    mirror = images[..., torch.arange(images.shape[-1] - 1, -1, -1)]  # left-right
    assert torch.allclose(_views(model, images, "flip"), (0.5 * images + 0.5 * mirror).flatten(1))
    assert model.calls == 1  # every view in one forward pass


def test_flip_shift_adds_the_one_pixel_shifts_at_half_the_weight(images):
    model = Features()
    mirror = lambda v: v.flip(-1)  # noqa: E731
    up_left, down_right = shifted(images, -1, -1), shifted(images, 1, 1)
    expected = (0.25 * (images + mirror(images))
                + 0.125 * (up_left + mirror(up_left) + down_right + mirror(down_right)))
    assert torch.allclose(_views(model, images, "flip-shift"), expected.flatten(1), atol=1e-6)
    assert model.calls == 1


@pytest.mark.parametrize("tta", sorted(TTA_WEIGHTS))
def test_the_weights_of_every_tta_sum_to_one(tta, images):
    assert sum(TTA_WEIGHTS[tta]) == pytest.approx(1.0)
    constant = lambda x: torch.full((len(x), 10), 3.0)  # noqa: E731  -- the same logits for every view
    assert torch.allclose(_views(constant, images, tta), torch.full((len(images), 10), 3.0))


def test_an_unknown_tta_is_refused(images):
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        _views(Features(), images, "rotate")
