"""Run a pretrained ECG–text model over a cohort: embeddings and zero-shot scores.

Records are read once into an array store with the checkpoint's own input profile (so a model
always sees the recipe it was trained with), then embedded in batches. Records that fail to
read are listed, never fatal.

Examples:
    >>> select_rows(["train", "test", "test"], "test").tolist()
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from biomm.errors import InputError


def select_rows(split_values: Sequence[Any] | None, split: str | None) -> np.ndarray:
    """Indices whose split equals ``split`` (all when ``split`` is None).

    Examples:
        >>> select_rows(None, None).tolist(), select_rows(["a"], None).tolist()
        ([], [0])
    """
    values = [] if split_values is None else [str(v).strip().lower() for v in split_values]
    if split is None:
        return np.arange(len(values))
    return np.flatnonzero(np.array(values, dtype=object) == split.strip().lower())


@torch.inference_mode()
def embed_rows(
    model: Any,
    store: Any,
    rows: np.ndarray,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Unit-norm ECG embeddings ``[len(rows), D]`` of converted store rows.

    Examples:
        >>> embed_rows.__name__  # see tests/ecg for a full run
        'embed_rows'
    """
    device = torch.device(device)
    model = model.to(device).eval()
    out = []
    for start in tqdm(range(0, len(rows), batch_size), desc="embed", disable=not progress):
        chunk = np.sort(rows[start : start + batch_size])
        order = np.argsort(np.argsort(rows[start : start + batch_size]))
        signal = torch.from_numpy(np.asarray(store.signals[chunk], dtype=np.float32))
        present = torch.from_numpy(np.asarray(store.present[chunk]))
        emb = model.encode_ecg(signal.to(device), present.to(device)).float().cpu().numpy()
        out.append(emb[order])
    dim = model.spec["proj_dim"]
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


@dataclass
class CohortEmbeddings:
    """Embeddings of a cohort's ECGs with their identities.

    Attributes:
        index: record_id, patient_id, manifest row, of the embedded records.
        embeddings: ``[N, D]`` unit-norm.
        failures: Records that could not be read (record_id, source, error).
    """

    index: pd.DataFrame
    embeddings: np.ndarray
    failures: list[dict[str, Any]] = field(default_factory=list)


def embed_cohort(
    model: Any,
    config: dict[str, Any],
    cohort: Any,
    store_dir: str | PathLike[str],
    *,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    workers: int = 1,
    progress: bool = True,
) -> CohortEmbeddings:
    """Convert (or reuse) the cohort's store with the model's profile and embed its records.

    Args:
        model: A :class:`~biomm.ecg.merl.MERLModel`.
        config: The checkpoint's config (its ``profile`` is used).
        cohort: A :class:`~biomm.cohort.Cohort` with an ``ecg`` column.
        store_dir: Where the array store lives (reused when it matches).
        split: Only rows of this split (``test``…) when the cohort has a split column.
        batch_size: Records per forward pass.
        device: Torch device for the model.
        workers: Processes converting records into the store.
        progress: Show progress bars.

    Raises:
        InputError: When the cohort has no ECG column or no record converts.
    """
    from biomm.ecg.store import ECGStore, cohort_sources, convert_ecgs

    if "ecg" not in cohort.modalities:
        raise InputError("the cohort has no 'ecg' column", path=cohort.source)
    sources = cohort_sources(cohort)
    if split is not None:
        split_col = cohort.schema.split
        if not split_col or split_col not in cohort.table:
            raise InputError(f"--split {split} given but the cohort has no split column")
        keep = set(select_rows(cohort.table[split_col].tolist(), split).tolist())
        sources = [s for s in sources if s.row in keep]
    if not sources:
        raise InputError("no ECG records to embed", path=cohort.source)
    summary = convert_ecgs(
        sources, store_dir, config["profile"], workers=workers, progress=progress
    )
    store = ECGStore(store_dir)
    rows = np.flatnonzero(store.ok)
    if not len(rows):
        raise InputError(f"no ECG could be read ({summary.failed} failures)", path=store_dir)
    embeddings = embed_rows(
        model, store, rows, batch_size=batch_size, device=device, progress=progress
    )
    index = store.index.loc[rows, ["record_id", "patient_id", "row"]].reset_index(drop=True)
    return CohortEmbeddings(index, embeddings, summary.failures)


def label_matrix(cohort: Any, rows: Sequence[int], columns: Sequence[str | None]) -> np.ndarray:
    """``[len(rows), C]`` labels from manifest columns (NaN where unknown or no column).

    Values are read as numbers; ``yes``/``true`` → 1 and ``no``/``false`` → 0.

    Examples:
        >>> from biomm.cohort import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "af": [1, None]}))
        >>> label_matrix(c, [0, 1], ["af", None]).tolist()
        [[1.0, nan], [nan, nan]]
    """
    table = cohort.table
    out = np.full((len(rows), len(columns)), np.nan)
    words = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}
    for k, col in enumerate(columns):
        if col is None:
            continue
        if col not in table:
            raise InputError(f"label column {col!r} is not in the manifest", path=cohort.source)
        values = table[col].iloc[list(rows)]
        mapped = values.map(lambda v: words.get(str(v).strip().lower(), v))
        out[:, k] = pd.to_numeric(mapped, errors="coerce").to_numpy(dtype=float)
    return out


def write_embeddings(
    result: CohortEmbeddings, path: str | PathLike[str], meta: dict[str, Any]
) -> Path:
    """Write embeddings as HDF5 (``embeddings``, ``record_id``, ``patient_id``; attrs = meta).

    Examples:
        >>> write_embeddings.__name__
        'write_embeddings'
    """
    import json

    import h5py

    from biomm.utils.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("embeddings", data=result.embeddings.astype(np.float32))
        strings = h5py.string_dtype()
        h5.create_dataset(
            "record_id", data=result.index["record_id"].astype(str).tolist(), dtype=strings
        )
        h5.create_dataset(
            "patient_id",
            data=result.index["patient_id"].fillna("").astype(str).tolist(),
            dtype=strings,
        )
        for key, value in meta.items():
            h5.attrs[key] = (
                value if isinstance(value, (int, float, str)) else json.dumps(value, default=str)
            )
    return path
