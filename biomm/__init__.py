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
from biomm.registry import Registry

# torch-backed names load on first use, so `import biomm` and the CLI start fast.
_LAZY = {
    "Batch": "biomm.data.sample",
    "Sample": "biomm.data.sample",
    "collate": "biomm.data.sample",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biomm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


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
