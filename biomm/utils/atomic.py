"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader never sees a half-written output, even when the writer is killed.

Examples:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched. The result
    gets the mode of the file it replaces, or ``0o666`` minus the umask for a new file (not
    ``mkstemp``'s private ``0o600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: str | PathLike[str]) -> int:
    """Delete the temporary files a killed writer of :func:`atomic_path` left in ``folder``.

    Returns the number of files removed.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / ".a.h5.x1y2.tmp").write_text("partial")
        >>> remove_stale_temporaries(d), list(d.iterdir())
        (1, [])
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically and return the path.

    Examples:
        >>> import tempfile, pathlib
        >>> p = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "x.json", "{}")
        >>> p.read_text()
        '{}'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_table(frame: pd.DataFrame, path: str | PathLike[str]) -> Path:
    """Write a DataFrame atomically as CSV, TSV or Parquet, chosen by the extension.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.tsv"
        >>> atomic_write_table(pd.DataFrame({"a": [1]}), p).read_text()
        'a\\n1\\n'
    """
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        elif suffix in (".tsv", ".txt"):
            frame.to_csv(tmp, sep="\t", index=False)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            raise ValueError(f"{path}: unknown table extension {suffix!r} (.csv, .tsv, .parquet)")
    return path
