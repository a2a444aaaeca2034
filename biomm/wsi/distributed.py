"""Scale ``biomm wsi embed`` out over a Dask cluster: one task per slide.

``scheduler="local"`` starts a ``LocalCluster`` of worker processes on this machine; an address
(``tcp://host:8786``) uses an existing cluster (e.g. one worker per GPU, started with
``dask worker --nworkers 1 --nthreads 1 --resources "GPU=1"`` per device: slide tasks are then
annotated with one ``GPU`` each, see :func:`task_resources`). Each worker builds the encoder
once and writes its slides' HDF5 files itself (atomically, into a shared output folder); the driver
collects outcomes and writes ``failures.csv`` and ``summary.json``. Requires the
``distributed`` extra.

Examples:
    >>> EncoderSpec("efficientnet_lite0", {"weights": None}).key()
    "efficientnet_lite0|{'weights': None}"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from biomm.encoders.base import Encoder
from biomm.utils.atomic import remove_stale_temporaries
from biomm.utils.dask import dask_client, require_distributed
from biomm.utils.lock import output_lock
from biomm.wsi.embed_job import EmbedParams, embed_one_slide, features_path
from biomm.wsi.jobs import JobLog, Outcome, SlideJob, attempt, job_parameters

_ENCODERS: dict[str, Encoder] = {}  # per worker process: built once, reused for every slide


@dataclass(frozen=True)
class EncoderSpec:
    """How a worker builds the encoder (name and keyword arguments of ``build_encoder``)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """A cache key for the built encoder."""
        return f"{self.name}|{dict(sorted(self.kwargs.items()))}"

    def build(self) -> Encoder:
        """Build (or reuse, within this process) the encoder."""
        from biomm.encoders import build_encoder

        if self.key() not in _ENCODERS:
            _ENCODERS[self.key()] = build_encoder(self.name, **self.kwargs)
        return _ENCODERS[self.key()]


def task_resources(client: Any) -> dict[str, float] | None:
    """Dask resource annotation of a slide task: one ``GPU`` when the workers declare GPUs.

    Workers started with ``dask worker --resources "GPU=1"`` (one per device) then run one
    slide per GPU at a time; on a cluster whose workers declare no GPU resource the tasks
    carry no annotation (an annotation no worker satisfies would never run).

    Examples:
        >>> class Fake:
        ...     def __init__(self, resources): self.r = resources
        ...     def scheduler_info(self):
        ...         return {"workers": {"w1": {"resources": self.r}}}
        >>> task_resources(Fake({"GPU": 1})), task_resources(Fake({}))
        ({'GPU': 1}, None)
    """
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # an old or unusual scheduler: no annotation
        return None
    has_gpu = any((w.get("resources") or {}).get("GPU", 0) > 0 for w in workers.values())
    return {"GPU": 1} if has_gpu else None


def _embed_task(job: SlideJob, out_dir: Path, spec: EncoderSpec, params: EmbedParams) -> Outcome:
    encoder = spec.build()
    return attempt(job, partial(embed_one_slide, out_dir=out_dir, encoder=encoder, params=params))


def embed_slides_distributed(
    jobs: list[SlideJob],
    out_dir: Path,
    spec: EncoderSpec,
    params: EmbedParams,
    *,
    scheduler: str = "local",
    n_workers: int = 2,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Embed every slide on a Dask cluster; same outputs as :func:`embed_slides`.

    Args:
        jobs: Slides.
        out_dir: Output folder, reachable by every worker.
        spec: Encoder each worker builds.
        params: Job parameters (``num_workers`` applies inside each Dask worker).
        scheduler: ``local`` or a scheduler address.
        n_workers: Worker processes of a local cluster.
        overwrite: Redo slides whose outputs exist.
        progress: Show a progress bar over slides.
    """
    distributed = require_distributed()
    out_dir = Path(out_dir)
    with output_lock(out_dir):  # the driver holds it; workers write atomically under it
        return _embed_distributed(
            distributed, jobs, out_dir, spec, params, scheduler, n_workers, overwrite, progress
        )


def _embed_distributed(
    distributed: Any,
    jobs: list[SlideJob],
    out_dir: Path,
    spec: EncoderSpec,
    params: EmbedParams,
    scheduler: str,
    n_workers: int,
    overwrite: bool,
    progress: bool,
) -> dict[str, Any]:
    remove_stale_temporaries(out_dir / "features")
    recorded = job_parameters(params) | {
        "encoder": spec.build().describe(),
        "scheduler": scheduler,
    }
    log = JobLog("wsi-embed", recorded)
    todo = []
    for job in jobs:
        if features_path(out_dir, job).exists() and not overwrite:
            log.skipped.append(job.name)
        else:
            todo.append(job)
    with dask_client(scheduler, n_workers) as client:
        resources = task_resources(client)
        log.parameters["task_resources"] = resources
        futures = {
            client.submit(
                _embed_task, job, out_dir, spec, params, pure=False, resources=resources
            ): job
            for job in todo
        }
        bar = tqdm(total=len(futures), desc="slides", unit="slide", disable=not progress)
        for future in distributed.as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a worker died: the slide is failed, the run goes on
                outcome = Outcome(ok=False, stage="worker", reason=f"{type(exc).__name__}: {exc}")
            log.record(job, outcome)
            bar.update(1)
        bar.close()
    return log.write(out_dir)
