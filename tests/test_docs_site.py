"""The documentation site builds with `mkdocs build --strict` (broken links, missing pages, API
objects that do not resolve and docstring errors all fail it), its API reference is rendered
from the docstrings and its CLI reference from the parser the CLI uses."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    return folder


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_every_page_in_the_nav_is_built(site):
    for name in ("callbacks", "player-controls", "plugins", "live-sources", "gpu", "examples", "report", "cli",
                 "api", "reference", "errors", "architecture"):
        assert (site / name / "index.html").exists(), name
    assert "scripts/setup.sh && .venv/bin/python -m vistream demo --output demo.mp4" in _text(site / "index.html")


def test_cli_reference_is_generated_from_the_parser(site):
    import argparse

    from vistream.cli import _build_parser

    text = _text(site / "cli" / "index.html")
    parser = _build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) >= {"play", "demo", "report"}
    for name, subparser in subparsers.choices.items():
        assert f"usage: vistream {name}" in text
        for action in subparser._actions:
            for flag in action.option_strings:
                assert flag in text, f"vistream {name} {flag} is missing from the CLI reference"


def test_api_reference_comes_from_the_docstrings(site):
    import vistream
    from vistream import report

    text = " ".join(_text(site / "reference" / "index.html").split())
    for obj in (vistream.Reader, vistream.Player, vistream.Pipeline, vistream.Detections, report.write_report,
                vistream.SourceTimeoutError):
        first_line = " ".join(obj.__doc__.strip().splitlines()[0].replace("`", "").split())
        assert first_line in text, f"{obj.__name__}: {first_line!r} is not in the API reference"


def test_examples_page_lists_the_scripts_that_exist():
    listed = set(re.findall(r"examples/(\w+\.py)", (REPO / "docs" / "examples.md").read_text()))
    shipped = {p.name for p in (REPO / "examples").glob("*.py")}
    assert listed == shipped
    tested = (REPO / "tests" / "test_examples.py").read_text()
    for name in shipped:
        assert f'"{name}"' in tested, f"examples/{name} is not run by tests/test_examples.py"
