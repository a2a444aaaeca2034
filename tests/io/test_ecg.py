"""ECG readers on real formats written by the test: WFDB, GE MUSE XML, NumPy, CSV."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import wfdb

from biomm.demo.synthetic import synthetic_ecg, write_wfdb
from biomm.errors import ECGReadError
from biomm.io.ecg import ECG, LEADS_12, canonical_lead, read_ecg


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return synthetic_ecg(np.random.default_rng(0), 500, 4.0, 72.0, 0.0)  # [2000, 12] mV


def test_wfdb_twelve_leads_round_trip(tmp_path, signal):
    write_wfdb(tmp_path / "rec", signal, 500, ["age: 63", "sex: F", "Dx: 426783006, 164889003"])
    for name in ("rec", "rec.hea"):
        ecg = read_ecg(tmp_path / name)
        assert ecg.fs == 500 and ecg.signal.shape == (12, 2000) and ecg.present.all()
        np.testing.assert_allclose(ecg.signal, signal.T, atol=1e-3)  # 1 µV quantisation
        assert ecg.meta["age"] == 63 and ecg.meta["sex"] == "F"
        assert ecg.meta["statements"] == ["426783006", "164889003"]


def test_wfdb_two_leads_derives_limb_leads_and_masks_chest_leads(tmp_path, signal):
    wfdb.wrsamp(
        "two",
        fs=250,
        units=["uV", "uV"],
        sig_name=["MLI", "lead II"],
        p_signal=signal[:, :2] * 1000,
        fmt=["16", "16"],
        adc_gain=[1.0, 1.0],
        baseline=[0, 0],
        write_dir=str(tmp_path),
    )
    ecg = read_ecg(tmp_path / "two")
    assert ecg.fs == 250
    np.testing.assert_allclose(ecg.lead("I"), signal[:, 0], atol=1e-3)  # µV → mV
    np.testing.assert_allclose(ecg.lead("III"), signal[:, 1] - signal[:, 0], atol=2e-3)
    np.testing.assert_allclose(ecg.lead("aVR"), -(signal[:, 0] + signal[:, 1]) / 2, atol=2e-3)
    assert ecg.present.tolist() == [True] * 6 + [False] * 6
    assert np.isnan(ecg.lead("V1")).all()
    assert ecg.meta["recorded_leads"] == ["I", "II"]


def test_wfdb_errors_name_the_file(tmp_path, signal):
    write_wfdb(tmp_path / "rec", signal, 500, [])
    (tmp_path / "rec.dat").unlink()
    with pytest.raises(ECGReadError, match="signal file missing") as err:
        read_ecg(tmp_path / "rec")
    assert "rec" in str(err.value)
    (tmp_path / "bad.hea").write_text("bad twelve leads\n")
    with pytest.raises(ECGReadError, match="sampling frequency 'leads' on the record line"):
        read_ecg(tmp_path / "bad.hea")
    with pytest.raises(ECGReadError, match="header"):
        read_ecg(tmp_path / "none.hea")


def _muse_xml(signal: np.ndarray, per_bit: float = 4.88) -> str:
    leads = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    columns = [LEADS_12.index(lead) for lead in leads]
    blocks = []
    for lead, col in zip(leads, columns, strict=True):
        counts = np.round(signal[:, col] * 1000 / per_bit).astype("<i2")
        blocks.append(
            f"<LeadData><LeadID>{lead}</LeadID>"
            f"<LeadAmplitudeUnitsPerBit>{per_bit}</LeadAmplitudeUnitsPerBit>"
            "<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>"
            f"<WaveFormData>{base64.b64encode(counts.tobytes()).decode()}</WaveFormData>"
            "</LeadData>"
        )
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?><RestingECG>'
        "<PatientDemographics><PatientAge>71</PatientAge><Gender>MALE</Gender>"
        "</PatientDemographics><Diagnosis><DiagnosisStatement><StmtText>Sinus rhythm"
        "</StmtText></DiagnosisStatement><DiagnosisStatement><StmtText>Left axis deviation"
        "</StmtText></DiagnosisStatement></Diagnosis>"
        "<Waveform><WaveformType>Median</WaveformType><SampleBase>500</SampleBase></Waveform>"
        "<Waveform><WaveformType>Rhythm</WaveformType><SampleBase>500</SampleBase>"
        + "".join(blocks)
        + "</Waveform></RestingECG>"
    )


def test_muse_xml(tmp_path, signal):
    path = tmp_path / "muse.xml"
    path.write_text(_muse_xml(signal), encoding="latin-1")
    ecg = read_ecg(path)
    assert ecg.fs == 500 and ecg.present.all()  # 8 stored leads + 4 derived limb leads
    np.testing.assert_allclose(ecg.lead("V3"), signal[:, LEADS_12.index("V3")], atol=3e-3)
    np.testing.assert_allclose(ecg.lead("aVF"), signal[:, 1] - signal[:, 0] / 2, atol=5e-3)
    assert ecg.meta["age"] == 71 and ecg.meta["sex"] == "MALE"
    assert ecg.meta["statements"] == ["Sinus rhythm", "Left axis deviation"]


def test_muse_rejects_other_xml_and_entity_bombs(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text("<Report><x/></Report>")
    with pytest.raises(ECGReadError, match="not a GE MUSE export"):
        read_ecg(other)
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><RestingECG>&b;</RestingECG>'
    )
    with pytest.raises(ECGReadError, match="invalid XML"):
        read_ecg(bomb)
    broken = tmp_path / "broken.xml"
    broken.write_text("<RestingECG><Waveform>")
    with pytest.raises(ECGReadError, match="invalid XML"):
        read_ecg(broken)


def test_numpy_orientations_npz_and_units(tmp_path, signal):
    np.save(tmp_path / "a.npy", signal)  # [samples, 12]
    np.save(tmp_path / "b.npy", signal.T * 1000)  # [12, samples] in µV
    a = read_ecg(tmp_path / "a.npy", fs=500)
    b = read_ecg(tmp_path / "b.npy", fs=500, units="uV")
    np.testing.assert_allclose(a.signal, b.signal, atol=1e-5)
    with pytest.raises(ECGReadError, match="pass fs"):
        read_ecg(tmp_path / "a.npy")
    np.savez(tmp_path / "c.npz", signal=signal[:, :2].T, fs=250.0, leads=np.array(["I", "V2"]))
    c = read_ecg(tmp_path / "c.npz")
    assert c.fs == 250 and c.present.tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
    ]
    np.save(tmp_path / "obj.npy", np.array([object()], dtype=object))
    with pytest.raises(ECGReadError, match="unreadable NumPy"):
        read_ecg(tmp_path / "obj.npy", fs=500)


def test_csv_with_time_column(tmp_path, signal):
    t = np.arange(len(signal)) / 500
    rows = ["time,I,II,V1"] + [
        f"{t[k]},{signal[k, 0]},{signal[k, 1]},{signal[k, 6]}" for k in range(len(signal))
    ]
    (tmp_path / "e.csv").write_text("\n".join(rows))
    ecg = read_ecg(tmp_path / "e.csv")
    assert ecg.fs == pytest.approx(500)
    assert ecg.present[:7].all() and not ecg.present[7:].any()


@pytest.mark.parametrize(
    ("leads", "message"),
    [
        ({"X": np.zeros(3)}, "no recognisable"),
        ({"I": np.zeros(3), "i": np.zeros(3)}, "twice"),
        ({"I": np.zeros(3), "II": np.zeros(4)}, "differ in length"),
    ],
)
def test_record_validation(leads, message):
    with pytest.raises(ECGReadError, match=message):
        ECG.from_leads(leads, fs=500)


def test_lead_name_spellings_and_unknown_channels():
    assert [canonical_lead(n) for n in ("avl", "AVF", "V 6", "DIII", "Lead I", "Resp")] == [
        "aVL",
        "aVF",
        "V6",
        "III",
        "I",
        None,
    ]
    ecg = ECG.from_leads({"I": np.zeros(2), "Resp": np.zeros(2)}, fs=100)
    assert ecg.meta["unrecognised_channels"] == ["Resp"]
    with pytest.raises(ECGReadError, match="positive"):
        ECG.from_leads({"I": np.zeros(2)}, fs=0)


def test_unknown_extension(tmp_path):
    (tmp_path / "ecg.scp").write_bytes(b"SCP")
    with pytest.raises(ECGReadError, match="unknown ECG format"):
        read_ecg(Path(tmp_path / "ecg.scp"))  # SCP-ECG: not supported
    with pytest.raises(ECGReadError, match=r"missing_rec: file not found \(nor a WFDB header"):
        read_ecg(tmp_path / "missing_rec")  # a WFDB record named without .hea, absent


def test_truncated_or_fake_numpy_files_are_clear(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"\x00")
    with pytest.raises(ECGReadError, match=r"empty\.npy: not a NumPy"):
        read_ecg(tmp_path / "empty.npy", fs=500)
    np.save(tmp_path / "cut.npy", np.zeros((12, 1000), np.float32))
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:200])
    with pytest.raises(ECGReadError, match=r"cut\.npy: unreadable NumPy"):
        read_ecg(tmp_path / "cut.npy", fs=500)
