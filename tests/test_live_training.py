"""A live training run for the app (`services.training`): config in, the pair in the menu out, and every way
it can end (an error, a failed save, a preset, a recorded history)."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from bnapp.measure import evolution
from bnapp.services import UserError, presets, training
from bnapp.services import state as S
from bnapp.training.engine import PairTrainer
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import RECIPES, TrainConfig
from bnapp.training.search import SEARCHED


def tiny_mlp_cfg(**kw) -> TrainConfig:
    return TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=1, batch_size=32, lr=1e-3, log_every=2), seed=0,
                       evals_per_run=3, **kw)


@pytest.fixture
def server_state(synthetic_npz, monkeypatch, tmp_path) -> S.ServerState:
    monkeypatch.setenv("BNAPP_DATA", str(synthetic_npz))
    return S.ServerState.load(tmp_path / "no-checkpoints", tmp_path / "no-examples", limits=TrainLimits())


def test_an_error_during_training_is_not_reported_as_a_failed_save(server_state, monkeypatch):
    def broken_run(self):
        raise OSError("the dataset file went away")
        yield  # a generator, like the real run

    monkeypatch.setattr(PairTrainer, "run", broken_run)
    with pytest.raises(OSError, match="dataset file went away"):
        list(training.train_live(server_state, S.Session(), tiny_mlp_cfg()))


def test_a_failed_save_says_so_and_the_session_ends_its_run(server_state, monkeypatch):
    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(S, "save_run", disk_full)
    session = S.Session()
    with pytest.raises(UserError, match="Could not write the run's checkpoint files"):
        list(training.train_live(server_state, session, tiny_mlp_cfg()))
    assert not session.running and session.pairs == {}


def test_evolution_snapshots_are_taken_on_the_training_thread_both_twins_at_one_step(server_state, monkeypatch):
    seen = []
    real = evolution.snapshot_pair

    def recording(models, *args):
        seen.append((threading.current_thread().name, {n: m.training for n, m in models.items()}))
        return real(models, *args)

    monkeypatch.setattr(evolution, "snapshot_pair", recording)
    updates = list(training.train_live(server_state, S.Session(), tiny_mlp_cfg()))
    points = updates[-1].points
    assert len(points) == len(seen) >= 2
    assert {name for name, _ in seen} == {"bnapp-background"}
    assert [s for s, _ in points] == [u.event.step for u in updates if u.evaluated]
    assert all(set(p) == {"bn", "plain"} for _, p in points)


@pytest.mark.parametrize("recipe", [pytest.param(r, marks=pytest.mark.slow) if r == "fast" else r
                                    for r in presets.presets()])
def test_every_preset_of_the_train_tab_runs_to_its_pair(server_state, recipe):
    settings = presets.preset(recipe)
    arch = settings.arch
    small = {} if recipe == presets.FAIR else dict(batch_size=min(settings.batch_size, 64))  # fair: the searched
    cfg, _ = presets.browser_config(server_state.limits, replace(settings, **small, train_subset=256, budget=0))
    session = S.Session()
    final = list(training.train_live(server_state, session, replace(cfg, steps=2)))[-1]
    assert final.pair_name in session.pairs and session.pairs[final.pair_name].metadata["bn"]["arch"] == arch
    session.close()


def test_the_fair_preset_trains_each_twin_at_its_searched_recipe_in_lockstep(server_state):
    from bnapp.services import tuning

    own = tuning.own_recipes()
    settings = replace(presets.preset(presets.FAIR), train_subset=256, budget=0)
    cfg, _ = presets.browser_config(server_state.limits, settings)
    session = S.Session()
    final = list(training.train_live(server_state, session, replace(cfg, steps=2)))[-1]
    meta = session.pairs[final.pair_name].metadata
    for twin in ("bn", "plain"):  # each twin's own rate, decay, warm-up, smoothing, shift rate and init
        recorded = meta[twin]["hyperparameters"]
        assert {k: recorded[k] for k in SEARCHED} == {k: getattr(own[twin], k) for k in SEARCHED}, twin
    assert meta["bn"]["hyperparameters"]["lr"] != meta["plain"]["hyperparameters"]["lr"]
    assert meta["bn"]["steps"] == meta["plain"]["steps"] == 2 and meta["bn"]["train_images"] == 256
    assert "--search checkpoints/cnn-fair-search.jsonl" in meta["bn"]["command"]
    assert "(BN) /" in session.finished[-1].label
    session.close()


def test_the_fair_preset_refuses_a_changed_rate_rather_than_use_it_silently(server_state):
    settings = replace(presets.preset(presets.FAIR), lr=0.1)
    with pytest.raises(UserError, match=r"fair preset trains each twin .* learning rate changed: choose another"):
        presets.browser_config(server_state.limits, settings)


def test_a_pairs_recorded_history_becomes_curves():
    from bnapp.services.training import recorded_log

    history = [dict(epoch=e, train_loss=2.0 / e, train_acc=0.1 * e, test_acc=0.2 * e) for e in (1, 2, 3)]
    meta = {t: {"history": history, "steps": 300, "epochs": 3, "diverged_at_step": None} for t in ("bn", "plain")}
    log = recorded_log(meta)
    assert log.steps == log.eval_steps == [100, 200, 300] and log.test_acc["bn"] == [0.2, 0.4, 0.6000000000000001]
    assert log.loss["plain"][0] == 2.0 and log.finished


@pytest.mark.slow
def test_finished_runs_are_kept_for_the_overlay_and_listed_by_their_settings(server_state):
    session = S.Session()
    cfg = replace(tiny_mlp_cfg(), seed=3)
    for _ in range(2):
        list(training.train_live(server_state, session, cfg))
    assert [r.name for r in session.finished] == ["run1-mlp", "run2-mlp"]
    label = session.finished[0].label
    assert label.startswith("run1-mlp: mlp tutorial, adam lr") and "seed 3" in label and "BN " in label
    chosen = training.overlay_runs(session, [label])
    assert [r.name for r in chosen] == ["run1-mlp"] and chosen[0].log.eval_steps
    from bnapp.ui.figures import training as plots
    fig = plots.overlay([(r.name, r.log) for r in session.finished])
    assert {d.name for d in fig.data} == {"run1-mlp, BN", "run1-mlp, plain", "run2-mlp, BN", "run2-mlp, plain"}
