"""Helpers shared by the dataset adapters: CSV reading, cell cleaning, WFDB record references.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.csv"
    >>> _ = path.write_text("study_id,path\\n40689238.0,files/s1/40689238.hea\\n")
    >>> frame = read_csv(path, ("study_id", "path"))
    >>> as_id(frame.loc[0, "study_id"]), record_ref(frame.loc[0, "path"], path.parent, False)
    ('40689238', 'files/s1/40689238')
    >>> missing_reason(path.parent / "files/s1/40689238")
    'WFDB header (.hea) not found'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from biomm.errors import InputError


def read_csv(path: Path, required: Iterable[str], **kwargs: Any) -> pd.DataFrame:
    """Read a dataset CSV with errors that name the file, and check its required columns.

    ``kwargs`` go to :func:`pandas.read_csv`; with ``index_col``, the index name counts as a
    column. The error for absent columns lists up to 15 of those found, in file order.

    Raises:
        InputError: Naming the file: not found, a folder, unreadable, or a column absent.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("code,flag\\nNORM,1\\n")
        >>> read_csv(path, ["code", "flag"], index_col=0).index.tolist()
        ['NORM']
        >>> read_csv(path, ["label"])
        Traceback (most recent call last):
        ...
        biomm.errors.InputError: ...t.csv: missing column(s) ['label']; columns found: code, flag
    """
    if not path.is_file():
        reason = "is a folder, not a file" if path.is_dir() else "file not found"
        raise InputError(reason, path=path)
    try:
        frame = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read CSV: {exc}", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    present = [str(c) for c in frame.columns]
    if kwargs.get("index_col") is not None and frame.index.name:
        present.insert(0, str(frame.index.name))
    absent = [c for c in dict.fromkeys(required) if c not in present]
    if absent:
        shown = ", ".join(present[:15])
        raise InputError(f"missing column(s) {absent}; columns found: {shown}", path=path)
    return frame


def column(frame: pd.DataFrame, name: str) -> list[Any]:
    """The values of column ``name`` as a list, or one ``None`` per row when it is absent.

    Examples:
        >>> frame = pd.DataFrame({"age": [61, 70]})
        >>> column(frame, "age"), column(frame, "sex")
        ([61, 70], [None, None])
    """
    return frame[name].tolist() if name in frame else [None] * len(frame)


def is_missing(value: Any) -> bool:
    """True for ``None`` and scalar missing markers (NaN, ``pd.NA``, ``NaT``).

    Examples:
        >>> is_missing(None), is_missing(float("nan")), is_missing(""), is_missing([1])
        (True, True, False, False)
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def as_text(value: Any) -> str | None:
    """A cell as stripped text; ``None`` when missing or blank.

    Examples:
        >>> as_text("  sinus rhythm "), as_text("   "), as_text(float("nan"))
        ('sinus rhythm', None, None)
    """
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def as_id(value: Any) -> str | None:
    """An identifier cell as text: ``15709.0`` (float or text) → ``"15709"``; None when missing.

    Other floats keep their ``str`` form and other text stays as it is (stripped).

    Examples:
        >>> as_id(15709.0), as_id("15709.00"), as_id(" A12 "), as_id(1.5), as_id(float("nan"))
        ('15709', '15709', 'A12', '1.5', None)
    """
    if is_missing(value):
        return None
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else str(value)
    text = str(value).strip()
    head, dot, tail = text.partition(".")
    if dot and head.isdigit() and tail and set(tail) == {"0"}:
        return head
    return text or None


def record_ref(value: Any, root: Path, absolute: bool, *, normalize: bool = False) -> str | None:
    """A WFDB record reference without ``.hea``/``.dat``: root-relative POSIX text or absolute.

    Args:
        value: The path cell (``\\`` separators are accepted).
        root: The dataset folder the path is relative to.
        absolute: Return ``root / path`` made absolute instead of the relative path.
        normalize: With ``absolute``, also collapse ``..`` segments (:func:`os.path.normpath`).

    Examples:
        >>> record_ref("records100\\\\00000\\\\00001_lr.hea", Path("/data"), False)
        'records100/00000/00001_lr'
        >>> record_ref("../x/1", Path("/data/a"), True, normalize=True) == str(Path("/data/x/1"))
        True
        >>> record_ref(None, Path("/data"), False) is None
        True
    """
    text = as_text(value)
    if text is None:
        return None
    ref = Path(text.replace("\\", "/"))
    if ref.suffix.lower() in (".hea", ".dat"):
        ref = ref.with_suffix("")
    if not absolute:
        return ref.as_posix()
    full = (root / ref).absolute()
    return str(Path(os.path.normpath(full))) if normalize else str(full)


def missing_reason(stem: Path) -> str | None:
    """Why the WFDB record ``stem`` cannot be read (its ``.hea`` or ``.dat`` absent), or None.

    Examples:
        >>> import tempfile, pathlib
        >>> stem = pathlib.Path(tempfile.mkdtemp()) / "00001_lr"
        >>> _ = stem.with_name("00001_lr.hea").write_text("")
        >>> missing_reason(stem)
        'WFDB signal file (.dat) not found'
    """
    if not stem.with_name(stem.name + ".hea").is_file():
        return "WFDB header (.hea) not found"
    if not stem.with_name(stem.name + ".dat").is_file():
        return "WFDB signal file (.dat) not found"
    return None
