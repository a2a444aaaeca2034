"""Column kinds of a tabular EHR table: categorical, continuous, datetime or identifier.

:func:`infer_column_types` guesses a kind per column from its values; an explicit ``types``
mapping (e.g. the ``ehr.types`` of a cohort schema) always wins.

Rules, in order, for a column's non-missing values:

1. an explicit entry in ``types``;
2. no value at all → ``continuous`` (the preprocessor then drops it as unusable);
3. a datetime dtype, or text whose every value looks like a date (``2020-01-31``,
   ``31/01/2020``, ``2020-01-31T08:00``) → ``datetime``;
4. booleans → ``categorical``;
5. numbers (or text that is all numbers, without codes with leading zeros such as ``"0042"``):
   ``categorical`` when every value is a whole number, there are at most ``max_categories``
   distinct values, fewer than half as many as values, and the codes are dense (at most two
   distinct values, or ``max - min + 1 <= 2 × distinct``: ``0..3`` or ``1/2``, but not a
   Karnofsky score ``50, 60, …, 100``); a column named like an identifier (``id``, ``*_id``,
   ``mrn``) whose values are all distinct → ``identifier``; otherwise ``continuous``;
6. other text: ``identifier`` when every value is distinct and there are more than
   ``max_categories`` of them (or the name looks like an identifier), else ``categorical``.

Examples:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "mrn": [f"A{i:03d}" for i in range(30)],
    ...     "age": [40 + 1.5 * i for i in range(30)],
    ...     "ecog": [i % 4 for i in range(30)],
    ...     "sex": ["F", "M"] * 15,
    ...     "admitted": ["2020-01-%02d" % (i + 1) for i in range(30)],
    ... })
    >>> infer_column_types(frame)
    {'mrn': 'identifier', 'age': 'continuous', 'ecog': 'categorical', 'sex': 'categorical', \
'admitted': 'datetime'}
    >>> infer_column_types(frame, types={"ecog": "continuous"})["ecog"]
    'continuous'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from biomm.errors import TableError

ColumnKind = Literal["categorical", "continuous", "datetime", "identifier"]

#: The column kinds, in the order the docs list them.
COLUMN_KINDS: tuple[str, ...] = ("categorical", "continuous", "datetime", "identifier")

_DATE_TEXT = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_ID_NAME = re.compile(r"(^|[_\s.-])(id|mrn|uuid)$|^(id|mrn|uuid)$", re.IGNORECASE)
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def check_column_names(frame: pd.DataFrame, *, source: str | None = None) -> None:
    """Raise when a frame has duplicated or empty column names.

    Raises:
        TableError: Naming the duplicated columns.

    Examples:
        >>> check_column_names(pd.DataFrame([[1, 2]], columns=["a", "a"]))
        Traceback (most recent call last):
        ...
        biomm.errors.TableError: duplicated column name(s): ['a']
    """
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise TableError(f"duplicated column name(s): {duplicated}", path=source)
    if any(not n.strip() for n in names):
        raise TableError("a column has an empty name", path=source)


def check_types(types: Mapping[str, str] | None, *, source: str | None = None) -> dict[str, str]:
    """Validate an explicit ``column → kind`` mapping.

    Raises:
        TableError: On a kind that is not one of :data:`COLUMN_KINDS`.

    Examples:
        >>> check_types({"age": "numeric"})
        Traceback (most recent call last):
        ...
        biomm.errors.TableError: column 'age': unknown type 'numeric'; use one of \
categorical, continuous, datetime, identifier
    """
    out: dict[str, str] = {}
    for col, kind in (types or {}).items():
        if kind not in COLUMN_KINDS:
            raise TableError(
                f"column {col!r}: unknown type {kind!r}; use one of {', '.join(COLUMN_KINDS)}",
                path=source,
            )
        out[str(col)] = str(kind)
    return out


def numeric_values(values: pd.Series) -> pd.Series | None:
    """The column as float64 when every non-missing value is a number, else None.

    Text such as ``" 7.5 "`` counts as a number; codes with leading zeros (``"0042"``) and
    booleans do not.

    Examples:
        >>> numeric_values(pd.Series(["1", " 2.5", None])).tolist()
        [1.0, 2.5, nan]
        >>> numeric_values(pd.Series(["1", "x"])) is None
        True
    """
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    non_null = values.dropna()
    if any(isinstance(v, bool | np.bool_) for v in non_null):
        return None
    texts = non_null.astype(str).str.strip()
    if texts.str.match(_LEADING_ZERO).any():
        return None
    converted = pd.to_numeric(texts, errors="coerce")
    if converted.isna().any():
        return None
    return pd.to_numeric(values.where(values.notna()).astype(object), errors="coerce").astype(
        "float64"
    )


def looks_like_dates(values: pd.Series) -> bool:
    """Whether a column holds dates: a datetime dtype, or text that is all date-shaped.

    Examples:
        >>> looks_like_dates(pd.Series(["2020-01-31", "31/12/2019 08:30", None]))
        True
        >>> looks_like_dates(pd.Series(["2020-01-31", "soon"]))
        False
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    non_null = values.dropna()
    if non_null.empty or pd.api.types.is_numeric_dtype(values):
        return False
    if any(isinstance(v, pd.Timestamp) for v in non_null):
        return all(isinstance(v, pd.Timestamp) or _is_date_text(v) for v in non_null)
    return all(_is_date_text(v) for v in non_null)


def _is_date_text(value: object) -> bool:
    return isinstance(value, str) and bool(_DATE_TEXT.match(value.strip()))


def infer_column_type(name: str, values: pd.Series, *, max_categories: int = 20) -> ColumnKind:
    """The kind of one column (see the module's rules).

    Examples:
        >>> infer_column_type("sex", pd.Series([1, 2, 2, 1]))
        'categorical'
        >>> infer_column_type("karnofsky", pd.Series([50, 60, 70, 80, 90, 100] * 3))
        'continuous'
    """
    non_null = values.dropna()
    if non_null.empty:
        return "continuous"
    if looks_like_dates(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values) or all(isinstance(v, bool | np.bool_) for v in non_null):
        return "categorical"
    distinct = non_null.astype(str).str.strip().nunique() if non_null.dtype == object else None
    id_name = bool(_ID_NAME.search(str(name).strip()))
    numbers = numeric_values(values)
    if numbers is not None:
        x = numbers.dropna().to_numpy()
        n_distinct = int(np.unique(x).size)
        if id_name and n_distinct == x.size and x.size > 1:
            return "identifier"
        whole = bool(np.all(np.isfinite(x)) and np.all(x == np.round(x)))
        if whole and n_distinct <= max_categories and n_distinct <= x.size / 2:
            span = float(x.max() - x.min()) + 1.0
            if n_distinct <= 2 or span <= 2 * n_distinct:
                return "categorical"
        return "continuous"
    n_distinct = int(distinct if distinct is not None else non_null.astype(str).nunique())
    if n_distinct == len(non_null) and (
        n_distinct > max_categories or (id_name and n_distinct > 1)
    ):
        return "identifier"
    return "categorical"


def infer_column_types(
    frame: pd.DataFrame,
    types: Mapping[str, str] | None = None,
    *,
    max_categories: int = 20,
    source: str | None = None,
) -> dict[str, ColumnKind]:
    """Guess the kind of every column of ``frame``; entries of ``types`` override the guess.

    Args:
        frame: The EHR features (one row per patient; id columns may be included and are
            typed ``identifier`` when they look like one — or declare them in ``types``).
        types: Explicit ``column → kind`` entries (``categorical``, ``continuous``,
            ``datetime``, ``identifier``).
        max_categories: Most distinct whole numbers a numeric column may hold to be read as
            categorical codes, and most distinct texts a categorical text column may hold
            when every value is distinct.
        source: File name used in error messages.

    Returns:
        Column → kind, in the frame's column order.

    Raises:
        TableError: On duplicated column names, an unknown kind, or a ``types`` entry naming a
            column the frame does not have.

    Examples:
        >>> frame = pd.DataFrame({"grade": ["I", "II", "II", "III"], "size": [1.5, 2, 3, 4]})
        >>> infer_column_types(frame)
        {'grade': 'categorical', 'size': 'continuous'}
        >>> infer_column_types(frame, types={"weight": "continuous"})
        Traceback (most recent call last):
        ...
        biomm.errors.TableError: 'types' names column(s) the table does not have: ['weight']
    """
    check_column_names(frame, source=source)
    explicit = check_types(types, source=source)
    columns = [str(c) for c in frame.columns]
    unknown = sorted(set(explicit) - set(columns))
    if unknown:
        raise TableError(f"'types' names column(s) the table does not have: {unknown}", path=source)
    out: dict[str, ColumnKind] = {}
    for col, name in zip(frame.columns, columns, strict=True):
        kind = explicit.get(name) or infer_column_type(
            name, frame[col], max_categories=max_categories
        )
        out[name] = kind  # type: ignore[assignment]
    return out
