"""Validation problems and the report that collects them.

Examples:
    >>> report = ValidationReport([
    ...     Problem("error", "file_not_found", "file not found", row=2, column="wsi",
    ...             value="slides/b.svs"),
    ...     Problem("warning", "no_modalities", "patient has no modality", row=3),
    ... ])
    >>> report.ok, report.ok_strict, len(report.errors)
    (False, False, 1)
    >>> print(report.problems[0])
    error [file_not_found] row 2, column 'wsi', value 'slides/b.svs': file not found
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from biomm.errors import ManifestError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest.

    Attributes:
        severity: ``error`` (the cohort cannot be used as is) or ``warning``.
        code: Stable machine-readable code, e.g. ``duplicate_id``, ``file_not_found``.
        message: The reason, in words.
        row: 0-based data row of the manifest (``df.iloc[row]``), if the problem is in a row.
        column: The manifest column, if any.
        value: The offending cell value as text, if any.
        file: The resolved file the problem is about, if any.
        line: 1-based line of ``row`` in its CSV/TSV file, when known.
        table: The table ``row`` belongs to when it is not the manifest (e.g. the EHR table).
    """

    severity: Severity
    code: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    file: str | None = None
    line: int | None = None
    table: str | None = None

    def __str__(self) -> str:
        where = []
        if self.table is not None:
            where.append(f"in {self.table}")
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            where.append(f"value {shown!r}")
        location = ", ".join(where)
        sep = f" {location}: " if location else " "
        shown_file = f" [file: {self.file}]" if self.file and self.file != self.table else ""
        return f"{self.severity} [{self.code}]{sep}{self.message}{shown_file}"


class ValidationReport:
    """Every problem found in a manifest, errors and warnings.

    Args:
        problems: The problems, in the order found.
        source: The manifest file, if any (used in messages).
    """

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = sorted(
            problems,
            key=lambda p: (p.severity != "error", p.row if p.row is not None else -1, p.code),
        )
        self.source = source

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems of severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    @property
    def ok_strict(self) -> bool:
        """True when there is neither an error nor a warning."""
        return not self.problems

    def codes(self) -> set[str]:
        """The set of problem codes found.

        Examples:
            >>> ValidationReport([Problem("error", "duplicate_id", "dup", row=1)]).codes()
            {'duplicate_id'}
        """
        return {p.code for p in self.problems}

    def to_frame(self) -> pd.DataFrame:
        """One row per problem (columns: severity, code, row, column, value, file, message).

        Examples:
            >>> ValidationReport([]).to_frame().columns.tolist()
            ['severity', 'code', 'row', 'line', 'column', 'value', 'file', 'table', 'message']
        """
        cols = ["severity", "code", "row", "line", "column", "value", "file", "table", "message"]
        return pd.DataFrame([asdict(p) for p in self.problems], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: source, counts and the problem list.

        Examples:
            >>> ValidationReport([]).to_dict()["n_errors"]
            0
        """
        return {
            "source": self.source,
            "ok": self.ok,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise :meth:`to_dict` as JSON.

        Examples:
            >>> import json
            >>> json.loads(ValidationReport([]).to_json())["ok"]
            True
        """
        return json.dumps(self.to_dict(), indent=indent)

    def raise_if_errors(self, strict: bool = False) -> None:
        """Raise :class:`~biomm.errors.ManifestError` listing every error.

        With ``strict`` warnings count too.

        Examples:
            >>> ValidationReport([Problem("warning", "w", "minor")]).raise_if_errors()
            >>> ValidationReport([Problem("warning", "w", "minor")]).raise_if_errors(strict=True)
            Traceback (most recent call last):
            ...
            biomm.errors.ManifestError: 1 problem(s): warning [w] minor
        """
        bad = self.problems if strict else self.errors
        if bad:
            listing = "; ".join(str(p) for p in bad[:20])
            more = f"; … and {len(bad) - 20} more" if len(bad) > 20 else ""
            raise ManifestError(f"{len(bad)} problem(s): {listing}{more}", path=self.source)

    def __len__(self) -> int:
        return len(self.problems)

    def format(self, max_problems: int | None = None) -> str:
        """Human-readable text: a header, then the problems, then a count per code.

        At most ``max_problems`` problems are listed; the count per code is shown when there is
        more than one kind.

        Examples:
            >>> r = ValidationReport([Problem("error", "dup", "x", row=i) for i in range(5)])
            >>> print(r.format(max_problems=2))
            manifest: 5 error(s), 0 warning(s)
              error [dup] row 0: x
              error [dup] row 1: x
              … 3 more problem(s) not shown (--format json lists all)
        """
        head = f"{self.source or 'manifest'}: {len(self.errors)} error(s), "
        head += f"{len(self.warnings)} warning(s)"
        shown = self.problems if max_problems is None else self.problems[:max_problems]
        lines = [head, *(f"  {p}" for p in shown)]
        if len(shown) < len(self.problems):
            lines.append(
                f"  … {len(self.problems) - len(shown)} more problem(s) not shown "
                "(--format json lists all)"
            )
        counts = Counter((p.severity, p.code) for p in self.problems)
        if len(counts) > 1:
            lines.append(
                "by code: "
                + ", ".join(
                    f"{code} ({severity}) {n}" for (severity, code), n in counts.most_common()
                )
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"ValidationReport(errors={len(self.errors)}, warnings={len(self.warnings)})"
