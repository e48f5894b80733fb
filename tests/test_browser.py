"""The app in a real headless Chromium, as a person uses it. Screenshots go to artifacts/.

Runs when $BNAPP_BROWSER (or /usr/bin/chromium) and playwright exist; under CI=true either missing fails.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, skip_unless_ci
from PIL import Image

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = os.environ.get("BNAPP_BROWSER") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    skip_unless_ci("headless Chromium not found: apt-get install -y chromium (or set BNAPP_BROWSER)")


@pytest.fixture(scope="module")
def page(server):
    try:
        import playwright.sync_api as playwright
    except ImportError:
        skip_unless_ci("playwright is not installed: pip install -r requirements-test.txt")
    exe = chromium_path()
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="bnapp-chromium-"), executable_path=exe,
                                                   headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(server[0])
        pg.get_by_role("tab", name="Compare").wait_for()
        yield pg
        ctx.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def label_text(page, which: str) -> str:
    box = page.locator(".block", has=page.get_by_text(which, exact=True)).last
    return box.inner_text()


def test_first_screen_shows_something_on_every_tab(page):
    """Before any click: Compare an example (the first the twins disagree on), Activations its default view,
    Train the pair's recorded curves."""
    page.get_by_text("True label").wait_for()
    assert "%" in label_text(page, "With BatchNorm")
    page.get_by_role("tab", name="Activations").click()
    page.locator(".js-plotly-plot").nth(2).wait_for()
    assert "Every layer, input to output (eval mode)" in page.locator(".js-plotly-plot .gtitle").all_text_contents()
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("How this pair was trained").first.wait_for()
    shot(page, "first-screen-train")
    page.get_by_role("tab", name="Compare").click()


def test_example_click_shows_both_twins(page):
    page.locator("[data-testid='examples'] button, .gallery-item").first.click()
    page.get_by_text("True label").wait_for()
    assert "Both twins say" in page.content() or "twins disagree" in page.content()
    for which in ("With BatchNorm", "Without BatchNorm"):
        assert "%" in label_text(page, which)
    page.locator(".js-plotly-plot").first.wait_for()  # the grouped bar chart of both twins has rendered
    assert page.locator(".js-plotly-plot .bars").count() >= 1
    shot(page, "compare-example")


def top_class(page, which: str):
    """The class a twin's label shows on top ("With BatchNorm" or "Without BatchNorm")."""
    box = page.locator(".block", has=page.get_by_text(which, exact=True)).last
    return box.locator("[data-testid='label-output-value']")


def test_upload_a_png_and_switch_pair(page, tmp_path, app_env):
    from playwright.sync_api import expect

    from bnapp.data.images import open_image
    from bnapp.services.prediction import predict_images
    from bnapp.store.pairs import load_pairs

    path = tmp_path / "my photo.png"
    Image.new("RGB", (300, 200), (200, 40, 40)).save(path)
    pairs = load_pairs(app_env[2]).pairs
    cnn, mlp = (predict_images(pairs[name], [open_image(str(path))])[0].top1("bn")[0] for name in ("cnn", "mlp"))
    assert cnn != mlp  # so the switch below is seen by a change only it can cause
    page.locator("input[type=file]").first.set_input_files(str(path))
    # The example's verdict is still on screen until the upload's result replaces it: wait for that.
    page.wait_for_function("!document.body.innerText.includes('True label')", timeout=30_000)
    expect(top_class(page, "With BatchNorm")).to_have_text(cnn, timeout=30_000)
    page.get_by_label("Model pair").click()
    page.get_by_role("option", name="Tutorial MLP").click()
    expect(top_class(page, "With BatchNorm")).to_have_text(mlp, timeout=30_000)
    page.get_by_text("Both twins say").or_(page.get_by_text("twins disagree")).first.wait_for()
    shot(page, "compare-upload-mlp")


def test_activations_render(page):
    page.get_by_role("tab", name="Activations").click()
    page.get_by_role("button", name="Look inside").click()
    page.locator(".js-plotly-plot:visible").nth(2).wait_for()
    assert "Every layer, input to output (eval mode)" in page.locator(
        ".js-plotly-plot:visible .gtitle").all_text_contents()
    shot(page, "activations")


def test_train_streams_and_stops(page):
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("step").first.wait_for()
    page.locator("progress").wait_for()
    page.wait_for_function("document.querySelector('progress') && document.querySelector('progress').value >= 2")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped early").or_(page.get_by_text("Done in")).first.wait_for(timeout=120_000)
    assert page.locator(".js-plotly-plot").count() >= 1
    shot(page, "train")


def test_test_time_tab_measures_the_shift_and_the_company(page):
    page.get_by_role("tab", name="Test time").click()
    page.get_by_text("statistics over batches of").wait_for()  # its first look, before any click
    page.get_by_role("button", name="Measure", exact=True).click()
    body = page.locator("body").inner_text()
    for name in ("BN twin, running statistics (eval mode)", "BN twin, statistics of the corrupted batch", "plain twin"):
        assert name in body
    assert page.get_by_text("our implementation of their definitions").count() == 1
    page.get_by_role("button", name="Show its company").click()
    page.get_by_text("another answer in").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot:visible").first.wait_for()
    shot(page, "test-time")


def test_the_noisy_bn_experiment_runs_to_its_summary(page):
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Architecture").click()
    page.get_by_role("option", name="tutorial MLP").click()
    page.get_by_text("Experiment: noisy BN -- is it the steady distributions?").click()
    page.get_by_role("button", name="Train BN, noisy BN and no BN").click()
    page.get_by_text("over 3 seed(s)").wait_for(timeout=240_000)
    body = page.locator("body").inner_text()
    assert "noisy BN" in body and "no BN" in body and "moved by" in body
    shot(page, "noisy-bn")


def test_figure1_opens_on_the_shipped_fashion_mnist_run_and_trains_a_live_one(page):
    page.get_by_role("tab", name="Train").click()
    page.get_by_text("Experiment: Ioffe & Szegedy's Figure 1, reproduced").click()
    title = page.locator(".gtitle:visible", has_text="Figure 1 on Fashion-MNIST")
    title.first.wait_for()
    assert "50,000 steps as the paper" in title.first.text_content()
    assert page.get_by_text("Shipped: 50,000 steps on Fashion-MNIST, 3 seeds").count() == 1
    shot(page, "figure1-shipped")
    page.get_by_role("button", name="Reproduce Figure 1").click()
    page.get_by_text("Figure 1 done.").wait_for(timeout=120_000)
    summary = page.locator(".prose", has_text="Figure 1 done.").last.inner_text()
    assert "Fashion-MNIST images" in summary and "in the BN twin" in summary
    assert "a short live run" in page.locator(".gtitle:visible", has_text="Figure 1 on").first.text_content()
    shot(page, "figure1-live")


def test_a_deep_link_restores_its_settings_and_the_url_follows_changes(page, server):
    from playwright.sync_api import expect
    page.goto(server[0] + "?tab=activations&pair=mlp&layer=layer2&mode=train&n=8&lr=abc&severity=9&foo=1")
    page.get_by_text("Some settings in the link were ignored").wait_for()
    note = page.get_by_text("Some settings in the link were ignored").inner_text()
    assert ("lr='abc' (learning rate must be a number" in note and "severity='9'" in note
            and "unknown setting 'foo'" in note)
    page.locator(".js-plotly-plot:visible").nth(2).wait_for()
    body = page.locator("body").inner_text()
    assert "train mode, batch: 8 of" in body and "Layer layer2" in body  # restored, on the Activations tab
    page.get_by_role("tab", name="Test time").click()
    page.wait_for_function("new URL(location.href).searchParams.get('tab') === 'testtime'")
    url = page.evaluate("location.href")
    assert "foo" not in url and "pair=mlp" in url and "mode=train" in url and "lr=abc" not in url
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_label("Link to this view (copied)")).to_have_value(re.compile("tab=testtime"))
    page.goto(url)  # reopened: the same tab and settings
    page.get_by_role("tab", name="Test time", selected=True).wait_for()
    shot(page, "deep-link-reopened")
    page.goto(server[0])


def test_two_runs_of_a_session_are_drawn_together(page, server):
    from playwright.sync_api import expect

    page.goto(server[0])  # a fresh session: its runs are numbered from 1
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Recipe preset").click()
    page.get_by_role("option", name="tutorial").click()
    expect(page.get_by_label("Batch size")).to_have_value("10")  # the preset's defaults arrived
    for field, value in (("Epochs", "1"), ("Training images", "200"), ("Batch size", "20")):
        page.get_by_label(field).fill(value)
    page.get_by_label("Time budget, s (0: none; else steps and images fit it)").fill("0")
    page.get_by_label("Measure the loss landscape at each evaluation "
                      "(Santurkar et al.; the time budget accounts for it)").uncheck()
    for run, lr in ((1, "0.001"), (2, "0.01")):
        page.get_by_label("Learning rate").fill(lr)
        page.get_by_role("button", name="Start training").click()
        page.get_by_text(f"run{run}-mlp").first.wait_for(timeout=120_000)
        page.get_by_text("Done in").first.wait_for(timeout=120_000)
    page.get_by_text("This session's runs, overlaid").click()
    page.get_by_text("run1-mlp: mlp tutorial, adam lr 0.001").click()  # tick the first; the newest is ticked already
    page.wait_for_function("document.body.innerText.includes('run1-mlp, BN') "
                           "&& document.body.innerText.includes('run2-mlp, BN')")
    assert "This session's runs overlaid" in page.locator("body").inner_text()
    assert "pair=run2" not in page.evaluate("location.href")  # a session's own pair cannot travel in a link
    shot(page, "runs-overlaid")
