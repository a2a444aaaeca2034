"""What a pipeline step kind is: a params model, a run function, declared outputs and inputs.

A step kind is registered in :data:`~biomm.pipeline.steps.PIPELINE_STEPS` by a factory that
returns a :class:`StepKind`. The runner validates a step's ``with:`` mapping against
``params`` (a pydantic model with ``extra="forbid"``), resolves references, then calls
``run(params, ctx)`` with a :class:`StepContext` and records the :class:`StepResult`.

Examples:
    >>> from pydantic import BaseModel, ConfigDict
    >>> class Params(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     n: int = 1
    >>> kind = StepKind("demo.count", Params, lambda p, ctx: StepResult(done=p.n),
    ...                 outputs={"table": "table.csv"}, summary="Count to n.")
    >>> kind.run(kind.params.model_validate({"n": 3}), None).done
    3
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, create_model

if TYPE_CHECKING:
    from biomm.cohort import Cohort

log = logging.getLogger("biomm.pipeline")


@dataclass
class StepResult:
    """What one step did.

    Attributes:
        done: Items handled successfully (slides, records, images, patients), if countable.
        failed: Items that failed (listed in ``failures``); never fatal for the step.
        metrics: Numbers worth showing in the summary (losses, AUROC, tiles/s).
        failures: The step's failures table (CSV), when it wrote one.
        notes: Short remarks for the log (never patient text).
    """

    done: int | None = None
    failed: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    failures: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StepContext:
    """What the runner gives a step besides its params.

    Attributes:
        name: The step's name in the pipeline.
        out: The step's own folder (``RUN/steps/NAME``), created before ``run``.
        run_dir: The run folder.
        cohort_path: The manifest the steps read (after the pipeline's ``split``).
        schema_path: Its schema YAML, if any.
        data_root: Folder that the manifest's relative paths resolve against.
        scheduler: ``none``, ``local`` or a Dask scheduler address.
        dask_workers: Worker processes of ``scheduler: local``.
        progress: Show the underlying jobs' progress bars.
        explicit_root: Whether the data root was given (not the manifest's folder); paths
            outside an explicit root are validation errors.
        pseudonymise: The run's pseudonymisation salt, for outputs that show ids (a report).
    """

    name: str
    out: Path
    run_dir: Path
    cohort_path: Path | None = None
    schema_path: Path | None = None
    data_root: Path | None = None
    scheduler: str = "none"
    dask_workers: int = 2
    progress: bool = True
    explicit_root: bool | None = None
    pseudonymise: str | None = None
    _cohort: Any = None

    def cohort(self) -> Cohort:
        """The pipeline's cohort, read once per step.

        Raises:
            ConfigError: When the pipeline names no cohort.
        """
        from biomm.cohort import Cohort
        from biomm.errors import ConfigError

        if self.cohort_path is None:
            raise ConfigError(
                f"step {self.name!r} needs a cohort: set `cohort:` in the pipeline or --cohort"
            )
        if self._cohort is None:
            cohort = Cohort.from_file(self.cohort_path, self.schema_path, data_root=self.data_root)
            if self.explicit_root is not None:
                cohort.root_is_explicit = self.explicit_root
            self._cohort = cohort
        return self._cohort


#: ``run(params, ctx) -> StepResult``.
RunFn = Callable[[Any, StepContext], StepResult]
#: ``check(params) -> [(key path inside with:, message)]``: extra checks before anything runs.
CheckFn = Callable[[Any], list[tuple[str, str]]]


@dataclass(frozen=True)
class StepKind:
    """A kind of pipeline step (``uses:`` in the YAML).

    Attributes:
        name: The registered name, e.g. ``wsi.embed``.
        params: Pydantic model of the ``with:`` mapping (``extra="forbid"``).
        run: ``run(params, ctx) -> StepResult``.
        outputs: Named outputs, relative to the step folder (``.`` is the folder itself);
            ``${steps.NAME.OUTPUT}`` resolves to them.
        reads: Cohort modalities whose files enter the step's cache key, or a function of
            the params giving them (``("*",)``: every modality).
        summary: One line for docs and ``--help``.
        check: Extra validation of the params (registry names, options), run before anything.
        gate: The step produces no data, only a verdict: every later step waits for it and is
            skipped when it fails, but its key does not enter theirs.
        after_all: Without ``needs:``, the step depends on every earlier step and runs even
            when some of them failed (their status enters its key), e.g. a report.
        path_params: String params that name files (resolved against the YAML's folder when
            such a file exists there); ``Path`` params are resolved anyway.
        needs_cohort: The pipeline must name a cohort.
        shows_ids: The step writes patient ids for people to read (a report): whether and
            with which salt ids are pseudonymised enters its key (as a keyed hash, never the
            salt), so a rerun with another ``--pseudonymise`` setting rewrites it.
    """

    name: str
    params: type[BaseModel]
    run: RunFn
    outputs: Mapping[str, str] = field(default_factory=dict)
    reads: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ()
    summary: str = ""
    check: CheckFn | None = None
    gate: bool = False
    after_all: bool = False
    path_params: tuple[str, ...] = ()
    needs_cohort: bool = True
    shows_ids: bool = False

    def modalities_read(self, params: Any) -> tuple[str, ...]:
        """The cohort modalities whose files this step reads, given its params.

        Examples:
            >>> from pydantic import BaseModel
            >>> StepKind("x", BaseModel, lambda p, c: StepResult(), reads=("ecg",)
            ...          ).modalities_read(None)
            ('ecg',)
        """
        return tuple(self.reads(params) if callable(self.reads) else self.reads)


def params_from_config(
    config: type[BaseModel],
    name: str,
    *,
    exclude: tuple[str, ...] = (),
    extra_fields: Mapping[str, tuple[Any, Any]] | None = None,
) -> type[BaseModel]:
    """A ``with:`` model built from a library config model, minus what the runner supplies.

    The fields, defaults, constraints and nested models stay those of ``config`` (so the
    pipeline never drifts from ``biomm train --config``); ``extra="forbid"`` catches typos.

    Examples:
        >>> from pydantic import Field
        >>> class Config(BaseModel):
        ...     cohort: str
        ...     epochs: int = Field(3, ge=1)
        >>> Params = params_from_config(Config, "P", exclude=("cohort",))
        >>> Params().epochs, list(Params.model_fields)
        (3, ['epochs'])
    """
    fields: dict[str, Any] = {
        key: (info.annotation, info)
        for key, info in config.model_fields.items()
        if key not in exclude
    }
    fields.update(extra_fields or {})
    model = create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
    model.__doc__ = (
        f"Params of a pipeline step, from :class:`{config.__module__}.{config.__name__}`."
    )
    return model


__all__ = ["CheckFn", "RunFn", "StepContext", "StepKind", "StepResult", "params_from_config"]
