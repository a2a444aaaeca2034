"""Input profiles: validation, files, fingerprints, and the apply_profile contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from scipy import signal as sps

from biomm.demo.synthetic import synthetic_ecg
from biomm.ecg import PROFILES, ECGProfile, ProcessedECG, apply_profile, get_profile
from biomm.errors import ConfigError, ECGReadError, InputError
from biomm.io.ecg import ECG, LEADS_12

REAL = Path(__file__).parents[1] / "data" / "ecg" / "mitdb208_mlii_30s.npz"
ABSENT = ("V3", "V6")


def make_ecg(fs: int, seconds: float, seed: int = 0, path: Path | None = None) -> ECG:
    """A 12-lead record with V3 and V6 absent and NaN gaps in II and V1."""
    rng = np.random.default_rng(seed)
    signal = synthetic_ecg(rng, fs, seconds, 72.0, 0.1).T.astype(np.float32)
    present = np.array([lead not in ABSENT for lead in LEADS_12])
    signal[~present] = np.nan
    signal[1, fs // 2 : fs // 2 + fs // 20] = np.nan  # 50 ms gap in II
    signal[6, -3:] = np.nan  # trailing gap in V1
    return ECG(signal=signal, fs=float(fs), present=present, path=path)


@pytest.fixture(scope="module")
def real_ecg() -> ECG:
    data = np.load(REAL)
    mv = data["adu"].astype(np.float64) / float(data["gain_adu_per_mv"])
    return ECG.from_leads({"MLII": mv}, fs=float(data["fs"]), path=Path("mitdb/208"))


# ---- the contract over every built-in profile -----------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("fs", [360, 250, 1000])
@pytest.mark.parametrize("seconds", [3.0, 12.0])
def test_contract(name, fs, seconds):
    profile = PROFILES[name]
    out = apply_profile(make_ecg(fs, seconds), name)
    n = profile.n_samples
    assert isinstance(out, ProcessedECG)
    assert (
        out.signal.shape == (len(profile.leads), n) == (12, round(profile.fs * profile.duration_s))
    )
    assert out.signal.dtype == np.float32 and np.isfinite(out.signal).all()
    expected = [lead not in ABSENT for lead in profile.leads]
    assert out.present.tolist() == expected
    for lead in ABSENT:
        assert np.all(out.signal[profile.leads.index(lead)] == profile.absent_fill)
    assert out.fs == profile.fs and out.profile == name
    assert out.fingerprint == profile.fingerprint() and out.lead_names == profile.leads
    notes = out.notes
    assert notes["original_fs"] == fs and notes["original_samples"] == round(fs * seconds)
    assert notes["nan_filled"] == {"II": fs // 20, "V1": 3}
    assert notes["absent_leads"] == list(ABSENT)
    assert notes["flat_leads"] == []
    short = seconds < profile.duration_s
    assert (notes["padded_samples"] > 0) == short
    if short:  # padding holds absent_fill, and only padding does
        kept = round(seconds * profile.fs)
        assert np.all(out.signal[:, kept + 2 :] == profile.absent_fill)
        assert np.ptp(out.signal[1, : kept - 2]) > 0.1
    json.dumps(notes)  # a store writes them as JSON
    body = out.signal[np.array(expected)]
    if profile.normalise == "minmax_record":
        assert body.min() >= -1e-6 and body.max() <= 1 + 1e-6
    if profile.normalise == "minmax_lead_pm1":
        assert body.min() >= -1 - 1e-6 and body.max() <= 1 + 1e-6
    if profile.normalise == "zscore_lead" and not short:
        assert np.abs(body.mean(axis=1)).max() < 0.5 and np.all(body.std(axis=1) > 0.5)
    if profile.normalise == "none":  # millivolts: QRS-sized, not rescaled
        assert 0.3 < np.abs(body).max() < 5


def test_builtin_profiles_are_documented():
    assert set(PROFILES) == {"merl", "ptbxl100", "ptbxl500", "ecg_fm", "hubert_ecg"}
    for name, p in PROFILES.items():
        assert p.name == name and len(p.description) > 30 and len(p.reference) > 60
    merl, hub, fm = PROFILES["merl"], PROFILES["hubert_ecg"], PROFILES["ecg_fm"]
    assert (merl.fs, merl.duration_s, merl.normalise) == (500, 10, "minmax_record")
    assert (PROFILES["ptbxl100"].fs, PROFILES["ptbxl100"].n_samples) == (100, 1000)
    assert (PROFILES["ptbxl500"].fs, PROFILES["ptbxl500"].n_samples) == (500, 5000)
    assert (fm.fs, fm.duration_s, fm.normalise) == (500, 5, "zscore_lead")
    assert (hub.fs, hub.duration_s, hub.bandpass, hub.normalise) == (
        100,
        5,
        (0.05, 47.0),
        "minmax_lead_pm1",
    )
    assert all(p.leads == LEADS_12 for p in PROFILES.values())


# ---- the real MIT-BIH excerpt ---------------------------------------------------------------


def test_real_single_lead_record(real_ecg):
    out = apply_profile(real_ecg, "merl")
    assert out.present.tolist() == [lead == "II" for lead in LEADS_12]
    lead = out.signal[1]
    assert lead.min() >= 0 and lead.max() <= 1 and np.ptp(lead) > 0.5
    assert np.all(out.signal[[0, *range(2, 12)]] == 0)
    assert out.notes["original_duration_s"] == pytest.approx(30.0)


def test_real_beats_keep_their_times(real_ecg):
    out = apply_profile(real_ecg, "ptbxl500")
    x = real_ecg.lead("II")[:3600].astype(np.float64)
    y = out.signal[1].astype(np.float64)
    before, _ = sps.find_peaks(x, prominence=1.0, distance=90)
    after, _ = sps.find_peaks(y, prominence=1.0, distance=125)
    assert abs(len(before) - len(after)) <= 1
    gap = np.abs(after[:, None] / 500 - before[None, :] / 360).min(axis=1)
    assert gap.max() <= 1 / 360 + 1e-9
    assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=0.1)  # still mV


def test_hubert_filters_at_the_original_rate(real_ecg):
    out = apply_profile(real_ecg, "hubert_ecg")
    assert "filters_skipped" not in out.notes and out.notes["resample"] == "5/18"
    lead = out.signal[1]
    # scaled over the whole 30 s, so the first 5 s lie inside [-1, 1] without filling it
    assert lead.min() >= -1 - 1e-6 and lead.max() <= 1 + 1e-6 and np.ptp(lead) > 0.8
    # a band-pass edge above the *output* Nyquist (50 Hz) but below the record's is applied
    wide = ECGProfile(**{**PROFILES["hubert_ecg"].to_dict(), "bandpass": [0.5, 60.0]})
    assert "filters_skipped" not in apply_profile(real_ecg, wide).notes
    # …and one above the record's own Nyquist is skipped, and said so
    slow = ECG.from_leads({"II": real_ecg.lead("II")[::4]}, fs=90.0)
    notes = apply_profile(slow, wide).notes
    assert notes["filters_skipped"] == ["band-pass high 60 Hz ≥ Nyquist 45 Hz"]


# ---- policies -------------------------------------------------------------------------------


def test_nan_policy_error_names_the_file(tmp_path):
    strict = ECGProfile(**{**PROFILES["ptbxl100"].to_dict(), "nan_policy": "error"})
    ecg = make_ecg(500, 10.0, path=tmp_path / "rec01.hea")
    with pytest.raises(ECGReadError, match=r"rec01\.hea: NaN/inf samples \(II: 25, V1: 3\)"):
        apply_profile(ecg, strict)
    clean = make_ecg(500, 10.0)
    clean.signal[1, 250:275] = 0.0
    clean.signal[6, -3:] = 0.0
    assert apply_profile(clean, strict).present.sum() == 10  # absent leads are not NaN samples


def test_flat_lead_policies():
    ecg = make_ecg(500, 10.0)
    ecg.signal[7] = 0.25  # V2 disconnected
    keep = apply_profile(ecg, "ecg_fm")
    assert keep.notes["flat_leads"] == ["V2"] and keep.present[7]
    strict = ECGProfile(**{**PROFILES["ecg_fm"].to_dict(), "flat_lead_policy": "mark_absent"})
    out = apply_profile(ecg, strict)
    assert not out.present[7] and np.all(out.signal[7] == 0)
    assert out.notes["absent_leads"] == ["V2", "V3", "V6"]


def test_absent_fill_and_lead_subsets():
    ecg = make_ecg(360, 10.0)
    filled = ECGProfile(name="fill", fs=100, duration_s=10, absent_fill=-3.0)
    out = apply_profile(ecg, filled)
    assert np.all(out.signal[LEADS_12.index("V3")] == -3.0)
    one = apply_profile(ecg, ECGProfile(name="lead-i", fs=250, duration_s=8, leads=["lead I"]))
    assert (
        out.present.sum() == 10 and one.signal.shape == (1, 2000) and one.present.tolist() == [True]
    )
    order = apply_profile(ecg, {"name": "two", "fs": 250, "duration_s": 4, "leads": ["v6", "II"]})
    assert order.lead_names == ("V6", "II") and order.present.tolist() == [False, True]
    full = apply_profile(ecg, {"name": "full", "fs": 200, "normalise": "zscore_lead"})
    assert full.signal.shape == (12, 2000) and "padded_samples" not in full.notes


def test_random_crop_uses_rng():
    ecg = make_ecg(500, 12.0)
    profile = ECGProfile(name="rand", fs=500, duration_s=5, crop="random")
    a = apply_profile(ecg, profile, rng=1)
    b = apply_profile(ecg, profile, rng=1)
    assert np.array_equal(a.signal, b.signal) and a.notes == b.notes
    starts = {apply_profile(ecg, profile, rng=s).notes["crop_start_s"] for s in range(8)}
    assert len(starts) > 1 and all(0 <= s <= 7.0 for s in starts)
    centre = apply_profile(ecg, profile.model_copy(update={"crop": "center"}))
    assert centre.notes["crop_start_s"] == pytest.approx(3.5)


def test_normalise_scope_record_versus_window():
    ecg = make_ecg(500, 10.0)
    ecg.signal[:, 4000:] *= 3  # the end of the record is louder than the first 5 s
    window = ECGProfile(name="w", fs=500, duration_s=5, normalise="minmax_lead_pm1")
    record = window.model_copy(update={"normalise_scope": "record"})
    w, r = apply_profile(ecg, window).signal[0], apply_profile(ecg, record).signal[0]
    assert w.min() == pytest.approx(-1) and w.max() == pytest.approx(1)
    assert np.ptp(r) < 0.9 * np.ptp(w)


def test_odd_records_give_clear_errors_or_clean_output(tmp_path):
    where = tmp_path / "odd.xml"
    empty = ECG(
        signal=np.zeros((12, 0), np.float32), fs=500.0, present=np.ones(12, bool), path=where
    )
    with pytest.raises(ECGReadError, match=r"odd\.xml: the record has no samples"):
        apply_profile(empty, "merl")
    bad_rate = ECG(
        signal=np.zeros((12, 10), np.float32), fs=0.0, present=np.ones(12, bool), path=where
    )
    with pytest.raises(ECGReadError, match=r"odd\.xml: sampling rate"):
        apply_profile(bad_rate, "merl")
    no_rate = dataclasses.replace(bad_rate, fs=None)
    with pytest.raises(ECGReadError, match=r"odd\.xml: sampling rate must be positive, got None"):
        apply_profile(no_rate, "merl")
    bad_shape = ECG(
        signal=np.zeros(10, np.float32), fs=500.0, present=np.ones(12, bool), path=where
    )
    with pytest.raises(ECGReadError, match=r"odd\.xml: signal has shape"):
        apply_profile(bad_shape, "merl")
    nothing = ECG(
        signal=np.full((12, 500), np.nan, np.float32), fs=500.0, present=np.ones(12, bool)
    )
    # no lead with a finite sample: an item failure (the patient's ECG is missing), never a
    # silent all-zero "present" record
    with pytest.raises(ECGReadError, match="no lead of the profile 'hubert_ecg' has a finite"):
        apply_profile(nothing, "hubert_ecg")
    one_lead = nothing.signal.copy()
    one_lead[1] = 0.1
    out = apply_profile(dataclasses.replace(nothing, signal=one_lead), "hubert_ecg")
    assert out.present.sum() == 1 and len(out.notes["all_nan_leads"]) == 11
    tiny = make_ecg(500, 0.02)
    for name in PROFILES:
        assert np.isfinite(apply_profile(tiny, name).signal).all()
    spiky = make_ecg(360, 10.0)
    spiky.signal[0, 100] = np.inf
    assert apply_profile(spiky, "merl").notes["nan_filled"]["I"] == 1


def test_processed_ecg_is_frozen():
    out = apply_profile(make_ecg(500, 5.0), "ecg_fm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.fs = 1.0  # type: ignore[misc]


# ---- the profile model ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, name, suffix):
    profile = PROFILES[name]
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".yaml":
        profile.to_yaml(path)
        assert yaml.safe_load(path.read_text())["leads"] == list(profile.leads)
    else:
        path.write_text(json.dumps(profile.to_dict()))
    loaded = get_profile(str(path))
    assert loaded == profile and loaded.fingerprint() == profile.fingerprint()
    assert get_profile(path) == profile


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fs", 250.0),
        ("duration_s", 9.0),
        ("crop", "center"),
        ("leads", ["I", "II"]),
        ("bandpass", [0.5, 40.0]),
        ("notch_hz", 50.0),
        ("baseline", "median"),
        ("normalise", "zscore_lead"),
        ("normalise_scope", "record"),
        ("nan_policy", "error"),
        ("absent_fill", -1.0),
        ("flat_lead_policy", "mark_absent"),
    ],
)
def test_fingerprint_changes_with_every_processing_field(field, value):
    base = PROFILES["ptbxl100"]
    changed = ECGProfile(**{**base.to_dict(), field: value})
    assert changed.fingerprint() != base.fingerprint()


def test_fingerprint_is_stable_and_ignores_descriptions():
    base = PROFILES["merl"]
    reordered = ECGProfile(**dict(reversed(list(base.to_dict().items()))))
    assert reordered.fingerprint() == base.fingerprint()
    text = ECGProfile(**{**base.to_dict(), "name": "m2", "description": "x", "reference": "y"})
    assert text.fingerprint() == base.fingerprint()
    assert len(base.fingerprint()) == 16 and int(base.fingerprint(), 16) >= 0
    assert len({p.fingerprint() for p in PROFILES.values()}) == len(PROFILES)


def test_validation_errors_are_clear():
    with pytest.raises(ValidationError, match=r"unknown lead 'V7'; leads are I, II, III"):
        ECGProfile(name="x", fs=500, leads=["I", "V7"])
    with pytest.raises(ValidationError, match="listed twice"):
        ECGProfile(name="x", fs=500, leads=["I", "lead i"])
    with pytest.raises(ValidationError, match="at least one lead"):
        ECGProfile(name="x", fs=500, leads=[])
    with pytest.raises(ValidationError, match="fs must be a positive"):
        ECGProfile(name="x", fs=0)
    with pytest.raises(ValidationError, match=r"low cut-off \(40.0 Hz\) must be below high"):
        ECGProfile(name="x", fs=500, bandpass=(40.0, 0.5))
    with pytest.raises(ValidationError, match="cut-off must be a positive"):
        ECGProfile(name="x", fs=500, bandpass=(-1.0, None))
    with pytest.raises(ValidationError, match="minmax_record"):
        ECGProfile(name="x", fs=500, normalise="robust")
    with pytest.raises(ValidationError, match="under 1 sample"):
        ECGProfile(name="x", fs=10, duration_s=0.01)
    with pytest.raises(ValidationError, match="frozen"):
        PROFILES["merl"].fs = 100  # type: ignore[misc]
    assert ECGProfile(name="x", fs=500, bandpass=(None, None)).bandpass is None
    assert ECGProfile(name="x", fs=500, bandpass=(0.5, None)).bandpass == (0.5, None)


def test_get_profile_resolution(tmp_path):
    assert get_profile("HuBERT_ECG") is PROFILES["hubert_ecg"]
    assert get_profile(PROFILES["merl"]) is PROFILES["merl"]
    assert get_profile({"name": "d", "fs": 250}).fs == 250
    with pytest.raises(ConfigError, match=r"did you mean 'merl'\?.*ptbxl100, ptbxl500") as err:
        get_profile("mrel")
    assert isinstance(err.value, InputError)
    with pytest.raises(ConfigError, match="Built-in profiles: merl"):
        get_profile("resnet")
    with pytest.raises(ConfigError, match=r"missing\.yaml: profile file not found"):
        get_profile(tmp_path / "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: t\nfs: 250\nduration: 5\n")
    with pytest.raises(
        ConfigError, match=r"typo\.yaml: duration: unknown key; did you mean 'duration_s'"
    ):
        get_profile(typo)
    listed = tmp_path / "list.yaml"
    listed.write_text("- merl\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: an ECG profile is a mapping"):
        get_profile(listed)
    broken = tmp_path / "broken.json"
    broken.write_text("{name: ")
    with pytest.raises(ConfigError, match=r"broken\.json: invalid JSON"):
        get_profile(broken)
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.json"):
        ECGProfile.from_file(tmp_path / "p.txt")
    with pytest.raises(ConfigError, match="got int"):
        get_profile(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"fs: Input should be greater|fs must be a positive"):
        apply_profile(make_ecg(500, 1.0), {"name": "neg", "fs": -1})
