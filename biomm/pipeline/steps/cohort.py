"""``cohort.validate``: check the manifest before anything else runs.

Examples:
    >>> kind = cohort_validate_step()
    >>> kind.gate, sorted(kind.outputs)
    (True, ['failures', 'report'])
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from biomm.errors import ManifestError
from biomm.pipeline.steps.base import StepContext, StepKind, StepResult
from biomm.utils.atomic import atomic_write_table, atomic_write_text

#: Problem codes about one referenced file (an item failure unless ``fail_on_files``).
_NOT_ITEM_CODES = ("path_escapes_root",)
FAILURE_COLUMNS = ["row", "patient_id", "column", "file", "code", "reason"]


class ValidateParams(BaseModel):
    """Params of ``cohort.validate``.

    Attributes:
        probe_files: Check that referenced files exist and look like their modality.
        strict: Warnings fail the step too.
        fail_on_files: A missing or unreadable file fails the step; by default it is an item
            failure (listed in ``failures.csv``) and the steps that read it skip that item.
    """

    model_config = ConfigDict(extra="forbid")
    probe_files: bool = True
    strict: bool = False
    fail_on_files: bool = False


def _is_item_problem(problem: object) -> bool:
    return getattr(problem, "file", None) is not None and (
        getattr(problem, "code", "") not in _NOT_ITEM_CODES
    )


def run_validate(params: ValidateParams, ctx: StepContext) -> StepResult:
    """Validate the cohort; fail on manifest errors, count file problems as item failures.

    Raises:
        ManifestError: Listing the errors (and warnings with ``strict``).
    """
    cohort = ctx.cohort()
    report = cohort.validate(probe_files=params.probe_files)
    atomic_write_text(ctx.out / "validation.json", report.to_json())
    items = [p for p in report.errors if _is_item_problem(p)]
    pid = cohort.schema.patient_id
    rows = [
        {
            "row": p.row,
            "patient_id": cohort.table.at[p.row, pid]
            if p.row is not None and pid in cohort.table
            else None,
            "column": p.column,
            "file": p.file,
            "code": p.code,
            "reason": p.message,  # never the cell value: it may be inline report text
        }
        for p in items
    ]
    atomic_write_table(pd.DataFrame(rows, columns=FAILURE_COLUMNS), ctx.out / "failures.csv")
    fatal = [p for p in report.errors if params.fail_on_files or not _is_item_problem(p)]
    if params.strict:
        fatal += report.warnings
    if fatal:
        listing = "; ".join(f"[{p.code}] row {p.row}, column {p.column}" for p in fatal[:10])
        more = f"; … and {len(fatal) - 10} more" if len(fatal) > 10 else ""
        raise ManifestError(
            f"{len(fatal)} manifest problem(s): {listing}{more} "
            f"(details in {ctx.out / 'validation.json'})",
            path=cohort.source,
        )
    n_refs = _count_file_references(cohort)
    failed_files = len({p.file for p in items})
    return StepResult(
        done=max(0, n_refs - failed_files),
        failed=failed_files,
        metrics={
            "patients": len(cohort.patient_ids),
            "warnings": len(report.warnings),
            "availability": {k: int(v) for k, v in cohort.availability().counts().items()},
        },
        failures=ctx.out / "failures.csv",
        notes=[f"{len(report.warnings)} warning(s)"] if report.warnings else [],
    )


def _count_file_references(cohort: Any) -> int:
    files = set()
    for modality in cohort.schema.modalities:
        for row in range(len(cohort)):
            for ref in cohort.references(modality, row):
                if modality == "report" and not cohort.is_report_file(ref):
                    continue
                files.add(str(cohort.resolve(ref)))
    return len(files)


def cohort_validate_step() -> StepKind:
    """``cohort.validate``: manifest errors fail the pipeline; bad files are item failures.

    Writes ``validation.json`` (every problem) and ``failures.csv`` (the missing or
    unreadable files). Every later step waits for it; its key never enters theirs.

    Examples:
        >>> cohort_validate_step().params().fail_on_files
        False
    """
    return StepKind(
        name="cohort.validate",
        params=ValidateParams,
        run=run_validate,
        outputs={"report": "validation.json", "failures": "failures.csv"},
        reads=("*",),
        summary="Validate the manifest; errors stop the pipeline, bad files are item failures.",
        gate=True,
    )


__all__ = ["ValidateParams", "cohort_validate_step", "run_validate"]
