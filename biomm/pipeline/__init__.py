"""YAML cohort pipelines: validated up front, cached per step, resumable, scaled out with Dask.

``biomm run PIPELINE.yaml`` is the command; in Python::

    from biomm.pipeline import load_pipeline, run_pipeline
    summary = run_pipeline(load_pipeline("pipelines/demo.yaml"), "runs/demo")

See ``docs/pipelines.md`` for the format, every step kind, caching and failure rules.

Examples:
    >>> from biomm.pipeline import PIPELINE_STEPS
    >>> "wsi.embed" in PIPELINE_STEPS
    True
"""

from __future__ import annotations

from biomm.pipeline.runner import RunSummary, plan_pipeline, run_pipeline
from biomm.pipeline.spec import (
    Pipeline,
    PipelineConfigError,
    PipelineStep,
    apply_overrides,
    build_pipeline,
    load_pipeline,
)
from biomm.pipeline.steps import (
    PIPELINE_STEPS,
    StepContext,
    StepKind,
    StepResult,
    step_kind,
)

__all__ = [
    "PIPELINE_STEPS",
    "Pipeline",
    "PipelineConfigError",
    "PipelineStep",
    "RunSummary",
    "StepContext",
    "StepKind",
    "StepResult",
    "apply_overrides",
    "build_pipeline",
    "load_pipeline",
    "plan_pipeline",
    "run_pipeline",
    "step_kind",
]
