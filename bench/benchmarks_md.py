"""Writes one generated section of BENCHMARKS.md between its two marker comments, so a re-run
replaces its own table and leaves every other section (and the hand-written analyses) alone."""
from __future__ import annotations

from pathlib import Path


def write_marked_section(path: Path, start: str, end: str, heading: str, body: str) -> None:
    """Replaces the text between `start` and `end` (markers included) with
    ``start + body + end``; appends it under `heading` when the markers are not there yet."""
    text = path.read_text() if path.exists() else ""
    section = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n" + section + "\n"
    path.write_text(text)
