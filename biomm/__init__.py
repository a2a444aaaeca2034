"""biomm: biomedical multimodal analysis.

Whole-slide images, ECGs, retinal images, tabular EHR and reports → embeddings, modular fusion,
zero-shot classification and survival models, with missing modalities handled everywhere.

Examples:
    >>> import biomm
    >>> biomm.__version__ == biomm._version.__version__
    True
"""

from biomm._version import __version__
from biomm.cohort import (
    Availability,
    Cohort,
    CohortSchema,
    Problem,
    TargetSpec,
    ValidationReport,
    infer_schema,
)
from biomm.data import Batch, Sample, collate
from biomm.registry import Registry

__all__ = [
    "Availability",
    "Batch",
    "Cohort",
    "CohortSchema",
    "Problem",
    "Registry",
    "Sample",
    "TargetSpec",
    "ValidationReport",
    "__version__",
    "collate",
    "infer_schema",
]
