"""MkDocs hook: the CLI reference page is generated from the Typer app at build time, so it
lists every command and option the app has (nothing copied by hand).

A page holding the line `<!-- cli-reference -->` gets it replaced by the reference."""

from __future__ import annotations

import html
from typing import Any

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())


def cli_reference() -> str:
    import typer

    from nagexp.cli.app import app

    root = typer.main.get_command(app)
    return "\n".join(_command_sections(root, ["nagexp"]))


# Typer carries its own copy of click (typer._click): the commands are read by their attributes.
def _command_sections(command: Any, path: list[str]) -> list[str]:
    ctx = command.context_class(command, info_name=" ".join(path))
    lines = [f"## `{' '.join(path)}`", "", _first_paragraphs(command.help or ""), "", "```text",
             command.get_usage(ctx).strip(), "```", ""]  # fmt: skip
    records = [r for p in command.get_params(ctx) if (r := p.get_help_record(ctx)) is not None]
    if records:
        lines += ["| Argument / option | Description |", "|---|---|"]
        lines += [f"| `{_cell(name)}` | {_cell(html.escape(' '.join(text.split())))} |" for name, text in records]
        lines.append("")
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_sections(sub, [*path, name])
    return lines


def _first_paragraphs(text: str) -> str:
    return "\n\n".join(html.escape(" ".join(p.split())) for p in text.strip().split("\n\n") if p.strip())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
