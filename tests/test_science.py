"""The mechanisms behind the numbers the app shows (issue: trustworthy science)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bnapp import train
from bnapp.data.cifar10 import balanced_sample, load_cifar10
from bnapp.nets.models import ModelConfig, build_model
from bnapp.services import experiments as exp
from bnapp.services import speedup
from bnapp.services.training import RunLog
from bnapp.training.limits import TrainLimits, TrainSettings
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.ui import experiment_text


def test_a_balanced_sample_of_a_class_grouped_file_has_every_class_equally():
    labels = torch.arange(10).repeat_interleave(500)  # grouped by class, like the shipped CIFAR-10 file
    idx = balanced_sample(labels, 1000, seed=3)
    assert len(idx) == len(set(idx.tolist())) == 1000
    assert torch.bincount(labels[idx], minlength=10).tolist() == [100] * 10
    assert not torch.equal(idx, balanced_sample(labels, 1000, seed=4))


@pytest.mark.parametrize("placement,conv_bias", [("before", False), ("after", True)])
def test_with_bn_after_the_relu_the_conv_before_it_keeps_its_bias(placement, conv_bias):
    bn = build_model(ModelConfig("cnn", True, placement))
    assert (bn.block2a.conv.bias is not None) is conv_bias and (bn.head.linear.bias is not None) is conv_bias
    assert build_model(ModelConfig("cnn", False, placement)).block2a.conv.bias is not None


@pytest.mark.parametrize("diverged_at,acc,status",
                         [(5, None, "diverged"), (None, 0.11, "stalled"), (None, 0.4, "trains")])
def test_a_sweep_tells_diverged_from_stalled(diverged_at, acc, status):
    assert speedup.run_status(diverged_at, acc) == status


def test_the_largest_trainable_rate_skips_stalled_and_diverged_rates_and_needs_long_runs():
    rows = [dict(lr=0.1, twin="plain", status="trains"), dict(lr=0.3, twin="plain", status="stalled"),
            dict(lr=1.0, twin="plain", status="diverged"), dict(lr=1.0, twin="bn", status="trains")]
    rows = [r | dict(steps=exp.TRAINABILITY_STEPS) for r in rows]
    assert exp.largest_trainable_rate(rows, "plain") == 0.1 and exp.largest_trainable_rate(rows, "bn") == 1.0
    assert exp.trainability(rows).largest == {"bn": 1.0, "plain": 0.1}
    assert "plain 0.1" in experiment_text.sweep_summary([r | dict(test_accuracy=0.3) for r in rows])
    short = [r | dict(steps=16, test_accuracy=0.3) for r in rows]  # the app's sweep: early progress only
    assert exp.largest_trainable_rate(short, "bn") is None
    assert exp.trainability(short).largest is None
    summary = experiment_text.sweep_summary(short)
    assert "After 16 steps this shows early progress" in summary and "Largest rate" not in summary


def test_the_sweep_keeps_lr_times_weight_decay_fixed_for_the_weights_a_bn_follows(monkeypatch):
    made = []

    class Recorder:
        def __init__(self, cfg, data):
            made.append(cfg.recipe)
            raise LookupError  # the config is all this test needs

    monkeypatch.setattr(exp, "PairTrainer", Recorder)
    base = TrainConfig("cnn", replace(RECIPES["quick"], lr=0.2, weight_decay=5e-4))
    for lr in (0.02, 2.0):
        with pytest.raises(LookupError):
            next(exp.lr_sweep(base, None, [lr]))
    assert [r.lr * r.weight_decay * r.bn_decay_scale for r in made] == pytest.approx([0.2 * 5e-4] * 2)
    assert [r.weight_decay for r in made] == [5e-4, 5e-4]  # the decay of every other weight: the recipe's


def test_the_cli_and_the_train_tab_scale_the_decay_of_weights_a_bn_follows_too():
    fast = RECIPES["fast"]
    cli = train.config_from_args(train._parser().parse_args(["--arch", "cnn", "--out", "x", "--lr", "0.1"])).recipe
    tab = TrainLimits().config(TrainSettings("cnn", "fast", 1, 256, 0.1, "sgd", "before", 1024, 0)).recipe
    for r in (cli, tab):
        assert r.lr == 0.1 and r.lr * r.weight_decay * r.bn_decay_scale == pytest.approx(fast.lr * fast.weight_decay)
        assert r.weight_decay == fast.weight_decay
    assert RECIPES["fast"].at_rate(fast.lr) == fast


def test_the_tta_choice_pairs_each_gain_with_its_seed_and_picks_the_best_mean():
    acc = {"none": [0.60, 0.62, 0.58], "flip": [0.62, 0.63, 0.61], "flip-shift": [0.63, 0.65, 0.60]}
    rows = [dict(seed=s, twin=t, tta=k, accuracy=v[s] - (0.2 if t == "plain" else 0)) for k, v in acc.items()
            for s in range(3) for t in ("bn", "plain")]
    choice = exp.tta_choice(rows)
    assert choice.chosen == "flip-shift" and choice.seeds == 3 and list(choice.accuracy) == ["bn", "plain"]
    assert choice.accuracy["bn"]["flip-shift"] == pytest.approx(0.6267, abs=1e-4)
    assert choice.accuracy["plain"]["none"] == pytest.approx(0.40)
    gain = choice.gain["bn"]
    assert (gain["flip-shift"].mean, gain["flip-shift"].sd) == pytest.approx((0.0267, 0.0058), abs=1e-4)
    assert (gain["flip"].mean, gain["flip"].sd) == pytest.approx((0.02, 0.01))
    assert exp.tta_choice(rows, twin="plain").chosen == "flip-shift" and "none" not in gain


def test_tta_rows_score_every_tta_on_the_same_images(synthetic_npz):
    data = load_cifar10(synthetic_npz)
    base = TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=1, batch_size=32, log_every=0))
    rows = list(exp.tta_rows(base, data, seeds=(0, 1)))
    assert [(r["seed"], r["twin"], r["tta"]) for r in rows[:3]] == \
        [(0, "bn", t) for t in ("none", "flip", "flip-shift")]
    assert len(rows) == 2 * 2 * 3 and all(0 <= r["accuracy"] <= 1 for r in rows)
    n = len(data.y_test)
    assert all(abs(r["accuracy"] * n - round(r["accuracy"] * n)) < 1e-4 for r in rows)  # counts over the whole set


def finished_log(bn: float, plain: float) -> RunLog:
    log = RunLog(eval_steps=[10, 20], test_acc={"bn": [0.2, bn], "plain": [0.2, plain]})
    log.finished = True
    return log


@pytest.mark.parametrize("before,after,verdict", [
    ((0.50, 0.52, 0.51), (0.49, 0.53, 0.50), "+0.3 points +- 2.9 (95%, paired by seed, n=3): no clear difference"),
    ((0.60, 0.61, 0.62), (0.40, 0.41, 0.42), "+20.0 points +- 0.0 (95%, paired by seed, n=3): a difference"),
    # seeds far apart, the same small gain in each: unpaired intervals overlap, the paired test finds it
    ((0.50, 0.60, 0.70), (0.49, 0.585, 0.69), "+1.2 points +- 0.7 (95%, paired by seed, n=3): a difference"),
])
def test_placement_claims_a_difference_only_where_a_test_paired_by_seed_finds_it(before, after, verdict):
    logs = {}
    for seed in range(3):
        logs[("before", seed)] = finished_log(before[seed], 0.3)
        logs[("after", seed)] = finished_log(after[seed], 0.3)
    text = experiment_text.placement_summary(exp.placement_result(logs))
    assert f"BN before ReLU minus BN after ReLU: {verdict}" in text and "(n=3)" in text


def test_placement_waits_for_every_seed_before_any_verdict():
    logs = {("before", 0): finished_log(0.6, 0.3), ("after", 0): finished_log(0.4, 0.3)}
    result = exp.placement_result(logs)
    assert result.before_vs_after is None and result.finals["BN before ReLU"].n == 1
    text = experiment_text.placement_summary(result)
    assert "(n=1)" in text and "minus" not in text and "difference" not in text
