"""MIMIC-IV-ECG adapter and MERL-style report cleaning, on a tiny folder in the official layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from biomm.cohort import Cohort
from biomm.datasets.mimic_iv_ecg import (
    MEASUREMENTS,
    clean_report,
    load_mimic_iv_ecg,
    mimic_iv_ecg_schema,
    word_count,
)
from biomm.errors import InputError
from biomm.io.ecg import read_ecg

# MIMIC-IV-ECG headers list the leads in this order
MIMIC_LEADS = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]

MEASURES = {
    "bandwidth": "0.005-150 Hz",
    "filtering": "60 Hz  Notch Filter",
    "rr_interval": 659,
    "p_onset": 40,
    "p_end": 128,
    "qrs_onset": 170,
    "qrs_end": 258,
    "t_end": 518,
    "p_axis": 81,
    "qrs_axis": 77,
    "t_axis": 79,
}

# subject, study, report fields (None: no machine_measurements row)
STUDIES = [
    (10000032, 40689238, ["Sinus rhythm", "Possible left atrial enlargement", "Borderline ECG"]),
    (10000032, 44458630, ["Sinus bradycardia", None, "Normal EKG", "Unconfirmed report"]),
    (10000117, 45090959, ["*** Normal ECG ***"]),  # 2 words: MERL drops it
    (10000560, 40000017, None),  # no measurements: MERL drops it
    (10000764, 42000003, ["Atrial fibrillation with rapid ventricular response", "Abnormal ECG"]),
]


def _write_record(stem: Path, seed: int) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    signal = np.random.default_rng(seed).normal(0, 0.1, (500, 12))
    signal[:, MIMIC_LEADS.index("aVF")] += 1.0  # a marker to check lead mapping
    wfdb.wrsamp(
        record_name=stem.name,
        fs=500,
        units=["mV"] * 12,
        sig_name=MIMIC_LEADS,
        p_signal=signal,
        fmt=["16"] * 12,
        adc_gain=[200.0] * 12,
        baseline=[0] * 12,
        write_dir=str(stem.parent),
    )


def write_mimic(root: Path, studies=STUDIES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    records, measures = [], []
    for k, (subject, study, fields) in enumerate(studies):
        path = f"files/p{str(subject)[:4]}/p{subject}/s{study}/{study}"
        _write_record(root / path, k)
        records.append(
            {"subject_id": subject, "study_id": study, "file_name": study,
             "ecg_time": f"2180-07-2{k} 08:44:00", "path": path}
        )  # fmt: skip
        if fields is None:
            continue
        row = {"subject_id": subject, "study_id": study, "cart_id": 6848296 + k,
               "ecg_time": f"2180-07-2{k} 08:44:00"}  # fmt: skip
        row.update({f"report_{i}": fields[i] if i < len(fields) else None for i in range(18)})
        row.update(MEASURES)
        measures.append(row)
    pd.DataFrame(records).to_csv(root / "record_list.csv", index=False)
    pd.DataFrame(measures).to_csv(root / "machine_measurements.csv", index=False)
    return root


@pytest.fixture(scope="module")
def mimic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mimic(tmp_path_factory.mktemp("mimic"))


# ---- clean_report, rule by rule -------------------------------------------------------------


def test_missing_fields_are_skipped_and_the_rest_joined_with_period_space() -> None:
    assert clean_report(["Sinus rhythm", None, float("nan"), "Normal ECG"]) == (
        "sinus rhythm. normal ecg."
    )
    assert clean_report([np.nan, "Sinus rhythm"]) == "sinus rhythm."


def test_blank_fields_are_skipped() -> None:  # biomm addition (read_csv makes them NaN)
    assert clean_report(["Sinus rhythm", "", "   ", "Normal ECG"]) == "sinus rhythm. normal ecg."


def test_ekg_becomes_ecg_case_sensitively_before_lowercasing() -> None:
    assert clean_report(["Abnormal EKG"]) == "abnormal ecg."
    assert clean_report(["abnormal ekg"]) == "abnormal ecg."
    assert clean_report(["Abnormal Ekg"]) == "abnormal ekg."  # MERL replaces only EKG/ekg


def test_stars_spaces_then_equals_and_dashes_are_stripped_from_the_ends() -> None:
    assert clean_report(["  *** Acute MI ***  "]) == "acute mi."
    assert clean_report(["=- Borderline ECG -="]) == " borderline ecg ."  # as MERL: one pass each
    assert clean_report(["Rate 60 - 70"]) == "rate 60 - 70."  # inner characters stay
    # the ends of the joined text are stripped, not of each field; spaces exposed by the
    # second strip stay, as in MERL
    assert clean_report(["-- Sinus rhythm", "Normal ECG ***"]) == " sinus rhythm. normal ecg."
    assert clean_report(["*** Sinus rhythm", "Normal ECG ***"]) == "sinus rhythm. normal ecg."


def test_lowercase() -> None:
    assert clean_report(["LEFT AXIS DEVIATION"]) == "left axis deviation."


def test_no_words_gives_empty_text() -> None:
    assert clean_report([]) == ""
    assert clean_report([None, None]) == ""
    assert clean_report(["***"]) == "" and clean_report(["=-=-"]) == ""
    assert clean_report(["***", "---"]) == ". ."  # "." counts as a word, as in MERL


def test_whitespace_controls_become_spaces_and_a_period_is_appended() -> None:
    assert clean_report(["Sinus\trhythm\nwith\rPACs"]) == "sinus rhythm with pacs."
    assert clean_report(["Normal ECG."]) == "normal ecg.."  # MERL appends unconditionally


def test_dedupe_is_optional() -> None:
    fields = ["Sinus rhythm", "SINUS RHYTHM ", "Normal ECG"]
    assert clean_report(fields) == "sinus rhythm. sinus rhythm . normal ecg."
    assert clean_report(fields, dedupe=True) == "sinus rhythm. normal ecg."


def test_word_count() -> None:
    assert word_count(clean_report(["*** Normal ECG ***"])) == 2
    assert word_count("") == 0 and word_count(None) == 0


# ---- loading --------------------------------------------------------------------------------


def test_load_clean_drops_what_merl_drops(mimic_root: Path) -> None:
    frame = load_mimic_iv_ecg(mimic_root)
    assert frame["record_id"].tolist() == ["40689238", "44458630", "42000003"]
    assert frame.attrs["dropped"] == {"no_measurements": 1, "short_report": 1, "missing_files": 0}
    assert frame.attrs["dropped_ids"]["no_measurements"] == ["40000017"]
    assert frame.attrs["dropped_ids"]["short_report"] == ["45090959"]
    assert frame["report"].tolist() == [
        "sinus rhythm. possible left atrial enlargement. borderline ecg.",
        "sinus bradycardia. normal ecg. unconfirmed report.",
        "atrial fibrillation with rapid ventricular response. abnormal ecg.",
    ]


def test_ids_times_and_measurements(mimic_root: Path) -> None:
    frame = load_mimic_iv_ecg(mimic_root)
    assert frame["patient_id"].tolist() == ["10000032", "10000032", "10000764"]
    assert all(isinstance(v, str) for v in frame["patient_id"])
    assert frame["ecg_time"].tolist()[0] == "2180-07-20 08:44:00"
    assert list(frame.columns) == ["patient_id", "record_id", "ecg", "ecg_time", "report",
                                   *MEASUREMENTS]  # fmt: skip
    assert frame["rr_interval"].dtype.kind in "if" and frame["rr_interval"].tolist()[0] == 659
    assert frame["bandwidth"].tolist()[0] == "0.005-150 Hz"
    assert frame["cart_id"].tolist() == [6848296, 6848297, 6848300]


def test_paths_resolve_and_read(mimic_root: Path) -> None:
    frame = load_mimic_iv_ecg(mimic_root)
    ref = frame.loc[0, "ecg"]
    assert ref == "files/p1000/p10000032/s40689238/40689238"
    ecg = read_ecg(mimic_root / ref)
    assert ecg.fs == 500 and ecg.signal.shape == (12, 500)
    assert ecg.present.all()
    avf = ecg.signal[5]  # canonical order: I, II, III, aVR, aVL, aVF
    assert math.isclose(float(np.mean(avf)), 1.0, abs_tol=0.05)
    absolute = load_mimic_iv_ecg(mimic_root, absolute_paths=True).loc[0, "ecg"]
    assert Path(absolute).is_absolute() and read_ecg(absolute).fs == 500


def test_unclean_keeps_every_record_and_raw_text(mimic_root: Path) -> None:
    frame = load_mimic_iv_ecg(mimic_root, clean=False).set_index("record_id")
    assert len(frame) == 5
    assert frame.at["45090959", "report"] == "*** Normal ECG ***"
    assert frame.at["44458630", "report"] == "Sinus bradycardia. Normal EKG. Unconfirmed report"
    assert frame.at["40000017", "report"] is None
    assert math.isnan(frame.at["40000017", "rr_interval"])
    assert sum(load_mimic_iv_ecg(mimic_root, clean=False).attrs["dropped"].values()) == 0


def test_min_words(mimic_root: Path) -> None:
    assert len(load_mimic_iv_ecg(mimic_root, min_words=2)) == 4
    assert len(load_mimic_iv_ecg(mimic_root, min_words=8)) == 2
    with pytest.raises(InputError, match="min_words"):
        load_mimic_iv_ecg(mimic_root, min_words=-1)


def test_missing_files(tmp_path: Path) -> None:
    root = write_mimic(tmp_path / "m", STUDIES[:2])
    (root / "files/p1000/p10000032/s44458630/44458630.dat").unlink()
    frame = load_mimic_iv_ecg(root)
    assert frame["record_id"].tolist() == ["40689238"]
    assert frame.attrs["dropped"]["missing_files"] == 1
    study, path, reason = frame.attrs["missing"][0]
    assert study == "44458630" and path.endswith("44458630") and ".dat" in reason
    kept = load_mimic_iv_ecg(root, drop_missing=False)
    assert len(kept) == 2 and len(kept.attrs["missing"]) == 1
    assert len(load_mimic_iv_ecg(root, check_files=False)) == 2


def test_schema_and_cohort_validation(mimic_root: Path) -> None:
    frame = load_mimic_iv_ecg(mimic_root)
    schema = mimic_iv_ecg_schema(frame)
    assert schema.sample_id == "record_id" and "rr_interval" in schema.ehr.columns
    cohort = Cohort(frame, schema, data_root=mimic_root)
    report = cohort.validate()
    assert report.ok, report.problems
    sample = next(cohort.samples())
    assert sample.patient_id == "10000032" and sample.sample_id == "40689238"
    assert sample.modalities["report"].startswith("sinus rhythm.")
    assert read_ecg(sample.modalities["ecg"]).fs == 500


# ---- errors ---------------------------------------------------------------------------------


def test_missing_folder_and_csvs(mimic_root: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="MIMIC-IV-ECG folder not found"):
        load_mimic_iv_ecg(tmp_path / "nope")
    with pytest.raises(InputError, match=r"record_list\.csv: file not found"):
        load_mimic_iv_ecg(tmp_path)
    (tmp_path / "record_list.csv").write_bytes((mimic_root / "record_list.csv").read_bytes())
    with pytest.raises(InputError, match=r"machine_measurements\.csv: file not found"):
        load_mimic_iv_ecg(tmp_path)


def _copy(root: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in ("record_list.csv", "machine_measurements.csv"):
        (dest / name).write_bytes((root / name).read_bytes())
    return dest


def test_missing_columns(mimic_root: Path, tmp_path: Path) -> None:
    bad = _copy(mimic_root, tmp_path / "a")
    pd.read_csv(bad / "record_list.csv").drop(columns=["path"]).to_csv(
        bad / "record_list.csv", index=False
    )
    with pytest.raises(InputError, match=r"record_list\.csv: missing column\(s\) \['path'\]"):
        load_mimic_iv_ecg(bad)
    bad = _copy(mimic_root, tmp_path / "b")
    mm = pd.read_csv(bad / "machine_measurements.csv")
    mm.drop(columns=[f"report_{i}" for i in range(18)]).to_csv(
        bad / "machine_measurements.csv", index=False
    )
    with pytest.raises(InputError, match=r"machine_measurements\.csv: no report_0"):
        load_mimic_iv_ecg(bad)


def test_duplicate_study_and_subject_mismatch(mimic_root: Path, tmp_path: Path) -> None:
    bad = _copy(mimic_root, tmp_path / "a")
    mm = pd.read_csv(bad / "machine_measurements.csv")
    pd.concat([mm, mm.iloc[[1]]]).to_csv(bad / "machine_measurements.csv", index=False)
    with pytest.raises(InputError, match=r"machine_measurements\.csv: study_id 44458630 appears"):
        load_mimic_iv_ecg(bad, check_files=False)
    bad = _copy(mimic_root, tmp_path / "b")
    mm = pd.read_csv(bad / "machine_measurements.csv")
    mm.loc[0, "subject_id"] = 99999999
    mm.to_csv(bad / "machine_measurements.csv", index=False)
    with pytest.raises(InputError, match="study_id 40689238: subject_id 99999999 here but"):
        load_mimic_iv_ecg(bad, check_files=False)


def test_unreadable_csv(tmp_path: Path) -> None:
    (tmp_path / "record_list.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"record_list\.csv: cannot read CSV"):
        load_mimic_iv_ecg(tmp_path)
