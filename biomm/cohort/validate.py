"""Manifest validation: every problem with row, column, value and reason.

Checks, in order: structure (required and declared columns), ids (blank, duplicated),
modality references (path escaping the data root, missing file, empty file, unknown or
mismatched format), the EHR table, targets (type mismatches, unknown classes, negative times,
events outside {0, 1}), splits (unknown values, non-integer folds, a patient in more than one
split or fold) and patients without any modality.

Examples:
    >>> import pandas as pd
    >>> from biomm import Cohort
    >>> df = pd.DataFrame({"patient_id": ["a", "b"], "split": ["train", "tset"],
    ...                    "report": ["ok", "ok"]})
    >>> [p.code for p in Cohort(df).validate().problems]
    ['invalid_split']
"""

from __future__ import annotations

import difflib
import math
import os
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from biomm.cohort.probe import ProbeResult, probe_file
from biomm.cohort.report import Problem, ValidationReport
from biomm.cohort.tables import normalise_ids
from biomm.cohort.targets import parse_target
from biomm.errors import ManifestError
from biomm.privacy import REDACTED, looks_like_phi, phi_columns, phi_kind

if TYPE_CHECKING:
    from biomm.cohort.manifest import Cohort

#: Accepted values of a split column (case-insensitive).
SPLIT_VALUES = ("train", "val", "test")
_SPLIT_SYNONYMS = {
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "training": "train",
    "testing": "test",
    "holdout": "test",
}


def normalise_split(value: object) -> str | None:
    """Map a split cell to ``train``/``val``/``test``, or None when it is not one.

    Examples:
        >>> normalise_split(" Validation "), normalise_split("train"), normalise_split("x")
        ('val', 'train', None)
    """
    text = str(value).strip().lower()
    text = _SPLIT_SYNONYMS.get(text, text)
    return text if text in SPLIT_VALUES else None


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    try:
        if pd.isna(value):  # type: ignore[arg-type]
            return True
    except (TypeError, ValueError):
        return False
    return isinstance(value, str) and not value.strip()


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def validate_cohort(cohort: Cohort, *, probe_files: bool = True) -> ValidationReport:
    """Validate a cohort; see the module docstring for the checks.

    Args:
        cohort: The cohort.
        probe_files: Check that referenced files exist and look like their modality.

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> report = validate_cohort(Cohort(pd.DataFrame({"id": [1]})))
        >>> [p.code for p in report.errors]
        ['missing_column']
    """
    problems: list[Problem] = []
    table = cohort.table
    schema = cohort.schema
    source = str(cohort.source) if cohort.source else None
    if table.empty:
        problems.append(Problem("error", "empty_manifest", "the manifest has no rows"))
    present = [str(c) for c in table.columns]
    for col, role in schema.declared_columns().items():
        if col in table:
            continue
        close = difflib.get_close_matches(col, present, n=1, cutoff=0.6)
        close += [c for c in present if c.lower() == col.lower() and c not in close]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(present[:12]) + (" …" if len(present) > 12 else "")
        problems.append(
            Problem(
                "error",
                "missing_column",
                f"no such column in the manifest ({role}){hint} Columns found: {shown}",
                column=col,
            )
        )
    if schema.patient_id in table and not table.empty:
        problems += _check_ids(cohort)
        problems += _check_references(cohort, probe_files)
        problems += _check_shared_files(cohort)
        problems += _check_ehr(cohort)
        problems += _check_targets(cohort)
        problems += _check_splits(cohort)
        problems += _check_coverage(cohort)
    lines = cohort.line_numbers
    if lines is not None:
        problems = [
            replace(p, line=lines[p.row]) if p.row is not None and p.table is None else p
            for p in problems
        ]
    return ValidationReport(redact_problems(cohort, problems), source)


def _sensitive_columns(cohort: Cohort) -> tuple[set[str], set[str]]:
    """Columns of the manifest and of the EHR table whose values are never quoted."""
    schema = cohort.schema
    ids = {schema.patient_id, schema.sample_id}
    references = {spec.column for spec in schema.modalities.values()}
    manifest = set(phi_columns(cohort.table)) - ids - references
    ehr: set[str] = set()
    if schema.ehr is not None:
        typed = {c for c, kind in schema.ehr.types.items() if kind == "identifier"}
        manifest |= typed - ids
        ehr |= typed - ids
        if schema.ehr.table:
            try:
                table = cohort.ehr_table()
            except ManifestError:
                table = None
            if table is not None:
                ehr |= set(phi_columns(table)) - ids
    return manifest, ehr


def redact_problems(cohort: Cohort, problems: list[Problem]) -> list[Problem]:
    """Problems with PHI-looking values replaced by ``<redacted>`` (see the module docstring).

    A redacted value is also taken out of the problem's message.

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> cohort = Cohort(pd.DataFrame({"patient_id": ["a"], "dob": ["1950-01-01"]}))
        >>> problem = Problem("error", "bad", "'1950-01-01' is odd", column="dob",
        ...                   value="1950-01-01")
        >>> print(redact_problems(cohort, [problem])[0])
        error [bad] column 'dob', value '<redacted>': '<redacted>' is odd
    """
    manifest, ehr = _sensitive_columns(cohort)
    ids = {cohort.schema.patient_id, cohort.schema.sample_id}
    out = []
    for p in problems:
        sensitive = ehr if p.table is not None else manifest
        if p.value is None or p.value == REDACTED or p.column in ids:
            out.append(p)
            continue
        named = p.column is not None and phi_kind(p.column) is not None
        if named or p.column in sensitive or looks_like_phi(p.value):
            message = p.message.replace(p.value, REDACTED) if p.value.strip() else p.message
            out.append(replace(p, value=REDACTED, message=message))
        else:
            out.append(p)
    return out


def _check_ids(cohort: Cohort) -> list[Problem]:
    problems = []
    table, schema = cohort.table, cohort.schema
    pid = schema.patient_id
    for row, value in enumerate(table[pid].tolist()):
        if _is_blank(value):
            problems.append(
                Problem("error", "missing_id", "patient id is empty", row=row, column=pid)
            )
    key = schema.sample_id if schema.sample_id and schema.sample_id in table else pid
    what = (
        "sample id"
        if key != pid
        else "patient id (one row per patient: add a sample_id "
        "column for several samples per patient)"
    )
    first_seen: dict[str, int] = {}
    for row, value in enumerate(table[key].tolist()):
        if _is_blank(value):
            if key != pid:
                problems.append(
                    Problem("error", "missing_id", "sample id is empty", row=row, column=key)
                )
            continue
        text = _text(value).strip()
        if text in first_seen:
            problems.append(
                Problem(
                    "error",
                    "duplicate_id",
                    f"duplicate {what}; first seen in row {first_seen[text]}",
                    row=row,
                    column=key,
                    value=text,
                )
            )
        else:
            first_seen[text] = row
    return problems


def _check_references(cohort: Cohort, probe_files: bool) -> list[Problem]:
    problems = []
    root = os.path.normpath(cohort.data_root)
    probes: dict[str, ProbeResult] = {}  # a file referenced by several rows is probed once
    for modality, spec in cohort.schema.modalities.items():
        if spec.column not in cohort.table:
            continue
        for row, cell in enumerate(cohort.table[spec.column].tolist()):
            for ref in cohort.split_cell(modality, cell):
                if modality == "report" and not cohort.is_report_file(ref):
                    if "\x00" in ref:
                        problems.append(
                            Problem(
                                "error",
                                "invalid_text",
                                "inline report contains NUL bytes",
                                row=row,
                                column=spec.column,
                            )
                        )
                    continue
                resolved = os.path.normpath(cohort.resolve(ref))
                # lexical check: '..' may not leave the root; symlinks inside it may point anywhere
                is_relative = not os.path.isabs(os.path.expanduser(ref))
                if (is_relative or cohort.root_is_explicit) and os.path.commonpath(
                    [root, resolved]
                ) != root:
                    problems.append(
                        Problem(
                            "error",
                            "path_escapes_root",
                            f"path resolves outside the data root {root!r}",
                            row=row,
                            column=spec.column,
                            value=ref,
                            file=resolved,
                        )
                    )
                    continue
                if not probe_files:
                    continue
                key = f"{modality}\0{resolved}"
                if key not in probes:
                    probes[key] = probe_file(resolved, modality)
                result = probes[key]
                if not result.ok:
                    reason = str(result.reason)
                    if result.code == "file_not_found" and "\\" in ref:
                        reason += " (the path has backslashes: write Windows paths with '/')"
                    problems.append(
                        Problem(
                            "error",
                            str(result.code),
                            reason,
                            row=row,
                            column=spec.column,
                            value=ref,
                            file=resolved,
                        )
                    )
    return problems


def _check_ehr(cohort: Cohort) -> list[Problem]:
    ehr = cohort.schema.ehr
    if ehr is None:
        return []
    problems: list[Problem] = []
    pid = cohort.schema.patient_id
    where: dict[str, str | None] = {"table": None, "file": None}
    lines: list[int] | None = cohort.line_numbers
    if ehr.table:
        path = os.path.normpath(cohort.resolve(ehr.table))
        where = {"table": path, "file": path}
        root = os.path.normpath(cohort.data_root)
        checked = not os.path.isabs(os.path.expanduser(ehr.table)) or cohort.root_is_explicit
        if checked and os.path.commonpath([root, path]) != root:
            return [
                Problem(
                    "error",
                    "path_escapes_root",
                    f"EHR table path resolves outside the data root {root!r}",
                    column="ehr.table",
                    value=ehr.table,
                    file=path,
                )
            ]
        try:
            table = cohort.ehr_table()
        except ManifestError as exc:
            return [
                Problem(
                    "error",
                    "unreadable_ehr_table",
                    exc.reason,
                    column="ehr.table",
                    value=ehr.table,
                    file=path,
                )
            ]
        assert table is not None
        lines = cohort.ehr_line_numbers
        if pid not in table:
            return [
                Problem(
                    "error",
                    "missing_column",
                    f"EHR table has no {pid!r} column to join on",
                    column=pid,
                    **where,
                )
            ]
        ids = normalise_ids(table[pid])
        seen: set[str] = set()
        for row, patient in enumerate(ids.tolist()):
            line = lines[row] if lines else None
            if patient is None:
                problems.append(
                    Problem(
                        "error",
                        "missing_id",
                        "patient id is empty",
                        row=row,
                        column=pid,
                        line=line,
                        **where,
                    )
                )
            elif patient in seen:
                problems.append(
                    Problem(
                        "error",
                        "duplicate_id",
                        "patient appears twice in the EHR table",
                        row=row,
                        column=pid,
                        value=patient,
                        line=line,
                        **where,
                    )
                )
            if patient is not None:
                seen.add(patient)
        unknown = sorted(seen - set(cohort.patient_ids))
        if unknown:
            problems.append(
                Problem(
                    "warning",
                    "ehr_unmatched",
                    f"{len(unknown)} EHR patient(s) are not in the manifest: "
                    f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}",
                    **where,
                )
            )
        for col in ehr.columns:
            if col not in table:
                problems.append(
                    Problem(
                        "error",
                        "missing_column",
                        f"EHR column {col!r} is not in the EHR table",
                        column=col,
                        **where,
                    )
                )
        frame = table
    else:
        frame = cohort.table
    for col, kind in ehr.types.items():
        if col not in frame or kind != "continuous":
            continue
        for row, value in enumerate(frame[col].tolist()):
            if _is_blank(value):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                code, reason = "type_mismatch", "continuous EHR value is not a number"
            else:
                if math.isfinite(number):
                    continue
                code, reason = "non_finite", "continuous EHR value is not finite"
            line = lines[row] if lines and where["table"] else None
            problems.append(
                Problem(
                    "error",
                    code,
                    reason,
                    row=row,
                    column=col,
                    value=_text(value),
                    line=line,
                    **where,
                )
            )
    return problems


def _assignment(cohort: Cohort, row: int, column: str) -> str | None:
    """A row's split (normalised) or fold (as an integer string), None when blank/invalid."""
    value = cohort.table.at[row, column]
    if _is_blank(value):
        return None
    if column == cohort.schema.split:
        return normalise_split(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return str(int(number)) if math.isfinite(number) and number.is_integer() else None


def _check_shared_files(cohort: Cohort) -> list[Problem]:
    """One file referenced by several patients, or twice in one cell."""
    problems: list[Problem] = []
    pid = cohort.schema.patient_id
    split_cols = [c for c in (cohort.schema.split, cohort.schema.fold) if c and c in cohort.table]
    owners: dict[str, tuple[str, int]] = {}
    for modality, spec in cohort.schema.modalities.items():
        if modality == "report" or spec.column not in cohort.table:
            continue
        cells = cohort.table[spec.column].tolist()
        patients = cohort.table[pid].tolist()
        for row, (cell, patient) in enumerate(zip(cells, patients, strict=True)):
            refs = cohort.split_cell(modality, cell)
            resolved = [os.path.normpath(cohort.resolve(r)) for r in refs]
            for k, (ref, path) in enumerate(zip(refs, resolved, strict=True)):
                if resolved.index(path) != k:  # a repeat within the cell: reported once below
                    continue
                if resolved.count(path) > 1:
                    problems.append(
                        Problem(
                            "warning",
                            "duplicate_reference",
                            "the same file is listed twice in this cell",
                            row=row,
                            column=spec.column,
                            value=ref,
                            file=path,
                        )
                    )
                if patient is None or path not in owners:
                    owners.setdefault(path, (str(patient), row))
                    continue
                first_patient, first_row = owners[path]
                if first_patient == str(patient):
                    continue
                different = [
                    c
                    for c in split_cols
                    if (a := _assignment(cohort, row, c)) is not None
                    and (b := _assignment(cohort, first_row, c)) is not None
                    and a != b
                ]
                if different:
                    problems.append(
                        Problem(
                            "error",
                            "split_leak",
                            f"the same file belongs to patient {first_patient!r} "
                            f"(row {first_row}) in another {different[0]}",
                            row=row,
                            column=spec.column,
                            value=ref,
                            file=path,
                        )
                    )
                else:
                    problems.append(
                        Problem(
                            "warning",
                            "shared_file",
                            f"the same file is also referenced by patient "
                            f"{first_patient!r} (row {first_row})",
                            row=row,
                            column=spec.column,
                            value=ref,
                            file=path,
                        )
                    )
    return problems


def _check_targets(cohort: Cohort) -> list[Problem]:
    problems = []
    pid = cohort.schema.patient_id
    for name, spec in cohort.schema.targets.items():
        if any(col not in cohort.table for col in spec.columns_list()):
            continue
        parsed = parse_target(spec, cohort.table)
        for issue in parsed.issues:
            problems.append(
                Problem(
                    issue.severity,
                    issue.code,  # type: ignore[arg-type]
                    f"target {name!r}: {issue.reason}",
                    row=issue.row,
                    column=issue.column,
                    value=issue.value or None,
                )
            )
        if all(v is None for v in parsed.values) and not parsed.issues:
            problems.append(
                Problem(
                    "warning",
                    "empty_target",
                    f"target {name!r} has no value in any row",
                    column=spec.columns_list()[0],
                )
            )
        by_patient: dict[str, set[str]] = defaultdict(set)
        first_row: dict[str, int] = {}
        for row, (patient, value) in enumerate(
            zip(cohort.table[pid].tolist(), parsed.values, strict=True)
        ):
            if value is None or _is_blank(patient):
                continue
            key = _text(patient)
            by_patient[key].add(repr(value))
            first_row.setdefault(key, row)
        for patient, values in by_patient.items():
            if len(values) > 1:
                problems.append(
                    Problem(
                        "warning",
                        "inconsistent_target",
                        f"target {name!r} differs between rows of patient {patient!r}",
                        row=first_row[patient],
                        column=spec.columns_list()[0],
                    )
                )
    return problems


def _check_splits(cohort: Cohort) -> list[Problem]:
    problems = []
    table, schema = cohort.table, cohort.schema
    pid = schema.patient_id
    for kind, col in (("split", schema.split), ("fold", schema.fold)):
        if not col or col not in table:
            continue
        assigned: dict[str, dict[str, int]] = defaultdict(dict)
        for row, (patient, value) in enumerate(
            zip(table[pid].tolist(), table[col].tolist(), strict=True)
        ):
            if _is_blank(value):
                continue
            if kind == "split":
                label = normalise_split(value)
                if label is None:
                    problems.append(
                        Problem(
                            "error",
                            "invalid_split",
                            f"split must be one of {', '.join(SPLIT_VALUES)}",
                            row=row,
                            column=col,
                            value=_text(value),
                        )
                    )
                    continue
            else:
                number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
                if pd.isna(number) or not math.isfinite(number) or float(number) != int(number):
                    problems.append(
                        Problem(
                            "error",
                            "invalid_fold",
                            "fold must be an integer",
                            row=row,
                            column=col,
                            value=_text(value),
                        )
                    )
                    continue
                label = str(int(number))
            if not _is_blank(patient):
                assigned[_text(patient)].setdefault(label, row)
        for patient, labels in assigned.items():
            if len(labels) > 1:
                rows = sorted(labels.values())
                listing = ", ".join(f"{lab} (row {r})" for lab, r in labels.items())
                problems.append(
                    Problem(
                        "error",
                        "split_leak",
                        f"patient {patient!r} is in more than one {kind}: {listing}",
                        row=rows[1],
                        column=col,
                        value=patient,
                    )
                )
    return problems


def _check_coverage(cohort: Cohort) -> list[Problem]:
    if not cohort.modalities:
        return [
            Problem(
                "warning",
                "no_modalities",
                "the manifest declares no modality column (wsi, ecg, fundus, oct, "
                "report) and no EHR features",
            )
        ]
    matrix = cohort.availability().matrix
    problems = []
    empty = matrix.index[~matrix.any(axis=1)]
    if len(empty):
        ids = cohort.table[cohort.schema.patient_id].astype(str)
        first_row = {patient: row for row, patient in reversed(list(enumerate(ids)))}
        for patient in empty:
            row = first_row[str(patient)]
            problems.append(
                Problem(
                    "warning",
                    "no_modalities",
                    "patient has no modality at all",
                    row=row,
                    column=cohort.schema.patient_id,
                    value=str(patient),
                )
            )
    return problems
