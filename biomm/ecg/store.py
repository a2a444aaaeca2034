"""A memory-mappable ECG array store: every record read, profiled and written once.

Layout of a store folder::

    store.json     format, version, the input profile (as data) and its fingerprint, shape
    signals.npy    [N, leads, samples] float32/float16 (NumPy .npy, opened with mmap)
    present.npy    [N, leads] bool, False where a lead is absent
    status.npy     [N] int8: 0 pending, 1 done, 2 failed
    index.csv      record_id, patient_id, row, source, status, error, repair notes
    failures.csv   the failed records and the reason (file named)
    log.jsonl      append-only per-record outcomes (what a resumed run trusts)

Conversion is resumable (a killed run continues where it stopped: rows are marked done only
after their samples were flushed), parallel (worker processes write disjoint rows of the same
memory map, or Dask workers read and profile chunks of records and send the rows back to this
process, which writes them: :mod:`biomm.ecg.distributed`) and never stops on a bad record.
Training then reads thousands of ECGs per second straight from the page cache.

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from biomm.demo.synthetic import synthetic_ecg, write_wfdb
    >>> d = Path(tempfile.mkdtemp())
    >>> write_wfdb(d / "r1", synthetic_ecg(np.random.default_rng(0), 500, 10.0, 70.0, 0.0), 500, [])
    >>> summary = convert_ecgs([("r1", d / "r1")], d / "store", "merl", progress=False)
    >>> store = ECGStore(d / "store")
    >>> store.signals.shape, summary.done, summary.failed
    ((1, 12, 5000), 1, 0)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from biomm._version import __version__
from biomm.errors import BiommError, InputError
from biomm.utils.atomic import atomic_write_table, atomic_write_text, remove_stale_temporaries
from biomm.utils.lock import output_lock

FORMAT = "biomm-ecg-store"
VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class ECGSource:
    """One record to convert.

    Attributes:
        record_id: Unique id of the record in the store.
        path: The ECG file (anything :func:`biomm.io.ecg.read_ecg` reads).
        patient_id: The patient, when known.
        row: The manifest row, when it came from a cohort.
    """

    record_id: str
    path: Path
    patient_id: str | None = None
    row: int | None = None


@dataclass
class ConvertSummary:
    """What a conversion did.

    Attributes:
        out: The store folder.
        total: Records in the store.
        done: Records in the store that converted (in this or an earlier run).
        failed: Records in the store that failed (see ``failures.csv``).
        skipped: Records an earlier run already handled (done, or failed and not retried).
        attempted: Records this run read.
        stored_now: Records this run converted.
        seconds: Wall time of this run.
    """

    out: Path
    total: int
    done: int
    failed: int
    skipped: int
    seconds: float
    attempted: int = 0
    stored_now: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def _sources(records: Iterable[ECGSource | tuple[Any, ...]]) -> list[ECGSource]:
    out = []
    for item in records:
        if not isinstance(item, ECGSource):
            item = ECGSource(str(item[0]), Path(item[1]), *item[2:])
        out.append(item)
    ids = [s.record_id for s in out]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise InputError(f"record ids must be unique; repeated: {dup}")
    return out


def convert_ecgs(
    records: Iterable[ECGSource | tuple[Any, ...]],
    out: str | PathLike[str],
    profile: Any,
    *,
    workers: int = 1,
    dtype: str = "float32",
    read_kwargs: Mapping[str, Any] | None = None,
    resume: bool = True,
    retry_failed: bool = False,
    chunk_size: int = 64,
    progress: bool = True,
    scheduler: str = "none",
    dask_workers: int = 2,
) -> ConvertSummary:
    """Read, profile and store ECG records in a memory-mappable store.

    Args:
        records: :class:`ECGSource` items or ``(record_id, path[, patient_id, row])`` tuples.
        out: The store folder (created).
        profile: An input profile: a name (``merl``, ``ptbxl100``…), a file, a dict or an
            :class:`~biomm.ecg.profiles.ECGProfile`.
        workers: Worker processes (1 = in this process).
        dtype: ``float32`` or ``float16`` (half the disk and page cache).
        read_kwargs: Extra arguments of :func:`biomm.io.ecg.read_ecg` (e.g. ``fs`` for CSV).
        resume: Continue a store built with the same profile and records; False starts over.
        retry_failed: On resume, try failed records again.
        chunk_size: Records per work unit (and per durable checkpoint).
        progress: Show a progress bar.
        scheduler: ``none`` (``workers`` processes here), ``local`` (a Dask ``LocalCluster``
            of ``dask_workers`` processes) or a Dask scheduler address (``tcp://host:8786``):
            one task per chunk of records; the workers read and profile, this process writes
            the rows (the same bytes as without Dask). Workers must see the ECG files, not
            the store.
        dask_workers: Worker processes of ``scheduler="local"``.

    Raises:
        InputError: When ``out`` holds a different store and ``resume`` is set.
        MissingDependencyError: When a scheduler is given without the ``distributed`` extra.
    """
    from biomm.ecg.profiles import get_profile

    started = time.perf_counter()
    if dtype not in _DTYPES:
        raise InputError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    prof = get_profile(profile)
    if prof.duration_s is None:
        raise InputError(
            f"profile {prof.name!r} keeps full-length records; a store needs a fixed length: "
            "set duration_s"
        )
    sources = _sources(records)
    if scheduler != "none":
        from biomm.utils.dask import require_distributed

        require_distributed()  # before anything is written
    out = Path(out)
    with output_lock(out):  # one run per store; a killed run's lock dies with it
        return _convert(
            sources,
            out,
            prof,
            workers,
            dtype,
            read_kwargs,
            resume,
            retry_failed,
            chunk_size,
            progress,
            started,
            scheduler,
            dask_workers,
        )


def _convert(
    sources: list[ECGSource],
    out: Path,
    prof: Any,
    workers: int,
    dtype: str,
    read_kwargs: Mapping[str, Any] | None,
    resume: bool,
    retry_failed: bool,
    chunk_size: int,
    progress: bool,
    started: float,
    scheduler: str = "none",
    dask_workers: int = 2,
) -> ConvertSummary:
    remove_stale_temporaries(out)  # index/store files a killed run left half-written
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "biomm_version": __version__,
        "profile": prof.to_dict(),
        "fingerprint": prof.fingerprint(),
        "n_records": len(sources),
        "leads": list(prof.leads),
        "n_samples": prof.n_samples,
        "fs": prof.fs,
        "dtype": dtype,
    }
    index = pd.DataFrame(
        {
            "record_id": [s.record_id for s in sources],
            "patient_id": [s.patient_id for s in sources],
            "row": [s.row for s in sources],
            "source": [str(s.path) for s in sources],
        }
    )
    status = _prepare(out, meta, index, resume=resume)
    if retry_failed:
        status[status == FAILED] = PENDING
        status.flush()
    outcomes = _read_log(out)
    todo = [k for k in range(len(sources)) if status[k] == PENDING]
    skipped = len(sources) - len(todo)
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    job = {"dtype": dtype, "profile": prof.to_dict(), "read_kwargs": dict(read_kwargs or {})}
    bar = tqdm(total=len(todo), desc="ecg convert", unit="rec", disable=not progress)
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:

        def record(results: list[dict[str, Any]]) -> None:
            # The worker flushed the rows' samples; then the log gets their outcomes (notes,
            # errors), and only then does status count them done: a kill in between leaves
            # them pending (redone, the later log line wins), never done without an outcome.
            log.writelines(json.dumps(item) + "\n" for item in results)
            log.flush()
            os.fsync(log.fileno())
            for item in results:
                status[item["index"]] = DONE if item["ok"] else FAILED
                outcomes[item["index"]] = item
            status.flush()
            bar.update(len(results))

        payloads = [[(k, str(sources[k].path)) for k in chunk] for chunk in chunks]
        if scheduler != "none" and payloads:
            # Dask workers read and profile; this process writes and flushes the rows, then
            # records them as above: the crash-safe order stays in one process.
            from biomm.ecg.distributed import convert_chunks
            from biomm.utils.dask import dask_client

            signals = np.load(out / "signals.npy", mmap_mode="r+")
            present = np.load(out / "present.npy", mmap_mode="r+")
            with dask_client(scheduler, dask_workers) as client:
                for results in convert_chunks(client, payloads, job):
                    record(_write_rows(signals, present, results))
            del signals, present
        elif workers <= 1:
            for payload in payloads:
                record(_convert_chunk(str(out), payload, job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_convert_chunk, str(out), p, job) for p in payloads]
                for future in as_completed(futures):
                    record(future.result())
    bar.close()
    failures = _finish(out, index, status, outcomes)
    done = int((status == DONE).sum())
    return ConvertSummary(
        out=out,
        total=len(sources),
        done=done,
        failed=int((status == FAILED).sum()),
        skipped=skipped,
        seconds=time.perf_counter() - started,
        failures=failures,
        attempted=len(todo),
        stored_now=sum(1 for k in todo if outcomes.get(k, {}).get("ok")),
    )


def _prepare(out: Path, meta: dict[str, Any], index: pd.DataFrame, *, resume: bool) -> np.memmap:
    """Create the arrays, or check that the existing store is the same job; return status."""
    meta_path = out / "store.json"
    shape = (meta["n_records"], len(meta["leads"]), meta["n_samples"])
    if meta_path.is_file() and resume:
        old = json.loads(meta_path.read_text())
        same = (
            old.get("fingerprint") == meta["fingerprint"]
            and old.get("n_records") == meta["n_records"]
            and old.get("dtype") == meta["dtype"]
        )
        old_index = out / "index.csv"
        if same and old_index.is_file():
            previous = pd.read_csv(old_index, dtype={"record_id": str})
            same = previous["record_id"].astype(str).tolist() == index["record_id"].tolist()
        if not same:
            raise InputError(
                "the folder holds an ECG store of other records, another profile or another "
                f"dtype (it has {old.get('dtype')}, profile {old.get('profile', {}).get('name')}, "
                f"{old.get('n_records')} records): choose a new folder or start over "
                "(--overwrite; resume=False in Python)",
                path=out,
            )
        return np.load(out / "status.npy", mmap_mode="r+")
    # store.json goes first: a run killed while the arrays are recreated leaves no store
    for name in ("store.json", "signals.npy", "present.npy", "status.npy", "log.jsonl"):
        (out / name).unlink(missing_ok=True)
    for name in ("index.csv", "failures.csv"):
        (out / name).unlink(missing_ok=True)
    np.lib.format.open_memmap(out / "signals.npy", "w+", meta["dtype"], shape).flush()
    np.lib.format.open_memmap(out / "present.npy", "w+", bool, shape[:2]).flush()
    status = np.lib.format.open_memmap(out / "status.npy", "w+", np.int8, (shape[0],))
    status.flush()
    atomic_write_table(index, out / "index.csv")
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    return status


def _convert_chunk(
    out: str, payload: Sequence[tuple[int, str]], job: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Convert records into their rows of the store (runs in a worker process)."""
    results = read_chunk(payload, job)
    signals = np.load(Path(out) / "signals.npy", mmap_mode="r+")
    present = np.load(Path(out) / "present.npy", mmap_mode="r+")
    _write_rows(signals, present, results)
    del signals, present
    return results


def read_chunk(payload: Sequence[tuple[int, str]], job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Read and profile a chunk of records; one outcome per record, never raising for one.

    Args:
        payload: ``(row, path)`` pairs.
        job: ``dtype``, ``profile`` (as data) and ``read_kwargs`` of the conversion.

    Returns:
        ``{"index", "ok", "notes"}`` plus the row's ``signal`` (in ``dtype``) and ``present``
        arrays for a record that converted; ``{"index", "ok": False, "error"}`` (naming the
        file) for one that did not.

    Examples:
        >>> read_chunk([(0, "/no/such/record.hea")], {"dtype": "float32",
        ...     "profile": "merl", "read_kwargs": {}})[0]["ok"]
        False
    """
    from biomm.ecg.profiles import apply_profile, get_profile
    from biomm.io.ecg import read_ecg

    profile = get_profile(job["profile"])
    results: list[dict[str, Any]] = []
    for k, path in payload:
        try:
            ecg = read_ecg(path, **job["read_kwargs"])
            processed = apply_profile(ecg, profile)
            results.append(
                {
                    "index": k,
                    "ok": True,
                    "notes": _jsonable(processed.notes),
                    "signal": processed.signal.astype(job["dtype"]),
                    "present": np.asarray(processed.present, dtype=bool),
                }
            )
        except BiommError as exc:
            results.append({"index": k, "ok": False, "error": str(exc)})
        except Exception as exc:  # one bad record never stops a cohort run
            results.append(
                {"index": k, "ok": False, "error": f"{path}: {type(exc).__name__}: {exc}"}
            )
    return results


def _write_rows(
    signals: np.ndarray, present: np.ndarray, results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Write the converted rows into the memory maps and flush them; drop their arrays.

    Only after this returns may the outcomes be logged and the rows marked done.
    """
    for item in results:
        if item["ok"]:
            signals[item["index"]] = item.pop("signal")
            present[item["index"]] = item.pop("present")
    signals.flush()
    present.flush()
    return results


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_log(out: Path) -> dict[int, dict[str, Any]]:
    outcomes: dict[int, dict[str, Any]] = {}
    log = out / "log.jsonl"
    _cut_torn_line(log)
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash
                continue
            outcomes[int(item["index"])] = item
    return outcomes


def _cut_torn_line(log: Path) -> None:
    """Drop a last line a killed writer left unfinished, so appends start on a fresh line."""
    if not log.is_file():
        return
    data = log.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(log, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def _finish(
    out: Path, index: pd.DataFrame, status: np.ndarray, outcomes: Mapping[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    table = index.copy()
    table["status"] = pd.Series(status).map({PENDING: "pending", DONE: "done", FAILED: "failed"})
    table["error"] = [outcomes.get(k, {}).get("error") for k in range(len(table))]
    table["notes"] = [
        json.dumps(outcomes[k]["notes"]) if "notes" in outcomes.get(k, {}) else None
        for k in range(len(table))
    ]
    atomic_write_table(table, out / "index.csv")
    failures = table.loc[
        table["status"] == "failed", ["record_id", "patient_id", "source", "error"]
    ]
    atomic_write_table(failures, out / "failures.csv")
    return failures.to_dict("records")


class ECGStore:
    """A converted store, memory-mapped for reading.

    Attributes:
        signals: ``[N, leads, samples]`` memory map (read-only).
        present: ``[N, leads]`` bool.
        status: ``[N]`` int8 (1 = done).
        index: Record ids, patient ids, sources, status, errors.
        meta: ``store.json`` (the profile as data, its fingerprint, shape).

    Examples:
        >>> ECGStore.__name__  # see the module example for a full round trip
        'ECGStore'
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        meta_path = self.path / "store.json"
        if not meta_path.is_file():
            raise InputError("not an ECG store (no store.json): run `biomm ecg convert`", path=path)
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT:
            raise InputError(f"store.json is not a {FORMAT}", path=meta_path)
        self.signals = np.load(self.path / "signals.npy", mmap_mode="r")
        self.present = np.load(self.path / "present.npy", mmap_mode="r")
        self.status = np.load(self.path / "status.npy", mmap_mode="r")
        self.index = pd.read_csv(
            self.path / "index.csv", dtype={"record_id": str, "patient_id": str}
        )

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """Rows that converted (bool ``[N]``)."""
        return np.asarray(self.status) == DONE

    @property
    def leads(self) -> list[str]:
        """Lead names of the stored signals."""
        return list(self.meta["leads"])

    def rows(self, record_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of ``record_ids`` (KeyError naming the first unknown id).

        Examples:
            >>> ECGStore.rows.__name__
            'rows'
        """
        lookup = {rid: k for k, rid in enumerate(self.index["record_id"].astype(str))}
        rows = []
        for rid in record_ids:
            if str(rid) not in lookup:
                raise KeyError(f"record {rid!r} is not in the store {self.path}")
            rows.append(lookup[str(rid)])
        return np.asarray(rows, dtype=np.int64)

    def get(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """``(signal float32 [leads, samples], present bool [leads])`` of one row.

        Raises:
            InputError: When the row failed or is not converted yet.
        """
        if self.status[row] != DONE:
            reason = self.index.at[row, "error"] if "error" in self.index else None
            raise InputError(
                f"record {self.index.at[row, 'record_id']} is not available in the store"
                + (f": {reason}" if isinstance(reason, str) else ""),
                path=self.path,
            )
        return np.array(self.signals[row], dtype=np.float32), np.array(self.present[row])


def cohort_sources(cohort: Any, modality: str = "ecg") -> list[ECGSource]:
    """One :class:`ECGSource` per ECG reference of a :class:`~biomm.cohort.Cohort`.

    Record ids are the sample id (or patient id), with ``#2``, ``#3`` for further references
    in the same row. Rows without an ECG are skipped (a missing modality, not an error).

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "ecg": ["e/a.hea", None]}))
        >>> [(s.record_id, s.path.name) for s in cohort_sources(c)]
        [('a', 'a.hea')]
    """
    schema = cohort.schema
    id_col = schema.sample_id or schema.patient_id
    out = []
    for row in range(len(cohort)):
        refs = cohort.references(modality, row)
        base = str(cohort.table.at[row, id_col]) if id_col in cohort.table else str(row)
        pid = cohort.table.at[row, schema.patient_id] if schema.patient_id in cohort.table else None
        for k, ref in enumerate(refs):
            rid = base if k == 0 else f"{base}#{k + 1}"
            out.append(ECGSource(rid, cohort.resolve(ref), None if pid is None else str(pid), row))
    return out


def default_workers() -> int:
    """Worker processes to use by default: the CPUs available to this process, at most 8.

    Examples:
        >>> default_workers() >= 1
        True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))
