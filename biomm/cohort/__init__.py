"""Cohort manifests: schema, validation, availability and patient-level splits."""

from biomm.cohort.manifest import Availability, Cohort
from biomm.cohort.probe import ProbeResult, probe_file
from biomm.cohort.report import Problem, ValidationReport
from biomm.cohort.schema import (
    MODALITIES,
    CohortSchema,
    EHRSpec,
    ModalitySpec,
    TargetSpec,
    infer_schema,
)
from biomm.cohort.split import iter_folds, split_cohort, splits_from_folds

__all__ = [
    "MODALITIES",
    "Availability",
    "Cohort",
    "CohortSchema",
    "EHRSpec",
    "ModalitySpec",
    "ProbeResult",
    "Problem",
    "TargetSpec",
    "ValidationReport",
    "infer_schema",
    "iter_folds",
    "probe_file",
    "split_cohort",
    "splits_from_folds",
]
