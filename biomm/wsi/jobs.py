"""Shared machinery of per-slide cohort jobs: slide lists, output names, failures, summaries.

A job runs one function per slide; a slide that fails is recorded (slide, stage, reason) and
the job goes on. Outputs are written atomically, so a killed run leaves no partial file that
looks complete, and a rerun skips slides whose outputs exist.

Examples:
    >>> jobs = slide_jobs(["a/s1.svs", "b/s1.svs", "c/s2.tif"])
    >>> [j.name for j in jobs]
    ['s1', 's1-...', 's2']
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from biomm._version import __version__
from biomm.errors import BiommError
from biomm.utils.atomic import atomic_write_table, atomic_write_text


@dataclass(frozen=True)
class SlideJob:
    """One slide to process.

    Attributes:
        path: The slide file.
        name: Unique output name (file stem, disambiguated by a path hash when stems repeat).
        patient_id: Patient the slide belongs to, when it came from a manifest.
        mpp: Level-0 µm/px supplied by the user or manifest (overrides metadata).
    """

    path: Path
    name: str
    patient_id: str | None = None
    mpp: float | None = None


def slide_jobs(
    paths: list[str | PathLike[str]],
    *,
    patient_ids: list[str | None] | None = None,
    mpps: list[float | None] | None = None,
) -> list[SlideJob]:
    """Name the slides uniquely: the file stem, plus a short hash of the path when stems repeat.

    Examples:
        >>> slide_jobs(["x/a.svs"], patient_ids=["P1"], mpps=[0.25])[0].mpp
        0.25
    """
    stems: dict[str, int] = {}
    for p in paths:
        stems[_stem(Path(p))] = stems.get(_stem(Path(p)), 0) + 1
    seen: set[str] = set()
    jobs = []
    for k, p in enumerate(paths):
        path = Path(p)
        name = _stem(path)
        if stems[name] > 1 and name in seen:
            name = f"{name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        seen.add(name)
        jobs.append(
            SlideJob(
                path=path,
                name=name,
                patient_id=patient_ids[k] if patient_ids else None,
                mpp=mpps[k] if mpps else None,
            )
        )
    return jobs


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class JobLog:
    """Failures and counts of a cohort job, written as ``failures.csv`` and ``summary.json``.

    Attributes:
        job: Job name (``"wsi-tile"``, ``"wsi-embed"``).
        parameters: The job's parameters, recorded in the summary.
    """

    job: str
    parameters: dict[str, Any]
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def fail(self, job: SlideJob, stage: str, reason: str) -> None:
        """Record a failed slide.

        Examples:
            >>> log = JobLog("demo", {})
            >>> log.fail(SlideJob(Path("a.svs"), "a"), "open", "file not found")
            >>> log.failures[0]["stage"]
            'open'
        """
        self.failures.append(
            {"slide": str(job.path), "name": job.name, "stage": stage, "reason": reason}
        )

    def record(self, job: SlideJob, outcome: Outcome) -> None:
        """Record a slide's outcome (done with counters, or failed)."""
        if not outcome.ok:
            self.fail(job, outcome.stage, outcome.reason)
            return
        self.done.append(job.name)
        for key, value in outcome.counts.items():
            self.add(key, value)

    def add(self, key: str, value: float) -> None:
        """Add ``value`` to counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + value

    def write(self, out_dir: Path) -> dict[str, Any]:
        """Write ``failures.csv`` (always, possibly empty) and ``summary.json``.

        Returns:
            The summary dictionary.
        """
        elapsed = time.perf_counter() - self.started
        columns = ["slide", "name", "stage", "reason"]
        failures = sorted(self.failures, key=lambda f: f["name"])  # same order however run
        atomic_write_table(pd.DataFrame(failures, columns=columns), out_dir / "failures.csv")
        summary = {
            "job": self.job,
            "biomm_version": __version__,
            "parameters": self.parameters,
            "slides_done": len(self.done),
            "slides_skipped": len(self.skipped),
            "slides_failed": len(self.failures),
            "seconds": round(elapsed, 3),
            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.counts.items()},
        }
        if self.counts.get("tiles") and elapsed > 0:
            summary["tiles_per_second"] = round(self.counts["tiles"] / elapsed, 2)
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
        return summary


def job_parameters(obj: Any) -> dict[str, Any]:
    """A dataclass of parameters as a JSON-ready dictionary.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class P:
        ...     mpp: float = 0.5
        >>> job_parameters(P())
        {'mpp': 0.5}
    """
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(obj).items()}


class SlideFailure(Exception):
    """Raised by a job's per-slide function to fail the slide with a reason (not a crash)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Stage:
    """The step a slide is in, reported with a failure.

    One of ``open``, ``tissue``, ``tiling``, ``features``, ``write``.
    """

    name: str = "open"


def run_slide_jobs(
    jobs: list[SlideJob],
    log: JobLog,
    *,
    output_for: Callable[[SlideJob], Path],
    process: Callable[[SlideJob, Stage], dict[str, float]],
    overwrite: bool = False,
    progress: bool = False,
    desc: str = "slides",
) -> None:
    """Run ``process`` on every slide whose output does not exist yet (or all, ``overwrite``).

    A slide that raises — :class:`SlideFailure`, a biomm error or any other exception — is
    recorded in ``log`` with its stage and reason, and the next slide goes on. ``process``
    returns counters to add to the summary.

    Examples:
        >>> log = JobLog("demo", {})
        >>> def process(job, stage):
        ...     stage.name = "tiling"
        ...     if job.name == "b":
        ...         raise SlideFailure("no tissue")
        ...     return {"tiles": 3}
        >>> jobs = [SlideJob(Path("a.svs"), "a"), SlideJob(Path("b.svs"), "b")]
        >>> run_slide_jobs(jobs, log, output_for=lambda j: Path("/nonexistent") / j.name,
        ...                process=process)
        >>> log.done, log.counts, log.failures[0]["stage"]
        (['a'], {'tiles': 3}, 'tiling')
    """
    for job in tqdm(jobs, desc=desc, unit="slide", disable=not progress):
        if output_for(job).exists() and not overwrite:
            log.skipped.append(job.name)
            continue
        log.record(job, attempt(job, process))


@dataclass
class Outcome:
    """What happened to one slide: counters when done, else the failing stage and reason."""

    ok: bool
    counts: dict[str, float] = field(default_factory=dict)
    stage: str = ""
    reason: str = ""


def attempt(job: SlideJob, process: Callable[[SlideJob, Stage], dict[str, float]]) -> Outcome:
    """Run ``process`` on one slide, turning any exception into a failed :class:`Outcome`.

    Examples:
        >>> def boom(job, stage):
        ...     stage.name = "tissue"
        ...     raise ValueError("odd slide")
        >>> attempt(SlideJob(Path("a.svs"), "a"), boom)
        Outcome(ok=False, counts={}, stage='tissue', reason='ValueError: odd slide')
    """
    stage = Stage()
    try:
        return Outcome(ok=True, counts=process(job, stage))
    except SlideFailure as exc:
        return Outcome(ok=False, stage=stage.name, reason=exc.reason)
    except BiommError as exc:
        return Outcome(ok=False, stage=stage.name, reason=exc.reason)
    except Exception as exc:  # one odd slide must not stop the cohort
        return Outcome(ok=False, stage=stage.name, reason=f"{type(exc).__name__}: {exc}")
