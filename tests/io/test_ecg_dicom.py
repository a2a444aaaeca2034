"""DICOM ECG waveform reader, on real DICOM Part 10 files written here with pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from biomm.demo.synthetic import synthetic_ecg
from biomm.errors import ECGReadError
from biomm.io.ecg import LEADS_12, read_ecg
from biomm.io.ecg.dicom import lead_from_code, parse_dicom_age, read_dicom_ecg
from biomm.io.ecg.readers import detect_format

TWELVE_LEAD = "1.2.840.10008.5.1.4.1.1.9.1.1"
GENERAL_ECG = "1.2.840.10008.5.1.4.1.1.9.1.2"
AMBULATORY_ECG = "1.2.840.10008.5.1.4.1.1.9.1.3"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SCP_NUMBER = {"I": 1, "II": 2, "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
SCP_NUMBER.update({f"V{k}": 2 + k for k in range(1, 7)})


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return synthetic_ecg(np.random.default_rng(3), 500, 4.0, 75.0, 0.1)  # [2000, 12] mV


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _group(
    signal_mv: np.ndarray,
    leads: list[str],
    *,
    fs: float = 500,
    label: str | None = "RHYTHM",
    unit: str = "uV",
    sensitivity: float = 2.5,
    correction: float = 0.98,
    baseline: float = 3.0,
    bits: int = 16,
    coding: str = "SCPECG",
    padding: int | None = None,
) -> Dataset:
    """One multiplex group: ``value = count × sensitivity × correction + baseline`` (``unit``)."""
    per_mv = {"uV": 1000.0, "mV": 1.0}[unit] if unit in ("uV", "mV") else 1.0
    dtype = {16: "<i2", 8: "i1"}[bits]
    limit = np.iinfo(dtype)
    counts = np.round((signal_mv * per_mv - baseline) / (sensitivity * correction))
    counts = np.clip(counts, limit.min + 1, limit.max).astype(dtype)
    group = Dataset()
    if label is not None:
        group.MultiplexGroupLabel = label
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(leads)
    group.NumberOfWaveformSamples = len(signal_mv)
    group.SamplingFrequency = fs
    group.WaveformBitsAllocated = bits
    group.WaveformSampleInterpretation = {16: "SS", 8: "SB"}[bits]
    channels = []
    for lead in leads:
        channel = Dataset()
        if coding == "SCPECG":
            source = _code(f"5.6.3-9-{SCP_NUMBER[lead]}", "SCPECG", f"Lead {lead}")
        elif coding == "MDC":
            source = _code(f"2:{SCP_NUMBER[lead]}", "MDC", f"Lead {lead}")
        else:  # a local code: only the meaning names the lead
            source = _code(f"L{lead}", "99LOCAL", f"Lead {lead} (Einthoven)")
        channel.ChannelSourceSequence = [source]
        channel.ChannelSensitivity = sensitivity
        channel.ChannelSensitivityCorrectionFactor = correction
        channel.ChannelBaseline = baseline
        channel.ChannelSensitivityUnitsSequence = [
            _code(unit, "UCUM", {"uV": "microvolt", "mV": "millivolt"}.get(unit, unit))
        ]
        channel.WaveformBitsStored = bits
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    if padding is not None:
        group.add_new(
            0x5400100A, "OW" if bits == 16 else "OB", np.array([padding], dtype).tobytes()
        )
    group.add_new(0x54001010, "OW" if bits == 16 else "OB", counts.tobytes())  # interleaved
    return group


def _write(
    path: Path, groups: list[Dataset], sop: str = TWELVE_LEAD, statements=("Sinus rhythm",)
) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientID, ds.PatientAge, ds.PatientSex = "P001", "063Y", "F"
    ds.WaveformSequence = groups
    annotations = []
    for text in statements:
        item = Dataset()
        item.UnformattedTextValue = text
        item.ReferencedWaveformChannels = [1, 0]
        annotations.append(item)
    if annotations:
        ds.WaveformAnnotationSequence = annotations
    ds.save_as(path, enforce_file_format=True)
    return path


def test_twelve_lead_round_trip_picks_rhythm_group_and_reads_metadata(tmp_path, signal):
    median = _group(signal[:600], list(LEADS_12), label="MEDIAN")
    rhythm = _group(signal, list(LEADS_12))
    path = _write(tmp_path / "ecg.dcm", [median, rhythm], statements=("Sinus rhythm", "Normal ECG"))
    ecg = read_ecg(path)
    assert ecg.fs == 500 and ecg.signal.shape == (12, 2000) and ecg.present.all()
    # quantisation: half a count of 2.5 µV × 0.98
    np.testing.assert_allclose(ecg.signal, signal.T, atol=1.3e-3)
    assert np.abs(ecg.signal - signal.T).max() > 1e-5  # really quantised, not copied
    assert ecg.meta["multiplex_group"] == "RHYTHM"
    assert ecg.meta["sop_class"] == "12-lead ECG Waveform Storage"
    assert ecg.meta["age"] == 63 and ecg.meta["sex"] == "F"
    assert ecg.meta["statements"] == ["Sinus rhythm", "Normal ECG"]
    assert ecg.meta["source_units"] == ["uV"] * 12 and ecg.meta["nan_samples"] == {}
    assert ecg.meta["recorded_leads"] == list(LEADS_12)
    # pydicom applies sensitivity, correction and baseline but stays in the channel's unit (µV)
    reference = pydicom.dcmread(path).waveform_array(1)
    np.testing.assert_allclose(ecg.signal, (reference / 1000).T.astype(np.float32), rtol=1e-6)
    assert read_dicom_ecg(path, group="median").signal.shape == (12, 600)
    assert read_dicom_ecg(path, group=0).meta["multiplex_group"] == "MEDIAN"
    with pytest.raises(ECGReadError, match="no multiplex group labelled 'MEDIANS'"):
        read_dicom_ecg(path, group="MEDIANS")


def test_millivolt_units_mdc_codes_and_extensionless_file(tmp_path, signal):
    group = _group(
        signal, list(LEADS_12), unit="mV", sensitivity=0.005, correction=1.0, baseline=0.0,
        coding="MDC", label=None, fs=500,
    )  # fmt: skip
    path = _write(tmp_path / "ECG0001", [group], sop=GENERAL_ECG, statements=())
    assert detect_format(path) == "dicom"
    ecg = read_ecg(path)
    np.testing.assert_allclose(ecg.signal, signal.T, atol=2.6e-3)  # half of 5 µV
    assert ecg.meta["source_units"] == ["mV"] * 12 and "statements" not in ecg.meta
    assert ecg.meta["sop_class"] == "General ECG Waveform Storage"
    # the same data declared in µV would read 1000 times smaller: the unit really is applied
    micro = _group(signal, list(LEADS_12), unit="uV", sensitivity=5.0, correction=1.0, baseline=0)
    ecg_uv = read_ecg(_write(tmp_path / "uv.dcm", [micro]))
    np.testing.assert_allclose(ecg_uv.signal, ecg.signal, atol=1e-6)


def test_eight_leads_derive_limb_leads(tmp_path, signal):
    leads = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    columns = [LEADS_12.index(lead) for lead in leads]
    path = _write(tmp_path / "eight.dcm", [_group(signal[:, columns], leads, coding="meaning")])
    ecg = read_ecg(path)
    assert ecg.present.all() and ecg.meta["recorded_leads"] == leads
    lead_i, lead_ii = signal[:, 0], signal[:, 1]
    np.testing.assert_allclose(ecg.lead("III"), lead_ii - lead_i, atol=3e-3)
    np.testing.assert_allclose(ecg.lead("aVR"), -(lead_i + lead_ii) / 2, atol=3e-3)
    np.testing.assert_allclose(ecg.lead("V4"), signal[:, 9], atol=1.3e-3)


def test_eight_bit_samples_and_longest_unlabelled_group(tmp_path, signal):
    short = _group(signal[:500] * 0, list(LEADS_12), label=None, bits=8, sensitivity=20.0)
    long = _group(signal, list(LEADS_12), label=None, bits=8, sensitivity=20.0, correction=1.0)
    path = _write(tmp_path / "ambulatory.dcm", [short, long], sop=AMBULATORY_ECG)
    ecg = read_ecg(path)
    assert ecg.signal.shape == (12, 2000) and ecg.meta["multiplex_group"] == "1"
    in_range = np.abs(signal.T * 1000 - 3.0) < 127 * 20  # 8 bits × 20 µV: ±2.5 mV
    np.testing.assert_allclose(ecg.signal[in_range], signal.T[in_range], atol=10.1e-3)


def test_padding_value_becomes_nan(tmp_path, signal):
    group = _group(signal, list(LEADS_12), padding=-32768, baseline=0.0, correction=1.0)
    data = np.frombuffer(group.WaveformData, "<i2").reshape(2000, 12).copy()
    data[100:150, 1] = -32768  # lead II invalid for 50 samples
    group.WaveformData = data.tobytes()
    ecg = read_ecg(_write(tmp_path / "pad.dcm", [group]))
    assert np.isnan(ecg.lead("II")[100:150]).all() and not np.isnan(ecg.lead("II")[:100]).any()
    assert ecg.meta["nan_samples"] == {"II": 50}


def test_image_and_non_dicom_files_are_rejected(tmp_path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CT_IMAGE, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    image = Dataset()
    image.file_meta = meta
    image.SOPClassUID, image.SOPInstanceUID = CT_IMAGE, meta.MediaStorageSOPInstanceUID
    image.Modality, image.Rows, image.Columns = "CT", 4, 4
    image.BitsAllocated, image.BitsStored, image.HighBit = 16, 16, 15
    image.SamplesPerPixel, image.PixelRepresentation = 1, 1
    image.PhotometricInterpretation = "MONOCHROME2"
    image.PixelData = np.zeros((4, 4), "<i2").tobytes()
    image.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    with pytest.raises(ECGReadError, match=r"ct\.dcm: not an ECG waveform \(SOP class: CT Image"):
        read_ecg(tmp_path / "ct.dcm")
    (tmp_path / "text.dcm").write_text("hello")
    with pytest.raises(ECGReadError, match=r"text\.dcm: not a DICOM file"):
        read_ecg(tmp_path / "text.dcm")
    (tmp_path / "plain").write_bytes(b"\0" * 200)  # no extension and no DICM magic
    with pytest.raises(ECGReadError, match="unknown ECG format '\\(no extension\\)'"):
        read_ecg(tmp_path / "plain")


def test_truncated_waveform_data_and_truncated_file(tmp_path, signal):
    group = _group(signal, list(LEADS_12))
    group.WaveformData = group.WaveformData[: 2000 * 12 * 2 - 480]
    path = _write(tmp_path / "short.dcm", [group])
    with pytest.raises(ECGReadError, match=r"short\.dcm: WaveformData is truncated: 47520 bytes, "):
        read_ecg(path)
    full = _write(tmp_path / "full.dcm", [_group(signal, list(LEADS_12))])
    data = full.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 20000])  # the file ends inside WaveformData
    with pytest.raises(ECGReadError, match=r"cut\.dcm: WaveformData is truncated: 28000 bytes"):
        read_ecg(cut)


def test_bad_channel_definitions(tmp_path, signal):
    group = _group(signal[:, :2], ["I", "II"])
    del group.ChannelDefinitionSequence[1].ChannelSensitivityUnitsSequence
    with pytest.raises(ECGReadError, match="channel 2 has no Channel Sensitivity Units"):
        read_ecg(_write(tmp_path / "nounit.dcm", [group]))
    group = _group(signal[:, :2], ["I", "II"], unit="mm[Hg]")
    with pytest.raises(ECGReadError, match="unsupported amplitude unit 'mm\\[Hg\\]'"):
        read_ecg(_write(tmp_path / "pressure.dcm", [group]))
    group = _group(signal[:, :2], ["II", "II"])
    with pytest.raises(ECGReadError, match="lead II is given twice"):
        read_ecg(_write(tmp_path / "twice.dcm", [group]))
    group = _group(signal[:, :2], ["I", "II"])
    group.NumberOfWaveformChannels = 3
    with pytest.raises(ECGReadError, match="truncated"):
        read_ecg(_write(tmp_path / "count.dcm", [group]))


@pytest.mark.parametrize(
    ("code", "scheme", "meaning", "lead"),
    [
        ("5.6.3-9-64", "SCPECG", None, "aVF"),
        ("2:8", "MDC", None, "V6"),
        ("MDC_ECG_LEAD_AVR", "MDC", None, "aVR"),
        ("X", "99LOCAL", "aVL, augmented voltage, left", "aVL"),
        ("X", "99LOCAL", "Lead II (Einthoven)", "II"),
        ("2:0", "MDC", "Lead, unspecified", None),
        ("5.6.3-9-1", "MDC", None, None),  # an SCP-ECG code under another scheme
    ],
)
def test_lead_codes(code, scheme, meaning, lead):
    assert lead_from_code(code, scheme, meaning) == lead


def test_age_strings():
    assert [parse_dicom_age(v) for v in ("063Y", "018M", "052W", "007D", "63", "6x")] == [
        63.0,
        1.5,
        pytest.approx(52 * 7 / 365.25),
        pytest.approx(7 / 365.25),
        63.0,
        None,
    ]
