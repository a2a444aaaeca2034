"""The synthetic ECG cohort: physiology per class, Einthoven, reports, zero-shot prompts, files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps

from biomm.ecg.synthetic import (
    COMPATIBLE_FINDINGS,
    ECG_CLASSES,
    FEATURE_NAMES,
    REPORT_PHRASES,
    ZEROSHOT_CLASSES,
    ecg_features,
    generate_ecg,
    generate_report,
    sample_ecg_params,
    write_wfdb16,
)
from biomm.ecg.synthetic_cohort import make_ecg_cohort
from biomm.errors import InputError
from biomm.io.ecg import LEADS_12, read_ecg

FS = 500.0
N_PER_CLASS = 8


@pytest.fixture(scope="module")
def records() -> dict[str, list[tuple[np.ndarray, dict, dict]]]:
    """N_PER_CLASS single-label 10 s records per class with their measured features."""
    rng = np.random.default_rng(2024)
    out: dict[str, list] = {}
    for cls in ECG_CLASSES:
        out[cls] = []
        for _ in range(N_PER_CLASS):
            sig, params = generate_ecg(cls, fs=FS, rng=rng)
            out[cls].append((sig, params, ecg_features(sig, FS)))
    return out


def feats(records, cls: str, key: str) -> np.ndarray:
    return np.array([f[key] for _, _, f in records[cls]])


def _mentions(report: str, phrase: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", report.lower()) is not None


# ---- signal ---------------------------------------------------------------------------------


def test_shape_dtype_and_determinism():
    a, pa = generate_ecg("st_elevation", fs=250.0, duration_s=6.0, rng=np.random.default_rng(7))
    b, pb = generate_ecg("st_elevation", fs=250.0, duration_s=6.0, rng=np.random.default_rng(7))
    c, _ = generate_ecg("st_elevation", fs=250.0, duration_s=6.0, rng=np.random.default_rng(8))
    assert a.shape == (12, 1500) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert pa == pb
    assert not np.array_equal(a, c)


def test_einthoven_and_goldberger_hold_sample_for_sample(records):
    for cls in ("normal", "atrial_fibrillation", "left_axis_deviation", "st_elevation"):
        sig = records[cls][0][0].astype(np.float64)
        lead_i, lead_ii, lead_iii, avr, avl, avf = sig[:6]
        np.testing.assert_allclose(lead_iii, lead_ii - lead_i, atol=1e-5)
        np.testing.assert_allclose(avr, -(lead_i + lead_ii) / 2, atol=1e-5)
        np.testing.assert_allclose(avl, lead_i - lead_ii / 2, atol=1e-5)
        np.testing.assert_allclose(avf, lead_ii - lead_i / 2, atol=1e-5)
        assert np.abs(sig).max() < 10.0  # millivolts, not microvolts


def _rate_from_lead_ii(sig: np.ndarray, fs: float) -> float:
    sos = sps.butter(2, [8.0, 25.0], btype="band", fs=fs, output="sos")
    x = np.abs(sps.sosfiltfilt(sos, sig[1].astype(np.float64)))
    x = np.convolve(x, np.ones(int(0.05 * fs)) / int(0.05 * fs), "same")
    peaks, _ = sps.find_peaks(x, distance=int(0.3 * fs), height=0.4 * np.percentile(x, 99))
    return 60.0 / float(np.mean(np.diff(peaks) / fs))


@pytest.mark.parametrize(
    ("cls", "lo", "hi"),
    [("normal", 58, 97), ("sinus_tachycardia", 103, 152), ("sinus_bradycardia", 36, 57)],
)
def test_rate_measured_from_r_peaks_matches(records, cls, lo, hi):
    for sig, params, _ in records[cls]:
        measured = _rate_from_lead_ii(sig, FS)
        assert abs(measured - params["realised_hr_bpm"]) < 3.0, (cls, measured, params)
        assert abs(params["realised_hr_bpm"] - params["heart_rate_bpm"]) < 4.0
        assert lo < measured < hi


def test_atrial_fibrillation_is_irregular_without_p_waves(records):
    af, sinus = feats(records, "atrial_fibrillation", "rr_cv"), feats(records, "normal", "rr_cv")
    assert af.mean() > 3 * sinus.mean()
    assert af.min() > sinus.max()
    for _, params, _ in records["atrial_fibrillation"]:
        assert params["p_mv"] == 0 and params["f_wave_mv"] > 0 and params["rhythm"] == "af"
    # no P wave in the median beat (quiet records at 70 bpm, so no T wave reaches the PR window)
    rng = np.random.default_rng(12)
    quiet = {"emg_mv": 0.0, "wander_mv": 0.0, "mains_mv": 0.0, "heart_rate_bpm": 70.0}
    p_wave = {
        cls: [
            abs(ecg_features(generate_ecg({"labels": [cls], **quiet}, rng=rng)[0], FS)["p_mv"])
            for _ in range(5)
        ]
        for cls in ("atrial_fibrillation", "normal")
    }
    assert np.median(p_wave["atrial_fibrillation"]) < 0.4 * np.median(p_wave["normal"])
    assert min(p_wave["normal"]) > 0.08


def test_bundle_branch_block_has_wide_qrs(records):
    bbb = feats(records, "bundle_branch_block", "qrs_ms")
    narrow = np.concatenate([feats(records, c, "qrs_ms") for c in ("normal", "st_depression")])
    assert bbb.min() >= 120 and narrow.max() < 120
    assert all(p["qrs_ms"] >= 130 for _, p, _ in records["bundle_branch_block"])


def test_st_levels_in_territory(records):
    for _, params, f in records["st_elevation"]:
        territory = params["st_territory"]
        assert territory in ("anterior", "inferior")
        assert f[f"st_{territory}_mv"] >= 0.15
        assert params["st_mv"] >= 0.2
    for _, params, f in records["st_depression"]:
        assert params["st_territory"] == "lateral"
        assert f["st_lateral_mv"] <= -0.1
    normal_max = max(
        max(abs(f[f"st_{t}_mv"]) for t in ("anterior", "inferior", "lateral"))
        for _, _, f in records["normal"]
    )
    assert normal_max < 0.25


def test_voltage_classes(records):
    lvh = feats(records, "left_ventricular_hypertrophy", "sokolow_mv")
    assert lvh.min() > 3.5  # Sokolow-Lyon SV1 + RV5/6
    assert feats(records, "normal", "sokolow_mv").max() < 3.5
    assert feats(records, "low_voltage", "limb_qrs_mv").max() < 0.5
    assert feats(records, "low_voltage", "chest_qrs_mv").max() < 1.0
    assert feats(records, "normal", "limb_qrs_mv").min() > 0.5


def test_axis_from_net_qrs_area(records):
    lad = feats(records, "left_axis_deviation", "axis_deg")
    normal = feats(records, "normal", "axis_deg")
    assert lad.max() < -30
    assert normal.min() > -30 and normal.max() < 90
    for _, params, f in records["left_axis_deviation"] + records["normal"]:
        assert abs(f["axis_deg"] - params["axis_deg"]) < 15


def test_first_degree_av_block_prolongs_pr(records):
    avb = feats(records, "first_degree_av_block", "pr_ms")
    normal = feats(records, "normal", "pr_ms")
    assert avb.min() > 200
    assert avb.mean() > normal.mean() + 50
    assert all(p["pr_ms"] > 200 for _, p, _ in records["first_degree_av_block"])


def test_secondary_finding_combines_physiology():
    rng = np.random.default_rng(11)
    sig, params = generate_ecg(["sinus_bradycardia", "first_degree_av_block"], rng=rng)
    f = ecg_features(sig, FS)
    assert f["heart_rate_bpm"] < 58 and f["pr_ms"] > 200
    assert params["heart_rate_bpm"] < 56 and params["pr_ms"] > 200
    sig, params = generate_ecg(["left_ventricular_hypertrophy", "left_axis_deviation"], rng=rng)
    f = ecg_features(sig, FS)
    assert f["sokolow_mv"] > 3.5 and f["axis_deg"] < -30
    assert params["sokolow_mv"] > 3.5 and params["axis_deg"] < -30


def test_incompatible_or_unknown_classes_are_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="incompatible"):
        generate_ecg(["st_elevation", "st_depression"], rng=rng)
    with pytest.raises(InputError, match="unknown ECG class"):
        generate_ecg("flutter", rng=rng)
    with pytest.raises(InputError, match="normal"):
        sample_ecg_params(["normal", "low_voltage"], rng)
    with pytest.raises(InputError, match="unknown ECG parameter"):
        generate_ecg({"labels": ["normal"], "heartrate": 70}, rng=rng)
    with pytest.raises(InputError, match="sampling rate"):
        generate_ecg("normal", fs=0.0, rng=rng)
    for primary, secondaries in COMPATIBLE_FINDINGS.items():
        for secondary in secondaries:
            sample_ecg_params([primary, secondary], rng)  # every listed pair is allowed


def test_parameter_dict_overrides_knobs():
    rng = np.random.default_rng(5)
    sig, params = generate_ecg({"labels": ["normal"], "heart_rate_bpm": 72.0}, rng=rng)
    assert params["heart_rate_bpm"] == 72.0
    assert abs(ecg_features(sig, FS)["heart_rate_bpm"] - 72.0) < 3


def test_other_sampling_rate():
    sig, params = generate_ecg("sinus_tachycardia", fs=250.0, rng=np.random.default_rng(9))
    assert sig.shape == (12, 2500)
    assert abs(ecg_features(sig, 250.0)["heart_rate_bpm"] - params["realised_hr_bpm"]) < 3


def test_hand_crafted_features_separate_the_classes(records):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows, y = [], []
    for k, cls in enumerate(ECG_CLASSES):
        for _, _, f in records[cls]:
            axis = np.radians(f["axis_deg"])
            rows.append(
                [f[n] for n in FEATURE_NAMES if n != "axis_deg"] + [np.cos(axis), np.sin(axis)]
            )
            y.append(k)
    x, y = np.nan_to_num(np.array(rows)), np.array(y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    prob = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
    macro = roc_auc_score(np.eye(len(ECG_CLASSES))[y], prob, average="macro")
    assert macro > 0.9, macro


# ---- reports and prompts --------------------------------------------------------------------


def test_reports_name_each_label_and_no_other(records):
    rng = np.random.default_rng(3)
    cases = [([cls], records[cls][0][1]) for cls in ECG_CLASSES]
    for primary, secondaries in COMPATIBLE_FINDINGS.items():
        for secondary in secondaries[:2]:
            _, params = generate_ecg([primary, secondary], duration_s=3.0, rng=rng)
            cases.append(([primary, secondary], params))
    for labels, params in cases:
        for _ in range(5):
            report = generate_report(labels, params, rng)
            for cls in ECG_CLASSES:
                hit = any(_mentions(report, ph) for ph in REPORT_PHRASES[cls])
                assert hit == (cls in labels), (cls, labels, report)


def test_reports_vary_in_wording(records):
    rng = np.random.default_rng(4)
    for cls in ("normal", "atrial_fibrillation", "left_ventricular_hypertrophy"):
        params = records[cls][0][1]
        texts = {generate_report([cls], params, rng) for _ in range(30)}
        assert len(texts) >= 8, texts
        phrases_used = {ph for t in texts for ph in REPORT_PHRASES[cls] if _mentions(t, ph)}
        assert len(phrases_used) >= 3


def test_report_follows_rate_and_territory():
    rng = np.random.default_rng(6)
    _, fast = generate_ecg({"labels": ["atrial_fibrillation"], "heart_rate_bpm": 140.0}, rng=rng)
    reports = [generate_report(["atrial_fibrillation"], fast, rng) for _ in range(40)]
    assert not any("controlled ventricular" in r.lower() for r in reports)
    _, inferior = generate_ecg(
        {"labels": ["st_elevation"], "st_territory": "inferior", "st_vector_mv": [0.0, 0.35, 0.0]},
        rng=rng,
    )
    reports = [generate_report(["st_elevation"], inferior, rng) for _ in range(40)]
    assert not any("anterior" in r.lower() or "v1-v4" in r.lower() for r in reports)


def test_zero_shot_descriptions_are_worded_differently_from_reports(records):
    assert set(ZEROSHOT_CLASSES) == set(ECG_CLASSES)
    rng = np.random.default_rng(8)
    reports = [
        generate_report([cls], params, rng).lower()
        for cls in ECG_CLASSES
        for _, params, _ in records[cls]
        for _ in range(3)
    ]
    templates = [ph.lower() for phrases in REPORT_PHRASES.values() for ph in phrases]
    for cls, entry in ZEROSHOT_CLASSES.items():
        assert entry["name"] and len(entry["descriptions"]) >= 2
        for sentence in entry["descriptions"]:
            text = sentence.lower()
            assert not any(text in r for r in reports), sentence
            assert not any(text in t for t in templates), sentence
            # nor does a multi-word report phrase reappear inside a description
            assert not any(" " in t and t in text for t in templates), (sentence, cls)


# ---- files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("ecg_cohort")
    return out, make_ecg_cohort(out, 24, seed=3, duration_s=4.0, secondary_prob=0.5)


def test_manifest_columns_and_multi_hot(cohort):
    out, table = cohort
    on_disk = pd.read_csv(out / "manifest.csv")
    assert list(on_disk.columns) == list(table.columns)
    for col in (
        "patient_id",
        "ecg",
        "report",
        "label",
        *ECG_CLASSES,
        "heart_rate_bpm",
        "qrs_ms",
        "axis_deg",
        "pr_ms",
        "st_mv",
    ):
        assert col in on_disk.columns, col
    assert on_disk["patient_id"].tolist() == [f"P{i:04d}" for i in range(1, 25)]
    counts = on_disk["label"].value_counts()
    assert set(counts.index) == set(ECG_CLASSES) and counts.max() - counts.min() <= 1
    multi = on_disk[list(ECG_CLASSES)].to_numpy()
    assert set(np.unique(multi)) <= {0, 1}
    for row, hot in zip(on_disk.itertuples(), multi, strict=True):
        labels = row.labels.split(";")
        assert labels[0] == row.label
        assert [ECG_CLASSES[k] for k in np.flatnonzero(hot)] == [
            c for c in ECG_CLASSES if c in labels
        ]
        if len(labels) == 2:
            assert labels[1] in COMPATIBLE_FINDINGS[labels[0]]
        assert any(_mentions(row.report, ph) for ph in REPORT_PHRASES[row.label])
    assert (multi.sum(axis=1) == 2).sum() >= 3  # secondary_prob=0.5 gives some multi-label rows
    assert on_disk.loc[on_disk["atrial_fibrillation"] == 1, "pr_ms"].isna().all()


def test_wfdb_round_trip_through_reader(cohort, tmp_path):
    out, table = cohort
    # the same seed written as float32 .npz gives the exact signals the WFDB files quantised
    twin = make_ecg_cohort(
        tmp_path / "twin", 24, seed=3, duration_s=4.0, secondary_prob=0.5, write="npz"
    )
    pd.testing.assert_frame_equal(table.drop(columns="ecg"), twin.drop(columns="ecg"))
    for k in (0, 7, 23):
        ecg = read_ecg(out / table["ecg"][k])
        exact = read_ecg(tmp_path / "twin" / twin["ecg"][k])
        assert ecg.fs == 500.0 and ecg.present.all() and ecg.signal.shape == (12, 2000)
        assert ecg.meta["statements"] == table["labels"][k].split(";")
        np.testing.assert_allclose(ecg.signal, exact.signal, rtol=0, atol=0.0005 + 1e-6)


def test_write_wfdb16_matches_wfdb_library(tmp_path):
    import wfdb

    sig, _ = generate_ecg("bundle_branch_block", duration_s=2.0, rng=np.random.default_rng(1))
    sig[3, 10] = np.nan
    write_wfdb16(tmp_path / "mine", sig, 500.0, ["dx: bundle_branch_block"])
    rec = wfdb.rdrecord(str(tmp_path / "mine"))
    assert rec.fs == 500 and rec.sig_name == list(LEADS_12) and rec.units == ["mV"] * 12
    assert np.isnan(rec.p_signal[10, 3])
    finite = np.isfinite(sig.T)
    np.testing.assert_allclose(rec.p_signal[finite], sig.T[finite], rtol=0, atol=0.0005 + 1e-6)
    wfdb.wrsamp(
        "ref",
        fs=500,
        units=["mV"] * 12,
        sig_name=list(LEADS_12),
        p_signal=np.nan_to_num(sig.T.astype(np.float64)),
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(tmp_path),
    )
    mine = np.fromfile(tmp_path / "mine.dat", "<i2").reshape(-1, 12)
    ref = np.fromfile(tmp_path / "ref.dat", "<i2").reshape(-1, 12)
    mine[10, 3] = ref[10, 3]  # wfdb got 0 there (we passed nan_to_num); ours is the NaN code
    np.testing.assert_array_equal(mine, ref)


def test_same_seed_same_cohort_and_rewrite(tmp_path):
    a = make_ecg_cohort(tmp_path / "a", 6, seed=1, duration_s=2.0, write="npz")
    b = make_ecg_cohort(tmp_path / "b", 6, seed=1, duration_s=2.0, write="npz")
    pd.testing.assert_frame_equal(a, b)
    for rel in a["ecg"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
        ecg = read_ecg(tmp_path / "a" / rel)
        assert ecg.fs == 500.0 and ecg.signal.shape == (12, 1000)
    c = make_ecg_cohort(
        tmp_path / "a", 3, seed=2, duration_s=2.0, write="npy", classes=("normal", "low_voltage")
    )
    assert sorted(p.name for p in (tmp_path / "a" / "ecg").iterdir()) == [
        "P0001.npy",
        "P0002.npy",
        "P0003.npy",
    ]
    assert list(c.columns[5:7]) == ["normal", "low_voltage"]
    arr = np.load(tmp_path / "a" / c["ecg"][0])
    assert arr.shape == (12, 1000) and arr.dtype == np.float32


def test_cohort_rejects_bad_input(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="busy"):
        make_ecg_cohort(tmp_path / "busy", 2)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="write"):
        make_ecg_cohort(tmp_path / "x", 2, write="edf")
    with pytest.raises(InputError, match="classes"):
        make_ecg_cohort(tmp_path / "x", 2, classes=("normal", "flutter"))
    with pytest.raises(InputError, match="n_patients"):
        make_ecg_cohort(tmp_path / "x", 0)
