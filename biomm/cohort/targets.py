"""Parse target columns into model-ready values, recording every invalid cell.

One parser serves both :meth:`biomm.Cohort.validate` (which reports the invalid cells) and
:meth:`biomm.Cohort.samples` (which masks them), so the two can never disagree.

Examples:
    >>> import pandas as pd
    >>> from biomm.cohort.schema import TargetSpec
    >>> frame = pd.DataFrame({"t": [5.0, -1.0, None], "e": [1, 0, 1]})
    >>> parsed = parse_target(TargetSpec(type="survival", time="t", event="e"), frame)
    >>> parsed.values
    [(5.0, 1), None, None]
    >>> [issue.code for issue in parsed.issues]
    ['negative_time', 'incomplete_survival']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from biomm.cohort.schema import TargetSpec

_TRUE = {"1", "1.0", "true", "yes", "y", "t", "positive", "pos"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "negative", "neg"}


@dataclass(frozen=True)
class TargetIssue:
    """One invalid target cell.

    Attributes:
        row: 0-based manifest row.
        column: The offending column.
        value: The cell as text.
        code: ``target_type_mismatch``, ``unknown_class``, ``negative_time``, ``invalid_event``,
            ``non_finite`` or ``incomplete_survival``.
        reason: Human-readable reason.
        severity: ``error`` or ``warning``.
    """

    row: int
    column: str
    value: str
    code: str
    reason: str
    severity: str = "error"


@dataclass
class ParsedTarget:
    """A parsed target column.

    Attributes:
        values: Per-row value, None where missing or invalid. binary → 0/1 int; multiclass →
            class index; continuous → float; multilabel → list of 0/1 per class;
            survival → ``(time, event)``.
        classes: Class names in index order (binary, multiclass, multilabel), else None.
        issues: Every invalid cell.
    """

    values: list[Any]
    classes: list[str] | None
    issues: list[TargetIssue] = field(default_factory=list)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return (isinstance(value, str) and value.strip() == "") or value is pd.NA or value is pd.NaT


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_target(spec: TargetSpec, frame: pd.DataFrame) -> ParsedTarget:
    """Parse one target of ``spec`` from the manifest ``frame``.

    Missing cells give None without an issue (a patient may lack a target). Columns absent
    from the frame give all-None values (the validator reports the missing column).

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort.schema import TargetSpec
        >>> df = pd.DataFrame({"grade": ["G1", "G3", "G2", None]})
        >>> p = parse_target(TargetSpec(type="multiclass", column="grade"), df)
        >>> p.classes, p.values
        (['G1', 'G2', 'G3'], [0, 2, 1, None])
    """
    if any(col not in frame.columns for col in spec.columns_list()):
        return ParsedTarget(values=[None] * len(frame), classes=None)
    parser = {
        "binary": _parse_classes,
        "multiclass": _parse_classes,
        "continuous": _parse_continuous,
        "multilabel": _parse_multilabel,
        "survival": _parse_survival,
    }[spec.type]
    return parser(spec, frame)


def _declared_or_observed(spec: TargetSpec, cells: list[str]) -> list[str]:
    if spec.classes is not None:
        return [_text(c) for c in spec.classes]
    return sorted(set(cells), key=_class_sort_key)


def _class_sort_key(label: str) -> tuple[int, float, str]:
    number = _as_float(label)
    return (0, number, label) if number is not None else (1, 0.0, label)


def _parse_classes(spec: TargetSpec, frame: pd.DataFrame) -> ParsedTarget:
    col = str(spec.column)
    cells = [(i, v) for i, v in enumerate(frame[col].tolist()) if not _is_missing(v)]
    texts = [_text(v) for _, v in cells]
    values: list[Any] = [None] * len(frame)
    issues: list[TargetIssue] = []
    if spec.type == "binary" and spec.classes is None:
        lowered = [t.lower() for t in texts]
        tokens = set(lowered)
        if tokens <= (_TRUE | _FALSE) or (tokens & _TRUE and tokens & _FALSE):
            for (i, _), low, t in zip(cells, lowered, texts, strict=True):
                if low in _TRUE or low in _FALSE:
                    values[i] = 1 if low in _TRUE else 0
                else:
                    issues.append(
                        TargetIssue(
                            i,
                            col,
                            t,
                            "target_type_mismatch",
                            "binary target: not a yes/no (true/false, 1/0) value",
                        )
                    )
            return ParsedTarget(values=values, classes=["0", "1"], issues=issues)
        classes = sorted(set(texts), key=_class_sort_key)
        if len(classes) > 2:
            for (i, _), t in zip(cells, texts, strict=True):
                if t not in classes[:2]:
                    issues.append(
                        TargetIssue(
                            i,
                            col,
                            t,
                            "target_type_mismatch",
                            f"binary target has more than 2 distinct values "
                            f"({', '.join(classes[:5])}{', …' if len(classes) > 5 else ''})",
                        )
                    )
            classes = classes[:2]
    else:
        classes = _declared_or_observed(spec, texts)
    index = {c: k for k, c in enumerate(classes)}
    if spec.type == "binary":  # declared yes/no-style classes match any spelling of them
        for k, c in enumerate(classes):
            family = _TRUE if c.lower() in _TRUE else _FALSE if c.lower() in _FALSE else set()
            for token in family:
                index.setdefault(token, k)
    for (i, _), t in zip(cells, texts, strict=True):
        k = index.get(t, index.get(t.lower()) if spec.type == "binary" else None)
        if k is not None:
            values[i] = k
        elif spec.classes is not None:
            issues.append(
                TargetIssue(
                    i,
                    col,
                    t,
                    "unknown_class",
                    f"{t!r} is not one of the declared classes {classes}",
                )
            )
    return ParsedTarget(values=values, classes=classes, issues=issues)


def _parse_continuous(spec: TargetSpec, frame: pd.DataFrame) -> ParsedTarget:
    col = str(spec.column)
    values: list[Any] = [None] * len(frame)
    issues: list[TargetIssue] = []
    for i, v in enumerate(frame[col].tolist()):
        if _is_missing(v):
            continue
        number = _as_float(v)
        if number is None:
            issues.append(
                TargetIssue(
                    i, col, _text(v), "target_type_mismatch", "continuous target is not a number"
                )
            )
        elif not math.isfinite(number):
            issues.append(
                TargetIssue(i, col, _text(v), "non_finite", "continuous target is not finite")
            )
        else:
            values[i] = number
    return ParsedTarget(values=values, classes=None, issues=issues)


def _parse_multilabel(spec: TargetSpec, frame: pd.DataFrame) -> ParsedTarget:
    values: list[Any] = [None] * len(frame)
    issues: list[TargetIssue] = []
    if spec.columns:  # one 0/1 column per label
        classes = list(spec.columns)
        matrix = []
        for col in classes:
            column_values = []
            for i, v in enumerate(frame[col].tolist()):
                if _is_missing(v):
                    column_values.append(None)
                    continue
                low = _text(v).lower()
                if low in _TRUE or low in _FALSE:
                    column_values.append(1 if low in _TRUE else 0)
                else:
                    column_values.append(None)
                    issues.append(
                        TargetIssue(
                            i,
                            col,
                            _text(v),
                            "target_type_mismatch",
                            "multilabel indicator must be 0 or 1",
                        )
                    )
            matrix.append(column_values)
        for i in range(len(frame)):
            row = [m[i] for m in matrix]
            if all(r is not None for r in row):
                values[i] = row
        return ParsedTarget(values=values, classes=classes, issues=issues)

    col = str(spec.column)
    cells = [(i, v) for i, v in enumerate(frame[col].tolist()) if not _is_missing(v)]
    label_sets = [
        (i, [p.strip() for p in _text(v).split(spec.separator) if p.strip()]) for i, v in cells
    ]
    observed = sorted({lab for _, labels in label_sets for lab in labels})
    classes = [_text(c) for c in spec.classes] if spec.classes is not None else observed
    index = {c: k for k, c in enumerate(classes)}
    for i, labels in label_sets:
        unknown = [lab for lab in labels if lab not in index]
        if unknown:
            issues.append(
                TargetIssue(
                    i,
                    col,
                    ";".join(labels),
                    "unknown_class",
                    f"labels {unknown} are not declared classes {classes}",
                )
            )
            continue
        hot = [0] * len(classes)
        for lab in labels:
            hot[index[lab]] = 1
        values[i] = hot
    return ParsedTarget(values=values, classes=classes, issues=issues)


def _parse_survival(spec: TargetSpec, frame: pd.DataFrame) -> ParsedTarget:
    tcol, ecol = str(spec.time), str(spec.event)
    values: list[Any] = [None] * len(frame)
    issues: list[TargetIssue] = []
    for i, (t, e) in enumerate(zip(frame[tcol].tolist(), frame[ecol].tolist(), strict=True)):
        t_missing, e_missing = _is_missing(t), _is_missing(e)
        if t_missing and e_missing:
            continue
        time = None if t_missing else _as_float(t)
        event = None if e_missing else _as_float(e)
        ok = True
        if not t_missing:
            if time is None:
                issues.append(
                    TargetIssue(
                        i, tcol, _text(t), "target_type_mismatch", "survival time is not a number"
                    )
                )
                ok = False
            elif not math.isfinite(time):
                issues.append(
                    TargetIssue(i, tcol, _text(t), "non_finite", "survival time is not finite")
                )
                ok = False
            elif time < 0:
                issues.append(
                    TargetIssue(i, tcol, _text(t), "negative_time", "survival time is negative")
                )
                ok = False
        if not e_missing and (event is None or event not in (0.0, 1.0)):
            issues.append(
                TargetIssue(
                    i,
                    ecol,
                    _text(e),
                    "invalid_event",
                    "survival event must be 0 (censored) or 1 (event)",
                )
            )
            ok = False
        if ok and (t_missing or e_missing):
            missing_col, present_col = (tcol, ecol) if t_missing else (ecol, tcol)
            issues.append(
                TargetIssue(
                    i,
                    missing_col,
                    "",
                    "incomplete_survival",
                    f"{missing_col!r} is empty while {present_col!r} is set; "
                    "the survival target is masked for this row",
                    severity="warning",
                )
            )
            ok = False
        if ok:
            values[i] = (float(np.float64(time)), int(event))  # type: ignore[arg-type]
    return ParsedTarget(values=values, classes=None, issues=issues)
