"""The layers, read from the code's imports: ui -> services -> the domain packages, never an arrow back up."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bnapp"
DOMAIN = ("nets", "data", "training", "measure", "store", "system")
CLIS = ("train", "seeds", "experiments", "shift", "evaluate", "push")
MAX_LINES = 300


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (the project bans relative imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def forbidden(imports: set[str], *prefixes: str) -> set[str]:
    return {m for m in imports if any(m == p or m.startswith(p + ".") for p in prefixes)}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_back_up(path):
    imports, where = imported(path), layer(path)
    if where in DOMAIN:
        assert not forbidden(imports, "bnapp.services", "bnapp.ui", "gradio", "plotly", *(f"bnapp.{c}" for c in CLIS))
    elif where == "services" or where in CLIS:
        assert not forbidden(imports, "bnapp.ui", "gradio", "plotly", *(f"bnapp.{c}" for c in CLIS if c != where))


def test_every_module_is_in_a_package_or_is_a_cli():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == set(CLIS)
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == \
        {*DOMAIN, "services", "ui"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_reads_in_an_evening(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_code_passes_the_linter():
    """ruff, configured in pyproject.toml (requirements-test.txt installs it beside pytest)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    r = subprocess.run([ruff, "check", "--no-cache", "."], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
