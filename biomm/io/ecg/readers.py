"""ECG readers: WFDB, DICOM, GE MUSE XML, NumPy and CSV → :class:`ECG` (mV, canonical leads).

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "e.csv"
    >>> _ = p.write_text("I,II\\n0.1,0.2\\n0.3,0.4\\n")
    >>> [round(float(v), 3) for v in read_ecg(p, fs=500).lead("III")]
    [0.1, 0.1]
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ECGReadError
from biomm.io._files import read_npy_header
from biomm.io.ecg.dicom import is_dicom_file, nan_counts, read_dicom_ecg
from biomm.io.ecg.leads import canonical_lead
from biomm.io.ecg.record import ECG

#: Factors from a unit string to millivolts.
_UNIT_TO_MV = {
    "mv": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolts": 1e-3,
    "millivolts": 1.0,
    "v": 1e3,
    "volts": 1e3,
    "nv": 1e-6,
}
_FORMATS = ("auto", "wfdb", "dicom", "muse", "npy", "csv")
_ON_TRUNCATED = ("error", "read")


def _unit_factor(unit: str | None, path: Path) -> float:
    key = (unit or "mV").strip().lower()
    if key not in _UNIT_TO_MV:
        raise ECGReadError(f"unknown signal unit {unit!r} (expected mV, uV or V)", path=path)
    return _UNIT_TO_MV[key]


def detect_format(path: Path) -> str:
    """The reader for ``path`` from its extension, or the DICOM magic for other files.

    A WFDB record may omit ``.hea``; a DICOM file may have no extension (``DICM`` at byte 128).

    Examples:
        >>> detect_format(Path("rec/100.hea")), detect_format(Path("muse.xml"))
        ('wfdb', 'muse')
        >>> detect_format(Path("ecg.dcm"))
        'dicom'
    """
    suffix = path.suffix.lower()
    if suffix == ".hea" or path.with_name(path.name + ".hea").exists():
        return "wfdb"
    if suffix in (".dcm", ".dicom"):
        return "dicom"
    if suffix == ".xml":
        return "muse"
    if suffix in (".npy", ".npz"):
        return "npy"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    if is_dicom_file(path):
        return "dicom"
    if not path.exists():
        raise ECGReadError(
            f"file not found (nor a WFDB header {path.name}.hea)"
            if not suffix
            else "file not found",
            path=path,
        )
    raise ECGReadError(
        f"unknown ECG format {suffix or '(no extension)'!r}; supported: WFDB (.hea), DICOM "
        "(.dcm), GE MUSE (.xml), NumPy (.npy/.npz), CSV",
        path=path,
    )


def read_ecg(
    path: str | PathLike[str],
    *,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    units: str = "mV",
    format: str = "auto",
    on_truncated: str = "error",
) -> ECG:
    """Read an ECG record.

    Args:
        path: The record (WFDB header or record name, single- or multi-segment; DICOM ECG
            waveform; MUSE XML; ``.npy``/``.npz``; CSV).
        fs: Sampling rate, required for NumPy and CSV without a time column, and for a WFDB
            header without one (a WFDB header that has one must agree with it).
        leads: Lead names for NumPy arrays (default: the 12 standard leads in order).
        units: Units of NumPy/CSV values (``mV``, ``uV``, ``V``).
        format: ``auto`` or one of ``wfdb``, ``dicom``, ``muse``, ``npy``, ``csv``.
        on_truncated: For a WFDB signal file shorter than its header says: ``error``
            (default) or ``read`` (the samples present, noted in ``meta["truncated"]``).

    Raises:
        ECGReadError: Naming the file and the reason.

    Examples:
        >>> import tempfile
        >>> from biomm.demo.synthetic import synthetic_ecg, write_wfdb
        >>> stem = Path(tempfile.mkdtemp()) / "rec"
        >>> write_wfdb(stem, synthetic_ecg(np.random.default_rng(0), 500, 2.0, 60, 0), 500, [])
        >>> ecg = read_ecg(stem)
        >>> ecg.fs, ecg.signal.shape, ecg.meta["format"]
        (500.0, (12, 1000), 'wfdb')
    """
    path = Path(path)
    if format not in _FORMATS:
        raise ECGReadError(f"unknown format {format!r}; expected one of {_FORMATS}", path=path)
    if on_truncated not in _ON_TRUNCATED:
        raise ECGReadError(
            f"on_truncated must be one of {_ON_TRUNCATED}, got {on_truncated!r}", path=path
        )
    kind = detect_format(path) if format == "auto" else format
    if kind != "wfdb" and not path.is_file():
        raise ECGReadError("file not found", path=path)
    reader = {
        "wfdb": _read_wfdb,
        "dicom": _read_dicom,
        "muse": _read_muse,
        "npy": _read_numpy,
        "csv": _read_csv,
    }[kind]
    return reader(path, fs=fs, leads=leads, units=units, on_truncated=on_truncated)


def _header_meta(comments: Sequence[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"comments": list(comments)}
    for comment in comments:
        key, sep, value = comment.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "age":
            with contextlib.suppress(ValueError):
                meta["age"] = float(value)
        elif key == "sex":
            meta["sex"] = value
        elif key in ("dx", "diagnosis", "statements"):
            meta["statements"] = [v.strip() for v in re.split(r"[,;]", value) if v.strip()]
    return meta


#: Samples per block of bytes of each WFDB storage format, to count the samples a signal file
#: holds. The FLAC formats (508, 516, 524) are compressed and are not counted.
_WFDB_PACKING = {
    "8": (1, 1),
    "16": (1, 2),
    "24": (1, 3),
    "32": (1, 4),
    "61": (1, 2),
    "80": (1, 1),
    "160": (1, 2),
    "212": (2, 3),
    "310": (3, 4),
    "311": (3, 4),
}


#: Every WFDB storage format code (signal(5)); 0 is a null signal.
_WFDB_FORMATS = frozenset(
    {"0", "8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524"}
)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _leading_number(field: str) -> float | None:
    """The number a WFDB header field starts with (``500/250(0)`` → 500), or None."""
    match = _NUMBER.match(field)
    return float(match.group(0)) if match else None


def _check_header_fields(lines: list[list[str]], hea: Path, where: Path) -> None:
    """Check the fields wfdb would silently default: sampling frequency, formats, gains.

    The wfdb package reads an unparseable sampling frequency as 250 Hz and an ADC gain of 0
    as 200 adu/mV, and fails with a bare ``KeyError`` on an unknown storage format; these
    checks name the field instead.
    """
    record = lines[0]
    if len(record) >= 3:
        fs = _leading_number(record[2])
        if fs is None or not np.isfinite(fs) or fs <= 0:
            raise ECGReadError(
                f"sampling frequency {record[2]!r} on the record line of {hea.name} is not a "
                "positive number",
                path=where,
            )
    if "/" in record[0]:  # multi-segment: segment lines, checked when each segment is read
        return
    try:
        n_sig = int(record[1]) if len(record) >= 2 else 0
    except ValueError:
        raise ECGReadError(
            f"number of signals {record[1]!r} on the record line of {hea.name} is not an integer",
            path=where,
        ) from None
    if len(lines) - 1 != n_sig:
        raise ECGReadError(
            f"the record line of {hea.name} declares {n_sig} signals, the header has "
            f"{len(lines) - 1} signal lines",
            path=where,
        )
    for k, fields in enumerate(lines[1:], start=1):
        name = fields[8] if len(fields) > 8 else f"signal {k}"
        fmt = re.match(r"\d*", fields[1]).group(0) if len(fields) > 1 else ""
        if fmt not in _WFDB_FORMATS:
            raise ECGReadError(
                f"{name}: WFDB storage format {fields[1] if len(fields) > 1 else '(none)'!r} is "
                f"not a known format (known: {', '.join(sorted(_WFDB_FORMATS, key=int))})",
                path=where,
            )
        if len(fields) > 2:
            gain = _leading_number(fields[2])
            if gain is None or not np.isfinite(gain):
                raise ECGReadError(f"{name}: ADC gain {fields[2]!r} is not a number", path=where)
            if gain == 0:
                raise ECGReadError(
                    f"{name}: ADC gain 0 marks an uncalibrated signal: its amplitude in mV is "
                    "unknown",
                    path=where,
                )


def _plausible_length(lines: list[list[str]], stem: Path) -> bool:
    """False when the header declares far more samples than its signal files can hold.

    A cheap guard before ``wfdb.rdrecord``, which sizes its buffers from the header: no WFDB
    format stores more than 4 samples in 3 bytes.
    """
    record = lines[0]
    if len(record) < 4 or not record[3].isdigit():
        return True
    files = {fields[0] for fields in lines[1:] if fields and fields[0] != "~"}
    on_disk = 0
    for name in files:
        file = stem.parent / name
        on_disk += file.stat().st_size if file.is_file() else 0
    return int(record[3]) * max(1, len(lines) - 1) <= 2 * on_disk + 1024


@dataclass
class _Segment:
    """One single-segment WFDB record, in mV."""

    names: list[str]
    signal: np.ndarray  # [samples, signals] float64 mV
    fs: float | None
    fs_declared: bool
    units_assumed: list[str]
    truncated: dict[str, Any] | None
    comments: list[str]


def _header_lines(hea: Path, where: Path) -> list[list[str]]:
    """The fields of each non-comment line of a WFDB header."""
    try:
        text = hea.read_text(encoding="latin-1")
    except OSError as exc:
        raise ECGReadError(f"unreadable WFDB header {hea.name}: {exc}", path=where) from None
    lines = [
        line.split()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ECGReadError(f"WFDB header {hea.name} has no record line", path=where)
    return lines


def _frames_on_disk(stem: Path, header: Any, where: Path) -> tuple[int, str] | None:
    """The fewest whole frames any signal file of ``header`` holds, and that file's name."""
    n_sig = header.n_sig
    offsets = header.byte_offset or [None] * n_sig
    per_frame = header.samps_per_frame or [1] * n_sig
    by_file: dict[str, list[int]] = {}
    for k, name in enumerate(header.file_name):
        by_file.setdefault(name, []).append(k)
    fewest: tuple[int, str] | None = None
    for name, signals in by_file.items():
        packing = _WFDB_PACKING.get(str(header.fmt[signals[0]]))
        if packing is None:  # compressed (FLAC) or null signals: wfdb checks them itself
            continue
        file = stem.parent / name
        if not file.is_file():
            raise ECGReadError(f"WFDB signal file missing: {name}", path=where)
        per_block, block_bytes = packing
        n_bytes = max(file.stat().st_size - int(offsets[signals[0]] or 0), 0)
        frames = n_bytes * per_block // block_bytes // sum(int(per_frame[k] or 1) for k in signals)
        if fewest is None or frames < fewest[0]:
            fewest = (frames, name)
    return fewest


def _rdrecord_if_complete(stem: Path) -> Any:
    """``wfdb.rdrecord`` when it reads every sample the header declares, else None."""
    import wfdb

    try:
        record = wfdb.rdrecord(str(stem), physical=True)
    except Exception:  # any failure is diagnosed by the slow path
        return None
    expected = int(record.sig_len or 0)
    if record.p_signal is None or (expected and len(record.p_signal) != expected):
        return None
    return record


def _rdrecord_checked(stem: Path, where: Path, on_truncated: str) -> tuple[Any, Any]:
    """Read a record after checking its header and signal files; clear errors otherwise."""
    import wfdb

    try:
        header = wfdb.rdheader(str(stem))
    except Exception as exc:  # wfdb raises many types on malformed headers
        raise ECGReadError(
            f"unreadable WFDB record ({type(exc).__name__}: {exc})", path=where
        ) from None
    sampto, truncated = None, None
    expected = int(header.sig_len or 0)
    fewest = _frames_on_disk(stem, header, where) if header.n_sig and expected else None
    if fewest is not None and fewest[0] < expected:
        found, file = fewest
        if on_truncated == "error" or found == 0:
            hint = "; pass on_truncated='read' to read them" if found else ""
            raise ECGReadError(
                f"signal file {file} is truncated: the header says {expected} samples per "
                f"signal, the file holds {found}{hint}",
                path=where,
            )
        sampto, truncated = found, {"file": file, "expected": expected, "found": found}
    try:
        record = wfdb.rdrecord(str(stem), physical=True, sampto=sampto)
    except FileNotFoundError as exc:
        raise ECGReadError(
            f"WFDB signal file missing: {Path(str(exc.filename)).name}", path=where
        ) from None
    except Exception as exc:  # wfdb raises many types on malformed headers and data
        raise ECGReadError(
            f"unreadable WFDB record ({type(exc).__name__}: {exc})", path=where
        ) from None
    return record, truncated


def _read_wfdb_segment(stem: Path, where: Path, on_truncated: str) -> _Segment:
    """Read one single-segment record (a whole record or a segment of a multi-segment one)."""
    hea = stem.with_name(stem.name + ".hea")
    if not hea.is_file():
        raise ECGReadError(f"WFDB header not found: {hea.name}", path=where)
    lines = _header_lines(hea, where)
    _check_header_fields(lines, hea, where)
    record = None
    if _plausible_length(lines, stem):  # the fast path: one header parse, complete data
        record = _rdrecord_if_complete(stem)
    truncated = None
    if record is None:  # diagnose: malformed header, missing or truncated signal file
        record, truncated = _rdrecord_checked(stem, where, on_truncated)
    if record.p_signal is None or not record.n_sig:
        raise ECGReadError(f"WFDB record {stem.name} has no signals", path=where)
    declared = [  # the gain field of a signal line is "gain(baseline)/units"
        k + 1 < len(lines) and len(lines[k + 1]) > 2 and "/" in lines[k + 1][2]
        for k in range(record.n_sig)
    ]
    units = [
        unit if ok else "mV"
        for unit, ok in zip(record.units or [None] * record.n_sig, declared, strict=True)
    ]
    factors = np.array([_unit_factor(unit, where) for unit in units])
    signal = record.p_signal * factors  # one vectorised unit conversion to mV
    return _Segment(
        names=[str(n) for n in record.sig_name],
        signal=signal,
        fs=float(record.fs) if record.fs else None,
        fs_declared=len(lines[0]) >= 3,
        units_assumed=[n for n, ok in zip(record.sig_name, declared, strict=True) if not ok],
        truncated=truncated,
        comments=list(record.comments or []),
    )


def _read_multi_segment(
    stem: Path, where: Path, on_truncated: str, fs_declared: bool
) -> tuple[_Segment, dict[str, Any]]:
    """Merge the segments of a multi-segment record; gaps (``~``) become NaN."""
    import wfdb

    try:
        master = wfdb.rdheader(str(stem))
    except Exception as exc:  # wfdb raises many types on malformed headers
        raise ECGReadError(
            f"unreadable WFDB multi-segment header ({type(exc).__name__}: {exc})", path=where
        ) from None
    seg_names = [str(n) for n in master.seg_name]
    seg_lens = [int(n) for n in master.seg_len]
    variable = bool(seg_lens) and seg_lens[0] == 0
    names: list[str] | None = None
    if variable:
        try:
            names = [str(n) for n in wfdb.rdheader(str(stem.parent / seg_names[0])).sig_name]
        except Exception as exc:  # a missing or malformed layout header
            raise ECGReadError(
                f"unreadable layout segment {seg_names[0]} ({type(exc).__name__}: {exc})",
                path=where,
            ) from None
        if len(set(names)) != len(names):
            raise ECGReadError(f"layout {seg_names[0]} names a signal twice: {names}", path=where)
    pairs = list(zip(seg_names, seg_lens, strict=True))[1 if variable else 0 :]
    total = sum(n for _, n in pairs)
    signal: np.ndarray | None = None
    start, gaps, truncated, assumed, n_read = 0, [], [], [], 0
    for name, length in pairs:
        if name == "~":
            gaps.append([start, start + length])
            start += length
            continue
        seg = _read_wfdb_segment(stem.parent / name, where, on_truncated)
        if fs_declared and seg.fs_declared and seg.fs and not np.isclose(seg.fs, master.fs):
            raise ECGReadError(
                f"segment {name} is sampled at {seg.fs:g} Hz, the record at {master.fs:g} Hz",
                path=where,
            )
        n = len(seg.signal)
        if n != length and not (seg.truncated and n < length):
            raise ECGReadError(
                f"segment {name} holds {n} samples, the master header says {length}", path=where
            )
        if names is None:
            names = seg.names
        if variable:
            unknown = [s for s in seg.names if s not in names]
            if unknown:
                raise ECGReadError(
                    f"segment {name} has signals {unknown} that the layout does not list",
                    path=where,
                )
            columns = [names.index(s) for s in seg.names]
        elif len(seg.names) != len(names):
            raise ECGReadError(
                f"fixed-layout segment {name} has {len(seg.names)} signals, not {len(names)}",
                path=where,
            )
        else:
            columns = list(range(len(names)))
        if signal is None:
            signal = np.full((total, len(names)), np.nan)
        signal[start : start + n, columns] = seg.signal
        if seg.truncated:
            truncated.append({"segment": name, **seg.truncated})
        assumed += [s for s in seg.units_assumed if s not in assumed]
        start += length
        n_read += 1
    if signal is None or names is None:
        raise ECGReadError("multi-segment record has no signal segment (only gaps)", path=where)
    merged = _Segment(
        names=names,
        signal=signal,
        fs=float(master.fs) if master.fs else None,
        fs_declared=True,
        units_assumed=assumed,
        truncated=None,
        comments=list(master.comments or []),
    )
    info = {"layout": "variable" if variable else "fixed", "segments": n_read, "gaps": gaps}
    if truncated:
        info["truncated"] = truncated
    return merged, info


def _wfdb_rate(declared: bool, header_fs: float | None, fs: float | None, path: Path) -> float:
    if declared and header_fs:
        if fs is not None and not np.isclose(float(fs), header_fs):
            raise ECGReadError(
                f"fs={fs:g} conflicts with the header's sampling frequency {header_fs:g} Hz",
                path=path,
            )
        return header_fs
    if fs is None:
        raise ECGReadError(
            "the WFDB header gives no sampling frequency (WFDB software would assume 250 Hz); "
            "pass fs=... to read it",
            path=path,
        )
    return float(fs)


def _named_channels(names: Sequence[str], signal: np.ndarray, path: Path) -> dict[str, Any]:
    rows = np.ascontiguousarray(signal.T, dtype=np.float32)  # one transpose, leads contiguous
    channels: dict[str, Any] = {}
    for k, name in enumerate(names):
        if name in channels:
            if canonical_lead(name) is not None:
                raise ECGReadError(f"lead {name} is given twice (signal {k + 1})", path=path)
            name = f"{name} (signal {k + 1})"  # two unrecognised signals with one name
        channels[name] = rows[k]
    return channels


def _read_wfdb(
    path: Path, *, fs: float | None = None, on_truncated: str = "error", **_: Any
) -> ECG:
    """WFDB single- or multi-segment record.

    Repairs and checks, each recorded in ``meta``:

    * no sampling frequency on the record line: an error unless ``fs`` is given
      (``meta["fs_source"] = "caller"``); WFDB software silently assumes 250 Hz;
    * no units on a signal line: mV, as the WFDB header format specifies
      (``meta["units_assumed_mv"]`` lists those signals);
    * a signal file shorter than the header says: an error, or with ``on_truncated="read"``
      the whole frames present (``meta["truncated"]``: file, expected and found samples);
    * invalid samples (the format's reserved value) and multi-segment gaps (``~``) stay NaN
      (``meta["nan_samples"]`` per lead, ``meta["gaps"]`` as ``[start, stop)`` samples);
    * variable-layout multi-segment records are merged by signal name, each segment converted
      from its own units, so segments in µV and mV mix correctly.
    """
    stem = path.with_suffix("") if path.suffix.lower() == ".hea" else path
    hea = stem.with_name(stem.name + ".hea")
    if not hea.is_file():
        raise ECGReadError("WFDB header (.hea) not found", path=path)
    lines = _header_lines(hea, path)
    _check_header_fields(lines, hea, path)
    record_line = lines[0]
    info: dict[str, Any] = {}
    if "/" in record_line[0]:
        seg, info = _read_multi_segment(stem, path, on_truncated, len(record_line) >= 3)
    else:
        seg = _read_wfdb_segment(stem, path, on_truncated)
        if seg.truncated:
            info["truncated"] = [seg.truncated]
    rate = _wfdb_rate(len(record_line) >= 3, seg.fs, fs, path)
    meta = _header_meta(seg.comments)
    meta["format"] = "wfdb"
    meta.update(info)
    if len(record_line) < 3:
        meta["fs_source"] = "caller"
    if seg.units_assumed:
        meta["units_assumed_mv"] = seg.units_assumed
    ecg = ECG.from_leads(_named_channels(seg.names, seg.signal, path), rate, meta=meta, path=path)
    ecg.meta["nan_samples"] = nan_counts(ecg)
    return ecg


def _read_dicom(path: Path, **_: Any) -> ECG:
    return read_dicom_ecg(path)


def _text(node: Any, tag: str) -> str | None:
    found = node.find(tag)
    return found.text.strip() if found is not None and found.text else None


def _read_muse(path: Path, **_: Any) -> ECG:
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise ECGReadError(f"invalid XML: {exc}", path=path) from None
    if root.tag != "RestingECG":
        raise ECGReadError(f"not a GE MUSE export (root element <{root.tag}>)", path=path)
    waveforms = root.findall("Waveform")
    chosen = next((w for w in waveforms if _text(w, "WaveformType") == "Rhythm"), None)
    chosen = chosen or (waveforms[0] if waveforms else None)
    if chosen is None:
        raise ECGReadError("MUSE file has no <Waveform>", path=path)
    rate = _text(chosen, "SampleBase")
    try:
        fs = float(rate or "nan")
    except ValueError:
        raise ECGReadError(
            f"<SampleBase> {rate!r} is not a sampling rate in Hz", path=path
        ) from None
    channels: dict[str, np.ndarray] = {}
    for lead in chosen.findall("LeadData"):
        name = _text(lead, "LeadID")
        data = _text(lead, "WaveFormData")
        if not name or not data:
            raise ECGReadError("a <LeadData> lacks LeadID or WaveFormData", path=path)
        try:
            raw = np.frombuffer(base64.b64decode(data), dtype="<i2")
            per_bit = float(_text(lead, "LeadAmplitudeUnitsPerBit") or "1")
        except (ValueError, TypeError) as exc:
            raise ECGReadError(f"lead {name}: undecodable waveform ({exc})", path=path) from None
        unit = _text(lead, "LeadAmplitudeUnits") or "MICROVOLTS"
        if name in channels:
            raise ECGReadError(f"lead {name} is given twice (two <LeadData>)", path=path)
        channels[name] = raw.astype(np.float32) * per_bit * _unit_factor(unit, path)
    meta: dict[str, Any] = {"format": "muse"}
    demographics = root.find("PatientDemographics")
    if demographics is not None:
        age = _text(demographics, "PatientAge")
        if age and age.replace(".", "", 1).isdigit():
            meta["age"] = float(age)
        sex = _text(demographics, "Gender")
        if sex:
            meta["sex"] = sex
    statements = [s.text.strip() for s in root.iter("StmtText") if s.text and s.text.strip()]
    if statements:
        meta["statements"] = statements
    return ECG.from_leads(channels, fs, meta=meta, path=path)


def _require_fs(fs: float | None, path: Path) -> float:
    if fs is None:
        raise ECGReadError(
            "this format does not store the sampling rate: pass fs (--fs on the command line)",
            path=path,
        )
    return float(fs)


def _check_npy_header(fh: Any, size: int, path: Path, what: str = "") -> None:
    """Refuse a ``.npy`` whose header declares more data than the file holds (before loading).

    NumPy would allocate the declared size first, so a corrupt header could ask for terabytes.
    """
    try:
        shape, dtype = read_npy_header(fh)
    except (ValueError, OSError, EOFError) as exc:
        raise ECGReadError(f"unreadable NumPy file: bad {what}header ({exc})", path=path) from None
    if dtype.hasobject:
        raise ECGReadError(
            f"unreadable NumPy file: the {what}array holds Python objects (pickled data), "
            "which biomm never loads",
            path=path,
        )
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = size - fh.tell()
    if needed > available:
        raise ECGReadError(
            f"unreadable NumPy file: the {what}array is truncated: its header declares shape "
            f"{tuple(shape)} of "
            f"{dtype} ({needed:,} bytes), the file holds {max(available, 0):,}",
            path=path,
        )


def _read_numpy(
    path: Path, *, fs: float | None, leads: Sequence[str] | None, units: str, **_: Any
) -> ECG:
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise ECGReadError("not a NumPy .npy/.npz file (wrong or missing header)", path=path)
    if magic == b"\x93NUMPY":
        with open(path, "rb") as fh:
            _check_npy_header(fh, path.stat().st_size, path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ECGReadError(f"unreadable NumPy file: {exc}", path=path) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "signal" not in loaded:
                raise ECGReadError(
                    f"an .npz ECG needs a 'signal' array (has {loaded.files})", path=path
                )
            member = next(n for n in loaded.zip.namelist() if Path(n).stem == "signal")
            with loaded.zip.open(member) as fh:
                _check_npy_header(fh, loaded.zip.getinfo(member).file_size, path, "'signal' ")
            array = loaded["signal"]
            fs = float(loaded["fs"]) if "fs" in loaded else fs
            if "leads" in loaded and leads is None:
                leads = [str(v) for v in loaded["leads"]]
    else:
        array = loaded
    fs = _require_fs(fs, path)
    if array.ndim != 2 or array.dtype.kind not in "iuf":
        raise ECGReadError(
            f"expected a 2-D numeric array, got {array.dtype} {array.shape}", path=path
        )
    names = list(leads) if leads is not None else None
    n_leads = len(names) if names else (12 if 12 in array.shape else min(array.shape))
    if array.shape[0] != n_leads:
        array = array.T
    if array.shape[0] != n_leads:
        raise ECGReadError(f"array {array.shape} does not have {n_leads} leads", path=path)
    names = names or [f"ch{k}" for k in range(n_leads)]
    if leads is None and n_leads == 12:
        from biomm.io.ecg.leads import LEADS_12

        names = list(LEADS_12)
    factor = _unit_factor(units, path)
    channels = {name: array[k].astype(np.float32) * factor for k, name in enumerate(names)}
    return ECG.from_leads(channels, fs, meta={"format": "npy"}, path=path)


def _read_csv(path: Path, *, fs: float | None, units: str, **_: Any) -> ECG:
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else None
    try:
        frame = pd.read_csv(path, sep=sep, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ECGReadError(f"unreadable CSV: {exc}", path=path) from None
    time_col = next(
        (c for c in frame.columns if str(c).strip().lower() in ("time", "t", "s")), None
    )
    if fs is None and time_col is not None and len(frame) > 1:
        steps = np.diff(pd.to_numeric(frame[time_col], errors="coerce").to_numpy())
        if np.isfinite(steps).all() and steps.min() > 0:
            fs = 1.0 / float(np.median(steps))
    fs = _require_fs(fs, path)
    factor = _unit_factor(units, path)
    channels = {}
    for col in frame.columns:
        if col == time_col:
            continue
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().all():
            raise ECGReadError(f"column {col!r} holds no numbers", path=path)
        channels[str(col)] = values.to_numpy(np.float32) * factor
    return ECG.from_leads(channels, fs, meta={"format": "csv"}, path=path)
