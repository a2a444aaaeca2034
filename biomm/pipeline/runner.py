"""Run a validated pipeline: cached steps are skipped, failures are contained, state is on disk.

Run folder::

    RUN/pipeline.resolved.yaml   the pipeline after overrides, with each step's deps and key
    RUN/environment.json         `biomm info` of the machine that ran it
    RUN/logs/pipeline.log        the runner's and the library's log lines
    RUN/cohort/                  the split manifest + schema (only with `split:`)
    RUN/steps/NAME/              the step's outputs, started.json, and step.json (written last;
                                 paths relative to RUN, so a run folder can be moved)
    RUN/failures.csv             every item failure of every step (ids pseudonymised on request)
    RUN/summary.json             per step: status, seconds, items ok/failed, metrics, outputs

Examples:
    >>> import tempfile, pathlib
    >>> from biomm.pipeline.spec import build_pipeline
    >>> pipeline = build_pipeline({"name": "empty", "steps": {"r": {"uses": "report"}}}, base=".")
    >>> [row["action"] for row in plan_pipeline(pipeline, tempfile.mkdtemp())]
    ['run']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from biomm._version import __version__
from biomm.errors import BiommError, ConfigError
from biomm.pipeline.fingerprint import InputFingerprints, cohort_fingerprint, param_files, step_key
from biomm.pipeline.refs import Ref, substitute
from biomm.pipeline.runlog import Pseudonymiser, RunLog, cohort_ids
from biomm.pipeline.spec import Pipeline, PipelineStep
from biomm.pipeline.steps.base import StepContext, StepResult
from biomm.privacy import pseudonym
from biomm.utils.atomic import atomic_write_table, atomic_write_text
from biomm.utils.config import validation_message
from biomm.utils.lock import output_lock

log = logging.getLogger("biomm.pipeline")

STATE_FILE = "step.json"
STARTED_FILE = "started.json"
FAILURE_COLUMNS = ["step", "item", "patient_id", "reason"]


@dataclass
class StepRecord:
    """The outcome of one step in a run.

    Attributes:
        step: Step name.
        uses: Step kind.
        status: ``ran``, ``cached``, ``failed``, ``skipped`` (or ``pending``/``interrupted``).
        seconds: Run time (of the run that made the outputs, for a cached step).
        items_ok: Items handled.
        items_failed: Item failures (listed in the step's failures file).
        key: Cache key.
        error: Why the step failed or was skipped.
        outputs: Named outputs that exist, as paths.
        metrics: The step's numbers.
        failures: The step's failures table, if any.
    """

    step: str
    uses: str
    status: str = "pending"
    seconds: float = 0.0
    items_ok: int | None = None
    items_failed: int | None = None
    key: str | None = None
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    failures: str | None = None


@dataclass
class RunSummary:
    """What a pipeline run did (also ``RUN/summary.json``).

    Examples:
        >>> s = RunSummary("p", Path("run"), [StepRecord("a", "train", "ran", items_failed=2)])
        >>> s.exit_code(), s.exit_code(allow_failures=True), s.items_failed
        (1, 0, 2)
    """

    pipeline: str
    run_dir: Path
    steps: list[StepRecord]
    seconds: float = 0.0
    pseudonymised: bool = False
    failures_file: Path | None = None

    @property
    def failed_steps(self) -> list[str]:
        """Steps that failed."""
        return [s.step for s in self.steps if s.status == "failed"]

    @property
    def skipped_steps(self) -> list[str]:
        """Steps skipped because a step they need failed."""
        return [s.step for s in self.steps if s.status == "skipped"]

    @property
    def items_failed(self) -> int:
        """Item failures over every step that ran or was cached."""
        return sum(s.items_failed or 0 for s in self.steps if s.status in ("ran", "cached"))

    def exit_code(self, allow_failures: bool = False) -> int:
        """0 if all went well; 1 if a step failed or was skipped, or items failed (unless allowed).

        Examples:
            >>> RunSummary("p", Path("r"), []).exit_code()
            0
        """
        if self.failed_steps or self.skipped_steps:
            return 1
        return 1 if self.items_failed and not allow_failures else 0

    def table(self) -> pd.DataFrame:
        """One row per step: status, seconds, items ok/failed.

        Examples:
            >>> RunSummary("p", Path("r"), [StepRecord("a", "train", "ran", 1.234)]).table()
              step   uses status  seconds items_ok items_failed
            0    a  train    ran      1.2        -            -
        """
        rows = [
            {
                "step": s.step,
                "uses": s.uses,
                "status": s.status,
                "seconds": round(s.seconds, 1),
                "items_ok": "-" if s.items_ok is None else s.items_ok,
                "items_failed": "-" if s.items_failed is None else s.items_failed,
            }
            for s in self.steps
        ]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (what ``summary.json`` holds)."""
        return {
            "pipeline": self.pipeline,
            "run_dir": str(self.run_dir),
            "biomm_version": __version__,
            "seconds": round(self.seconds, 2),
            "pseudonymised": self.pseudonymised,
            "failed_steps": self.failed_steps,
            "skipped_steps": self.skipped_steps,
            "items_failed": self.items_failed,
            "failures_file": str(self.failures_file) if self.failures_file else None,
            "steps": [asdict(s) for s in self.steps],
        }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_scheduler(scheduler: str) -> str:
    """``none``, ``local`` or a Dask scheduler address (``tcp://host:8786``).

    Examples:
        >>> check_scheduler("tcp://10.0.0.1:8786")
        'tcp://10.0.0.1:8786'
        >>> check_scheduler("dask")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: --scheduler 'dask': expected none, local or an address such as tcp://host:8786
    """
    if scheduler in ("none", "local") or "://" in scheduler:
        return scheduler
    raise ConfigError(
        f"--scheduler {scheduler!r}: expected none, local or an address such as tcp://host:8786"
    )


@dataclass
class _Cohort:
    path: Path | None
    schema: Path | None
    data_root: Path | None
    explicit_root: bool
    cohort: Any
    fingerprint: str


def prepare_cohort(pipeline: Pipeline, run_dir: Path | None) -> _Cohort:
    """The cohort the steps read: the pipeline's, or a split copy in ``RUN/cohort``.

    With ``split:`` the manifest (the columns its schema names, plus a patient-level ``split``
    column) and the schema are written to ``run_dir/cohort`` (``run_dir`` None: nothing is
    written); relative paths keep resolving against the original manifest's folder (or
    ``data_root``).

    Raises:
        ManifestError, SchemaError, SplitError: When the cohort cannot be read or split.
    """
    from biomm.cohort import Cohort

    split = pipeline.split.model_dump() if pipeline.split else None
    fingerprint = cohort_fingerprint(pipeline.cohort, pipeline.schema, pipeline.data_root, split)
    if pipeline.cohort is None:
        return _Cohort(None, None, None, False, None, fingerprint)
    cohort = Cohort.from_file(pipeline.cohort, pipeline.schema, data_root=pipeline.data_root)
    if pipeline.split is None:
        return _Cohort(
            pipeline.cohort,
            pipeline.schema,
            pipeline.data_root,
            pipeline.data_root is not None,
            cohort,
            fingerprint,
        )
    spec = pipeline.split
    explicit = cohort.root_is_explicit
    cohort = cohort.split(
        ratios=spec.ratios, stratify=spec.stratify, seed=spec.seed, overwrite=spec.overwrite
    )
    cohort.root_is_explicit = explicit
    folder = (run_dir or Path(".")) / "cohort"
    manifest, schema = folder / "cohort.csv", folder / "schema.yaml"
    if run_dir is not None:
        # only the columns the schema names: undeclared ones (names, dates of birth, notes)
        # are not copied into the run folder
        declared = cohort.schema.declared_columns()
        keep = [c for c in cohort.table.columns if str(c) in declared]
        cohort.with_table(cohort.table[keep]).save(manifest)
        atomic_write_text(schema, cohort.schema.to_yaml())
    return _Cohort(manifest, schema, cohort.data_root, explicit, cohort, fingerprint)


class _Run:
    """One execution of a pipeline (state shared by its steps)."""

    def __init__(
        self,
        pipeline: Pipeline,
        run_dir: Path,
        *,
        force: Sequence[str],
        scheduler: str,
        dask_workers: int,
        progress: bool,
        pseudonymise: str | None,
        echo: Callable[[str], None],
        write: bool = True,
    ) -> None:
        unknown = sorted(set(force) - set(pipeline.steps))
        if unknown:
            raise ConfigError(
                f"--force {', '.join(unknown)}: no such step (steps: {', '.join(pipeline.steps)})"
            )
        self.pipeline = pipeline
        self.run_dir = run_dir
        self.forced = pipeline.dependents(force)
        self.scheduler = check_scheduler(scheduler)
        self.dask_workers = dask_workers
        self.progress = progress
        self.echo = echo
        self.cohort = prepare_cohort(pipeline, run_dir if write else None)
        self.inputs = InputFingerprints(self.cohort.cohort)
        self.pseudonymiser = Pseudonymiser(pseudonymise, cohort_ids(self.cohort.cohort))
        self.keys: dict[str, str] = {}
        self.records: dict[str, StepRecord] = {
            name: StepRecord(name, step.kind.name) for name, step in pipeline.steps.items()
        }

    # ---- keys -------------------------------------------------------------------------------

    def key_of(self, step: PipelineStep) -> str:
        def as_key(ref: Ref) -> str:
            if ref.root == "steps":
                return f"<steps.{ref.step}:{self.keys.get(str(ref.step), '?')}:{ref.output or ''}>"
            return ref.text

        deps = {}
        for dep in step.key_deps:
            deps[dep] = self.keys.get(dep, "?")
            if step.soft:
                deps[dep] += ":" + ("ok" if self.records[dep].status in ("ran", "cached") else "no")
        if step.kind.shows_ids:
            salt = self.pseudonymiser.salt
            deps["<pseudonyms>"] = pseudonym("biomm-step-key", salt) if salt else "off"
        params = step.kind.params.model_validate(step.params)
        key = step_key(
            step.kind.name,
            substitute(step.raw, as_key),
            cohort=self.cohort.fingerprint,
            inputs=self.inputs.of(step.kind.modalities_read(params)),
            deps=deps,
            files=param_files(step.params, self.pipeline.base),
        )
        self.keys[step.name] = key
        return key

    def folder(self, name: str) -> Path:
        return self.run_dir / "steps" / name

    def resolve(self, ref: Ref) -> str:
        if ref.root == "run":
            return str(self.run_dir)
        if ref.root == "cohort":
            return str(self.cohort.path)
        assert ref.step is not None
        folder = self.folder(ref.step)
        if ref.output is None:
            return str(folder)
        relative = self.pipeline.steps[ref.step].kind.outputs[ref.output]
        return str(folder if relative == "." else folder / relative)

    def is_cached(self, name: str, key: str) -> dict[str, Any] | None:
        state = _read_json(self.folder(name) / STATE_FILE)
        if name in self.forced or state.get("status") != "ok" or state.get("key") != key:
            return None
        if not all(self.absolute(p).exists() for p in (state.get("outputs") or {}).values()):
            return None
        return state

    def relative(self, path: Path) -> str:
        """A path inside the run folder relative to it (so a run folder can move)."""
        try:
            return str(Path(path).absolute().relative_to(self.run_dir))
        except ValueError:
            return str(path)

    def absolute(self, text: str) -> Path:
        return self.run_dir / text

    def blocked_by(self, step: PipelineStep) -> list[str]:
        if step.soft:
            return []
        return [d for d in step.deps if self.records[d].status in ("failed", "skipped")]

    # ---- execution --------------------------------------------------------------------------

    def execute(self, step: PipelineStep, key: str) -> StepRecord:
        record = self.records[step.name]
        folder = self.folder(step.name)
        started = folder / STARTED_FILE
        resume = step.name not in self.forced and _read_json(started).get("key") == key
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STATE_FILE).unlink(missing_ok=True)  # a killed step leaves no step.json
        atomic_write_text(started, json.dumps({"key": key, "started": _now()}, indent=2))
        log.info(
            "step %s (%s) %s, key %s",
            step.name,
            step.kind.name,
            "resumes" if resume else "starts",
            key[:12],
        )
        begin = time.perf_counter()
        result, error = StepResult(), None
        try:
            params = step.kind.params.model_validate(substitute(step.params, self.resolve))
            ctx = StepContext(
                name=step.name,
                out=folder,
                run_dir=self.run_dir,
                cohort_path=self.cohort.path,
                schema_path=self.cohort.schema,
                data_root=self.cohort.data_root,
                scheduler=self.scheduler,
                dask_workers=self.dask_workers,
                progress=self.progress,
                explicit_root=self.cohort.explicit_root,
                pseudonymise=self.pseudonymiser.salt,
            )
            result = step.kind.run(params, ctx)
        except ValidationError as exc:
            error = f"invalid params after resolving references: {validation_message(exc)}"
        except BiommError as exc:
            error = str(exc)
        except Exception as exc:  # a bug in a step: the pipeline goes on with the others
            log.exception("step %s raised", step.name)
            error = f"{type(exc).__name__}: {exc}"
        record.seconds = time.perf_counter() - begin
        record.key = key
        record.status = "failed" if error else "ran"
        record.error = self.pseudonymiser.text(error)
        record.items_ok, record.items_failed = result.done, result.failed
        record.metrics = _jsonable(result.metrics)
        failures = result.failures if result.failures and result.failures.is_file() else None
        record.failures = str(failures) if failures else None
        record.outputs = {
            name: str(folder if rel == "." else folder / rel)
            for name, rel in step.kind.outputs.items()
            if (folder / rel).exists()
        }
        for note in result.notes:
            log.info("step %s: %s", step.name, self.pseudonymiser.text(note))
        state = {
            "name": step.name,
            "uses": step.kind.name,
            "key": key,
            "status": "failed" if error else "ok",
            "error": record.error,
            "outputs": {k: self.relative(Path(v)) for k, v in record.outputs.items()},
            "counts": {"done": result.done, "failed": result.failed},
            "metrics": record.metrics,
            "failures": self.relative(failures) if failures else None,
            "seconds": round(record.seconds, 3),
            "finished": _now(),
            "biomm_version": __version__,
        }
        atomic_write_text(folder / STATE_FILE, json.dumps(state, indent=2, default=str))
        return record

    def cached(self, step: PipelineStep, key: str, state: dict[str, Any]) -> StepRecord:
        record = self.records[step.name]
        counts = state.get("counts") or {}
        record.status, record.key = "cached", key
        record.seconds = float(state.get("seconds") or 0.0)
        record.items_ok, record.items_failed = counts.get("done"), counts.get("failed")
        record.outputs = {k: str(self.absolute(v)) for k, v in (state.get("outputs") or {}).items()}
        record.metrics = state.get("metrics") or {}
        record.failures = str(self.absolute(state["failures"])) if state.get("failures") else None
        return record

    # ---- run files --------------------------------------------------------------------------

    def summary(self, seconds: float) -> RunSummary:
        return RunSummary(
            self.pipeline.name,
            self.run_dir,
            list(self.records.values()),
            seconds,
            self.pseudonymiser.active,
            self.run_dir / "failures.csv",
        )

    def write_summary(self, seconds: float) -> RunSummary:
        summary = self.summary(seconds)
        atomic_write_text(
            self.run_dir / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str)
        )
        return summary

    def write_failures(self) -> Path:
        rows = []
        for record in self.records.values():
            if record.status not in ("ran", "cached") or not record.failures:
                continue
            try:
                table = pd.read_csv(record.failures, dtype=str, keep_default_na=False)
            except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
                continue
            for item in table.to_dict("records"):
                ident = next(
                    (
                        item[c]
                        for c in ("record_id", "name", "file", "slide", "source")
                        if item.get(c)
                    ),
                    "",
                )
                rows.append(
                    {
                        "step": record.step,
                        "item": self.pseudonymiser.text(ident),
                        "patient_id": self.pseudonymiser.id(item.get("patient_id") or None),
                        "reason": self.pseudonymiser.text(item.get("reason") or item.get("error")),
                    }
                )
        path = self.run_dir / "failures.csv"
        atomic_write_table(pd.DataFrame(rows, columns=FAILURE_COLUMNS), path)
        return path

    def write_resolved(self) -> None:
        p = self.pipeline
        data = {
            "name": p.name,
            "description": p.description,
            "source": str(p.source) if p.source else None,
            "cohort": str(p.cohort) if p.cohort else None,
            "schema": str(p.schema) if p.schema else None,
            "data_root": str(p.data_root) if p.data_root else None,
            "split": p.split.model_dump() if p.split else None,
            "overrides": list(p.overrides),
            "biomm_version": __version__,
            "steps": {
                name: {
                    "uses": step.kind.name,
                    "with": _jsonable(step.params),
                    "needs": step.deps,
                    "key": self.keys.get(name),
                }
                for name, step in p.steps.items()
            },
        }
        atomic_write_text(
            self.run_dir / "pipeline.resolved.yaml", yaml.safe_dump(data, sort_keys=False)
        )


def _line(index: int, total: int, record: StepRecord) -> str:
    items = ""
    if record.items_ok is not None or record.items_failed is not None:
        items = f"; {record.items_ok or 0} ok, {record.items_failed or 0} failed"
    head = f"[{index}/{total}] {record.step}"
    if record.status == "cached":
        return f"{head}: cached ({record.seconds:.1f} s when it ran{items})"
    if record.status == "skipped":
        return f"{head}: skipped ({record.error})"
    if record.status == "failed":
        return f"{head}: FAILED after {record.seconds:.1f} s: {record.error}"
    return f"{head}: done in {record.seconds:.1f} s{items}"


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Limit torch and OpenMP/BLAS threads (inherited by worker processes) during a run."""
    if threads is None:
        yield
        return
    import torch

    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved_env = {name: os.environ.get(name) for name in names}
    saved = torch.get_num_threads()
    os.environ.update(dict.fromkeys(names, str(threads)))
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_pipeline(
    pipeline: Pipeline,
    out: str | PathLike[str] | None = None,
    *,
    force: Sequence[str] = (),
    scheduler: str = "none",
    dask_workers: int = 2,
    progress: bool = True,
    pseudonymise: str | None = None,
    echo: Callable[[str], None] = print,
    threads: int | None = None,
) -> RunSummary:
    """Run every step in order; skip cached ones; contain failures; write the run folder.

    Args:
        pipeline: A validated pipeline (:func:`~biomm.pipeline.spec.load_pipeline`).
        out: Run folder (default ``runs/NAME``).
        force: Steps to rerun even when cached (their dependents rerun too).
        scheduler: ``none``, ``local`` (a Dask LocalCluster) or a scheduler address, for the
            steps that scale out (``wsi.embed``).
        dask_workers: Worker processes of ``local``.
        progress: Show the underlying jobs' progress bars.
        pseudonymise: Salt: ids in the log, summary and failures table become salted hashes.
        echo: Receives one line per step start and end.
        threads: CPU threads per process for torch and the numeric libraries (also for the
            worker processes started during the run); None leaves the defaults. On a busy
            machine 1 is often several times faster than the default.

    Returns:
        The :class:`RunSummary` (also ``RUN/summary.json``).

    Raises:
        ConfigError: On an unknown ``force`` step or scheduler; the cohort's own errors
            (ManifestError, SchemaError, SplitError) when it cannot be read or split.
    """
    run_dir = (Path(out) if out is not None else Path("runs") / pipeline.name).absolute()
    with output_lock(run_dir):  # steps lock their own sub-folders (re-entrant in-process)
        return _run_locked(
            pipeline,
            run_dir,
            force,
            scheduler,
            dask_workers,
            progress,
            pseudonymise,
            echo,
            threads,
        )


def _run_locked(
    pipeline: Pipeline,
    run_dir: Path,
    force: Sequence[str],
    scheduler: str,
    dask_workers: int,
    progress: bool,
    pseudonymise: str | None,
    echo: Callable[[str], None],
    threads: int | None,
) -> RunSummary:
    from biomm.info import collect_info

    run = _Run(
        pipeline,
        run_dir,
        force=force,
        scheduler=scheduler,
        dask_workers=dask_workers,
        progress=progress,
        pseudonymise=pseudonymise,
        echo=echo,
    )
    begin = time.perf_counter()
    total = len(pipeline.steps)
    with _threads(threads), RunLog(run_dir / "logs" / "pipeline.log", run.pseudonymiser):
        log.info("pipeline %s -> %s (biomm %s)", pipeline.name, run_dir, __version__)
        atomic_write_text(
            run_dir / "environment.json", json.dumps(collect_info(), indent=2, default=str)
        )
        current: StepRecord | None = None
        try:
            for index, (name, step) in enumerate(pipeline.steps.items(), start=1):
                current = run.records[name]
                key = run.key_of(step)
                blocked = run.blocked_by(step)
                if blocked:
                    current.status, current.key = "skipped", key
                    current.error = f"needs {', '.join(blocked)}, which did not succeed"
                elif (state := run.is_cached(name, key)) is not None:
                    run.cached(step, key, state)
                else:
                    echo(f"[{index}/{total}] {name} ({step.kind.name}) ...")
                    run.execute(step, key)
                line = _line(index, total, current)
                echo(line)
                (log.warning if current.status in ("failed", "skipped") else log.info)(line)
                run.write_summary(time.perf_counter() - begin)
            current = None
        finally:
            if current is not None:  # interrupted inside a step
                current.status = "interrupted"
            run.write_failures()
            run.write_resolved()
            summary = run.write_summary(time.perf_counter() - begin)
            log.info(
                "finished in %.1f s: %s failed, %s skipped, %d item failure(s)",
                summary.seconds,
                summary.failed_steps or "none",
                summary.skipped_steps or "none",
                summary.items_failed,
            )
    return summary


def plan_pipeline(
    pipeline: Pipeline,
    out: str | PathLike[str] | None = None,
    *,
    force: Sequence[str] = (),
    pseudonymise: str | None = None,
) -> list[dict[str, Any]]:
    """What :func:`run_pipeline` would do, without running or writing anything.

    Each row: ``step``, ``uses``, ``needs``, ``action`` (``run``, ``cached``, ``rerun``:
    outputs from other settings or inputs, ``forced``) and ``key``. ``pseudonymise`` is the
    salt the run would use (it enters the keys of steps that show ids, e.g. a report).
    """
    run_dir = (Path(out) if out is not None else Path("runs") / pipeline.name).absolute()
    run = _Run(
        pipeline,
        run_dir,
        force=force,
        scheduler="none",
        dask_workers=1,
        progress=False,
        pseudonymise=pseudonymise,
        echo=lambda line: None,
        write=False,
    )
    rows = []
    for name, step in pipeline.steps.items():
        key = run.key_of(step)
        state = _read_json(run.folder(name) / STATE_FILE)
        if name in run.forced:
            action = "forced"
        elif run.is_cached(name, key) is not None:
            action = "cached"
        else:
            action = "rerun" if state else "run"
        run.records[name].status = "cached" if action == "cached" else "ran"
        rows.append(
            {"step": name, "uses": step.kind.name, "needs": step.deps, "action": action, "key": key}
        )
    return rows


__all__ = [
    "RunSummary",
    "StepRecord",
    "check_scheduler",
    "plan_pipeline",
    "prepare_cohort",
    "run_pipeline",
]
