"""``biomm train --config FILE``: a cohort, per-modality embedding tables, a fusion and heads.

Example config::

    cohort: cohort.csv            # patient ids, targets and a split column (train/val/test)
    schema: schema.yaml           # optional; targets are declared there (or inferred)
    modalities:
      ecg: {embeddings: ecg_embeddings.h5}         # from `biomm ecg embed`
      wsi: {bags: wsi_features, encoder: {name: abmil}}  # `biomm wsi embed` output folder
    tasks:
      death: {head: survival_cox, target: os}      # a survival target → (time, event)
      high_risk: {head: binary, target: high_risk}
    fusion: {name: multimodn, out_dim: 64}
    training: {epochs: 100, batch_size: 64, lr: 0.001, modality_dropout: 0.2, patience: 10}
    out: run

A patient without a row in a modality's table lacks that modality; several rows of one
patient (several ECGs) are averaged. Embedding tables: HDF5 (``embeddings`` with
``patient_id`` or ``record_id``), NumPy ``.npz`` (same keys), CSV/TSV/Parquet (a
``patient_id`` column and numeric columns).

Examples:
    >>> cfg = TrainConfig.model_validate({"cohort": "c.csv", "out": "run",
    ...     "modalities": {"ecg": {"embeddings": "e.h5"}},
    ...     "tasks": {"y": {"head": "binary", "target": "y"}}})
    >>> cfg.fusion.name, cfg.training.epochs
    ('multimodn', 100)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from biomm.errors import InputError
from biomm.utils.config import read_yaml_mapping, resolve_paths, validate_config


class ModalitySource(BaseModel):
    """Where a modality comes from: an embedding table, tile bags, or an ECG array store.

    ``bags``: the folder of ``biomm wsi embed`` (its ``features/*.h5``, each with a
    ``patient_id`` attribute); a patient's slides are concatenated into one bag and an
    ``encoder`` (default ``abmil``) aggregates it inside the model, trained end to end.
    ``store``: a ``biomm ecg convert`` store; the ECG ``encoder`` (e.g. ``resnet1d18``) runs
    on the profiled signals, trained end to end (a patient's first converted record is used).
    ``tabular``: ``cohort`` (the schema's ``ehr`` columns) or an EHR table file (CSV/TSV/
    Parquet with ``id_column``); an :class:`~biomm.io.ehr.EHRPreprocessor` (``types``,
    ``preprocessor`` arguments) is fitted on the train split only and saved in the model spec,
    and a ``tabular_transformer`` (``encoder`` arguments) is trained end to end, with missing
    cells masked, never imputed.
    """

    model_config = ConfigDict(extra="forbid")
    embeddings: Path | None = None
    bags: Path | None = None
    store: Path | None = None
    tabular: str | None = None
    encoder: dict[str, Any] | None = None
    id_column: str = "patient_id"
    types: dict[str, str] = Field(default_factory=dict)
    preprocessor: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> ModalitySource:
        given = [
            k for k in ("embeddings", "bags", "store", "tabular") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'embeddings' (a table), 'bags' (a folder of tile "
                "features), 'store' (an ECG array store) or 'tabular' (`cohort` or an EHR "
                f"table file); got {given or 'none'}"
            )
        if (self.types or self.preprocessor) and self.tabular is None:
            raise ValueError("'types' and 'preprocessor' apply to a 'tabular' source only")
        return self


class TaskSpec(BaseModel):
    """A head and the cohort target it learns."""

    model_config = ConfigDict(extra="forbid")
    head: str
    target: str
    weight: float = 1.0
    kwargs: dict[str, Any] = Field(default_factory=dict)


class FusionSpec(BaseModel):
    """A registered fusion, its output size and arguments."""

    model_config = ConfigDict(extra="forbid")
    name: str = "multimodn"
    out_dim: int = Field(64, ge=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class TrainingSpec(BaseModel):
    """Optimisation settings (see :class:`biomm.train.trainer.TrainSettings`)."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(10, ge=0)
    modality_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"


class TrainConfig(BaseModel):
    """A multimodal training run."""

    model_config = ConfigDict(extra="forbid")
    cohort: Path
    schema_file: Path | None = Field(None, alias="schema")
    out: Path
    modalities: dict[str, ModalitySource]
    tasks: dict[str, TaskSpec]
    fusion: FusionSpec = Field(default_factory=FusionSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a YAML config; relative paths resolve against its folder.

        Raises:
            ConfigError: Naming the file and every invalid key.
        """
        path = Path(path)
        data = resolve_paths(read_yaml_mapping(path), ("cohort", "schema", "out"), path.parent)
        modalities = data.get("modalities")
        if isinstance(modalities, dict):
            data["modalities"] = {
                name: resolve_paths(source, _path_keys(source), path.parent)
                if isinstance(source, dict)
                else source
                for name, source in modalities.items()
            }
        return validate_config(cls, data, path)


def _path_keys(source: dict[str, Any]) -> tuple[str, ...]:
    """Keys of a modality source that hold paths (``tabular: cohort`` is not a path)."""
    keys = ("embeddings", "bags", "store")
    return (*keys, "tabular") if source.get("tabular") not in (None, "cohort") else keys


def read_embedding_table(
    path: str | os.PathLike[str], id_column: str = "patient_id"
) -> tuple[list[str], np.ndarray]:
    """Ids and ``[N, D]`` embeddings from HDF5, NPZ, CSV/TSV or Parquet.

    A folder written by ``biomm embed`` stands for its ``embeddings.h5``.

    Raises:
        InputError: Naming the file when it cannot be read or lacks ids/embeddings.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.csv"
        >>> _ = p.write_text("patient_id,f0,f1\\nP1,0.5,1.5\\n")
        >>> ids, x = read_embedding_table(p)
        >>> ids, x.tolist()
        (['P1'], [[0.5, 1.5]])
    """
    path = Path(path)
    if path.is_dir() and (path / "embeddings.h5").is_file():  # a `biomm embed` output folder
        path = path / "embeddings.h5"
    if not path.is_file():
        raise InputError("embedding table not found", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".h5", ".hdf5", ".npz"):
            if suffix == ".npz":
                store: Any = np.load(path, allow_pickle=False)
                keys = set(store.files)
            else:
                import h5py

                store = h5py.File(path, "r")
                keys = set(store.keys())
            try:
                key = (
                    id_column
                    if id_column in keys
                    else next((k for k in ("patient_id", "record_id") if k in keys), None)
                )
                if key is None or "embeddings" not in keys:
                    raise InputError(
                        f"needs 'embeddings' and '{id_column}' arrays (has {sorted(keys)})",
                        path=path,
                    )
                ids = [v.decode() if isinstance(v, bytes) else str(v) for v in store[key][:]]
                values = np.asarray(store["embeddings"][:], np.float32)
            finally:
                store.close()
        else:
            frame = (
                pd.read_parquet(path)
                if suffix == ".parquet"
                else pd.read_csv(
                    path, sep="\t" if suffix == ".tsv" else ",", dtype={id_column: str}
                )
            )
            if id_column not in frame:
                raise InputError(f"no {id_column!r} column", path=path)
            numeric = frame.drop(columns=[id_column]).select_dtypes("number")
            ids, values = frame[id_column].astype(str).tolist(), numeric.to_numpy(np.float32)
    except InputError:
        raise
    except Exception as exc:  # readers raise many types on corrupt files
        raise InputError(
            f"unreadable embedding table ({type(exc).__name__}: {exc})", path=path
        ) from None
    if values.ndim != 2 or len(ids) != len(values):
        raise InputError(f"expected one {values.shape} row per id ({len(ids)} ids)", path=path)
    return ids, values


def patient_embeddings(
    ids: list[str], values: np.ndarray, patients: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``[P, D]`` embeddings aligned to ``patients`` (mean over a patient's rows) + presence.

    Examples:
        >>> x, p = patient_embeddings(["a", "a", "c"], np.array([[1.0], [3.0], [5.0]]), ["a", "b"])
        >>> x.tolist(), p.tolist()
        ([[2.0], [0.0]], [True, False])
    """
    frame = pd.DataFrame(values).groupby(pd.Series(ids, name="id")).mean()
    aligned = frame.reindex(patients)
    present = aligned.notna().all(1).to_numpy()
    return np.nan_to_num(aligned.to_numpy(np.float32)), present


def build_datasets(cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train/val/test :class:`~biomm.train.trainer.EmbeddingDataset` and the model spec.

    Raises:
        InputError: On a missing split column, unknown targets or tables without any cohort patient.
    """
    from biomm.cohort import Cohort
    from biomm.train.trainer import EmbeddingDataset

    cohort = Cohort.from_file(cfg.cohort, cfg.schema_file)
    table = cohort.table
    pid = cohort.schema.patient_id
    patients = table[pid].astype(str).tolist()
    if len(set(patients)) != len(patients):
        raise InputError("training needs one manifest row per patient", path=cfg.cohort)
    embeddings, present, bags, encoders, bag_dims = {}, {}, {}, {}, {}
    signals: dict[str, tuple[str, np.ndarray]] = {}
    for m, source in cfg.modalities.items():
        if source.bags is not None:
            bags[m], bag_dims[m] = patient_bags(source.bags, patients)
            if not any(bags[m]):
                raise InputError(
                    f"modality {m!r}: no bag belongs to a cohort patient", path=source.bags
                )
            encoder = dict(source.encoder or {"name": "abmil"})
            encoders[m] = {"name": encoder.pop("name", "abmil"), "in_dim": bag_dims[m], **encoder}
            continue
        if source.store is not None:
            rows, n_leads = patient_store_rows(source.store, patients)
            if (rows < 0).all():
                raise InputError(
                    f"modality {m!r}: no record of a cohort patient", path=source.store
                )
            signals[m] = (str(source.store), rows)
            encoder = dict(source.encoder or {"name": "resnet1d18"})
            encoders[m] = {
                "name": encoder.pop("name", "resnet1d18"),
                "in_leads": n_leads,
                **encoder,
            }
            bag_dims[m] = 1  # replaced by the encoder's embed_dim in build_model
            continue
        if source.tabular is not None:
            continue  # after the splits are known: the preprocessing is fitted on train only
        ids, values = read_embedding_table(source.embeddings, source.id_column)
        embeddings[m], present[m] = patient_embeddings(ids, values, patients)
        if not present[m].any():
            raise InputError(f"modality {m!r}: no cohort patient has a row", path=source.embeddings)
    targets, masks, heads = {}, {}, {}
    for task, spec in cfg.tasks.items():
        if spec.target not in cohort.target_names:
            raise InputError(
                f"task {task!r}: target {spec.target!r} is not a cohort target "
                f"({cohort.target_names})",
                path=cfg.cohort,
            )
        parsed = cohort.parse_target(spec.target)
        known = np.array([v is not None for v in parsed.values])
        width = max(
            (len(v) if isinstance(v, (list, tuple)) else 1) for v in parsed.values if v is not None
        )
        array = np.full((len(patients), width) if width > 1 else len(patients), np.nan)
        for k, v in enumerate(parsed.values):
            if v is not None:
                array[k] = v
        if spec.head == "multiclass":  # class indices; unknown rows are masked
            array = np.where(known, np.nan_to_num(array), 0).astype(np.int64)
        targets[task], masks[task] = array, known
        head_kwargs = dict(spec.kwargs)
        if parsed.classes and spec.head in ("multiclass", "multilabel"):
            head_kwargs.setdefault("n_classes", len(parsed.classes))
        heads[task] = {"name": spec.head, "target": spec.target, **head_kwargs}
    split_col = cohort.schema.split
    if not split_col or split_col not in table:
        raise InputError("the cohort needs a split column (biomm cohort split)", path=cfg.cohort)
    split = table[split_col].astype(str).str.strip().str.lower().to_numpy()
    train_patients = [p for p, s in zip(patients, split, strict=True) if s == cfg.train_split]
    preprocessors = {}
    for m, source in cfg.modalities.items():
        if source.tabular is None:
            continue
        values, observed, prep, encoder = tabular_modality(
            cohort, source, patients, train_patients, m
        )
        embeddings[m] = np.where(observed, values, np.nan).astype(np.float32)
        present[m] = observed.any(axis=1)
        encoders[m] = encoder
        bag_dims[m] = values.shape[1]  # replaced by the encoder's embed_dim in build_model
        preprocessors[m] = prep.to_dict()
    full = EmbeddingDataset(patients, embeddings, present, targets, masks, bags, signals)
    datasets = {
        name: full.subset(np.flatnonzero(split == value))
        for name, value in (
            ("train", cfg.train_split),
            ("val", cfg.val_split),
            ("test", cfg.test_split),
        )
    }
    spec = {
        "embed_dims": {**full.embed_dims, **bag_dims},
        "fusion": {"name": cfg.fusion.name, "out_dim": cfg.fusion.out_dim, **cfg.fusion.kwargs},
        "heads": heads,
    }
    if encoders:
        spec["encoders"] = encoders
    if preprocessors:
        spec["preprocessors"] = preprocessors
    return datasets, spec


def tabular_modality(
    cohort: Any, source: ModalitySource, patients: list[str], train_patients: list[str], name: str
) -> tuple[np.ndarray, np.ndarray, Any, dict[str, Any]]:
    """EHR values and observed cells ``[P, C]`` aligned to ``patients``, fitted on train only.

    Returns:
        ``(values, observed, fitted preprocessor, encoder spec)``; patients without a row
        have no observed cell.

    Raises:
        InputError: When no training patient has EHR data or the table is unusable.

    Examples:
        >>> tabular_modality.__name__
        'tabular_modality'
    """
    from biomm.ehr.embedding import encoder_spec
    from biomm.io.ehr import EHRPreprocessor, read_ehr_table

    if source.tabular == "cohort":
        if cohort.schema.ehr is None:
            raise InputError(
                f"modality {name!r}: `tabular: cohort` needs `ehr` columns in the schema",
                path=cohort.source,
            )
        frame = cohort.ehr_frame()
        types = {**cohort.schema.ehr.types, **source.types}
        where = cohort.source
    else:
        types = dict(source.types)
        frame = read_ehr_table(source.tabular, id_column=source.id_column, types=types or None)
        where = source.tabular
    frame.index = frame.index.astype(str)
    train_rows = frame.index.isin(train_patients)
    if not train_rows.any():
        raise InputError(f"modality {name!r}: no training patient has EHR data", path=where)
    prep = EHRPreprocessor(types=types, **source.preprocessor).fit(frame[train_rows])
    batch = prep.transform(frame)
    position = {pid: k for k, pid in enumerate(frame.index)}
    rows = np.array([position.get(p, -1) for p in patients])
    values = np.zeros((len(patients), len(batch.columns)), np.float32)
    observed = np.zeros((len(patients), len(batch.columns)), bool)
    have = rows >= 0
    values[have] = batch.values[rows[have]]
    observed[have] = batch.observed[rows[have]]
    encoder = dict(source.encoder or {})
    encoder.pop("name", None)
    return values, observed, prep, encoder_spec(prep, **{"dim": 32, "depth": 2, **encoder})


def patient_store_rows(
    store: str | os.PathLike[str], patients: list[str]
) -> tuple[np.ndarray, int]:
    """Row of each patient's first converted record in an ECG store (-1: none), and leads.

    Examples:
        >>> patient_store_rows.__name__
        'patient_store_rows'
    """
    from biomm.ecg.store import ECGStore

    opened = ECGStore(store)
    ok = opened.ok
    first: dict[str, int] = {}
    for row, pid in enumerate(opened.index["patient_id"].astype(str)):
        if ok[row] and pid not in first:
            first[pid] = row
    return np.array([first.get(p, -1) for p in patients], dtype=np.int64), len(opened.leads)


def patient_bags(
    folder: str | os.PathLike[str], patients: list[str]
) -> tuple[list[list[str]], int]:
    """Feature files per patient from a ``biomm wsi embed`` folder, and the feature size.

    Files are matched by their ``patient_id`` attribute (a file without one is matched by its
    stem). Unreadable files and empty bags are skipped with a warning naming the file: one
    corrupt slide never stops a training run.

    Raises:
        InputError: When the folder has no readable feature file, or sizes differ.

    Examples:
        >>> patient_bags.__name__
        'patient_bags'
    """
    import warnings

    import h5py

    folder = Path(folder)
    root = folder / "features" if (folder / "features").is_dir() else folder
    if not root.is_dir():
        raise InputError("bag folder not found", path=folder)
    index = {p: k for k, p in enumerate(patients)}
    per_patient: list[list[str]] = [[] for _ in patients]
    dims = set()
    for path in sorted(root.glob("*.h5")):
        try:
            with h5py.File(path, "r") as h5:
                shape = h5["features"].shape
                owner = h5.attrs.get("patient_id", "")
        except (OSError, KeyError) as exc:
            warnings.warn(f"{path}: unreadable feature file skipped ({exc})", stacklevel=2)
            continue
        owner = owner.decode() if isinstance(owner, bytes) else str(owner or path.stem)
        if len(shape) != 2 or shape[0] == 0:
            warnings.warn(f"{path}: no tile features, skipped", stacklevel=2)
            continue
        dims.add(int(shape[1]))
        if owner in index:
            per_patient[index[owner]].append(str(path))
    if not dims:
        raise InputError("no readable feature file (*.h5 with 'features')", path=root)
    if len(dims) != 1:
        raise InputError(f"feature files have different sizes {sorted(dims)}", path=root)
    return per_patient, dims.pop()
