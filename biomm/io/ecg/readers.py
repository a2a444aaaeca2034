"""ECG readers: WFDB, GE MUSE XML, NumPy and CSV → :class:`ECG` (mV, canonical leads).

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
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ECGReadError
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
_FORMATS = ("auto", "wfdb", "muse", "npy", "csv")


def _unit_factor(unit: str | None, path: Path) -> float:
    key = (unit or "mV").strip().lower()
    if key not in _UNIT_TO_MV:
        raise ECGReadError(f"unknown signal unit {unit!r} (expected mV, uV or V)", path=path)
    return _UNIT_TO_MV[key]


def detect_format(path: Path) -> str:
    """The reader for ``path`` from its extension (a WFDB record may omit ``.hea``).

    Examples:
        >>> detect_format(Path("rec/100.hea")), detect_format(Path("muse.xml"))
        ('wfdb', 'muse')
    """
    suffix = path.suffix.lower()
    if suffix == ".hea" or path.with_name(path.name + ".hea").exists():
        return "wfdb"
    if suffix == ".xml":
        return "muse"
    if suffix in (".npy", ".npz"):
        return "npy"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise ECGReadError(
        f"unknown ECG format {suffix or '(no extension)'!r}; supported: WFDB (.hea), GE MUSE "
        "(.xml), NumPy (.npy/.npz), CSV",
        path=path,
    )


def read_ecg(
    path: str | PathLike[str],
    *,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    units: str = "mV",
    format: str = "auto",
) -> ECG:
    """Read an ECG record.

    Args:
        path: The record (WFDB header or record name, MUSE XML, ``.npy``/``.npz``, CSV).
        fs: Sampling rate, required for NumPy and CSV without a time column.
        leads: Lead names for NumPy arrays (default: the 12 standard leads in order).
        units: Units of NumPy/CSV values (``mV``, ``uV``, ``V``).
        format: ``auto`` or one of ``wfdb``, ``muse``, ``npy``, ``csv``.

    Raises:
        ECGReadError: Naming the file and the reason.
    """
    path = Path(path)
    if format not in _FORMATS:
        raise ECGReadError(f"unknown format {format!r}; expected one of {_FORMATS}", path=path)
    kind = detect_format(path) if format == "auto" else format
    if kind != "wfdb" and not path.is_file():
        raise ECGReadError("file not found", path=path)
    reader = {"wfdb": _read_wfdb, "muse": _read_muse, "npy": _read_numpy, "csv": _read_csv}[kind]
    return reader(path, fs=fs, leads=leads, units=units)


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


def _read_wfdb(path: Path, **_: Any) -> ECG:
    import wfdb

    stem = path.with_suffix("") if path.suffix.lower() == ".hea" else path
    if not stem.with_name(stem.name + ".hea").is_file():
        raise ECGReadError("WFDB header (.hea) not found", path=path)
    try:
        record = wfdb.rdrecord(str(stem), physical=True)
    except FileNotFoundError as exc:
        raise ECGReadError(
            f"WFDB signal file missing: {Path(str(exc.filename)).name}", path=path
        ) from None
    except Exception as exc:  # wfdb raises many types on malformed headers and data
        raise ECGReadError(
            f"unreadable WFDB record ({type(exc).__name__}: {exc})", path=path
        ) from None
    if record.p_signal is None or record.fs is None:
        raise ECGReadError("WFDB record has no physical signal or sampling rate", path=path)
    units = record.units or ["mV"] * record.n_sig
    channels = {
        name: record.p_signal[:, k] * _unit_factor(units[k], path)
        for k, name in enumerate(record.sig_name)
    }
    meta = _header_meta(record.comments or [])
    meta["format"] = "wfdb"
    return ECG.from_leads(channels, float(record.fs), meta=meta, path=path)


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
    try:
        fs = float(_text(chosen, "SampleBase") or "nan")
    except ValueError:
        fs = float("nan")
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
        raise ECGReadError("this format does not store the sampling rate: pass fs=...", path=path)
    return float(fs)


def _read_numpy(
    path: Path, *, fs: float | None, leads: Sequence[str] | None, units: str, **_: Any
) -> ECG:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ECGReadError(f"unreadable NumPy file: {exc}", path=path) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "signal" not in loaded:
                raise ECGReadError(
                    f"an .npz ECG needs a 'signal' array (has {loaded.files})", path=path
                )
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
