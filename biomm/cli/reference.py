"""The command-line reference, generated from the CLI itself (``docs/cli-reference.md``).

Every command's ``--help`` text, in command order, as one Markdown page. A test checks the
page in ``docs/`` is current; regenerate it with::

    python -m biomm.cli.reference docs/cli-reference.md

Examples:
    >>> text = cli_reference()
    >>> text.startswith("# Command-line reference") and "## `biomm demo`" in text
    True
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

HEADER = """# Command-line reference

Generated from the CLI itself by `python -m biomm.cli.reference docs/cli-reference.md` (a test
checks that this page is current). The same text is printed by `biomm COMMAND --help`. Exit
codes and a one-line overview of each command: [Command line](cli.md).
"""


def _walk(command: Any, path: list[str], parent: Any) -> Iterator[tuple[list[str], Any, Any]]:
    """Every command below ``command`` (typer vendors its own click: duck-typed)."""
    ctx = command.context_class(command, info_name=path[-1], parent=parent, terminal_width=100)
    yield path, command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, [*path, name], ctx)


def cli_reference() -> str:
    """Markdown with the ``--help`` of every ``biomm`` command and sub-command.

    Examples:
        >>> "biomm lego merge" in cli_reference()
        True
    """
    from biomm.cli.main import app

    root = typer.main.get_command(app)
    parts = [HEADER]
    for path, command, ctx in _walk(root, ["biomm"], None):
        title = " ".join(path)
        with ctx:
            formatter = ctx.make_formatter()
            formatter.width = 100
            command.format_help(ctx, formatter)
            text = formatter.getvalue().rstrip()
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write the reference to the file given as the only argument (default: stdout)."""
    args = sys.argv[1:] if argv is None else argv
    text = cli_reference()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
