"""The step kinds a pipeline can use (``uses:``), kept in the ``pipeline step`` registry.

Each registered factory returns a :class:`~biomm.pipeline.steps.base.StepKind`; modality code
(torch, OpenSlide) is imported only when a step runs or its params model is built.

Examples:
    >>> print(", ".join(PIPELINE_STEPS.names()))
    cohort.validate, ecg.convert, ecg.embed, ecg.pretrain, ecg.zeroshot, embed, report, train,
    wsi.embed
    >>> step_kind("wsi.embed").outputs["bags"]
    '.'
"""

from __future__ import annotations

import weakref
from typing import Any

from biomm.pipeline.steps.base import (
    StepContext,
    StepKind,
    StepResult,
    params_from_config,
)
from biomm.pipeline.steps.cohort import cohort_validate_step
from biomm.pipeline.steps.ecg import (
    ecg_convert_step,
    ecg_embed_step,
    ecg_pretrain_step,
    ecg_zeroshot_step,
)
from biomm.pipeline.steps.embed import embed_step
from biomm.pipeline.steps.report import report_step
from biomm.pipeline.steps.train import train_step
from biomm.pipeline.steps.wsi import wsi_embed_step
from biomm.registries import PIPELINE_STEPS
from biomm.registry import Registry

for _name, _factory in (
    ("cohort.validate", cohort_validate_step),
    ("wsi.embed", wsi_embed_step),
    ("ecg.convert", ecg_convert_step),
    ("ecg.pretrain", ecg_pretrain_step),
    ("ecg.embed", ecg_embed_step),
    ("ecg.zeroshot", ecg_zeroshot_step),
    ("embed", embed_step),
    ("train", train_step),
    ("report", report_step),
):
    if _name not in PIPELINE_STEPS:
        PIPELINE_STEPS.add(_name, _factory)

_BUILT: weakref.WeakKeyDictionary[Registry[Any], dict[str, StepKind]] = weakref.WeakKeyDictionary()


def step_kind(name: str, registry: Registry[Any] | None = None) -> StepKind:
    """The :class:`StepKind` registered as ``name`` (built once per registry).

    Raises:
        RegistryError: On an unknown name, listing the registered ones.

    Examples:
        >>> step_kind("cohort.validate").gate
        True
    """
    registry = PIPELINE_STEPS if registry is None else registry
    built = _BUILT.setdefault(registry, {})
    if name not in built:
        kind = registry.build(name)
        if kind.name != name:
            kind = StepKind(**{**kind.__dict__, "name": name})
        built[name] = kind
    return built[name]


__all__ = [
    "PIPELINE_STEPS",
    "StepContext",
    "StepKind",
    "StepResult",
    "params_from_config",
    "step_kind",
]
