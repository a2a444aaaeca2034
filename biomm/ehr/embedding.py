"""EHR table → one embedding per patient, with no test statistic leaking into the recipe.

:func:`embed_ehr` fits the :class:`~biomm.io.ehr.EHRPreprocessor` on the training patients
only, pretrains a :class:`~biomm.encoders.tabular.TabularTransformer` by masked-cell
reconstruction on the training rows only, and embeds every row. :func:`encoder_spec` gives the
JSON-ready encoder entry of a model spec from a fitted preprocessor.

Examples:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"patient_id": [f"P{i}" for i in range(40)],
    ...                       "age": rng.normal(60, 10, 40), "sex": rng.choice(["F", "M"], 40)})
    >>> train = [f"P{i}" for i in range(30)]
    >>> out = embed_ehr(frame, id_column="patient_id", train_ids=train,
    ...                 encoder_kwargs={"dim": 8, "depth": 1, "heads": 2}, pretrain_epochs=2)
    >>> len(out.ids), out.embeddings.shape, out.preprocessor.n_train_
    (40, (40, 8), 30)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from biomm.cohort.tables import normalise_ids
from biomm.encoders.tabular import TabularTransformer
from biomm.errors import TableError
from biomm.io.ehr.preprocess import SOURCE_ATTR, EHRPreprocessor, TabularBatch


class EHREmbedding(NamedTuple):
    """Result of :func:`embed_ehr` (unpacks as ``ids, embeddings, preprocessor, encoder``)."""

    ids: list[str]
    embeddings: np.ndarray
    preprocessor: EHRPreprocessor
    encoder: TabularTransformer


def encoder_spec(preprocessor: EHRPreprocessor, **kwargs: Any) -> dict[str, Any]:
    """The ``encoders`` entry of a model spec for a fitted preprocessor.

    Args:
        preprocessor: A fitted :class:`~biomm.io.ehr.EHRPreprocessor`.
        **kwargs: Encoder arguments (``dim``, ``depth``, ``heads``, ``dropout``, ``out_dim``,
            ``skip``).

    Examples:
        >>> prep = EHRPreprocessor().fit(pd.DataFrame({"a": [1.0, 2.0], "g": ["x", "y"]}))
        >>> spec = encoder_spec(prep, dim=8)
        >>> spec["name"], spec["cardinalities"], spec["columns"], spec["dim"]
        ('tabular_transformer', [0, 3], ['a', 'g'], 8)
    """
    spec: dict[str, Any] = {
        "name": "tabular_transformer",
        "cardinalities": preprocessor.cardinalities,
        "columns": list(preprocessor.columns_),
        "preprocessor_fingerprint": preprocessor.fingerprint,
    }
    spec.update(kwargs)
    return spec


def _ids_and_features(frame: pd.DataFrame, id_column: str) -> tuple[list[str], pd.DataFrame]:
    source = frame.attrs.get(SOURCE_ATTR)
    if id_column in frame.columns:
        ids = normalise_ids(frame[id_column])
        features = frame.drop(columns=[id_column])
    elif frame.index.name == id_column:
        ids = normalise_ids(pd.Series(frame.index, dtype=object))
        features = frame
    else:
        raise TableError(
            f"no patient id column {id_column!r} (neither a column nor the index name)",
            path=source,
        )
    if ids.isna().any():
        raise TableError(f"{int(ids.isna().sum())} row(s) lack a patient id", path=source)
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise TableError(f"duplicated patient id(s): {duplicated[:5]}", path=source)
    features = features.copy()
    features.index = pd.Index(ids.tolist(), name=id_column)
    features.attrs = dict(frame.attrs)
    return ids.tolist(), features


def embed_batch(
    encoder: TabularTransformer, batch: TabularBatch, *, chunk: int = 1024
) -> np.ndarray:
    """Embed every row of a batch in eval mode, ``[N, embed_dim]`` float32.

    Examples:
        >>> prep = EHRPreprocessor().fit(pd.DataFrame({"a": [1.0, 2.0]}))
        >>> enc = TabularTransformer(prep.cardinalities, dim=4, depth=1, heads=2)
        >>> embed_batch(enc, prep.transform(pd.DataFrame({"a": [1.0, None]}))).shape
        (2, 4)
    """
    values, observed = batch.tensors()
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(batch), chunk):
            v = values[start : start + chunk].to(device)
            o = observed[start : start + chunk].to(device)
            parts.append(encoder(v, o).float().cpu().numpy())
    encoder.train(was_training)
    if not parts:
        return np.zeros((0, encoder.embed_dim), np.float32)
    return np.concatenate(parts).astype(np.float32)


def embed_ehr(
    frame: pd.DataFrame,
    *,
    id_column: str = "patient_id",
    train_ids: Iterable[Any],
    types: Mapping[str, str] | None = None,
    encoder_kwargs: Mapping[str, Any] | None = None,
    pretrain_epochs: int = 50,
    seed: int = 0,
    mask_rate: float = 0.3,
    lr: float = 1e-3,
    preprocessor_kwargs: Mapping[str, Any] | None = None,
) -> EHREmbedding:
    """Fit on training patients, pretrain, and embed every row of an EHR table.

    Args:
        frame: One row per patient; the id is the column (or index name) ``id_column``.
        id_column: Patient id column.
        train_ids: Training patient ids (ids absent from ``frame`` are ignored: those
            patients have no EHR).
        types: Explicit ``column → kind`` entries (the schema's ``ehr.types``).
        encoder_kwargs: :class:`~biomm.encoders.tabular.TabularTransformer` arguments other
            than ``cardinalities`` (default: ``dim=64, depth=2, heads=4``).
        pretrain_epochs: Masked-reconstruction epochs on the training rows (0: none; the
            encoder stays randomly initialised).
        seed: Seeds the encoder initialisation and the pretraining.
        mask_rate: Fraction of observed cells hidden in pretraining.
        lr: Pretraining learning rate.
        preprocessor_kwargs: Further :class:`~biomm.io.ehr.EHRPreprocessor` arguments.

    Returns:
        :class:`EHREmbedding` ``(ids, embeddings [N, D], preprocessor, encoder)``, rows in the
        order of ``frame``.

    Raises:
        TableError: On a missing id column, missing or duplicated ids, no training patient in
            the table, or any preprocessing error (naming the column).
    """
    from biomm.ehr.pretrain import pretrain_tabular

    ids, features = _ids_and_features(frame, id_column)
    train = {str(i) for i in normalise_ids(pd.Series(list(train_ids), dtype=object)).dropna()}
    is_train = np.array([i in train for i in ids], dtype=bool)
    if not is_train.any():
        raise TableError(
            "none of the training patient ids is in the EHR table",
            path=frame.attrs.get(SOURCE_ATTR),
        )
    kwargs = dict(preprocessor_kwargs or {})
    kwargs.setdefault("types", {k: v for k, v in (types or {}).items() if k != id_column})
    preprocessor = EHRPreprocessor(**kwargs).fit(features[is_train])
    batch = preprocessor.transform(features)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        spec = encoder_spec(preprocessor, **dict(encoder_kwargs or {}))
        spec.pop("name")
        encoder = TabularTransformer(**spec)
    if pretrain_epochs > 0:
        pretrain_tabular(
            encoder,
            batch.subset(is_train),
            epochs=pretrain_epochs,
            mask_rate=mask_rate,
            lr=lr,
            seed=seed,
        )
        encoder.weights = (
            f"masked-reconstruction pretraining ({pretrain_epochs} epochs, seed {seed}, "
            f"{int(is_train.sum())} training rows)"
        )
    return EHREmbedding(batch.ids, embed_batch(encoder, batch), preprocessor, encoder)
