"""The cohort embedding runner: resume, failures, settings fingerprint, privacy of report text."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from biomm.cohort import Cohort
from biomm.embed.cohort import cohort_items, embed_cohort_items
from biomm.errors import ConfigError, ImageReadError
from biomm.train.config import read_embedding_table


class FileEmbedder:
    """Reads a text file holding numbers; a file with 'bad' fails; counts embedded items."""

    modality, embed_dim = "fundus", 3

    def __init__(self, scale=1.0, crash_after=None):
        self.scale, self.calls, self.crash_after = scale, 0, crash_after

    def load(self, ref):
        text = Path(ref).read_text()
        if "bad" in text:
            raise ImageReadError("not an image", path=ref)
        return float(text)

    def embed(self, items):
        self.calls += len(items)
        if self.crash_after is not None and self.calls > self.crash_after:
            raise KeyboardInterrupt  # a killed run
        return np.array([[x, 2 * x, self.scale] for x in items], np.float32)

    def item_info(self, item):
        return {"value": item, "gradable": item > 2}

    def describe(self):
        return {"encoder": "file", "scale": self.scale}


def make_cohort(root, n=10, bad=(3,)):
    refs = []
    for k in range(n):
        (root / f"img{k}.txt").write_text("bad" if k in bad else str(k))
        refs.append(f"img{k}.txt")
    refs[1] = f"{refs[1]};img9.txt"  # two photos for patient 1
    table = pd.DataFrame(
        {
            "patient_id": [f"P{k}" for k in range(n)],
            "fundus": refs,
            "split": ["train"] * (n - 2) + ["test"] * 2,
        }
    )
    table.loc[5, "fundus"] = None  # patient 5 has no photo
    table.to_csv(root / "cohort.csv", index=False)
    return Cohort.from_file(root / "cohort.csv")


def test_embeds_records_failures_and_writes_a_train_table(tmp_path):
    cohort = make_cohort(tmp_path)
    result = embed_cohort_items(
        cohort, "fundus", FileEmbedder(), tmp_path / "out", batch_size=4, progress=False
    )
    assert result.record_ids == ["P0", "P1", "P1#2", "P2", "P4", "P6", "P7", "P8", "P9"]
    assert result.embeddings[:, 0].tolist() == [0, 1, 9, 2, 4, 6, 7, 8, 9]
    failures = pd.read_csv(tmp_path / "out/failures.csv")
    assert failures[["record_id", "error"]].values.tolist() == [["P3", "ImageReadError"]]
    assert "not an image" in failures["reason"][0]
    items = pd.read_csv(tmp_path / "out/items.csv")
    assert items["gradable"].tolist() == [x > 2 for x in result.embeddings[:, 0]]
    with h5py.File(tmp_path / "out/embeddings.h5") as h5:
        assert '"encoder": "file"' in h5.attrs["embedder"] and h5.attrs["modality"] == "fundus"
    ids, values = read_embedding_table(tmp_path / "out/embeddings.h5")  # what `biomm train` reads
    assert ids[:3] == ["P0", "P1", "P1"] and values.shape == (9, 3)


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    cohort = make_cohort(tmp_path)
    full = embed_cohort_items(cohort, "fundus", FileEmbedder(), tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        embed_cohort_items(
            cohort, "fundus", FileEmbedder(crash_after=5), tmp_path / "b", batch_size=2,
            progress=False,
        )  # fmt: skip
    assert not (tmp_path / "b/embeddings.h5").exists()
    again = FileEmbedder()
    resumed = embed_cohort_items(
        cohort, "fundus", again, tmp_path / "b", batch_size=2, progress=False
    )
    assert 0 < again.calls < len(full.record_ids)  # only what was left
    assert resumed.skipped > 0
    assert resumed.record_ids == full.record_ids
    np.testing.assert_array_equal(resumed.embeddings, full.embeddings)


def test_failures_are_retried_only_on_request(tmp_path):
    cohort = make_cohort(tmp_path)
    embed_cohort_items(cohort, "fundus", FileEmbedder(), tmp_path / "o", progress=False)
    (tmp_path / "img3.txt").write_text("3")  # fixed
    second = FileEmbedder()
    result = embed_cohort_items(cohort, "fundus", second, tmp_path / "o", progress=False)
    assert second.calls == 0 and len(result.failures) == 1
    result = embed_cohort_items(
        cohort, "fundus", FileEmbedder(), tmp_path / "o", retry_failed=True, progress=False
    )
    assert "P3" in result.record_ids and result.failures.empty


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    cohort = make_cohort(tmp_path)
    embed_cohort_items(cohort, "fundus", FileEmbedder(), tmp_path / "o", progress=False)
    with pytest.raises(ConfigError, match="different settings"):
        embed_cohort_items(cohort, "fundus", FileEmbedder(scale=2), tmp_path / "o")
    result = embed_cohort_items(
        cohort, "fundus", FileEmbedder(scale=2), tmp_path / "o", overwrite=True, progress=False
    )
    assert (result.embeddings[:, 2] == 2).all()


def test_split_filter_and_missing_modality(tmp_path):
    cohort = make_cohort(tmp_path)
    items, splits = cohort_items(cohort, "fundus", split="test")
    assert [i.patient_id for i in items] == ["P8", "P9"] and splits["P0"] == "train"
    with pytest.raises(ConfigError, match="declares no 'oct' modality"):
        cohort_items(cohort, "oct")


def test_inline_report_text_never_reaches_the_tables(tmp_path):
    secret = "Patient John Smith has carcinoma."
    cohort = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "report": [secret, "Benign."]}))

    class Picky:
        modality, embed_dim = "report", 1

        def load(self, ref):
            if "Smith" in ref:  # a careless error message quoting part of the text
                raise ValueError(f"cannot parse {ref[5:40]!r}")
            return ref

        def embed(self, items):
            return np.ones((len(items), 1), np.float32)

        def item_info(self, item):
            return {}

        def describe(self):
            return {}

    lines = []
    result = embed_cohort_items(
        cohort, "report", Picky(), tmp_path / "r", progress=False, log=lines.append
    )
    assert result.record_ids == ["b"]
    written = "".join(p.read_text() for p in (tmp_path / "r").glob("*.csv"))
    assert "Smith" not in written and "Smith" not in "".join(lines)
    assert "ValueError on the inline report text (message withheld)" in written
