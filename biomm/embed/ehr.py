"""Embed a cohort's EHR table: preprocessing fitted on the train split, a pretrained encoder.

:func:`embed_cohort_ehr` takes the schema's ``ehr`` columns (from the manifest or the separate
EHR table), fits the :class:`~biomm.io.ehr.EHRPreprocessor` on the **train split only**,
pretrains a :class:`~biomm.encoders.tabular.TabularTransformer` by masked-cell reconstruction
on the training patients and embeds every patient with EHR data. The output folder holds:

* ``embeddings.h5`` — ``embeddings``, ``patient_id``, ``record_id`` (as ``biomm embed`` writes
  for the other modalities; ``biomm train`` reads it as a modality table);
* ``preprocessor.json`` — the fitted preprocessor (reload with ``EHRPreprocessor.load``);
* ``encoder/`` — ``model.safetensors`` + ``config.json`` (the encoder spec, rebuilt with
  :func:`load_tabular_encoder`);
* ``run.json`` — the settings; a rerun with the same settings reuses the result, other settings
  need ``overwrite``.

Examples:
    >>> import numpy as np, pandas as pd, tempfile
    >>> from biomm.cohort import Cohort, CohortSchema
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({"patient_id": [f"P{i}" for i in range(30)],
    ...     "age": rng.normal(60, 9, 30).round(), "sex": rng.choice(["F", "M"], 30),
    ...     "split": ["train"] * 20 + ["test"] * 10})
    >>> schema = CohortSchema.from_dict({"patient_id": "patient_id", "split": "split",
    ...     "ehr": {"columns": ["age", "sex"]}})
    >>> cohort = Cohort(table, schema)
    >>> summary = embed_cohort_ehr(cohort, tempfile.mkdtemp(), pretrain_epochs=2,
    ...     encoder_kwargs={"dim": 8, "depth": 1, "heads": 2})
    >>> summary["n_patients"], summary["n_train"], summary["embed_dim"]
    (30, 20, 8)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from biomm._version import __version__
from biomm.embed.cohort import cohort_splits, write_embedding_table
from biomm.errors import ConfigError, InputError
from biomm.utils.lock import locks_output

CHECKPOINT_KIND = "biomm-tabular-encoder"


def _fingerprint(settings: Mapping[str, Any], cohort_frame: Any) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(cohort_frame.to_csv().encode())
    return digest.hexdigest()


@locks_output("out")  # one run per folder; a killed run's lock dies with it
def embed_cohort_ehr(
    cohort: Any,
    out: str | PathLike[str],
    *,
    encoder_kwargs: Mapping[str, Any] | None = None,
    pretrain_epochs: int = 50,
    seed: int = 0,
    mask_rate: float = 0.3,
    lr: float = 1e-3,
    train_split: str = "train",
    preprocessor: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Embed every patient's EHR row into ``out`` (see the module docs).

    Args:
        cohort: A :class:`~biomm.cohort.Cohort` whose schema declares ``ehr`` columns and a
            split column.
        out: Output folder.
        encoder_kwargs: Tabular transformer arguments (``dim``, ``depth``, ``heads``,
            ``dropout``, ``out_dim``, ``skip``).
        pretrain_epochs: Masked-reconstruction epochs on the train patients (0: none).
        seed: Seed of the initialisation and pretraining.
        mask_rate: Fraction of observed cells hidden in pretraining.
        lr: Pretraining learning rate.
        train_split: The split the preprocessing and pretraining are fitted on.
        preprocessor: Further :class:`~biomm.io.ehr.EHRPreprocessor` arguments (e.g.
            ``clip_quantiles``).
        overwrite: Replace an output made with other settings.
        device: Only ``cpu`` is used for these small models; accepted for a uniform CLI.

    Returns:
        A summary: ``n_patients``, ``n_train``, ``n_columns``, ``embed_dim``, ``out``,
        ``reused``.

    Raises:
        ConfigError: When the schema declares no EHR columns, there is no split column or no
            train patient, or ``out`` holds other settings.
        TableError: On unusable EHR values (naming the column).
    """
    from biomm.ehr.embedding import embed_ehr, encoder_spec
    from biomm.utils.atomic import atomic_path, atomic_write_text
    from biomm.utils.checkpoint import checkpoint_sha256

    del device  # tabular models are small; CPU always
    out = Path(out)
    source = getattr(cohort, "source", None)
    if cohort.schema.ehr is None:
        raise ConfigError(
            "the schema declares no EHR columns (add `ehr: {columns: [...]}`)", path=source
        )
    frame = cohort.ehr_frame()
    if frame.empty:
        raise InputError("no patient has an EHR value", path=source)
    splits = cohort_splits(cohort)
    if not splits:
        raise ConfigError(
            "EHR preprocessing is fitted on the train split only, and the cohort has no split "
            "column; add one (`biomm cohort split`)",
            path=source,
        )
    train_ids = [p for p in frame.index if splits.get(str(p)) == train_split]
    if not train_ids:
        raise ConfigError(f"no patient with EHR data is in the {train_split!r} split", path=source)
    settings = {
        "encoder_kwargs": dict(encoder_kwargs or {}),
        "pretrain_epochs": pretrain_epochs,
        "seed": seed,
        "mask_rate": mask_rate,
        "lr": lr,
        "train_split": train_split,
        "preprocessor": dict(preprocessor or {}),
        "types": dict(cohort.schema.ehr.types),
        "splits": {p: splits.get(str(p)) for p in frame.index},
    }
    fingerprint = _fingerprint(settings, frame)
    run_file = out / "run.json"
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous.get("fingerprint") == fingerprint and (out / "embeddings.h5").is_file():
            return {**previous["summary"], "reused": True}
        if not overwrite:
            raise ConfigError(
                "this folder holds EHR embeddings made with other settings or data; use "
                "another --out, or --overwrite",
                path=out,
            )
        run_file.unlink()  # written last: until then the folder is not a finished output
    result = embed_ehr(
        frame.reset_index(),
        id_column="patient_id",
        train_ids=train_ids,
        types=cohort.schema.ehr.types,
        encoder_kwargs=encoder_kwargs,
        pretrain_epochs=pretrain_epochs,
        seed=seed,
        mask_rate=mask_rate,
        lr=lr,
        preprocessor_kwargs=preprocessor,
    )
    out.mkdir(parents=True, exist_ok=True)
    result.preprocessor.save(out / "preprocessor.json")
    save_tabular_encoder(
        result.encoder,
        out / "encoder",
        encoder_spec(result.preprocessor, **dict(encoder_kwargs or {})),
    )
    weights_sha256 = checkpoint_sha256(out / "encoder")
    meta = {
        "modality": "ehr",
        "embedder": {**result.encoder.describe(), "weights_sha256": weights_sha256},
        "biomm_version": __version__,
    }
    write_embedding_table(out / "embeddings.h5", result.ids, result.ids, result.embeddings, meta)
    summary = {
        "encoder_weights_sha256": weights_sha256,
        "n_patients": len(result.ids),
        "n_train": len(train_ids),
        "n_columns": len(result.preprocessor.cardinalities),
        "embed_dim": int(result.embeddings.shape[1]),
        "out": str(out),
        "reused": False,
    }
    with atomic_path(run_file) as tmp:
        tmp.write_text(
            json.dumps(
                {"fingerprint": fingerprint, "summary": summary, "biomm_version": __version__},
                indent=2,
            )
        )
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def save_tabular_encoder(encoder: Any, folder: str | PathLike[str], spec: dict[str, Any]) -> Path:
    """Write a tabular encoder as ``model.safetensors`` + ``config.json`` (its spec).

    Examples:
        >>> import tempfile
        >>> from biomm.encoders.tabular import TabularTransformer
        >>> spec = {"name": "tabular_transformer", "cardinalities": [0, 3], "dim": 4,
        ...         "depth": 1, "heads": 2}
        >>> enc = TabularTransformer(**{k: v for k, v in spec.items() if k != "name"})
        >>> folder = save_tabular_encoder(enc, tempfile.mkdtemp(), spec)
        >>> load_tabular_encoder(folder).embed_dim
        4
    """
    from biomm.utils.checkpoint import save_checkpoint_folder

    config = {
        "kind": CHECKPOINT_KIND,
        "biomm_version": __version__,
        "encoder": spec,
        "provenance": encoder.describe(),
    }
    return save_checkpoint_folder(folder, encoder.state_dict(), config)


def load_tabular_encoder(folder: str | PathLike[str]) -> Any:
    """Rebuild an encoder saved by :func:`save_tabular_encoder` (eval mode).

    Raises:
        CheckpointError: When the folder is not a tabular encoder checkpoint, the weights are
            damaged, changed since saving (hash mismatch), non-finite, or do not fit.

    Examples:
        >>> load_tabular_encoder.__name__
        'load_tabular_encoder'
    """
    from biomm.encoders import build_encoder
    from biomm.errors import CheckpointError
    from biomm.utils.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint_folder

    folder = Path(folder)
    config, state = load_checkpoint_folder(folder, CHECKPOINT_KIND)
    try:
        spec = dict(config["encoder"])
        encoder = build_encoder(spec.pop("name"), **spec)
    except CheckpointError:
        raise
    except (InputError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"the encoder spec cannot be built ({type(exc).__name__}: {exc})",
            path=folder / CONFIG_FILE,
        ) from None
    try:
        encoder.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights do not fit the encoder: {str(exc)[:300]}", path=folder / WEIGHTS_FILE
        ) from None
    encoder.weights, encoder.weights_sha256 = str(folder), config["weights_sha256"]
    return encoder.eval()


__all__ = ["embed_cohort_ehr", "load_tabular_encoder", "save_tabular_encoder"]
