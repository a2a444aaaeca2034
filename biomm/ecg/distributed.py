"""Scale ``biomm ecg convert`` out over a Dask cluster: one task per chunk of records.

``scheduler="local"`` starts a ``LocalCluster`` of worker processes on this machine; an address
(``tcp://host:8786``) uses an existing cluster. Workers read and profile their records
(:func:`biomm.ecg.store.read_chunk`) and send the rows back; the driver writes them into the
memory-mapped store and records them with the store's crash-safe protocol (samples flushed,
then the log fsynced, then the status), so the store comes out byte-identical to a local run
and only the driver needs to see it. Workers need the ECG files (paths are made absolute).

A chunk whose task fails (a worker died, a record killed the process) is recorded as failed
for each of its records, with the reason; the run goes on. Reading ECGs is CPU work, so tasks
carry no GPU annotation. Requires the ``distributed`` extra.

Examples:
    >>> chunk_failures([(3, "/data/a.hea")], RuntimeError("worker lost"))[0]["error"]
    '/data/a.hea: the Dask task failed: RuntimeError: worker lost'
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from biomm.utils.dask import require_distributed

Payload = Sequence[tuple[int, str]]


def chunk_failures(payload: Payload, exc: BaseException) -> list[dict[str, Any]]:
    """One failed outcome per record of a chunk whose task failed as a whole.

    Examples:
        >>> [r["index"] for r in chunk_failures([(0, "a"), (1, "b")], OSError("x"))]
        [0, 1]
    """
    reason = f"the Dask task failed: {type(exc).__name__}: {exc}"
    return [{"index": k, "ok": False, "error": f"{path}: {reason}"} for k, path in payload]


def _window(client: Any) -> int:
    """Chunks in flight at once: two per worker thread (bounded memory on the workers)."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # an unusual scheduler: a safe default
        threads = 2
    return max(2, 2 * threads)


def convert_chunks(
    client: Any, payloads: Sequence[Payload], job: Mapping[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """Run :func:`~biomm.ecg.store.read_chunk` on the cluster; yield outcomes as they finish.

    At most a few chunks per worker thread are in flight, so the rows waiting for the driver
    stay bounded however large the cohort. Yields one list per chunk, in completion order.

    Args:
        client: A Dask client (:func:`biomm.utils.dask.dask_client`).
        payloads: Chunks of ``(row, path)`` pairs.
        job: The conversion's ``dtype``, ``profile`` (as data) and ``read_kwargs``.

    Examples:
        >>> convert_chunks.__name__  # tests/ecg/test_store_dask.py runs a cluster
        'convert_chunks'
    """
    from biomm.ecg.store import read_chunk

    distributed = require_distributed()
    pending = [[(k, os.path.abspath(path)) for k, path in p] for p in payloads]
    pending.reverse()  # pop() from the end submits in order
    job = dict(job)
    window = _window(client)
    running: dict[Any, Payload] = {}

    def submit() -> Any:
        payload = pending.pop()
        future = client.submit(read_chunk, payload, job, pure=False)
        running[future] = payload
        return future

    queue = distributed.as_completed([submit() for _ in range(min(window, len(pending)))])
    for future in queue:
        payload = running.pop(future)
        try:
            results = future.result()
        except Exception as exc:  # a worker died: the chunk's records failed, the run goes on
            results = chunk_failures(payload, exc)
        future.release()
        if pending:
            queue.add(submit())
        yield results
