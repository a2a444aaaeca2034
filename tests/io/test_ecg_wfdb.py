"""WFDB reader: multi-segment records, header quirks, truncated files, NaN runs, a real ECG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from biomm.demo.synthetic import synthetic_ecg, write_wfdb
from biomm.errors import ECGReadError
from biomm.io.ecg import LEADS_12, read_ecg

REAL_ECG = Path(__file__).parents[1] / "data" / "ecg" / "mitdb208_mlii_30s.npz"


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return synthetic_ecg(np.random.default_rng(7), 500, 3.0, 80.0, 0.0)  # [1500, 12] mV


def _wrsamp(directory: Path, name: str, values: np.ndarray, names: list[str], **kw) -> None:
    unit = kw.pop("unit", "mV")
    gain = kw.pop("gain", 1000.0 if unit == "mV" else 1.0)
    fmt = kw.pop("fmt", "16")
    wfdb.wrsamp(
        name,
        fs=kw.pop("fs", 500),
        units=[unit] * len(names),
        sig_name=names,
        p_signal=values,
        fmt=[fmt] * len(names),
        adc_gain=[gain] * len(names),
        baseline=[0] * len(names),
        write_dir=str(directory),
        **kw,
    )


def _rewrite_header(hea: Path, edit) -> None:
    lines = hea.read_text().splitlines()
    hea.write_text("\n".join(edit(lines)) + "\n")


# ---- multi-segment ---------------------------------------------------------------------------


def test_fixed_layout_multi_segment_equals_wfdb_merge(tmp_path, signal):
    write_wfdb(tmp_path / "seg1", signal[:900], 500, [])
    write_wfdb(tmp_path / "seg2", signal[900:], 500, [])
    master = wfdb.MultiRecord(
        record_name="multi",
        n_sig=12,
        fs=500,
        seg_name=["seg1", "seg2"],
        seg_len=[900, 600],
        sig_len=1500,
        comments=["age: 58", "sex: M"],
    )
    master.n_seg = 2  # wfdb 4.3 does not set it from seg_name
    master.wrheader(write_dir=str(tmp_path))
    assert (tmp_path / "multi.hea").read_text().startswith("multi/2 12 500 1500")
    ecg = read_ecg(tmp_path / "multi.hea")
    merged = wfdb.rdrecord(str(tmp_path / "multi"), m2s=True)
    np.testing.assert_array_equal(ecg.signal, merged.p_signal.T.astype(np.float32))
    np.testing.assert_allclose(ecg.signal, signal.T, atol=1e-3)
    assert ecg.meta["layout"] == "fixed" and ecg.meta["segments"] == 2
    assert ecg.meta["gaps"] == [] and ecg.meta["nan_samples"] == {}
    assert ecg.meta["age"] == 58 and ecg.meta["sex"] == "M"


def _variable_record(directory: Path, signal: np.ndarray, second_unit: str = "mV") -> None:
    """Layout I, II, V1; segment A: I, II, V1 (300); a 100-sample gap; segment B: V1, I (200)."""
    cols = [0, 1, 6]
    _wrsamp(directory, "segA", signal[:300, cols], ["I", "II", "V1"])
    scale = 1000.0 if second_unit == "uV" else 1.0
    _wrsamp(directory, "segB", signal[400:600, [6, 0]] * scale, ["V1", "I"], unit=second_unit)
    (directory / "var_layout.hea").write_text(
        "var_layout 3 500 0\n"
        + "".join(f"~ 0 1000(0)/mV 16 0 0 0 0 {name}\n" for name in ("I", "II", "V1"))
    )
    (directory / "var.hea").write_text(
        "var/4 3 500 600\nvar_layout 0\nsegA 300\n~ 100\nsegB 200\n# age: 70\n"
    )


def test_variable_layout_with_gap_equals_wfdb_merge(tmp_path, signal):
    _variable_record(tmp_path, signal)
    ecg = read_ecg(tmp_path / "var")
    merged = wfdb.rdrecord(str(tmp_path / "var"), m2s=True)
    assert merged.sig_name == ["I", "II", "V1"]
    for k, lead in enumerate(merged.sig_name):
        np.testing.assert_array_equal(ecg.lead(lead), merged.p_signal[:, k].astype(np.float32))
    assert ecg.signal.shape == (12, 600) and ecg.meta["layout"] == "variable"
    assert ecg.meta["gaps"] == [[300, 400]] and ecg.meta["segments"] == 2
    assert np.isnan(ecg.lead("I")[300:400]).all() and not np.isnan(ecg.lead("I")[400:]).any()
    assert np.isnan(ecg.lead("II")[300:]).all()  # II is absent from segment B
    np.testing.assert_allclose(ecg.lead("V1")[400:], signal[400:600, 6], atol=1e-3)
    assert ecg.meta["nan_samples"] == {"I": 100, "II": 300, "V1": 100}
    assert ecg.meta["recorded_leads"] == ["I", "II", "V1"] and ecg.meta["age"] == 70


def test_variable_layout_converts_each_segment_from_its_own_units(tmp_path, signal):
    _variable_record(tmp_path, signal, second_unit="uV")
    merged = wfdb.rdrecord(str(tmp_path / "var"), m2s=True)
    assert merged.units is None  # wfdb drops the units and mixes µV with mV values
    ecg = read_ecg(tmp_path / "var")
    np.testing.assert_allclose(ecg.lead("I")[400:], signal[400:600, 0], atol=1e-3)
    np.testing.assert_allclose(ecg.lead("I")[:300], signal[:300, 0], atol=1e-3)


def test_multi_segment_errors_name_the_segment(tmp_path, signal):
    _variable_record(tmp_path, signal)
    (tmp_path / "segB.hea").unlink()
    with pytest.raises(ECGReadError, match=r"var: WFDB header not found: segB\.hea"):
        read_ecg(tmp_path / "var")
    _variable_record(tmp_path, signal)
    _wrsamp(tmp_path, "segB", signal[400:600, [6, 3]], ["V1", "aVR"])
    with pytest.raises(ECGReadError, match=r"segment segB has signals \['aVR'\] that the layout"):
        read_ecg(tmp_path / "var")
    _variable_record(tmp_path, signal)
    (tmp_path / "var.hea").write_text("var/3 3 500 650\nvar_layout 0\nsegA 300\nsegB 250\n")
    with pytest.raises(ECGReadError, match=r"segment segB holds 200 samples, the master .* 250"):
        read_ecg(tmp_path / "var")
    (tmp_path / "gaps.hea").write_text("gaps/2 3 500 200\n~ 100\n~ 100\n")
    with pytest.raises(ECGReadError, match="only gaps"):
        read_ecg(tmp_path / "gaps")


# ---- header quirks ---------------------------------------------------------------------------


def test_missing_sampling_frequency_needs_fs(tmp_path, signal):
    write_wfdb(tmp_path / "rec", signal, 360, [])
    _rewrite_header(tmp_path / "rec.hea", lambda lines: ["rec 12", *lines[1:]])
    assert wfdb.rdheader(str(tmp_path / "rec")).fs == 250  # what wfdb silently assumes
    with pytest.raises(ECGReadError, match=r"rec: the WFDB header gives no sampling .* fs="):
        read_ecg(tmp_path / "rec")
    ecg = read_ecg(tmp_path / "rec", fs=360)
    assert ecg.fs == 360 and ecg.signal.shape == (12, 1500) and ecg.meta["fs_source"] == "caller"
    np.testing.assert_allclose(ecg.signal, signal.T, atol=1e-3)
    write_wfdb(tmp_path / "ok", signal, 500, [])
    assert (
        read_ecg(tmp_path / "ok", fs=500).fs == 500
        and "fs_source" not in read_ecg(tmp_path / "ok").meta
    )
    with pytest.raises(ECGReadError, match=r"fs=250 conflicts with the header's .* 500 Hz"):
        read_ecg(tmp_path / "ok", fs=250)


def test_missing_units_are_millivolts_and_noted(tmp_path, signal):
    _wrsamp(tmp_path, "nounit", signal[:, :2], ["I", "II"], gain=200.0)
    _rewrite_header(
        tmp_path / "nounit.hea",
        lambda lines: [lines[0], lines[1].replace("/mV", ""), lines[2]],
    )
    ecg = read_ecg(tmp_path / "nounit")
    assert ecg.meta["units_assumed_mv"] == ["I"]
    np.testing.assert_allclose(ecg.lead("I"), signal[:, 0], atol=2.5e-3)
    np.testing.assert_allclose(ecg.lead("II"), signal[:, 1], atol=2.5e-3)
    _wrsamp(tmp_path, "units", signal[:, :2], ["I", "II"], unit="uV")
    assert "units_assumed_mv" not in read_ecg(tmp_path / "units").meta


@pytest.mark.parametrize("fmt", ["16", "212"])
def test_truncated_signal_file(tmp_path, signal, fmt):
    gain = 1000.0 if fmt == "16" else 200.0  # 212 holds 12 bits: ±10 mV at 200 adu/mV
    _wrsamp(tmp_path, "cut", signal, list(LEADS_12), fmt=fmt, gain=gain)
    full = read_ecg(tmp_path / "cut")
    dat = tmp_path / "cut.dat"
    frame_bytes = 24 if fmt == "16" else 18
    dat.write_bytes(dat.read_bytes()[: 1000 * frame_bytes + 5])  # 1000 frames and a partial
    with pytest.raises(ECGReadError, match=r"cut: signal file cut\.dat is truncated: the header "):
        read_ecg(tmp_path / "cut")
    with pytest.raises(ECGReadError, match="says 1500 samples per signal, the file holds 1000"):
        read_ecg(tmp_path / "cut.hea")
    ecg = read_ecg(tmp_path / "cut", on_truncated="read")
    assert ecg.signal.shape == (12, 1000)
    np.testing.assert_array_equal(ecg.signal, full.signal[:, :1000])
    assert ecg.meta["truncated"] == [{"file": "cut.dat", "expected": 1500, "found": 1000}]
    dat.write_bytes(b"")
    with pytest.raises(ECGReadError, match=r"the file holds 0$"):
        read_ecg(tmp_path / "cut", on_truncated="read")
    with pytest.raises(ECGReadError, match="on_truncated must be one of"):
        read_ecg(tmp_path / "cut", on_truncated="pad")


def test_truncated_segment_is_padded_with_nan_when_reading(tmp_path, signal):
    _variable_record(tmp_path, signal)
    dat = tmp_path / "segA.dat"
    dat.write_bytes(dat.read_bytes()[: 250 * 6])
    with pytest.raises(ECGReadError, match=r"var: signal file segA\.dat is truncated"):
        read_ecg(tmp_path / "var")
    ecg = read_ecg(tmp_path / "var", on_truncated="read")
    assert ecg.signal.shape == (12, 600)  # later segments keep their place in time
    assert np.isnan(ecg.lead("I")[250:400]).all()
    np.testing.assert_allclose(ecg.lead("I")[400:], signal[400:600, 0], atol=1e-3)
    assert ecg.meta["truncated"] == [
        {"segment": "segA", "file": "segA.dat", "expected": 300, "found": 250}
    ]


def test_nan_runs_and_all_nan_leads_are_kept(tmp_path, signal):
    values = signal[:, :3].copy()
    values[200:260, 0] = np.nan
    values[:, 2] = np.nan
    _wrsamp(tmp_path, "gaps", values, ["I", "II", "V1"])
    ecg = read_ecg(tmp_path / "gaps")
    assert ecg.meta["nan_samples"] == {"I": 60, "V1": 1500}
    assert np.isnan(ecg.lead("I")[200:260]).all() and not np.isnan(ecg.lead("I")[:200]).any()
    assert np.isnan(ecg.lead("III")[200:260]).all()  # derived leads inherit the gap
    # a lead without one valid sample is absent (the mask says so), its count kept in meta
    assert not ecg.present[LEADS_12.index("V1")] and ecg.present[LEADS_12.index("I")]


def _rename(hea: Path, renames: dict[str, str]) -> None:
    """Rename signals in a header (wfdb refuses to write duplicate names, real files have them)."""

    def edit(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            head, _, name = line.rpartition(" ")
            out.append(f"{head} {renames[name]}" if name in renames and head else line)
        return out

    _rewrite_header(hea, edit)


def test_lead_name_variants_and_duplicates(tmp_path, signal):
    names = ["lead i", "LEAD II", "v 1", "AVR", "ECG", "ECG2"]
    _wrsamp(tmp_path, "names", signal[:, [0, 1, 6, 3, 7, 8]], names)
    _rename(tmp_path / "names.hea", {"ECG2": "ECG"})
    assert wfdb.rdheader(str(tmp_path / "names")).sig_name[-2:] == ["ECG", "ECG"]
    ecg = read_ecg(tmp_path / "names")
    assert ecg.meta["recorded_leads"] == ["I", "II", "aVR", "V1"]
    assert ecg.meta["unrecognised_channels"] == ["ECG", "ECG (signal 6)"]
    np.testing.assert_allclose(ecg.lead("V1"), signal[:, 6], atol=1e-3)
    np.testing.assert_allclose(ecg.lead("aVR"), signal[:, 3], atol=1e-3)  # recorded, not derived
    _wrsamp(tmp_path, "twice", signal[:, :2], ["II", "ii"])
    with pytest.raises(ECGReadError, match=r"twice: lead II is given twice \('ii'\)"):
        read_ecg(tmp_path / "twice")
    _rename(tmp_path / "twice.hea", {"ii": "II"})  # the same name twice: once silently dropped
    with pytest.raises(ECGReadError, match=r"twice: lead II is given twice \(signal 2\)"):
        read_ecg(tmp_path / "twice")


# ---- a real ECG ------------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_ECG.is_file(), reason="tests/data/ecg/mitdb208_mlii_30s.npz absent")
@pytest.mark.parametrize("fmt", ["212", "16"])
def test_real_mitbih_record_reads_exactly_like_wfdb(tmp_path, fmt):
    with np.load(REAL_ECG) as data:
        adu, fs, gain = data["adu"].astype(np.int64), int(data["fs"]), int(data["gain_adu_per_mv"])
    assert fs == 360 and len(adu) == 30 * 360
    wfdb.wrsamp(
        "208",
        fs=fs,
        units=["mV"],
        sig_name=["MLII"],
        d_signal=(adu + 1024)[:, None],
        fmt=[fmt],
        adc_gain=[float(gain)],
        baseline=[1024],
        comments=["MIT-BIH Arrhythmia Database record 208, first 30 s"],
        write_dir=str(tmp_path),
    )
    ecg = read_ecg(tmp_path / "208")
    reference = wfdb.rdrecord(str(tmp_path / "208")).p_signal[:, 0]
    assert ecg.fs == 360 and ecg.signal.shape == (12, 10800)
    np.testing.assert_array_equal(ecg.lead("II"), reference.astype(np.float32))
    np.testing.assert_allclose(ecg.lead("II"), adu / gain, atol=1e-6)
    assert ecg.present.tolist() == [False, True] + [False] * 10  # MLII only: nothing derived
    assert 1.0 < np.nanmax(ecg.lead("II")) - np.nanmin(ecg.lead("II")) < 10.0  # a real QRS
