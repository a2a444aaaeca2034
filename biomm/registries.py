"""The project's registries, one per kind of pluggable component (kept once, here).

Encoders, fusions, heads and prompt sets register themselves with a decorator in their own
modules; users build them by name.

Examples:
    >>> from biomm.registries import ALL_REGISTRIES, ENCODERS
    >>> ENCODERS.kind
    'encoder'
    >>> sorted(ALL_REGISTRIES)
    ['encoder', 'fusion', 'head', 'pipeline step', 'prompt set', 'slide backend']
"""

from __future__ import annotations

from typing import Any

from biomm.registry import Registry

ENCODERS: Registry[Any] = Registry("encoder")
FUSIONS: Registry[Any] = Registry("fusion")
HEADS: Registry[Any] = Registry("head")
PROMPT_SETS: Registry[Any] = Registry("prompt set")

#: Every registry by kind; contract tests iterate over these.
ALL_REGISTRIES: dict[str, Registry[Any]] = {
    r.kind: r for r in (ENCODERS, FUSIONS, HEADS, PROMPT_SETS)
}
SLIDE_BACKENDS: Registry[Any] = Registry("slide backend")
#: Step kinds of YAML cohort pipelines (``uses:``), registered by ``biomm.pipeline.steps``.
PIPELINE_STEPS: Registry[Any] = Registry("pipeline step")

ALL_REGISTRIES[SLIDE_BACKENDS.kind] = SLIDE_BACKENDS
ALL_REGISTRIES[PIPELINE_STEPS.kind] = PIPELINE_STEPS
