"""Shared terminal output helpers for CLI commands.

Examples:
    >>> import pandas as pd
    >>> print(frame_to_text(pd.DataFrame({"a": [1]})))
     a
     1
"""

from __future__ import annotations

import sys

import pandas as pd
import typer

from biomm.errors import BiommError


def frame_to_text(frame: pd.DataFrame) -> str:
    """Render a DataFrame as plain aligned text without the index.

    Examples:
        >>> frame_to_text(pd.DataFrame()).strip()
        '(empty)'
    """
    if frame.empty:
        return "(empty)"
    return frame.to_string(index=False)


def fail_usage(error: BiommError | str) -> typer.Exit:
    """Print ``error`` to stderr and return an exit with code 2 (usage error) to raise.

    Examples:
        >>> fail_usage("bad option").exit_code
        2
    """
    print(f"error: {error}", file=sys.stderr)
    return typer.Exit(2)
