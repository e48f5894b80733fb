"""A browser session's state: the pairs it keeps (the oldest go past MAX_SESSION_PAIRS) and what
happens when the visitor leaves (their run is stopped, their files deleted)."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from bnapp.data.cifar10 import load_cifar10
from bnapp.measure.infer import InputSpec
from bnapp.nets.models import ModelConfig, build_pair
from bnapp.services import UserError
from bnapp.services import state as S
from bnapp.services.state import MAX_SESSION_PAIRS, ServerState, Session, get_pair
from bnapp.store import hub
from bnapp.store.checkpoints import base_metadata
from bnapp.store.pairs import Pair
from bnapp.training import runs
from bnapp.training.limits import TrainLimits
from bnapp.training.recipes import RECIPES, TrainConfig


@pytest.fixture(scope="module")
def mlp_pair() -> Pair:
    models = build_pair("mlp", seed=0)
    return Pair("mlp", models, {t: base_metadata(ModelConfig("mlp", t == "bn"), InputSpec()) for t in models})


def named(pair: Pair, name: str) -> Pair:
    return replace(pair, name=name)


def test_past_the_limit_the_oldest_pairs_are_dropped(mlp_pair):
    session, server = Session(), ServerState(pairs={}, examples=None)
    names = [f"run{i}-mlp" for i in range(1, MAX_SESSION_PAIRS + 3)]
    for name in names:
        session.add_pair(named(mlp_pair, name))
    assert list(session.pairs) == names[2:]  # newest last, the two oldest gone
    assert get_pair(server, names[-1], session).name == names[-1]
    with pytest.raises(UserError, match="Unknown model pair 'run1-mlp'"):
        get_pair(server, "run1-mlp", session)


def test_a_pair_loaded_again_counts_as_new(mlp_pair):
    session = Session()
    for i in range(MAX_SESSION_PAIRS):
        session.add_pair(named(mlp_pair, f"p{i}"))
    session.add_pair(named(mlp_pair, "p0"))  # e.g. the same Hub repo loaded again
    session.add_pair(named(mlp_pair, "new"))
    assert len(session.pairs) == MAX_SESSION_PAIRS
    assert "p0" in session.pairs and "p1" not in session.pairs and list(session.pairs)[-2:] == ["p0", "new"]


def tiny_config(epochs: float) -> TrainConfig:
    return TrainConfig("mlp", replace(RECIPES["tutorial"], epochs=epochs, batch_size=32, lr=1e-3, log_every=0))


def test_leaving_stops_the_run_and_deletes_the_sessions_files(synthetic_npz, monkeypatch):
    data, session = load_cifar10(synthetic_npz), Session()
    name, files = session.save_run(runs.train_pair(tiny_config(1), data), "mlp")  # a finished run, saved
    assert name == "run1-mlp" and name in session.pairs and all(f.exists() for f in files)
    folder = session.folder
    assert all(folder in f.parents for f in files)

    # A second run in progress, held between two steps until the visitor has left.
    from bnapp.services import training

    at_step, go = threading.Event(), threading.Event()

    def held(*_args, **_kwargs):
        at_step.set()
        assert go.wait(30)
        return 0.0

    monkeypatch.setattr(training.sharing.cores, "wait_for_interactive", held)
    monkeypatch.setattr(ServerState, "dataset", lambda self: data)
    state = ServerState(pairs={}, examples=None, limits=TrainLimits())
    updates: list = []

    def train() -> None:  # 160 steps
        with pytest.raises(UserError, match="session has ended; its run was not saved"):
            for update in training.train_live(state, session, tiny_config(20)):
                updates.append(update)

    run = threading.Thread(target=train, daemon=True)
    run.start()
    assert at_step.wait(30)
    session.close()
    go.set()
    run.join(timeout=60)
    assert not run.is_alive()
    done = [u.event for u in updates if u.event.kind == "done"]
    assert done and done[-1].stopped and done[-1].step == 1  # it stopped after the step it was about to take
    assert not folder.exists() and list(session.pairs) == ["run1-mlp"]  # nothing saved after the visitor left
    assert not session.stop.is_set() and not session.stop.path.exists()


def test_a_session_with_nothing_to_clean_up_closes_quietly():
    Session().close()


def test_a_hub_repo_that_loads_nothing_leaves_no_pair_and_no_crash(monkeypatch, tmp_path):
    def no_pair(*_):
        raise hub.HubError("nobody/nothing: not found on the Hub")

    monkeypatch.setattr(S, "load_hub_pairs", no_pair)
    state = S.ServerState.load(tmp_path / "empty", tmp_path / "no-examples", hub_repo="nobody/nothing",
                               limits=TrainLimits())
    assert state.pairs == {} and state.default_pair is None
    assert any("Hub pair not loaded" in e for e in state.load_errors)


def test_the_app_opens_on_the_pair_at_the_plain_nets_best_rate_when_shipped():
    def pair(name: str, arch: str) -> S.Pair:
        models = build_pair(arch, widths=(8, 16, 16)) if arch == "cnn" else build_pair(arch)
        return S.Pair(name, models, {t: {"input": InputSpec().to_dict()} for t in ("bn", "plain")})

    def opened_on(*names: str) -> str | None:
        return S.ServerState({n: pair(n, "mlp" if n == "mlp" else "cnn") for n in names}, S.Examples(),
                             limits=TrainLimits()).default_pair

    assert opened_on("mlp", "cnn", "cnn-fair") == "cnn-fair"
    assert opened_on("mlp", "cnn") == "cnn" and opened_on("mlp", "mine") == "mlp"


def test_a_pair_whose_json_holds_odd_hyperparameters_still_gets_a_menu_title(mlp_pair):
    """A Hub checkpoint's JSON may hold anything: the menu names the rate only when it is a number."""
    from bnapp.services.state import pair_title

    for hyper in ({"lr": "0.1", "optimizer": "sgd"}, None, {"lr": 0.1}, "junk"):
        odd = replace(mlp_pair, metadata={t: m | {"hyperparameters": hyper} for t, m in mlp_pair.metadata.items()})
        assert pair_title(odd).startswith("Tutorial MLP (Linear + BatchNorm1d)") and " lr " not in pair_title(odd)
    fine = replace(mlp_pair, metadata={t: m | {"hyperparameters": {"lr": 1e-4, "optimizer": "adam"}}
                                       for t, m in mlp_pair.metadata.items()})
    assert "adam lr 0.0001" in pair_title(fine)


def test_a_pair_of_own_recipes_names_each_twins_rate_and_the_trials_each_got(mlp_pair):
    from bnapp.services.state import pair_title

    own = {"bn": {"lr": 0.1, "optimizer": "sgd"}, "plain": {"lr": 0.03, "optimizer": "sgd"}}
    pair = replace(mlp_pair, metadata={t: m | {"hyperparameters": own[t], "recipe_choice": {"trials": 8}}
                                       for t, m in mlp_pair.metadata.items()})
    assert "sgd lr 0.1 (BN) / 0.03 (plain), 8 trials each" in pair_title(pair)
