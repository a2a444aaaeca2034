"""DICOM ECG waveforms (12-lead, general and ambulatory ECG storage) → :class:`ECG` in mV.

A DICOM ECG keeps its samples in the Waveform Sequence: one item per *multiplex group*
(e.g. a 10 s ``RHYTHM`` group and a ``MEDIAN`` beat group), each with interleaved integer
samples (``C1S1, C2S1, …, CnS1, C1S2, …``) and one Channel Definition item per channel that
names the lead (a coded Channel Source) and calibrates it::

    value = (sample × ChannelSensitivity × ChannelSensitivityCorrectionFactor + ChannelBaseline)

in the units of the Channel Sensitivity Units Sequence (UCUM ``uV``, ``mV``…), which this
module converts to mV. ChannelBaseline is, per PS3.3 (003A,0213), the "offset of encoded
sample value 0 from actual 0" in those units, so it is added after scaling (pydicom's
``Dataset.waveform_array`` uses the same convention and returns values in the channel's own
units, not in mV).

Examples:
    >>> lead_from_code("5.6.3-9-62", "SCPECG"), lead_from_code("2:1", "MDC")
    ('aVR', 'I')
    >>> lead_from_code(None, None, "Lead V3"), lead_from_code("MDC_ECG_LEAD_AVF", "MDC")
    ('V3', 'aVF')
    >>> parse_dicom_age("063Y"), parse_dicom_age("006M")
    (63.0, 0.5)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ECGReadError
from biomm.io.ecg.leads import canonical_lead
from biomm.io.ecg.record import ECG

#: SOP Class UIDs of the DICOM ECG waveform objects this reader accepts.
ECG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG Waveform Storage",
}

_LEAD_ORDER = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF")
_LEAD_NUMBERS = (1, 2, 3, 4, 5, 6, 7, 8, 61, 62, 63, 64)
#: SCP-ECG lead codes (scheme ``SCPECG``) and MDC codes (scheme ``MDC``, ``2:<n>``) of DICOM
#: CID 3001 "ECG Lead" for the 12 standard leads: both use the SCP-ECG lead numbers.
SCPECG_LEAD_CODES = {
    f"5.6.3-9-{n}": lead for n, lead in zip(_LEAD_NUMBERS, _LEAD_ORDER, strict=True)
}
MDC_LEAD_CODES = {f"2:{n}": lead for n, lead in zip(_LEAD_NUMBERS, _LEAD_ORDER, strict=True)}

#: UCUM codes and meanings of voltage units → factor to mV.
_UCUM_TO_MV = {
    "nv": 1e-6,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "mv": 1.0,
    "v": 1e3,
    "nanovolt": 1e-6,
    "microvolt": 1e-3,
    "millivolt": 1.0,
    "volt": 1e3,
}

#: (WaveformBitsAllocated, WaveformSampleInterpretation) → NumPy dtype (without byte order).
_SAMPLE_DTYPES = {
    (8, "SB"): "i1",
    (8, "UB"): "u1",
    (16, "SS"): "i2",
    (16, "US"): "u2",
    (32, "SL"): "i4",
    (32, "UL"): "u4",
}


def is_dicom_file(path: str | PathLike[str]) -> bool:
    """True when ``path`` is a file with the DICOM Part 10 magic ``DICM`` at byte 128.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "ecg"
        >>> _ = p.write_bytes(b"\\0" * 128 + b"DICM")
        >>> is_dicom_file(p), is_dicom_file(p.with_name("missing"))
        (True, False)
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def lead_from_code(
    code_value: str | None, scheme: str | None, meaning: str | None = None
) -> str | None:
    """The canonical lead named by a DICOM Channel Source code, or None.

    Tries the code value (SCP-ECG ``5.6.3-9-n``, MDC ``2:n`` or ``MDC_ECG_LEAD_X``), then the
    code meaning (``Lead I``, ``Lead I (Einthoven)``, ``aVR, augmented voltage, right``).

    Examples:
        >>> lead_from_code("5.6.3-9-61", "SCPECG"), lead_from_code("X", "99LOCAL", "Lead aVL")
        ('III', 'aVL')
        >>> lead_from_code("2:0", "MDC", "Lead, unspecified") is None
        True
    """
    code = (code_value or "").strip()
    scheme = (scheme or "").strip().upper()
    if code in SCPECG_LEAD_CODES and scheme in ("SCPECG", ""):
        return SCPECG_LEAD_CODES[code]
    if code in MDC_LEAD_CODES and scheme in ("MDC", ""):
        return MDC_LEAD_CODES[code]
    if code.upper().startswith("MDC_ECG_LEAD_"):
        lead = canonical_lead(code[len("MDC_ECG_LEAD_") :])
        if lead is not None:
            return lead
    if meaning:
        text = re.split(r"[,(]", meaning, maxsplit=1)[0]
        return canonical_lead(text)
    return None


def parse_dicom_age(value: str | None) -> float | None:
    """Age in years from a DICOM Age String (``nnnD``, ``nnnW``, ``nnnM`` or ``nnnY``).

    Examples:
        >>> parse_dicom_age("045Y"), parse_dicom_age("014D") is not None, parse_dicom_age("")
        (45.0, True, None)
    """
    match = re.fullmatch(r"\s*(\d{1,3})\s*([DWMY]?)\s*", value or "", flags=re.I)
    if not match:
        return None
    number = float(match.group(1))
    per_year = {"D": 365.25, "W": 365.25 / 7, "M": 12.0, "Y": 1.0, "": 1.0}
    return number / per_year[match.group(2).upper()]


def _first(sequence: Any) -> Any:
    return sequence[0] if sequence else None


def _group_label(item: Any) -> str:
    return str(item.get("MultiplexGroupLabel", "") or "").strip()


def _choose_group(groups: Sequence[Any], group: int | str | None, path: Path) -> int:
    if isinstance(group, int):
        if not 0 <= group < len(groups):
            raise ECGReadError(
                f"multiplex group {group} requested, the file has {len(groups)}", path=path
            )
        return group
    labels = [_group_label(g).upper() for g in groups]
    wanted = (group or "RHYTHM").strip().upper()
    if wanted in labels:
        return labels.index(wanted)
    if group is not None:
        raise ECGReadError(
            f"no multiplex group labelled {group!r}; groups: {[_group_label(g) for g in groups]}",
            path=path,
        )

    def duration(item: Any) -> float:
        try:
            return float(item.NumberOfWaveformSamples) / float(item.SamplingFrequency)
        except (AttributeError, TypeError, ValueError, ZeroDivisionError):
            return 0.0

    durations = [duration(g) for g in groups]
    return int(np.argmax(durations))


def _unit_factor(channel: Any, index: int, path: Path) -> tuple[float, str]:
    unit_item = _first(channel.get("ChannelSensitivityUnitsSequence"))
    if unit_item is None:
        raise ECGReadError(
            f"channel {index + 1} has no Channel Sensitivity Units Sequence: amplitude unknown",
            path=path,
        )
    code = str(unit_item.get("CodeValue", "") or "").strip()
    meaning = str(unit_item.get("CodeMeaning", "") or "").strip()
    for key in (code, code.lower(), meaning.lower()):
        if key.lower() in _UCUM_TO_MV:
            return _UCUM_TO_MV[key.lower()], code or meaning
    raise ECGReadError(
        f"channel {index + 1}: unsupported amplitude unit {code or meaning!r} "
        "(expected a voltage: uV, mV, V)",
        path=path,
    )


def _number(item: Any, keyword: str, default: float) -> float:
    value = item.get(keyword)
    return default if value is None or value == "" else float(value)


def _channel_name(channel: Any, index: int) -> str:
    source = _first(channel.get("ChannelSourceSequence"))
    if source is not None:
        lead = lead_from_code(
            source.get("CodeValue"), source.get("CodingSchemeDesignator"), source.get("CodeMeaning")
        )
        if lead is not None:
            return lead
    label = str(channel.get("ChannelLabel", "") or "").strip()
    if label and canonical_lead(label) is not None:
        return label
    if source is not None and source.get("CodeMeaning"):
        return str(source.CodeMeaning)
    return label or f"channel {index + 1}"


def _decode_group(item: Any, little_endian: bool, path: Path) -> tuple[np.ndarray, float]:
    """Integer samples ``[samples, channels]`` and the rate of one multiplex group."""
    missing = [
        key
        for key in (
            "NumberOfWaveformChannels",
            "NumberOfWaveformSamples",
            "SamplingFrequency",
            "WaveformBitsAllocated",
            "WaveformSampleInterpretation",
            "WaveformData",
        )
        if key not in item
    ]
    if missing:
        raise ECGReadError(
            f"multiplex group lacks {', '.join(missing)} (a truncated or incomplete file?)",
            path=path,
        )
    n_channels = int(item.NumberOfWaveformChannels)
    n_samples = int(item.NumberOfWaveformSamples)
    bits = int(item.WaveformBitsAllocated)
    interpretation = str(item.WaveformSampleInterpretation).strip().upper()
    if (bits, interpretation) not in _SAMPLE_DTYPES:
        raise ECGReadError(
            f"unsupported waveform sample encoding: {bits} bits, {interpretation!r} "
            f"(supported: {sorted(_SAMPLE_DTYPES)})",
            path=path,
        )
    dtype = np.dtype(_SAMPLE_DTYPES[(bits, interpretation)]).newbyteorder(
        "<" if little_endian else ">"
    )
    data = bytes(item.WaveformData)
    expected = n_channels * n_samples * dtype.itemsize
    if n_channels < 1 or n_samples < 1:
        raise ECGReadError(
            f"multiplex group declares {n_channels} channels × {n_samples} samples", path=path
        )
    if len(data) < expected:
        raise ECGReadError(
            f"WaveformData is truncated: {len(data)} bytes, expected {expected} "
            f"({n_channels} channels × {n_samples} samples × {dtype.itemsize} bytes)",
            path=path,
        )
    samples = np.frombuffer(data[:expected], dtype=dtype).reshape(n_samples, n_channels)
    fs = float(item.SamplingFrequency)
    return samples, fs


def read_dicom_ecg(path: str | PathLike[str], *, group: int | str | None = None) -> ECG:
    """Read a DICOM 12-lead, general or ambulatory ECG waveform object.

    Args:
        path: The DICOM file (Part 10, with or without the ``.dcm`` extension).
        group: The multiplex group: an index or a MultiplexGroupLabel. By default the group
            labelled ``RHYTHM``, else the longest one.

    Returns:
        The ECG in mV. Samples equal to WaveformPaddingValue are NaN. ``meta`` holds
        ``age`` (years), ``sex``, ``statements`` (unformatted annotation text), ``sop_class``,
        ``multiplex_group``, ``source_units`` and ``nan_samples`` (NaN counts per recorded
        lead, only leads that have any).

    Raises:
        ECGReadError: Naming the file: not DICOM, not an ECG waveform (e.g. an image),
            unsupported encoding or unit, truncated WaveformData.

    Examples:
        >>> import tempfile
        >>> image = Path(tempfile.mkdtemp()) / "ct.dcm"
        >>> _ = image.write_bytes(b"not a DICOM file")
        >>> read_dicom_ecg(image)
        Traceback (most recent call last):
        ...
        biomm.errors.ECGReadError: .../ct.dcm: not a DICOM file ...
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise ECGReadError(f"not a DICOM file ({exc})", path=path) from None
    except FileNotFoundError:
        raise ECGReadError("file not found", path=path) from None
    except Exception as exc:  # pydicom raises many types on malformed or cut files
        raise ECGReadError(
            f"unreadable DICOM file ({type(exc).__name__}: {exc})", path=path
        ) from None
    try:
        return _ecg_from_dataset(ds, group, path)
    except ECGReadError:
        raise
    except Exception as exc:  # malformed element values: bad DS strings, wrong VRs, cut data
        raise ECGReadError(
            f"malformed DICOM ECG ({type(exc).__name__}: {exc})", path=path
        ) from None


def _ecg_from_dataset(ds: Any, group: int | str | None, path: Path) -> ECG:
    meta_info = getattr(ds, "file_meta", None)
    sop_class = str(
        ds.get("SOPClassUID", "")
        or (meta_info.get("MediaStorageSOPClassUID", "") if meta_info else "")
    )
    if sop_class not in ECG_SOP_CLASSES:
        from pydicom.uid import UID

        name = UID(sop_class).name if sop_class else "no SOP Class UID"
        raise ECGReadError(f"not an ECG waveform (SOP class: {name})", path=path)
    groups = ds.get("WaveformSequence")
    if not groups:
        raise ECGReadError("not an ECG waveform: the Waveform Sequence is empty", path=path)
    index = _choose_group(groups, group, path)
    item = groups[index]
    little_endian = getattr(ds, "original_encoding", (None, True))[1] is not False
    samples, fs = _decode_group(item, little_endian, path)
    definitions = item.get("ChannelDefinitionSequence") or []
    if len(definitions) != samples.shape[1]:
        raise ECGReadError(
            f"{samples.shape[1]} channels but {len(definitions)} channel definitions",
            path=path,
        )
    invalid = None
    if "WaveformPaddingValue" in item:
        padding = bytes(item.WaveformPaddingValue)[: samples.dtype.itemsize]
        if len(padding) == samples.dtype.itemsize:
            invalid = samples == np.frombuffer(padding, dtype=samples.dtype)[0]
    channels: dict[str, np.ndarray] = {}
    units: list[str] = []
    for k, channel in enumerate(definitions):
        factor, unit = _unit_factor(channel, k, path)
        sensitivity = _number(channel, "ChannelSensitivity", 1.0)
        correction = _number(channel, "ChannelSensitivityCorrectionFactor", 1.0)
        baseline = _number(channel, "ChannelBaseline", 0.0)
        values = (samples[:, k] * (sensitivity * correction) + baseline) * factor
        if invalid is not None:
            values = np.where(invalid[:, k], np.nan, values)
        name = _channel_name(channel, k)
        if name in channels:
            if canonical_lead(name) is not None:
                raise ECGReadError(f"lead {name} is given twice (channel {k + 1})", path=path)
            name = f"{name} (channel {k + 1})"  # two unrecognised channels with one label
        channels[name] = values
        units.append(unit)
    meta: dict[str, Any] = {
        "format": "dicom",
        "sop_class": ECG_SOP_CLASSES[sop_class],
        "multiplex_group": _group_label(item) or str(index),
        "source_units": units,
    }
    age = parse_dicom_age(str(ds.get("PatientAge", "") or ""))
    if age is not None:
        meta["age"] = age
    sex = str(ds.get("PatientSex", "") or "").strip()
    if sex:
        meta["sex"] = sex
    statements = [
        str(a.UnformattedTextValue).strip()
        for a in ds.get("WaveformAnnotationSequence") or []
        if str(a.get("UnformattedTextValue", "") or "").strip()
    ]
    if statements:
        meta["statements"] = statements
    ecg = ECG.from_leads(channels, fs, meta=meta, path=path)
    ecg.meta["nan_samples"] = nan_counts(ecg)
    return ecg


def nan_counts(ecg: ECG) -> dict[str, int]:
    """NaN samples per recorded lead, for the leads that have any.

    Examples:
        >>> ecg = ECG.from_leads({"I": np.array([0.0, np.nan]), "V1": np.zeros(2)}, fs=100.0)
        >>> nan_counts(ecg)
        {'I': 1}
    """
    counts = {}
    for lead in ecg.meta.get("recorded_leads", []):
        n = int(np.isnan(ecg.signal[ecg.lead_names.index(lead)]).sum())
        if n:
            counts[lead] = n
    return counts
