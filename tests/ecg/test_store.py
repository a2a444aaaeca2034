"""The ECG array store: conversion, failures, resume, parallel workers, reading back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biomm.demo.synthetic import synthetic_ecg, write_wfdb
from biomm.ecg.profiles import apply_profile, get_profile
from biomm.ecg.store import ECGStore, cohort_sources, convert_ecgs
from biomm.errors import InputError
from biomm.io.ecg import read_ecg


@pytest.fixture()
def records(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        stem = tmp_path / "ecg" / f"r{i}"
        write_wfdb(stem, synthetic_ecg(rng, 250, 8.0, 60 + 5 * i, 0.0), 250, [])
        paths.append(stem)
    (tmp_path / "ecg" / "bad.hea").write_text("bad 12 nonsense\n")  # malformed header
    (tmp_path / "ecg" / "trunc.hea").write_text(
        (tmp_path / "ecg" / "r0.hea").read_text().replace("r0", "trunc")
    )
    data = (tmp_path / "ecg" / "r0.dat").read_bytes()
    (tmp_path / "ecg" / "trunc.dat").write_bytes(data[: len(data) // 3])  # truncated signal file
    return [*paths, tmp_path / "ecg" / "bad", tmp_path / "ecg" / "trunc"]


def test_convert_matches_profile_and_lists_failures(tmp_path, records):
    sources = [(p.name, p, f"P{k}") for k, p in enumerate(records)]
    summary = convert_ecgs(sources, tmp_path / "store", "merl", progress=False)
    assert (summary.total, summary.done, summary.failed) == (8, 6, 2)
    store = ECGStore(tmp_path / "store")
    assert store.signals.shape == (8, 12, 5000) and store.ok.tolist() == [True] * 6 + [False] * 2
    expected = apply_profile(read_ecg(records[2]), get_profile("merl"))
    signal, present = store.get(2)
    np.testing.assert_allclose(signal, expected.signal, atol=1e-6)
    assert present.all() and signal.min() >= 0.0 and signal.max() <= 1.0  # MERL min-max
    failures = pd.read_csv(tmp_path / "store" / "failures.csv")
    assert failures["record_id"].tolist() == ["bad", "trunc"]
    assert failures["error"].str.contains("bad").iloc[0]
    assert failures["error"].str.contains("truncated").iloc[1]
    with pytest.raises(InputError, match="not available"):
        store.get(7)
    meta = json.loads((tmp_path / "store" / "store.json").read_text())
    assert (
        meta["profile"]["name"] == "merl"
        and meta["fingerprint"] == get_profile("merl").fingerprint()
    )
    notes = json.loads(store.index.loc[0, "notes"])
    assert notes  # the repairs and original rate are recorded per record
    assert store.rows(["r3", "r1"]).tolist() == [3, 1]


def test_resume_skips_done_rows_and_retries_failures(tmp_path, records):
    sources = [(p.name, p) for p in records]
    convert_ecgs(sources, tmp_path / "s", "ptbxl100", progress=False)
    status = np.load(tmp_path / "s" / "status.npy", mmap_mode="r+")
    status[1] = 0  # as if the run had been killed before row 1 was marked done
    status.flush()
    del status
    again = convert_ecgs(sources, tmp_path / "s", "ptbxl100", progress=False)
    assert again.skipped == 7 and again.done == 6 and again.failed == 2
    # fix the bad record, retry the failures only
    (records[6].with_suffix(".hea")).unlink()
    write_wfdb(records[6], synthetic_ecg(np.random.default_rng(1), 250, 8.0, 70, 0.0), 250, [])
    retry = convert_ecgs(sources, tmp_path / "s", "ptbxl100", retry_failed=True, progress=False)
    assert retry.skipped == 6 and retry.done == 7 and retry.failed == 1
    with pytest.raises(InputError, match="another profile"):
        convert_ecgs(sources, tmp_path / "s", "merl", progress=False)
    fresh = convert_ecgs(sources, tmp_path / "s", "merl", resume=False, progress=False)
    assert fresh.skipped == 0 and fresh.done == 7


def test_parallel_workers_match_single_process(tmp_path, records):
    sources = [(p.name, p) for p in records]
    convert_ecgs(sources, tmp_path / "one", "ecg_fm", progress=False, dtype="float16")
    convert_ecgs(
        sources,
        tmp_path / "two",
        "ecg_fm",
        progress=False,
        dtype="float16",
        workers=2,
        chunk_size=2,
    )
    one, two = ECGStore(tmp_path / "one"), ECGStore(tmp_path / "two")
    assert one.signals.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(one.signals), np.asarray(two.signals))
    np.testing.assert_array_equal(one.ok, two.ok)


def test_store_rejects_bad_arguments(tmp_path, records):
    with pytest.raises(InputError, match="unique"):
        convert_ecgs([("a", records[0]), ("a", records[1])], tmp_path / "s", "merl", progress=False)
    with pytest.raises(InputError, match="dtype"):
        convert_ecgs([("a", records[0])], tmp_path / "s", "merl", dtype="int8", progress=False)
    full_length = get_profile("merl").model_copy(update={"duration_s": None})
    with pytest.raises(InputError, match="fixed length"):
        convert_ecgs([("a", records[0])], tmp_path / "s", full_length, progress=False)
    with pytest.raises(InputError, match="not an ECG store"):
        ECGStore(tmp_path)


def test_cohort_sources_skip_rows_without_ecg(tmp_path):
    from biomm.cohort import Cohort

    table = pd.DataFrame({"patient_id": ["a", "b", "c"], "ecg": ["e/a", None, "e/c1; e/c2"]})
    sources = cohort_sources(Cohort(table, data_root=tmp_path))
    assert [(s.record_id, s.row, s.patient_id) for s in sources] == [
        ("a", 0, "a"),
        ("c", 2, "c"),
        ("c#2", 2, "c"),
    ]
    assert sources[0].path == tmp_path / "e" / "a"
