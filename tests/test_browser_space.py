"""A visitor on a public Space, in headless Chromium: `python app.py` runs as a Space runs it (SPACE_ID,
SYSTEM=spaces, the owner's HF_TOKEN secret, OAuth configured) against the Hub stand-in, which is also
the OAuth provider. The visitor waits in line behind another visitor's run and is told their place,
signs in with Hugging Face through Gradio's real login routes, trains, and pushes as themselves; the
owner's token never acts for them. Screenshots go to artifacts/."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import pytest
from conftest import ROOT, free_port, skip_unless_ci
from fakehub import VISITOR
from test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, shot
from test_hub import _wait_until_serving, space_env

pytestmark = pytest.mark.browser

LANDSCAPE = "Measure the loss landscape at each evaluation (Santurkar et al.; the time budget accounts for it)"


@pytest.fixture
def space_app(fake_hub, tmp_path, synthetic_npz):
    env = space_env(fake_hub, tmp_path / "hf", synthetic_npz)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_until_serving(proc)
    yield f"http://localhost:{port}/"  # localhost: Chromium keeps the Secure session cookie over plain http
    proc.terminate()
    proc.wait(30)


def test_a_visitor_waits_their_turn_signs_in_and_pushes_as_themselves(space_app, fake_hub):
    try:
        import playwright.sync_api as playwright
        from gradio_client import Client
    except ImportError:
        skip_unless_ci("playwright is not installed: pip install -r requirements-test.txt")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="bnapp-chromium-"),
                                                   executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        # Two visitors from two addresses, as Hugging Face's proxy reports them (both connect from loopback here)
        page.set_extra_http_headers({"X-Forwarded-For": "93.184.216.34"})
        page.goto(space_app)
        page.get_by_role("button", name="Sign in with Hugging Face").click()  # through the provider and back
        page.get_by_role("button", name=f"Logout ({VISITOR})").wait_for()
        page.get_by_role("tab", name="Train").click()
        page.get_by_text("Pushing uses your own Hugging Face account: sign in first").wait_for()
        page.get_by_label("Recipe preset").click()
        page.get_by_role("option", name="tutorial").click()
        for field, value in (("Epochs", "1"), ("Training images", "128"), ("Batch size", "32"),
                             ("Time budget, s (0: none; else steps and images fit it)", "0")):
            page.get_by_label(field, exact=True).fill(value)
        page.get_by_label(LANDSCAPE).uncheck()

        # another visitor's long run holds the cores
        other = Client(space_app, verbose=False, headers={"X-Forwarded-For": "8.8.4.4"})
        long_run = other.submit("cnn", "quick", 20, 2, 0.05, "sgd", "before", 512, 0, 0, False, api_name="/train")
        while len(long_run.outputs()) < 2:  # it is training (a busy loop here would take a core from the server)
            assert not long_run.done(), long_run.exception()
            time.sleep(0.1)
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("Waiting for the training cores: 1 run ahead of you").wait_for()
        shot(page, "space-waiting-in-line")
        assert other.predict(api_name="/stop") == "Stopping after the current step..."
        page.get_by_text("Done in").first.wait_for(timeout=180_000)  # its turn came, and it trained

        before = len(fake_hub.calls)
        page.get_by_label("Push this run's pair to the Hub: repo (owner/name)").fill(f"{VISITOR}/from-the-space")
        page.get_by_role("button", name="Push to the Hub").click()
        page.get_by_text(f"Pushed to {VISITOR}/from-the-space in one commit as you").wait_for()
        shot(page, "space-pushed-as-visitor")
        ctx.close()
    assert f"{VISITOR}/from-the-space" in fake_hub.repos
    assert {user for method, _, user in fake_hub.calls[before:] if method == "POST"} <= {VISITOR, None}
    assert "alice" not in {user for _, _, user in fake_hub.calls[before:]}
