"""The documentation against the code: docs/development.md's package table names every package and module of
bnapp/, the README is a short Space page whose links resolve, and its screenshot is made by a browser test.

    BNAPP_SCREENSHOT=docs/screenshot.png BNAPP_BROWSER=/usr/bin/chromium \\
        python -m pytest -q -m browser tests/test_docs.py -p no:cacheprovider     # makes the README's screenshot
"""
from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, free_port, skip_unless_ci

PACKAGE = ROOT / "bnapp"
README = ROOT / "README.md"
DEVELOPMENT = ROOT / "docs" / "development.md"
SCREENSHOT = "docs/screenshot.png"
MAX_README_LINES = 150
MAX_SCREENSHOT_BYTES = 300_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPACE_KEYS = ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file", "license",
              "short_description", "hf_oauth", "hf_oauth_scopes", "tags", "datasets", "suggested_hardware")
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "checkpoints" / "README.md")


# --- docs/development.md's architecture table --------------------------------------------------------------

def architecture_table(text: str) -> dict[str, list[str]]:
    """{package path: its modules} from the table under '## Architecture' (first column `bnapp/x/`, last
    column each module in backticks); a package named twice is an error."""
    section = text.split("\n## Architecture", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*package\s*\|", line))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"a row of three cells: {line[:80]}"
        package = re.fullmatch(r"`([^`]+)`", cells[0])
        assert package, f"the first cell is one package path in backticks: {cells[0]!r}"
        assert package[1] not in rows, f"{package[1]} has two rows"
        rows[package[1]] = re.findall(r"`([^`]+)`", cells[2])
    return rows


def actual_packages() -> dict[str, list[str]]:
    """{`bnapp/x/`: its modules} for every package under bnapp/ (nested ones too), and `bnapp/` itself: the CLIs."""
    found = {}
    for init in PACKAGE.rglob("__init__.py"):
        folder = init.parent
        key = folder.relative_to(ROOT).as_posix() + "/"
        found[key] = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    return found


def test_the_architecture_table_names_every_package_and_module():
    table, actual = architecture_table(DEVELOPMENT.read_text()), actual_packages()
    assert "bnapp/" in table, "a row `bnapp/` lists the command-line programs"
    assert set(table) == set(actual), (f"packages missing from the table: {sorted(set(actual) - set(table))}; "
                                       f"in the table but not in bnapp/: {sorted(set(table) - set(actual))}")
    for package, modules in table.items():
        assert len(modules) == len(set(modules)), f"{package}: a module is listed twice"
        assert sorted(modules) == actual[package], (
            f"{package}: missing {sorted(set(actual[package]) - set(modules))}, "
            f"not there {sorted(set(modules) - set(actual[package]))}")


def test_the_cli_row_lists_exactly_the_top_level_modules():
    table = architecture_table(DEVELOPMENT.read_text())
    assert sorted(table["bnapp/"]) == sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_the_table_parser_sees_a_missing_module():
    """A guard on the guard: the same table with one module taken out no longer matches the code."""
    text = DEVELOPMENT.read_text()
    broken = text.replace("`fold` (", "(", 1)
    assert broken != text
    assert "fold" not in architecture_table(broken)["bnapp/nets/"]
    assert "fold" in actual_packages()["bnapp/nets/"]


# --- the README as the Space's page ------------------------------------------------------------------------

def front_matter() -> dict:
    import yaml

    text = README.read_text()
    assert text.startswith("---\n"), "the README opens with the Space's front matter"
    return yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))


def pinned_gradio() -> str:
    pins = re.findall(r"^gradio(?:\[[^\]]*\])?==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert len(pins) == 1, "requirements.txt pins gradio once"
    return pins[0]


def test_the_readme_is_a_short_page():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail into docs/"


def test_the_readme_front_matter_configures_the_space():
    front = front_matter()
    missing = [k for k in SPACE_KEYS if k not in front]
    assert not missing, f"front matter lacks {missing}"
    assert front["sdk"] == "gradio" and str(front["sdk_version"]) == pinned_gradio()
    assert front["app_file"] == "app.py" and (ROOT / front["app_file"]).exists()
    assert front["suggested_hardware"] == "zero-a10g"  # free accounts host Gradio Spaces only on ZeroGPU
    assert front["python_version"] in ("3.10", "3.12")  # the Pythons ZeroGPU runs
    assert "uoft-cs/cifar10" in front["datasets"]
    assert isinstance(front["tags"], list) and "batch-normalization" in front["tags"]


def without_code(text: str) -> str:
    """Markdown with fenced blocks and inline code removed: brackets in commands are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text: str) -> list[str]:
    return re.findall(r"!?\[[^\]\n]*\]\(([^)\s]+)\)", without_code(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M).splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            base = slug(m[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
    return {base if i == 0 else f"{base}-{i}" for base, n in seen.items() for i in range(n)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_to_files_and_headings(page):
    broken = []
    for target in links(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_embeds_the_screenshot_and_it_is_small():
    assert re.search(r"!\[[^\]]*\]\(" + re.escape(SCREENSHOT) + r"\)", README.read_text())
    shot = ROOT / SCREENSHOT
    assert shot.exists(), f"{SCREENSHOT} is missing: see docs/development.md for the command that makes it"
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) < MAX_SCREENSHOT_BYTES, f"{SCREENSHOT} is {len(data)} bytes"


# --- the screenshot, in a real browser on the shipped checkpoints ------------------------------------------

@pytest.fixture(scope="module")
def shipped_server():
    """The app as `python app.py` starts it: the shipped checkpoints and examples, no Hub pair."""
    from bnapp.ui import MAX_FILE_SIZE, build_app

    demo = build_app()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, max_file_size=MAX_FILE_SIZE,
                show_error=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def small_png(data: bytes) -> bytes:
    """The screenshot reduced to 256 colours: a page of flat colours loses nothing a reader sees."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").quantize(256).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.browser
def test_screenshot_of_the_compare_tab_on_the_shipped_pairs(shipped_server):
    try:
        import playwright.sync_api as playwright
    except ImportError:
        skip_unless_ci("playwright is not installed: pip install -r requirements-test.txt")
    from test_browser import CHROMIUM_ARGS, chromium_path, label_text

    exe = chromium_path()
    with playwright.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="bnapp-chromium-"), executable_path=exe,
                                                   headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1280, "height": 800})
        try:
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(shipped_server + "?tab=compare")
            page.get_by_role("tab", name="Compare", selected=True).wait_for()
            page.get_by_text("True label").wait_for()  # the first screen's example, predicted by both twins
            for which in ("With BatchNorm", "Without BatchNorm"):
                assert "%" in label_text(page, which)
            page.locator(".js-plotly-plot .bars").first.wait_for()
            page.wait_for_timeout(1000)  # let the bar chart's transition end
            data = page.screenshot()
        finally:
            ctx.close()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    target = os.environ.get("BNAPP_SCREENSHOT")
    if target:
        path = Path(target) if Path(target).is_absolute() else ROOT / target
        path.write_bytes(small_png(data))
        assert path.stat().st_size < MAX_SCREENSHOT_BYTES


def test_the_deploying_page_states_each_events_gpu_duration_as_the_app_asks_for_it():
    """docs/deploying.md's table of ZeroGPU durations against `ui.events.GPU_CALLS`, at a ZeroGPU Space's limits."""
    from bnapp.system.zerogpu import ZERO_GPU_ENV
    from bnapp.training.limits import TrainLimits
    from bnapp.ui.events import GPU_CALLS

    rows = [line for line in (ROOT / "docs" / "deploying.md").read_text().splitlines()
            if line.startswith("|") and "`/" in line]
    assert rows, "the durations table"
    stated = {}
    for row in rows:
        events, duration = row.strip("|").rsplit("|", 1)
        seconds = int(re.findall(r"(\d+) s(?: by default)?\)?\s*$", duration.strip())[-1])
        stated |= {name: seconds for name in re.findall(r"`/(\w+)`", events)}
    limits = TrainLimits.from_env({ZERO_GPU_ENV: "true"})
    asked = {name: call.duration(limits) for name, call in GPU_CALLS.items() if name in stated}
    assert stated == asked
