"""Whose token acts on the Hub (`services.hub_access`), against the Hub stand-in, which records whose
token each request carried: on a Space (SPACE_ID set, the owner's HF_TOKEN set) a visitor pushes and
reads private repos only as themselves; on your own machine your saved token is yours."""
from __future__ import annotations

import time

import gradio as gr
import pytest
from fakehub import TOKEN, VISITOR, VISITOR_TOKEN

from bnapp.services import UserError
from bnapp.services.hub_access import HubAccess
from bnapp.services.hub_transfer import load_into_session, push_last_run
from bnapp.services.state import Session
from bnapp.store import hub
from bnapp.ui.header import load_from_hub
from bnapp.ui.tabs.train import push_run


@pytest.fixture
def space(fake_hub, monkeypatch):
    """A Space whose owner (alice) set HF_TOKEN as a secret and enabled sign-in."""
    monkeypatch.setenv("SPACE_ID", "alice/bnapp")
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "fake-client")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return HubAccess.from_env("alice/owner-pair")


@pytest.fixture
def session(pair_dir):
    s = Session()
    s.last_run = (pair_dir, "mlp")
    return s


def users(fake_hub, since: int = 0) -> set:
    """Whose tokens reached the Hub since call number `since` (None: a request with no token)."""
    return {user for _, _, user in fake_hub.calls[since:]}


def test_space_push_without_sign_in_is_refused_and_never_reaches_the_hub(fake_hub, space, session):
    assert space.on_space and space.sign_in
    with pytest.raises(UserError, match="your own Hugging Face account.*never pushes with its owner's token"):
        push_last_run(space, session, "alice/taken-over", False)
    assert fake_hub.calls == [] and "alice/taken-over" not in fake_hub.repos


def test_space_push_with_a_visitor_token_goes_as_the_visitor(fake_hub, space, session):
    pushed = push_last_run(space, session, f"{VISITOR}/my-run", True, VISITOR_TOKEN)
    assert pushed.as_visitor and fake_hub.repos[f"{VISITOR}/my-run"].private
    writes = [(path, user) for method, path, user in fake_hub.calls if method == "POST" and "yaml" not in path]
    assert writes and {user for _, user in writes} == {VISITOR}  # created and committed as the visitor
    assert "alice" not in users(fake_hub)  # the owner's token never came
    before = len(fake_hub.calls)
    with pytest.raises(hub.HubError, match="Could not push to alice/owner-models"):  # the visitor's own rights
        push_last_run(space, session, "alice/owner-models", False, VISITOR_TOKEN)
    assert "alice" not in users(fake_hub, before) and "alice/owner-models" not in fake_hub.repos


@pytest.mark.slow
def test_space_private_repos_need_the_visitors_own_access_even_when_cached(fake_hub, space, pair_dir):
    hub.push_pair(pair_dir, "mlp", "alice/secret", token=TOKEN, private=True)
    hub.push_pair(pair_dir, "mlp", "alice/owner-pair", token=TOKEN, private=True)
    hub.push_pair(pair_dir, "mlp", f"{VISITOR}/mine", token=VISITOR_TOKEN, private=True)
    hub.push_pair(pair_dir, "mlp", "alice/public", token=TOKEN)
    hub.download_pair("alice/secret", token=TOKEN)  # now in the server's shared cache
    visitor = Session()
    before = len(fake_hub.calls)
    for token in (None, VISITOR_TOKEN):  # anonymous, and signed in as someone who cannot read it
        with pytest.raises(hub.HubError, match="not found on the Hub"):
            load_into_session(space, visitor, "alice/secret", "", token)
    assert users(fake_hub, before) == {None, VISITOR}  # alice's token was never sent for a visitor
    assert not visitor.pairs
    assert load_into_session(space, visitor, "alice/public", "") == ["alice/public:mlp"]  # public: anyone
    assert load_into_session(space, visitor, f"{VISITOR}/mine", "", VISITOR_TOKEN) == [f"{VISITOR}/mine:mlp"]
    before = len(fake_hub.calls)
    assert load_into_session(space, visitor, "alice/owner-pair", "") == ["alice/owner-pair:mlp"]  # the owner's choice
    assert users(fake_hub, before) == {"alice"}


def test_space_without_sign_in_says_so(fake_hub, space, monkeypatch, session):
    monkeypatch.delenv("OAUTH_CLIENT_ID")
    access = HubAccess.from_env()
    with pytest.raises(UserError, match="offers no Hugging Face sign-in.*hf_oauth: true"):
        push_last_run(access, session, "alice/x", False)


def test_own_machine_uses_the_saved_token(fake_hub, session, monkeypatch, pair_dir):
    access = HubAccess.from_env()
    assert not access.on_space
    with pytest.raises(UserError, match="set HF_TOKEN or run `hf auth login`"):
        push_last_run(access, session, "alice/local", False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert not push_last_run(access, session, "alice/local", False).as_visitor
    assert users(fake_hub) == {"alice"}
    hub.push_pair(pair_dir, "mlp", "alice/private", token=TOKEN, private=True)
    assert load_into_session(access, Session(), "alice/private", "") == ["alice/private:mlp"]


def test_handlers_take_the_visitors_oauth_token(fake_hub, space, session, tmp_path):
    from bnapp.data.images import Examples
    from bnapp.services.state import ServerState

    state = ServerState({}, Examples.load(tmp_path), hub_access=space)
    with pytest.raises(gr.Error, match="never pushes with its owner's token"):
        push_run(state, session, "alice/x", False)
    login = gr.OAuthToken(token=VISITOR_TOKEN, scope="write-repos", expires_at=int(time.time()) + 60)
    assert "as you" in push_run(state, session, f"{VISITOR}/run", False, login)
    assert VISITOR in users(fake_hub) and "alice" not in users(fake_hub)
    _, note = load_from_hub(state, session, "alice/nothing-here", "")
    assert "if it is private, sign in with Hugging Face" in note


def test_the_spaces_front_matter_asks_for_sign_in_with_the_scopes_the_app_needs():
    import yaml
    from conftest import ROOT

    from bnapp.services.hub_access import OAUTH_SCOPES

    front = yaml.safe_load((ROOT / "README.md").read_text().split("---")[1])
    assert front["hf_oauth"] is True and tuple(front["hf_oauth_scopes"]) == OAUTH_SCOPES
