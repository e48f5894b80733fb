"""The recipe search: one protocol for both twins, weight decay coupled to the rate only where a BN follows."""
import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from bnapp.data.cifar10 import load_cifar10
from bnapp.nets.models import apply_init, build_pair
from bnapp.services import tuning
from bnapp.training.optim import pair_optimizer, param_roles
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.training.search import BASE, SEARCHED, SearchSpace, trials


def decays(model: nn.Module, recipe) -> dict[str, float]:
    """Each parameter's weight decay under `recipe`, by name."""
    groups = pair_optimizer([(model, recipe)]).param_groups
    by_id = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    return {n: by_id[id(p)] for n, p in model.named_parameters() if id(p) in by_id}


def test_at_rate_keeps_lr_times_decay_only_for_weights_a_bn_follows():
    pair = build_pair("cnn", widths=(8, 16, 16))
    fast = RECIPES["fast"]
    slow = fast.at_rate(fast.lr / 10)
    plain_before, plain_after = decays(pair["plain"], fast), decays(pair["plain"], slow)
    assert plain_before == plain_after  # no BN anywhere: wd alone is the penalty, whatever the rate
    bn_before, bn_after = decays(pair["bn"], fast), decays(pair["bn"], slow)
    roles = param_roles(pair["bn"])
    invariant = [n for n in bn_after if roles.get(n) == "invariant"]
    assert invariant and all(bn_after[n] == pytest.approx(10 * bn_before[n]) for n in invariant)
    others = [n for n in bn_after if roles.get(n) != "invariant"]
    assert others and all(bn_after[n] == bn_before[n] for n in others)  # the classifier, BN's shifts


def test_the_shift_multiplier_reaches_the_plain_twins_biases_when_a_recipe_says_all_shifts():
    plain = build_pair("cnn", widths=(8, 16, 16))["plain"]
    recipe = replace(RECIPES["fast"], shifts="all")
    groups = {g["role"]: g for g in pair_optimizer([(plain, recipe)]).param_groups}
    bias = plain.block2a.conv.bias
    assert any(p is bias for p in groups["shift"]["params"]) and groups["shift"]["lr"] == recipe.lr * 64
    groups = {g["role"]: g for g in pair_optimizer([(plain, RECIPES["fast"])]).param_groups}
    assert "shift" not in groups  # the shipped recipes: only BN's beta is a shift


def test_both_twins_get_the_same_trials_anchors_first_then_seeded_draws():
    a, b = trials(6, seed=3), trials(6, seed=3)
    assert a == b and len(a) == 6 and a[0].origin.startswith("anchor") and a[-1].origin == "random"
    assert set(a[-1].values) == set(SEARCHED) and trials(6, seed=4)[-1] != a[-1]
    with pytest.raises(ValueError):
        trials(0)


def test_he_init_draws_hes_variance_and_identity_he_keeps_the_dirac_filters():
    model = build_pair("cnn", widths=(16, 32, 32))["plain"]
    apply_init(model, "he", seed=0)
    w = model.block2b.conv.weight
    assert w.std().item() == pytest.approx((2 / w[0].numel()) ** 0.5, rel=0.1)
    apply_init(model, "identity-he", seed=0)
    centre = model.block2b.conv.weight[:, :, 1, 1]
    assert torch.equal(torch.diagonal(centre), torch.ones(32)) and model.block2b.conv.weight[0, 0, 0, 0] == 0


def test_a_pair_of_own_recipes_must_share_batches_and_evaluation():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig("cnn", BASE, plain_recipe=replace(BASE, batch_size=128))
    cfg = TrainConfig("cnn", BASE, plain_recipe=replace(BASE, lr=0.01, weight_decay=1e-4))
    assert cfg.recipe_for("plain").lr == 0.01 and cfg.recipe_for("bn").lr == BASE.lr


@pytest.mark.slow
def test_a_search_gives_both_twins_every_trial_resumes_and_ships_each_twin_its_best(synthetic_npz, tmp_path):
    data, small = load_cifar10(synthetic_npz), replace(BASE, epochs=1, widths=(8, 8, 8))
    chosen, path = trials(3, seed=0), tmp_path / "t.jsonl"
    rows = list(tuning.run_search(data, chosen[:2], path, base=small))
    assert [(r["trial"], r["twin"]) for r in rows] == [(0, "bn"), (0, "plain"), (1, "bn"), (1, "plain")]
    more = list(tuning.run_search(data, chosen, path, base=small))  # resumed: only the trial not yet run
    assert [(r["trial"], r["twin"]) for r in more] == [(2, "bn"), (2, "plain")]
    table = tuning.read_rows(path)
    record = json.loads(tuning.protocol_path(path).read_text())
    assert record["trials"] == 2 and record["fixed"]["widths"] == [8, 8, 8]  # written when the search began, as run
    for twin in ("bn", "plain"):
        mine = [r for r in table if r["twin"] == twin]
        assert [r["trial"] for r in mine] == [0, 1, 2]
    # each twin gets its own best trial, even when the two differ
    fake = [dict(r, val_accuracy=(0.9 if (r["twin"], r["trial"]) in {("bn", 1), ("plain", 2)} else 0.5)) for r in table]
    cfg = tuning.final_config(fake, seed=0)
    assert cfg.recipe.lr == chosen[1].values["lr"] and cfg.recipe_for("plain").lr == chosen[2].values["lr"]
    assert tuning.forgiveness(fake, "bn")["near_best"] == 1


def test_figure1s_small_gaussian_init_reaches_every_weight_of_both_twins_alike():
    from bnapp.nets.models import GAUSSIAN_SD

    pair = build_pair("fig1")
    for model in pair.values():
        apply_init(model, RECIPES["fig1"].init, seed=0)
    for name in ("layer1.linear.weight", "layer3.linear.weight", "out.weight"):
        w = dict(pair["bn"].named_parameters())[name]
        assert w.std().item() == pytest.approx(GAUSSIAN_SD, rel=0.05), name
        assert torch.equal(w, dict(pair["plain"].named_parameters())[name])
    assert pair["plain"].layer1.linear.bias.abs().sum() == 0


def test_the_search_draws_the_shipped_tables_trials_again():
    """Re-running `experiments tune` gives the trials behind the shipped pair: the space may not drift (it drew
    from Figure 1's init too once that was added, and no longer matched)."""
    shipped = {r["trial"]: {k: r[k] for k in SEARCHED} for r in tuning.read_rows(tuning.SHIPPED_SEARCH)}
    assert {t.id: t.values for t in trials(len(shipped), seed=0)} == shipped
    assert "gaussian" not in tuning.read_rows(tuning.SHIPPED_SEARCH)[0] and "gaussian" not in SearchSpace().init


def test_tune_runs_only_the_trials_asked_for_at_the_widths_and_precision_asked_for(synthetic_npz, tmp_path,
                                                                                   monkeypatch):
    from bnapp import experiments

    seen = {}

    def record(validation, chosen, path, twins, seed, base):
        seen.update(ids=[t.id for t in chosen], twins=twins, widths=base.widths, precision=base.precision)
        return iter(())

    monkeypatch.setattr(experiments, "run_search", record)
    monkeypatch.setattr(experiments, "holdout", lambda data: data)
    monkeypatch.setattr(experiments, "read_rows", lambda path: [])
    monkeypatch.setattr(experiments, "forgiveness", lambda rows, twin: dict(best=0.5, near_best=1, trials=2,
                                                                            lr_range=(0.1, 0.1)))
    monkeypatch.setattr(experiments, "best", lambda rows, twin: dict(trial=3))
    args = ["tune", "--twin", "plain", "--only", "7", "3", "--widths", "64", "256", "256", "--precision", "bf16",
            "--data", str(synthetic_npz), "--out", str(tmp_path / "t.jsonl")]
    assert experiments.main(args) == 0
    assert seen == dict(ids=[3, 7], twins=("plain",), widths=(64, 256, 256), precision="bf16")
