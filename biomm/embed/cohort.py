"""Embed every fundus photo, OCT volume or report of a cohort: resumable, failures listed.

The output folder holds:

* ``embeddings.h5`` — ``embeddings`` (N × D float32), ``record_id``, ``patient_id``; attributes:
  the modality, the embedder's provenance (encoder, weights hash, preprocessing) and the biomm
  version. ``biomm train`` reads it as a modality's embedding table (a patient's items are
  averaged).
* ``items.csv`` — per item: record id, patient id, source (a file, or ``inline`` for report
  text, which is never copied into logs or tables) and the embedder's extra columns (e.g.
  fundus quality, report section used).
* ``failures.csv`` — per unreadable item: record id, patient id, source, error class, reason.
* ``parts/`` — finished chunks (written atomically). A rerun skips what is done, so a killed
  run resumes where it stopped; previous failures are retried only with ``retry_failed``.
  A rerun with different settings into the same folder is refused (``overwrite`` starts over).

Examples:
    >>> import numpy as np, pandas as pd, tempfile, pathlib
    >>> from biomm.cohort import Cohort
    >>> class Length:  # a toy embedder: the text length
    ...     modality, embed_dim = "report", 1
    ...     def load(self, ref): return ref
    ...     def embed(self, items): return np.array([[len(t)] for t in items], np.float32)
    ...     def item_info(self, item): return {}
    ...     def describe(self): return {"encoder": "length"}
    >>> cohort = Cohort(pd.DataFrame({"patient_id": ["a", "b", "c"],
    ...                               "report": ["Benign.", None, "Carcinoma."]}))
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> result = embed_cohort_items(cohort, "report", Length(), out, progress=False)
    >>> result.embeddings[:, 0].tolist(), result.record_ids
    ([7.0, 10.0], ['a', 'c'])
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from biomm._version import __version__
from biomm.errors import BiommError, ConfigError, InputError
from biomm.utils.atomic import (
    atomic_path,
    atomic_write_table,
    atomic_write_text,
    remove_stale_temporaries,
)

EMBEDDINGS_FILE = "embeddings.h5"
ITEMS_FILE = "items.csv"
FAILURES_FILE = "failures.csv"
RUN_FILE = "run.json"
PARTS_DIR = "parts"
FAILURE_COLUMNS = ["record_id", "patient_id", "source", "error", "reason"]


@runtime_checkable
class ItemEmbedder(Protocol):
    """What the cohort runner needs from a modality's embedder.

    ``load`` reads and preprocesses one item (raising a :class:`~biomm.errors.BiommError`
    subclass that names the file on bad input; it may run in worker threads), ``embed`` turns
    a list of loaded items into ``[B, D]`` float32, ``item_info`` gives per-item columns for
    ``items.csv`` and ``describe`` the provenance recorded with the embeddings.
    """

    modality: str
    embed_dim: int

    def load(self, ref: str) -> Any:
        """Read and preprocess one item."""

    def embed(self, items: list[Any]) -> np.ndarray:
        """Loaded items → ``[B, D]`` float32."""

    def item_info(self, item: Any) -> dict[str, Any]:
        """Extra per-item columns for ``items.csv``."""

    def describe(self) -> dict[str, Any]:
        """Provenance: encoder, weights hash, preprocessing settings."""


@dataclass(frozen=True)
class CohortItem:
    """One item to embed: its id, patient, the reference to load and how to show it."""

    record_id: str
    patient_id: str
    ref: str
    source: str


@dataclass
class EmbedResult:
    """What :func:`embed_cohort_items` produced (also written to the output folder)."""

    record_ids: list[str]
    patient_ids: list[str]
    embeddings: np.ndarray
    items: pd.DataFrame
    failures: pd.DataFrame
    out: Path
    skipped: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def cohort_splits(cohort: Any) -> dict[str, str]:
    """Patient id → normalised split (``train``/``val``/``test``) from the cohort's split column.

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "split": ["Train", "valid"]}))
        >>> cohort_splits(c)
        {'a': 'train', 'b': 'val'}
    """
    from biomm.cohort.validate import normalise_split

    schema, table = cohort.schema, cohort.table
    if not schema.split or schema.split not in table:
        return {}
    out = {}
    for patient, raw in zip(table[schema.patient_id], table[schema.split], strict=True):
        if isinstance(raw, str) and raw.strip():
            out[str(patient)] = normalise_split(raw) or raw
    return out


def write_embedding_table(
    path: Path,
    record_ids: Sequence[str],
    patient_ids: Sequence[str],
    values: np.ndarray,
    meta: dict[str, Any],
) -> Path:
    """Write ``embeddings`` + ``record_id`` + ``patient_id`` (attributes: ``meta``) atomically.

    The layout ``biomm train`` reads as a modality table; non-text attributes are stored as
    JSON.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "e.h5"
        >>> _ = write_embedding_table(p, ["r1"], ["p1"], np.ones((1, 2)), {"modality": "x"})
        >>> from biomm.train.config import read_embedding_table
        >>> read_embedding_table(p)[0]
        ['p1']
    """
    import h5py

    strings = h5py.string_dtype()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("embeddings", data=np.asarray(values, np.float32))
        h5.create_dataset("record_id", data=list(record_ids), dtype=strings)
        h5.create_dataset("patient_id", data=list(patient_ids), dtype=strings)
        for key, value in meta.items():
            h5.attrs[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return path


def cohort_items(
    cohort: Any, modality: str, *, split: str | None = None
) -> tuple[list[CohortItem], dict[str, str]]:
    """The items of ``modality`` in a cohort, one per reference, with unique record ids.

    Record ids are the sample id (or patient id), with ``#2``, ``#3`` … for further
    references of the same row (``left.png;right.png``). Report cells that hold text are
    loaded as text (source ``inline``); report files and images resolve against the cohort's
    data root.

    Returns:
        The items, and the cohort's split of each patient (empty when it has no split column).

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"],
        ...                          "fundus": ["a_l.png;a_r.png", None]}))
        >>> items, _ = cohort_items(c, "fundus")
        >>> [(i.record_id, i.source) for i in items]
        [('a', 'a_l.png'), ('a#2', 'a_r.png')]
    """
    table = cohort.table
    schema = cohort.schema
    if modality not in schema.modalities:
        raise ConfigError(
            f"the cohort declares no {modality!r} modality (it has {list(schema.modalities)}); "
            f"add `modalities: {{{modality}: {{column: ...}}}}` to the schema",
            path=getattr(cohort, "source", None),
        )
    splits = cohort_splits(cohort)
    items: list[CohortItem] = []
    seen: set[str] = set()
    for row in range(len(table)):
        patient = str(table.at[row, schema.patient_id])
        if split is not None and splits.get(patient) != split:
            continue
        base = (
            str(table.at[row, schema.sample_id])
            if schema.sample_id and schema.sample_id in table
            else patient
        )
        for k, ref in enumerate(cohort.references(modality, row)):
            record = base if k == 0 else f"{base}#{k + 1}"
            n = 1
            while record in seen:
                n += 1
                record = f"{base}#{k + 1}.{n}"
            seen.add(record)
            if modality == "report" and not cohort.is_report_file(ref):
                items.append(CohortItem(record, patient, ref, "inline"))
            else:
                path = str(cohort.resolve(ref))
                items.append(CohortItem(record, patient, path, ref))
    return items, splits


def _fingerprint(modality: str, description: dict[str, Any]) -> str:
    text = json.dumps({"modality": modality, **description}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _chunks(items: Sequence[CohortItem], size: int) -> Iterator[Sequence[CohortItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_parts(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    vectors: dict[str, np.ndarray] = {}
    infos: dict[str, dict[str, Any]] = {}
    for part in sorted(folder.glob("part-*.npz")):
        try:
            with np.load(part, allow_pickle=False) as data:
                ids = [str(v) for v in data["record_id"]]
                values = np.asarray(data["embeddings"], np.float32)
                info = json.loads(str(data["info"]))
        except Exception:  # a part is only ever renamed into place complete; skip anything odd
            part.unlink(missing_ok=True)
            continue
        for k, rid in enumerate(ids):
            vectors[rid] = values[k]
            infos[rid] = info[k]
    return vectors, infos


def _prepare_out(out: Path, modality: str, fingerprint: str, overwrite: bool) -> None:
    run_file = out / RUN_FILE
    if overwrite and out.exists():
        for name in (PARTS_DIR,):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (EMBEDDINGS_FILE, ITEMS_FILE, FAILURES_FILE, RUN_FILE):
            (out / name).unlink(missing_ok=True)
    if run_file.is_file():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {}
        if previous.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"this folder holds {previous.get('modality', 'other')} embeddings made with "
                "different settings; use another --out, or --overwrite to start over",
                path=out,
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    remove_stale_temporaries(out)
    remove_stale_temporaries(out / PARTS_DIR)


def embed_cohort_items(
    cohort: Any,
    modality: str,
    embedder: ItemEmbedder,
    out: str | PathLike[str],
    *,
    split: str | None = None,
    batch_size: int = 32,
    workers: int = 1,
    retry_failed: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> EmbedResult:
    """Embed every ``modality`` item of ``cohort`` into ``out`` (see the module docs).

    Args:
        cohort: A :class:`~biomm.cohort.Cohort`.
        modality: ``fundus``, ``oct``, ``report`` (any modality column the cohort declares).
        embedder: The modality's :class:`ItemEmbedder`.
        out: Output folder.
        split: Only patients of this split.
        batch_size: Items per forward pass (and per checkpointed chunk).
        workers: Threads reading and preprocessing items.
        retry_failed: Retry the items listed in an earlier run's ``failures.csv``.
        overwrite: Discard what ``out`` holds and start over.
        progress: Show a progress bar.
        log: Called with one line per failed item (default: nothing).

    Raises:
        ConfigError: When the cohort lacks the modality or ``out`` holds other settings.
    """
    from biomm.utils.lock import output_lock

    out = Path(out)
    items, _ = cohort_items(cohort, modality, split=split)
    description = embedder.describe()
    fingerprint = _fingerprint(modality, description)
    with output_lock(out):  # one run per folder; a killed run's lock dies with it
        return _embed_items(
            out,
            modality,
            embedder,
            items,
            description,
            fingerprint,
            batch_size,
            workers,
            retry_failed,
            overwrite,
            progress,
            log,
        )


def _embed_items(
    out: Path,
    modality: str,
    embedder: ItemEmbedder,
    items: list[CohortItem],
    description: dict[str, Any],
    fingerprint: str,
    batch_size: int,
    workers: int,
    retry_failed: bool,
    overwrite: bool,
    progress: bool,
    log: Callable[[str], None] | None,
) -> EmbedResult:
    from tqdm.auto import tqdm

    _prepare_out(out, modality, fingerprint, overwrite)
    atomic_write_text(
        out / RUN_FILE,
        json.dumps(
            {
                "modality": modality,
                "fingerprint": fingerprint,
                "embedder": description,
                "biomm_version": __version__,
            },
            indent=2,
            default=str,
        ),
    )
    parts = out / PARTS_DIR
    done, infos = _read_parts(parts)
    failures_path = out / FAILURES_FILE
    failures = (
        pd.read_csv(failures_path, dtype=str, keep_default_na=False)
        if failures_path.is_file() and not retry_failed
        else pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    failed_before = set(failures["record_id"])
    todo = [i for i in items if i.record_id not in done and i.record_id not in failed_before]
    skipped = len(items) - len(todo)
    failure_rows = failures.to_dict("records")
    next_part = 1 + max((int(p.stem.split("-")[1]) for p in parts.glob("part-*.npz")), default=0)
    bar = tqdm(total=len(todo), desc=f"embed {modality}", unit="item", disable=not progress)

    def load(item: CohortItem) -> tuple[CohortItem, Any, BaseException | None]:
        try:
            return item, embedder.load(item.ref), None
        except BiommError as exc:
            return item, None, exc
        except Exception as exc:  # a reader bug must not stop the cohort: record it
            return item, None, exc

    def record(item: CohortItem, exc: BaseException) -> None:
        reason = exc.reason if isinstance(exc, BiommError) else f"{type(exc).__name__}: {exc}"
        if item.source == "inline":  # never copy report text into tables or logs
            if isinstance(exc, BiommError):  # biomm's messages never quote the text itself
                reason = reason.replace(item.ref, "<report text>")
            else:  # a library's message might quote any part of it: keep only its type
                reason = f"{type(exc).__name__} on the inline report text (message withheld)"
        failure_rows.append(
            {
                "record_id": item.record_id,
                "patient_id": item.patient_id,
                "source": item.source,
                "error": type(exc).__name__,
                "reason": reason,
            }
        )
        if log is not None:
            log(f"{item.record_id} ({item.source}): {type(exc).__name__}: {reason}")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for chunk in _chunks(todo, max(1, batch_size)):
            loaded = list(pool.map(load, chunk))
            good = [(i, x) for i, x, e in loaded if e is None]
            for item, _, exc in loaded:
                if exc is not None:
                    record(item, exc)
            if good:
                try:
                    vectors = np.asarray(embedder.embed([x for _, x in good]), np.float32)
                    if vectors.shape != (len(good), embedder.embed_dim):
                        raise InputError(
                            f"embedder returned {vectors.shape}, expected "
                            f"{(len(good), embedder.embed_dim)}"
                        )
                    if not np.isfinite(vectors).all():
                        raise InputError("embedder returned non-finite values")
                except BiommError as exc:  # one bad batch: record its items, keep going
                    for item, _ in good:
                        record(item, exc)
                    good = []
            if good:
                chunk_infos = [_jsonable(embedder.item_info(x)) for _, x in good]
                part = parts / f"part-{next_part:06d}.npz"
                with atomic_path(part) as tmp, open(tmp, "wb") as fh:
                    np.savez(
                        fh,
                        embeddings=vectors,
                        record_id=np.array([i.record_id for i, _ in good]),
                        info=np.array(json.dumps(chunk_infos)),
                    )
                next_part += 1
                for k, (item, _) in enumerate(good):
                    done[item.record_id], infos[item.record_id] = vectors[k], chunk_infos[k]
            atomic_write_table(pd.DataFrame(failure_rows, columns=FAILURE_COLUMNS), failures_path)
            bar.update(len(chunk))
    bar.close()
    atomic_write_table(pd.DataFrame(failure_rows, columns=FAILURE_COLUMNS), failures_path)
    return _assemble(out, modality, items, done, infos, failure_rows, description, skipped)


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in info.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = json.dumps(value, default=str)
        out[key] = value
    return out


def _assemble(
    out: Path,
    modality: str,
    items: Sequence[CohortItem],
    done: dict[str, np.ndarray],
    infos: dict[str, dict[str, Any]],
    failure_rows: list[dict[str, Any]],
    description: dict[str, Any],
    skipped: int,
) -> EmbedResult:
    """Write ``embeddings.h5`` and ``items.csv`` in cohort order from the finished parts."""
    kept = [i for i in items if i.record_id in done]
    dim = next(iter(done.values())).shape[0] if done else 0
    matrix = (
        np.stack([done[i.record_id] for i in kept]).astype(np.float32)
        if kept
        else np.zeros((0, dim), np.float32)
    )
    meta = {"modality": modality, "embedder": description, "biomm_version": __version__}
    write_embedding_table(
        out / EMBEDDINGS_FILE,
        [i.record_id for i in kept],
        [i.patient_id for i in kept],
        matrix,
        meta,
    )
    table = pd.DataFrame(
        [
            {"record_id": i.record_id, "patient_id": i.patient_id, "source": i.source}
            | infos.get(i.record_id, {})
            for i in kept
        ],
        columns=None if kept else ["record_id", "patient_id", "source"],
    )
    atomic_write_table(table, out / ITEMS_FILE)
    return EmbedResult(
        record_ids=[i.record_id for i in kept],
        patient_ids=[i.patient_id for i in kept],
        embeddings=matrix,
        items=table,
        failures=pd.DataFrame(failure_rows, columns=FAILURE_COLUMNS),
        out=out,
        skipped=skipped,
        meta=meta,
    )


__all__ = [
    "CohortItem",
    "EmbedResult",
    "ItemEmbedder",
    "cohort_items",
    "cohort_splits",
    "embed_cohort_items",
    "write_embedding_table",
]
