"""mkdocs hook: replaces ``<!-- cli-reference -->`` in a page with the help of every
``vistream`` subcommand, taken from the argparse parser the CLI itself uses (so the reference
cannot drift from the code)."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
HELP_WIDTH = "100"  # argparse wraps at $COLUMNS: fixed so the page does not depend on the build's terminal


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                yield name, helps.get(name, ""), subparser


def cli_reference() -> str:
    from vistream.cli import _build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = _build_parser()
        parts = ["## vistream", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, summary, subparser in _subcommands(parser):
            parts += [f"## vistream {name}", "", f"{summary[:1].upper()}{summary[1:]}." if summary else "", "",
                      "```text", subparser.format_help().rstrip(), "```", ""]
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
