"""Bad ECG records (read with :func:`biomm.io.ecg.read_ecg`).

WFDB cases start from a valid 1 s, 12-lead record written by
:func:`biomm.demo.synthetic.write_wfdb` and damage its header or signal file; DICOM, GE MUSE
XML, NumPy and CSV cases are written here. Formats that do not store the sampling rate (NumPy,
CSV) are read as a cohort run given ``--fs 500`` reads them.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader

FS = 500
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def _read(path: Path) -> None:
    from biomm.io.ecg import read_ecg

    no_rate = path.suffix.lower() in (".npy", ".csv", ".tsv", ".txt")
    read_ecg(path, fs=FS if no_rate else None)


READER = Reader("ecg", "biomm.io.ecg.read_ecg(path) (fs=500 for .npy/.csv)", _read)


def _signal(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    from biomm.demo.synthetic import synthetic_ecg

    return synthetic_ecg(rng, FS, seconds, 70.0, 0.0)  # [samples, 12] mV


def _wfdb(folder: Path, rng: np.random.Generator) -> Path:
    """A valid record ``rec.hea`` + ``rec.dat``; returns the header path."""
    from biomm.demo.synthetic import write_wfdb

    write_wfdb(folder / "rec", _signal(rng), FS, ["age: 61", "sex: F"])
    return folder / "rec.hea"


def _edit_header(folder: Path, rng: np.random.Generator, old: str, new: str, count: int = 1) -> str:
    hea = _wfdb(folder, rng)
    text = hea.read_text(encoding="ascii")
    assert old in text, (old, text)
    hea.write_text(text.replace(old, new, count), encoding="ascii")
    return hea.name


# ---- WFDB ------------------------------------------------------------------------------------


def _zero_length_hea(folder: Path, rng: np.random.Generator) -> str:
    (folder / "rec.hea").write_bytes(b"")
    return "rec.hea"


def _dat_missing(folder: Path, rng: np.random.Generator) -> str:
    hea = _wfdb(folder, rng)
    (folder / "rec.dat").unlink()
    return hea.name


def _dat_truncated(folder: Path, rng: np.random.Generator) -> str:
    hea = _wfdb(folder, rng)
    dat = folder / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:5001])  # cut mid-frame, after 208 of 500 samples
    return hea.name


def _dat_is_text(folder: Path, rng: np.random.Generator) -> str:
    hea = _wfdb(folder, rng)
    rows = np.round(_signal(rng) * 1000).astype(int)[:200]
    (folder / "rec.dat").write_text(
        "\n".join(",".join(str(v) for v in row) for row in rows) + "\n", encoding="ascii"
    )
    return hea.name


def _fewer_signal_lines(folder: Path, rng: np.random.Generator) -> str:
    hea = _wfdb(folder, rng)
    lines = hea.read_text(encoding="ascii").splitlines()
    del lines[12]  # the V6 line: the record line still says 12 signals
    hea.write_text("\n".join(lines) + "\n", encoding="ascii")
    return hea.name


def _absurd_length(folder: Path, rng: np.random.Generator) -> str:
    return _edit_header(folder, rng, "rec 12 500 500", "rec 12 500 1000000000000")


def _fs_not_a_number(folder: Path, rng: np.random.Generator) -> str:
    return _edit_header(folder, rng, "rec 12 500 500", "rec 12 abc 500")


def _fs_zero(folder: Path, rng: np.random.Generator) -> str:
    return _edit_header(folder, rng, "rec 12 500 500", "rec 12 0 500")


def _gain_zero(folder: Path, rng: np.random.Generator) -> str:
    hea = _wfdb(folder, rng)
    lines = hea.read_text(encoding="ascii").splitlines()
    lines[2] = lines[2].replace("1000.0(0)/mV", "0(0)/mV")  # lead II
    hea.write_text("\n".join(lines) + "\n", encoding="ascii")
    return hea.name


def _unknown_format(folder: Path, rng: np.random.Generator) -> str:
    return _edit_header(folder, rng, "rec.dat 16 ", "rec.dat 99 ", count=12)


def _duplicate_lead(folder: Path, rng: np.random.Generator) -> str:
    return _edit_header(folder, rng, " 0 III\n", " 0 II\n")


def _latin1_file_name(folder: Path, rng: np.random.Generator) -> str:
    # the header (written on Windows) names "réc.dat" in Latin-1; the file on disk is UTF-8
    hea = _wfdb(folder, rng)
    (folder / "rec.dat").rename(folder / "r\u00e9c.dat")
    text = hea.read_text(encoding="ascii").replace("rec.dat", "r\u00e9c.dat")
    hea.write_bytes(text.encode("latin-1"))
    return hea.name


def _segment_missing(folder: Path, rng: np.random.Generator) -> str:
    from biomm.demo.synthetic import write_wfdb

    write_wfdb(folder / "rec_1", _signal(rng), FS, [])
    (folder / "rec.hea").write_text("rec/2 12 500 1000\nrec_1 500\nrec_2 500\n", encoding="ascii")
    return "rec.hea"


def _segment_length_mismatch(folder: Path, rng: np.random.Generator) -> str:
    from biomm.demo.synthetic import write_wfdb

    write_wfdb(folder / "rec_1", _signal(rng), FS, [])
    (folder / "rec.hea").write_text("rec/1 12 500 800\nrec_1 800\n", encoding="ascii")
    return "rec.hea"


# ---- DICOM -----------------------------------------------------------------------------------

TWELVE_LEAD = "1.2.840.10008.5.1.4.1.1.9.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_SCP = dict(zip(LEADS, (1, 2, 61, 62, 63, 64, 3, 4, 5, 6, 7, 8), strict=True))
_UID_ROOT = "1.2.826.0.1.3680043.8.498.20261128."


def _dicom_ecg(
    folder: Path,
    rng: np.random.Generator,
    *,
    n_samples: int | None = None,
    sop: str = TWELVE_LEAD,
    name: str = "ecg.dcm",
) -> Path:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    signal = _signal(rng, 0.5)
    counts = np.round(signal * 1000 / 2.5).astype("<i2")  # 2.5 µV per count
    group = Dataset()
    group.MultiplexGroupLabel = "RHYTHM"
    group.NumberOfWaveformChannels = 12
    group.NumberOfWaveformSamples = len(counts) if n_samples is None else n_samples
    group.SamplingFrequency = FS
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    channels = []
    for lead in LEADS:
        source, unit = Dataset(), Dataset()
        source.CodeValue = f"5.6.3-9-{_SCP[lead]}"
        source.CodingSchemeDesignator, source.CodeMeaning = "SCPECG", f"Lead {lead}"
        unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "uV", "UCUM", "microvolt"
        channel = Dataset()
        channel.ChannelSourceSequence = [source]
        channel.ChannelSensitivity = 2.5
        channel.ChannelSensitivityUnitsSequence = [unit]
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    group.add_new(0x54001010, "OW", counts.tobytes())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = _UID_ROOT + "1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _UID_ROOT + "2"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientID = "BAD-0001"
    ds.WaveformSequence = [group]
    path = folder / name
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _dicom_samples_overstated(folder: Path, rng: np.random.Generator) -> str:
    return _dicom_ecg(folder, rng, n_samples=5000).name


def _dicom_absurd_samples(folder: Path, rng: np.random.Generator) -> str:
    return _dicom_ecg(folder, rng, n_samples=4_000_000_000).name


def _dicom_cut(folder: Path, rng: np.random.Generator) -> str:
    path = _dicom_ecg(folder, rng)
    path.write_bytes(path.read_bytes()[:2000])
    return path.name


def _dicom_not_ecg(folder: Path, rng: np.random.Generator) -> str:
    return _dicom_ecg(folder, rng, sop=SECONDARY_CAPTURE).name


# ---- GE MUSE XML -----------------------------------------------------------------------------


def _lead_data(lead: str, values: np.ndarray, per_bit: str = "4.88") -> str:
    counts = np.round(values * 1000 / 4.88).astype("<i2")
    return (
        f"<LeadData><LeadID>{lead}</LeadID>"
        f"<LeadAmplitudeUnitsPerBit>{per_bit}</LeadAmplitudeUnitsPerBit>"
        "<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>"
        f"<WaveFormData>{base64.b64encode(counts.tobytes()).decode()}</WaveFormData>"
        "</LeadData>"
    )


def _muse(rng: np.random.Generator, *, sample_base: str = "500", extra: str = "") -> str:
    signal = _signal(rng, 0.5)
    leads = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    blocks = "".join(_lead_data(lead, signal[:, LEADS.index(lead)]) for lead in leads)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><RestingECG>'
        "<PatientDemographics><PatientAge>58</PatientAge><Gender>FEMALE</Gender>"
        "</PatientDemographics><Waveform><WaveformType>Rhythm</WaveformType>"
        f"<SampleBase>{sample_base}</SampleBase>{blocks}{extra}</Waveform></RestingECG>"
    )


def _muse_duplicate_lead(folder: Path, rng: np.random.Generator) -> str:
    other = _lead_data("V3", np.zeros(250))  # a second, flat V3
    (folder / "muse.xml").write_text(_muse(rng, extra=other), encoding="utf-8")
    return "muse.xml"


def _muse_rate_text(folder: Path, rng: np.random.Generator) -> str:
    (folder / "muse.xml").write_text(_muse(rng, sample_base="fivehundred"), encoding="utf-8")
    return "muse.xml"


def _muse_bad_base64(folder: Path, rng: np.random.Generator) -> str:
    text = _muse(rng)
    start = text.index("<WaveFormData>") + len("<WaveFormData>")
    (folder / "muse.xml").write_text(text[:start] + "@@not*base64@@" + text[start:], "utf-8")
    return "muse.xml"


def _muse_latin1(folder: Path, rng: np.random.Generator) -> str:
    text = _muse(rng).replace("<Gender>", "<Gender>F\xe9minin ")  # declared UTF-8
    (folder / "muse.xml").write_bytes(text.encode("latin-1"))
    return "muse.xml"


def _muse_truncated(folder: Path, rng: np.random.Generator) -> str:
    data = _muse(rng).encode("utf-8")
    (folder / "muse.xml").write_bytes(data[: len(data) * 2 // 3])
    return "muse.xml"


# ---- NumPy and CSV ---------------------------------------------------------------------------


def _npy_with_nan(folder: Path, rng: np.random.Generator) -> str:
    signal = rng.normal(0, 0.1, (500, 12)).astype(np.float32)
    signal[100:200, 3] = np.nan
    signal[:, :] = np.inf
    np.save(folder / "rec.npy", signal)
    return "rec.npy"


def _npy_absurd_shape(folder: Path, rng: np.random.Generator) -> str:
    np.save(folder / "rec.npy", _signal(rng, 0.2).astype(np.float32))
    data = (folder / "rec.npy").read_bytes()
    header_end = data.index(b"\n") + 1
    header = data[:header_end].replace(b"(100, 12)", b"(100000000000, 12)")
    header = header[:-1].rstrip(b" ")
    header = header + b" " * (header_end - 1 - len(header)) + b"\n"
    (folder / "rec.npy").write_bytes(header + data[header_end:])
    return "rec.npy"


def _png_named_npy(folder: Path, rng: np.random.Generator) -> str:
    from PIL import Image

    trace = (rng.random((40, 120)) * 255).astype(np.uint8)
    Image.fromarray(trace).save(folder / "rec.npy", format="PNG")
    return "rec.npy"


def _csv_with_inf(folder: Path, rng: np.random.Generator) -> str:
    signal = np.round(_signal(rng, 0.2), 3)
    rows = [",".join(LEADS)] + [",".join(f"{v:g}" for v in row) for row in signal]
    rows[20] = ",".join(["inf"] * 12)
    (folder / "rec.csv").write_text("\n".join(rows) + "\n", encoding="ascii")
    return "rec.csv"


def _csv_no_numbers(folder: Path, rng: np.random.Generator) -> str:
    rows = [",".join(LEADS)] + [",".join(["n/a"] * 12) for _ in range(20)]
    (folder / "rec.csv").write_text("\n".join(rows) + "\n", encoding="ascii")
    return "rec.csv"


CASES = [
    Case(
        "zero-length-header",
        "a WFDB header file of 0 bytes",
        "ECGReadError",
        r"empty|no record line",
        _zero_length_hea,
        "zero-length",
    ),
    Case(
        "npy-all-inf",
        "a NumPy record whose samples are all +inf",
        "ECGReadError",
        r"infinite|non-finite",
        _npy_with_nan,
        "nan-inf",
    ),
    Case(
        "dat-missing",
        "a WFDB header without its .dat signal file",
        "ECGReadError",
        r"signal file missing: rec\.dat",
        _dat_missing,
        "missing",
    ),
    Case(
        "dat-truncated",
        "a .dat cut mid-frame: 208 of the 500 samples the header declares",
        "ECGReadError",
        r"truncated.*500 samples",
        _dat_truncated,
        "truncated",
    ),
    Case(
        "dat-is-csv-text",
        "the .dat signal file holds CSV text instead of binary samples",
        "ECGReadError",
        r"truncated|signal file",
        _dat_is_text,
        "wrong-magic",
    ),
    Case(
        "fewer-signal-lines",
        "the record line says 12 signals, the header has 11 signal lines",
        "ECGReadError",
        r"12 signals.*11|signal lines",
        _fewer_signal_lines,
        "header-vs-data",
    ),
    Case(
        "absurd-sample-count",
        "the header claims 10¹² samples per signal for a 12 KB .dat",
        "ECGReadError",
        r"1000000000000|10\^12|samples",
        _absurd_length,
        "absurd-dimensions",
    ),
    Case(
        "fs-not-a-number",
        "sampling frequency 'abc' on the record line",
        "ECGReadError",
        r"sampling frequency|record line",
        _fs_not_a_number,
        "wrong-types",
    ),
    Case(
        "fs-zero",
        "sampling frequency 0 Hz on the record line",
        "ECGReadError",
        r"sampling (frequency|rate).*\b0\b",
        _fs_zero,
        "wrong-types",
    ),
    Case(
        "gain-zero",
        "ADC gain 0 for lead II",
        "ECGReadError",
        r"gain",
        _gain_zero,
        "wrong-types",
    ),
    Case(
        "unknown-storage-format",
        "WFDB storage format 99 (no such format)",
        "ECGReadError",
        r"format 99|storage format",
        _unknown_format,
        "unsupported-compression",
    ),
    Case(
        "duplicate-lead",
        "two signals named II (the III line renamed)",
        "ECGReadError",
        r"lead II is given twice",
        _duplicate_lead,
        "duplicated-keys",
    ),
    Case(
        "latin1-file-name",
        "the header names its signal file 'réc.dat' in Latin-1; the file's name is UTF-8",
        "ECGReadError",
        r"signal file missing",
        _latin1_file_name,
        "non-utf8",
    ),
    Case(
        "segment-missing",
        "a multi-segment record whose second segment rec_2 does not exist",
        "ECGReadError",
        r"rec_2",
        _segment_missing,
        "missing",
    ),
    Case(
        "segment-length-mismatch",
        "the master header says segment rec_1 has 800 samples, it has 500",
        "ECGReadError",
        r"500 samples.*800",
        _segment_length_mismatch,
        "header-vs-data",
    ),
    Case(
        "dicom-samples-overstated",
        "a DICOM ECG declaring 5000 samples per channel with data for 250",
        "ECGReadError",
        r"WaveformData is truncated",
        _dicom_samples_overstated,
        "header-vs-data",
    ),
    Case(
        "dicom-absurd-samples",
        "a DICOM ECG declaring 4·10⁹ samples per channel",
        "ECGReadError",
        r"WaveformData is truncated",
        _dicom_absurd_samples,
        "absurd-dimensions",
    ),
    Case(
        "dicom-cut",
        "a DICOM ECG cut after 2000 bytes, inside its waveform data",
        "ECGReadError",
        r"unreadable DICOM|truncated|malformed",
        _dicom_cut,
        "truncated",
    ),
    Case(
        "dicom-not-an-ecg",
        "a DICOM secondary-capture object in the ECG folder",
        "ECGReadError",
        r"not an ECG waveform",
        _dicom_not_ecg,
        "wrong-magic",
    ),
    Case(
        "muse-duplicate-lead",
        "a GE MUSE XML with two <LeadData> for V3",
        "ECGReadError",
        r"V3.*twice",
        _muse_duplicate_lead,
        "duplicated-keys",
    ),
    Case(
        "muse-rate-not-a-number",
        "a GE MUSE XML with <SampleBase>fivehundred</SampleBase>",
        "ECGReadError",
        r"SampleBase|sampling rate",
        _muse_rate_text,
        "wrong-types",
    ),
    Case(
        "muse-bad-base64",
        "a GE MUSE XML whose first lead's waveform is not base64",
        "ECGReadError",
        r"undecodable waveform",
        _muse_bad_base64,
        "other",
    ),
    Case(
        "muse-latin1-in-utf8",
        "a GE MUSE XML declared UTF-8 holding a Latin-1 byte",
        "ECGReadError",
        r"invalid XML",
        _muse_latin1,
        "non-utf8",
    ),
    Case(
        "muse-truncated",
        "a GE MUSE XML cut at two thirds",
        "ECGReadError",
        r"invalid XML",
        _muse_truncated,
        "truncated",
    ),
    Case(
        "npy-absurd-shape",
        "a .npy header claiming 10¹¹ × 12 float32 samples in a 5 KB file",
        "ECGReadError",
        r"truncated|header",
        _npy_absurd_shape,
        "absurd-dimensions",
    ),
    Case(
        "png-named-npy",
        "a PNG picture of a tracing renamed to .npy",
        "ECGReadError",
        r"not a NumPy",
        _png_named_npy,
        "wrong-magic",
    ),
    Case(
        "csv-with-inf",
        "a CSV whose 20th row is 'inf' in every lead",
        "ECGReadError",
        r"infinite|non-finite",
        _csv_with_inf,
        "nan-inf",
    ),
    Case(
        "csv-no-numbers",
        "a CSV whose every value is 'n/a'",
        "ECGReadError",
        r"no numbers",
        _csv_no_numbers,
        "wrong-types",
    ),
]
