from __future__ import annotations

import pandas as pd
import pytest

from biomm import Cohort
from biomm.cohort.tables import read_table
from biomm.errors import ManifestError


def test_parquet_and_tsv_manifests(tmp_path):
    table = pd.DataFrame({"patient_id": ["a", "b"], "report": ["x", "y"], "label": [0, 1]})
    table.to_parquet(tmp_path / "m.parquet", index=False)
    table.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    for name in ("m.parquet", "m.tsv"):
        cohort = Cohort.from_file(tmp_path / name)
        assert cohort.patient_ids == ["a", "b"]
        assert cohort.parse_target("label").values == [0, 1]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("m.csv", b"", "empty"),
        ("m.csv", b"patient_id,age,age\na,1,2\n", "duplicated column"),
        ("m.csv", b"patient_id,x\n\xff\xfe\x00a,1\n", "UTF-8"),
        ("m.csv", b'patient_id,x\n"a,1\nb,2\n', "malformed"),
        ("m.xlsx", b"PK\x03\x04", "unknown table format"),
        ("m.parquet", b"PAR1 not really", "Parquet"),
        ("m.csv", b"\n\n", "no header"),
    ],
)
def test_unreadable_tables_name_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=reason) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_missing_table(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_table(tmp_path / "none.csv")
