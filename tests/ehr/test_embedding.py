"""embed_ehr end to end: fit on training patients only, pretrain, embed every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from biomm.ehr import embed_ehr, encoder_spec
from biomm.encoders import build_encoder
from biomm.errors import TableError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    z = rng.integers(0, 3, n)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "age": np.where(rng.random(n) < 0.1, np.nan, 50 + 8 * z + rng.normal(0, 2, n)),
            "stage": np.array(["I", "II", "III"])[z],
            "mrn": [f"MRN{i:05d}" for i in range(n)],  # identifier: never a feature
        }
    )


def test_embed_ehr_end_to_end(frame):
    train_ids = [*frame["patient_id"].iloc[:40].tolist(), "not-in-table"]
    test = frame.iloc[40:].copy()
    frame.loc[45, "stage"] = "IV"  # a test-only category
    frame.loc[50, "age"] = 1e4  # a test-only outlier
    ids, emb, prep, enc = embed_ehr(
        frame,
        id_column="patient_id",
        train_ids=train_ids,
        encoder_kwargs={"dim": 8, "depth": 1, "heads": 2},
        pretrain_epochs=3,
        seed=0,
    )
    assert ids == frame["patient_id"].tolist()
    assert emb.shape == (60, 8) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert prep.n_train_ == 40 and prep.dropped_ == {"mrn": "identifier"}
    assert prep.categories_["stage"] == ["I", "II", "III"]  # "IV" only in the test rows
    assert prep.stats_["age"]["upper"] < 100  # the test outlier did not move the statistics
    assert "masked-reconstruction" in enc.weights
    assert enc.describe()["preprocessor_fingerprint"] == prep.fingerprint
    # the spec rebuilds the same encoder
    spec = encoder_spec(prep, dim=8, depth=1, heads=2)
    twin = build_encoder(spec.pop("name"), **spec).eval()
    twin.load_state_dict(enc.state_dict())
    batch = prep.transform(test.set_index("patient_id"))
    with torch.no_grad():
        again = twin(*batch.tensors()).numpy()
    np.testing.assert_allclose(again[[0, 1, 2, 3, 4, 6]], emb[[40, 41, 42, 43, 44, 46]], atol=1e-5)
    # seeded: the same call gives the same embeddings
    _, emb2, _, _ = embed_ehr(
        frame,
        id_column="patient_id",
        train_ids=train_ids,
        encoder_kwargs={"dim": 8, "depth": 1, "heads": 2},
        pretrain_epochs=3,
        seed=0,
    )
    np.testing.assert_array_equal(emb, emb2)


def test_embed_ehr_with_id_index_and_no_pretraining(frame):
    indexed = frame.set_index("patient_id")
    ids, emb, _, enc = embed_ehr(
        indexed,
        id_column="patient_id",
        train_ids=indexed.index[:30],
        types={"stage": "categorical", "mrn": "identifier"},
        encoder_kwargs={"dim": 8, "depth": 1, "heads": 2, "out_dim": 4},
        pretrain_epochs=0,
    )
    assert len(ids) == 60 and emb.shape == (60, 4) and enc.weights == "random-init"


def test_embed_ehr_errors(frame):
    kwargs = {"encoder_kwargs": {"dim": 8, "depth": 1, "heads": 2}, "pretrain_epochs": 0}
    with pytest.raises(TableError, match="none of the training patient ids"):
        embed_ehr(frame, id_column="patient_id", train_ids=["x"], **kwargs)
    with pytest.raises(TableError, match="no patient id column 'pid'"):
        embed_ehr(frame, id_column="pid", train_ids=["P000"], **kwargs)
    dup = pd.concat([frame, frame.head(1)])
    with pytest.raises(TableError, match="duplicated patient id"):
        embed_ehr(dup, id_column="patient_id", train_ids=["P000"], **kwargs)
    bad = frame.astype({"age": object})
    bad.loc[3, "age"] = "n/a?"
    with pytest.raises(TableError, match="'age' is continuous"):
        embed_ehr(
            bad,
            id_column="patient_id",
            train_ids=bad["patient_id"],
            types={"age": "continuous"},
            **kwargs,
        )
