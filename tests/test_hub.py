"""Hub round trips against a loopback stand-in for the Hub (HF_ENDPOINT points at it): push, load,
not found, private, incompatible, offline with and without a cached copy, and the app's BNAPP_HUB_REPO."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import torch
from conftest import ROOT, free_port
from fakehub import TOKEN
from huggingface_hub import ModelCard, constants

from bnapp import CHECKPOINTS, EXAMPLES, push
from bnapp.store import hub
from bnapp.store.pairs import load_hub_pairs, load_pairs


def test_push_then_load_round_trips(fake_hub, pair_dir):
    url = hub.push_pair(pair_dir, "mlp", "alice/bn-twins", token=TOKEN)
    assert url.startswith(fake_hub.url + "/alice/bn-twins/commit/")
    files = fake_hub.repos["alice/bn-twins"].files("main")[1]
    assert sorted(files) == ["README.md", "mlp-bn.json", "mlp-bn.safetensors", "mlp-plain.json",
                             "mlp-plain.safetensors"]
    assert sum(r.startswith("POST /api/models/alice/bn-twins/commit/") for r in fake_hub.requests) == 1  # one commit

    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "pytorch" and "cifar10" in card.data.datasets and "bnapp" in card.data.tags
    values = sorted(r.metric_value for r in card.data.eval_results)
    assert values == [42.0, 48.0] and all(r.metric_type == "accuracy" for r in card.data.eval_results)
    assert "predicted in fp32 with test-time augmentation `none`" in card.text

    report = load_hub_pairs("alice/bn-twins")
    pair = report.pairs["alice/bn-twins:mlp"]
    local = load_pairs(pair_dir).pairs["mlp"]
    x = torch.randn(4, 3, 32, 32)
    for twin in ("bn", "plain"):
        assert torch.equal(pair.models[twin](x), local.models[twin](x))
    assert pair.metadata["bn"]["test_accuracy"] == 0.48
    assert str(constants.HF_HUB_CACHE) in str(hub.download_pair("alice/bn-twins"))  # the standard HF cache


def test_pinned_revision_and_unknown_revision(fake_hub, pair_dir):
    first = hub.push_pair(pair_dir, "mlp", "alice/pinned", token=TOKEN).split("/")[-1]
    hub.push_pair(pair_dir, "mlp", "alice/pinned", token=TOKEN)  # a second commit on main
    assert first in str(hub.download_pair("alice/pinned", revision=first))
    with pytest.raises(hub.HubError, match="no revision 'v9'"):
        hub.download_pair("alice/pinned", revision="v9")


@pytest.mark.parametrize("repo, message", [
    ("nobody/nothing", "not found on the Hub"),
    ("not a repo id!", "not a Hub repo id"),
    ("justname", "owner/name"),
    ("", "not a Hub repo id"),
])
def test_bad_or_missing_repo_is_a_clear_error(fake_hub, repo, message):
    with pytest.raises(hub.HubError, match=message):
        load_hub_pairs(repo)


def test_private_repo_needs_a_token(fake_hub, pair_dir, monkeypatch):
    hub.push_pair(pair_dir, "mlp", "alice/secret", token=TOKEN, private=True)
    assert fake_hub.repos["alice/secret"].private
    with pytest.raises(hub.HubError, match="private.*HF_TOKEN"):
        hub.download_pair("alice/secret")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert "alice/secret:mlp" in load_hub_pairs("alice/secret").pairs


def test_incompatible_repo_is_refused(fake_hub, pair_dir, tmp_path):
    hub.push_pair(pair_dir, "mlp", "alice/broken", token=TOKEN)
    repo = fake_hub.repos["alice/broken"]
    sha = repo.refs["main"]
    repo.commits[sha]["mlp-plain.safetensors"] = b"\x80\x04pickle, not safetensors"
    with pytest.raises(hub.HubError, match="no compatible pair.*mlp-plain.safetensors"):
        load_hub_pairs("alice/broken")
    repo.commits["0" * 40] = {"README.md": b"# just a card", "model.bin": b"\x80\x04"}
    repo.refs["other"] = "0" * 40
    with pytest.raises(hub.HubError, match="holds no bnapp twin pair"):
        hub.download_pair("alice/broken", revision="other")


def test_offline_uses_the_cached_copy_or_says_so(fake_hub, pair_dir, monkeypatch, tmp_path):
    hub.push_pair(pair_dir, "mlp", "alice/cached", token=TOKEN)
    online = hub.download_pair("alice/cached")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(fake_hub.requests)
    assert hub.download_pair("alice/cached") == online and "alice/cached:mlp" in load_hub_pairs("alice/cached").pairs
    assert len(fake_hub.requests) == before  # offline: the Hub was not asked
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(hub.HubError, match="HF_HUB_OFFLINE is set.*not in the local cache"):
        hub.download_pair("alice/cached")


def test_hub_down_is_a_clear_error(fake_hub, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", dead + "/{repo_id}/resolve/{revision}/{filename}")
    with pytest.raises(hub.HubError, match="Cannot reach the Hub"):
        hub.download_pair("alice/anything")


def test_push_needs_a_token_and_a_complete_pair(fake_hub, pair_dir):
    with pytest.raises(hub.HubError, match="HF_TOKEN"):
        hub.push_pair(pair_dir, "mlp", "alice/x")
    with pytest.raises(hub.HubError, match="No pair 'cnn'"):
        hub.push_pair(pair_dir, "cnn", "alice/x", token=TOKEN)
    (pair_dir / "mlp-plain.safetensors").unlink()
    with pytest.raises(hub.HubError, match="missing mlp-plain.safetensors"):
        hub.push_pair(pair_dir, "mlp", "alice/x", token=TOKEN)
    with pytest.raises(hub.HubError, match="Could not push"):
        hub.push_pair(CHECKPOINTS, "mlp", "alice/x", token="hf_wrong")
    assert "alice/x" not in fake_hub.repos


def test_push_cli(fake_hub, pair_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push.main(["--repo", "alice/cli-pair", "--checkpoints", str(pair_dir), "--pair", "mlp"])
    assert "alice/cli-pair" in capsys.readouterr().out and "alice/cli-pair" in fake_hub.repos
    with pytest.raises(SystemExit) as e:
        push.main(["--repo", "alice/cli-pair", "--checkpoints", str(pair_dir), "--pair", "cnn"])
    assert "No pair 'cnn'" in str(e.value)


def _start_app(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, _wait_until_serving(proc)


def space_env(fake_hub, hf_home, data) -> dict:
    """The environment of `python app.py` on a Space whose owner (alice) set HF_TOKEN and enabled sign-in,
    with the Hub and its OAuth provider played by the stand-in."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_ENDPOINT": fake_hub.url, "HF_HOME": str(hf_home),
           "BNAPP_DATA": str(data), "SPACE_ID": "alice/bnapp", "SYSTEM": "spaces", "HF_TOKEN": TOKEN,
           "OAUTH_CLIENT_ID": "fake-client", "OAUTH_CLIENT_SECRET": "fake", "OPENID_PROVIDER_URL": fake_hub.url,
           "OAUTH_SCOPES": "openid profile read-repos write-repos contribute-repos"}
    env.pop("HF_HUB_CACHE", None)
    return env


def _wait_until_serving(proc: subprocess.Popen) -> str:
    deadline = time.time() + 120
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Running on" in line or proc.poll() is not None:
            break
    assert proc.poll() is None, "".join(lines)
    return "".join(lines)


@pytest.mark.e2e
def test_app_loads_hub_pairs_pushes_a_run_and_survives_a_missing_repo(fake_hub, pair_dir, tmp_path, synthetic_npz):
    from gradio_client import Client, handle_file

    hub.push_pair(pair_dir, "mlp", "alice/for-app", token=TOKEN)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_ENDPOINT": fake_hub.url, "HF_HOME": str(tmp_path / "hf-app"),
           "BNAPP_HUB_REPO": "alice/for-app", "HF_TOKEN": TOKEN, "BNAPP_DATA": str(synthetic_npz)}
    env.pop("HF_HUB_CACHE", None)
    port = free_port()
    proc, out = _start_app(env, port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        image = handle_file(str(sorted(EXAMPLES.glob("*.png"))[0]))
        bn, plain, *_ = client.predict(image, "alice/for-app:mlp", api_name="/predict")
        assert abs(sum(c["confidence"] for c in bn["confidences"]) - 1) < 1e-4 and plain["label"]
        assert "alice/for-app:mlp" in out
        _, note = client.predict("nobody/missing", "", api_name="/load_hub")
        assert "not found on the Hub" in note
        bn2, *_ = client.predict(image, "cnn", api_name="/predict")  # the shipped pairs are still there
        assert bn2["label"]
        with pytest.raises(Exception, match="Train a pair first"):
            client.predict("alice/run", False, api_name="/push")
        *_, summary, files, pair = client.submit("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128, 0, 0,
                                                 False, api_name="/train").result()  # no budget, no landscape
        assert pair["value"] == "run1-mlp" and "Final test accuracy" in summary
        note = client.predict("alice/run", True, api_name="/push")
        assert "alice/run" in note and fake_hub.repos["alice/run"].private
        assert sorted(fake_hub.repos["alice/run"].files("main")[1]) == sorted(
            ["README.md", "mlp-bn.json", "mlp-bn.safetensors", "mlp-plain.json", "mlp-plain.safetensors"])
    finally:
        proc.terminate()
        proc.wait(30)
    assert (tmp_path / "hf-app" / "hub" / "models--alice--for-app").is_dir()

    env["BNAPP_HUB_REPO"] = "nobody/missing"
    proc, out = _start_app(env, free_port())
    proc.terminate()
    proc.wait(30)
    assert "nobody/missing was not found on the Hub" in out


@pytest.mark.e2e
def test_on_a_space_no_visitor_acts_with_the_owners_token(fake_hub, pair_dir, tmp_path, synthetic_npz):
    """`python app.py` as a Space runs it (SPACE_ID, the owner's HF_TOKEN secret, OAuth configured): an API
    client that has not signed in cannot push, nor read a private repo -- not even one in the server's
    cache -- while the owner's configured private pair loads; the owner's token is never sent for it."""
    from gradio_client import Client

    hub.push_pair(pair_dir, "mlp", "alice/owner-pair", token=TOKEN, private=True)
    hub.push_pair(pair_dir, "mlp", "alice/secret", token=TOKEN, private=True)
    env = space_env(fake_hub, tmp_path / "hf-space", synthetic_npz) | {"BNAPP_HUB_REPO": "alice/owner-pair"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = _wait_until_serving(proc)
        assert "alice/owner-pair:mlp" in out  # the owner's choice, read with the owner's token
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        *_, summary, files, pair = client.submit("mlp", "tutorial", 1, 32, 1e-3, "adam", "before", 128, 0, 0,
                                                 False, api_name="/train").result()  # no budget, no landscape
        assert "Final test accuracy" in summary
        before = len(fake_hub.calls)
        with pytest.raises(Exception, match="needs your own Hugging Face account.*never pushes with its owner's token"):
            client.predict("alice/overwritten", False, api_name="/push")
        _, note = client.predict("alice/secret", "", api_name="/load_hub")
        assert "not found on the Hub" in note and "sign in with Hugging Face" in note
        _, note = client.predict("alice/owner-pair", "", api_name="/load_hub")  # cached on the server by now
        assert "Loaded **alice/owner-pair:mlp**" in note
        assert "alice" not in {user for _, path, user in fake_hub.calls[before:] if "owner-pair" not in path}
        assert "alice/overwritten" not in fake_hub.repos
        page = httpx.get(f"http://127.0.0.1:{port}/login/huggingface", follow_redirects=False)
        assert page.status_code in (302, 307) and page.headers["location"].startswith(f"{fake_hub.url}/oauth/authorize")
    finally:
        proc.terminate()
        proc.wait(30)
