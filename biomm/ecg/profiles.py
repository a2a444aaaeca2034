"""Named ECG input profiles: published preprocessing recipes as data, and :func:`apply_profile`.

A profile fixes everything a model needs from its input: leads, sampling rate, length,
filters and amplitude scaling. Profiles are frozen pydantic models that load from and save
to YAML/JSON, and have a :meth:`~ECGProfile.fingerprint` recorded with every output.

Built-in profiles (:data:`PROFILES`) and what each reproduces:

``merl``
    MERL pre-training on MIMIC-IV-ECG (Liu et al., ICML 2024): 500 Hz, the first 10 s, all
    12 leads, no filtering, one min–max over the whole record to [0, 1]. MERL replaces a
    NaN/inf by the mean of its ±6 neighbours; we interpolate linearly (recorded in notes).
``ptbxl100`` / ``ptbxl500``
    The PTB-XL benchmark of Strodthoff et al. (2021): the 100 Hz (``records100``) or 500 Hz
    (``records500``) 10-s, 12-lead records, no filtering. The benchmark standardises with one
    mean and standard deviation fitted on the training folds (all samples and leads); that
    is a dataset statistic, so these profiles output millivolts (``none``) and the
    train-fold standardisation stays with the training code. Its random 2.5-s training
    crops are augmentation, also not done here. PTB-XL's own ``records100`` were
    down-sampled by the dataset authors; resampling ``records500`` here does not reproduce
    them bit for bit.
``ecg_fm``
    ECG-FM (McKeen et al. 2024) via the fairseq-signals pipeline: resample to 500 Hz,
    per-lead standardisation over the whole record (constant leads → 0), then
    non-overlapping 5-s segments; the profile keeps the first segment. fairseq-signals
    resamples by linear interpolation, we use polyphase filtering.
``hubert_ecg``
    HuBERT-ECG (Coppola et al. 2024): band-pass 0.05–47 Hz, per-lead min–max scaling to
    [−1, 1] over the whole record, first 5 s, 100 Hz. The reference code resamples to
    500 Hz with an FFT, filters with a causal 150-tap FIR (``lfilter``, so its output is
    delayed by ~0.15 s) and decimates by 5 after scaling; we filter zero-phase (Butterworth)
    at the original rate, resample once to 100 Hz and scale after resampling, so values lie
    exactly in [−1, 1].

Order of steps in :func:`apply_profile`: select leads → repair NaN → flat-lead check →
baseline removal → band-pass → notch (all at the record's own rate) → resample →
crop/pad → normalise → fill absent leads. With ``normalise_scope="record"`` the
normalisation comes before the crop, with statistics of the whole resampled record.

Examples:
    >>> import numpy as np
    >>> from biomm.io.ecg import ECG
    >>> t = np.arange(3600) / 360
    >>> ecg = ECG.from_leads({"II": np.sin(2 * np.pi * 1.2 * t)}, fs=360.0)
    >>> out = apply_profile(ecg, "merl")
    >>> out.signal.shape, out.signal.dtype, out.present.sum()
    ((12, 5000), dtype('float32'), np.int64(1))
    >>> float(out.signal[1].min()), float(out.signal[1].max())
    (0.0, 1.0)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from biomm.errors import BiommError, ConfigError, ECGReadError
from biomm.io.ecg.leads import LEADS_12, canonical_lead
from biomm.io.ecg.record import ECG
from biomm.preprocess import ecg as ops
from biomm.utils.atomic import atomic_write_text

__all__ = [
    "PROFILES",
    "ECGProfile",
    "ProcessedECG",
    "apply_profile",
    "get_profile",
]

#: Bumped when :func:`apply_profile` changes its numbers for an unchanged profile, so that
#: fingerprints of outputs made by older code differ.
RECIPE_VERSION = 1
#: Fields that do not change the output and are left out of :meth:`ECGProfile.fingerprint`.
_DESCRIPTIVE = ("name", "description", "reference")


class ECGProfile(BaseModel):
    """A named ECG input recipe.

    Attributes:
        name: Short identifier.
        description: What the profile does, in words.
        reference: Citation of the recipe it reproduces.
        fs: Output sampling rate in Hz.
        duration_s: Output length in seconds; None keeps the whole (resampled) record.
        crop: Which window of a longer record to keep (``start``, ``center``, ``random``);
            shorter records are padded (at the end, or both sides for ``center``).
        leads: Output leads in order (canonical names; any spelling is accepted).
        bandpass: ``(low_hz, high_hz)`` zero-phase Butterworth band-pass; either side may be
            None; None skips it. A side at or above the record's Nyquist frequency is skipped.
        bandpass_order: Butterworth order per side.
        notch_hz: Mains frequency to notch out (50 or 60), or None.
        notch_harmonics: How many multiples of ``notch_hz`` to remove.
        baseline: Baseline-wander removal: ``highpass``, ``median`` or None.
        baseline_cutoff_hz: High-pass corner for ``baseline="highpass"``.
        normalise: An amplitude scaling of :func:`biomm.preprocess.ecg.normalise`.
        normalise_scope: ``window`` (statistics of the output window) or ``record`` (of the
            whole resampled record, before cropping).
        nan_policy: ``interpolate`` repairs NaN samples (recorded in notes); ``error`` raises.
        absent_fill: Value written where a lead is absent (and in padding) after
            normalisation; :attr:`ProcessedECG.present` is what marks absence.
        flat_lead_policy: ``keep`` only reports flat (disconnected) leads in notes;
            ``mark_absent`` also treats them as absent.

    Examples:
        >>> p = ECGProfile(name="lead1", fs=250, duration_s=4, leads=["lead i"])
        >>> p.leads, p.n_samples
        (('I',), 1000)
        >>> ECGProfile(name="x", fs=250, leads=["V7"])
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for ECGProfile
        leads
          Value error, unknown lead 'V7'; leads are I, II, III, aVR, aVL, aVF, V1, ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    reference: str = ""
    fs: float
    duration_s: float | None = None
    crop: Literal["start", "center", "random"] = "start"
    leads: tuple[str, ...] = LEADS_12
    bandpass: tuple[float | None, float | None] | None = None
    bandpass_order: int = 4
    notch_hz: float | None = None
    notch_harmonics: int = 1
    baseline: Literal["highpass", "median"] | None = None
    baseline_cutoff_hz: float = 0.5
    normalise: ops.NormaliseMethod = "none"
    normalise_scope: Literal["window", "record"] = "window"
    nan_policy: Literal["interpolate", "error"] = "interpolate"
    absent_fill: float = 0.0
    flat_lead_policy: Literal["keep", "mark_absent"] = "keep"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a profile needs a non-empty name")
        return value.strip()

    @field_validator("fs")
    @classmethod
    def _fs(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"fs must be a positive number of Hz, got {value}")
        return float(value)

    @field_validator("duration_s", "notch_hz", "baseline_cutoff_hz")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise ValueError(f"must be a positive number, got {value}")
        return value

    @field_validator("bandpass_order", "notch_harmonics")
    @classmethod
    def _count(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("absent_fill")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"absent_fill must be a finite number, got {value}")
        return value

    @field_validator("leads", mode="before")
    @classmethod
    def _leads(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        names = []
        for raw in value:
            lead = canonical_lead(str(raw))
            if lead is None:
                raise ValueError(f"unknown lead {raw!r}; leads are {', '.join(LEADS_12)}")
            if lead in names:
                raise ValueError(f"lead {lead} is listed twice")
            names.append(lead)
        if not names:
            raise ValueError("a profile needs at least one lead")
        return tuple(names)

    @field_validator("bandpass")
    @classmethod
    def _band(
        cls, value: tuple[float | None, float | None] | None
    ) -> tuple[float | None, float | None] | None:
        if value is None:
            return None
        low, high = value
        for side, cut in (("low", low), ("high", high)):
            if cut is not None and (not math.isfinite(cut) or cut <= 0):
                raise ValueError(f"band-pass {side} cut-off must be a positive Hz, got {cut}")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"band-pass low cut-off ({low} Hz) must be below high ({high} Hz)")
        return None if low is None and high is None else (low, high)

    @model_validator(mode="after")
    def _length(self) -> ECGProfile:
        if self.duration_s is not None and round(self.fs * self.duration_s) < 1:
            raise ValueError(f"fs × duration_s = {self.fs * self.duration_s} is under 1 sample")
        return self

    @property
    def n_samples(self) -> int | None:
        """Output length in samples (``round(fs × duration_s)``), or None for full length.

        Examples:
            >>> PROFILES["hubert_ecg"].n_samples, PROFILES["ptbxl500"].n_samples
            (500, 5000)
        """
        if self.duration_s is None:
            return None
        return round(self.fs * self.duration_s)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dictionary (lists, not tuples) that :func:`get_profile` accepts.

        Examples:
            >>> PROFILES["ecg_fm"].to_dict()["leads"][:3]
            ['I', 'II', 'III']
        """
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | PathLike[str] | None = None) -> str:
        """YAML text of the profile; also written (atomically) to ``path`` when given.

        Examples:
            >>> import tempfile
            >>> p = Path(tempfile.mkdtemp()) / "merl.yaml"
            >>> _ = PROFILES["merl"].to_yaml(p)
            >>> ECGProfile.from_file(p) == PROFILES["merl"]
            True
        """
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> ECGProfile:
        """Load a profile from ``.yaml``/``.yml`` or ``.json``.

        Raises:
            ConfigError: Naming the file, when it is missing, unreadable, of another type,
                or not a valid profile.

        Examples:
            >>> import tempfile
            >>> p = Path(tempfile.mkdtemp()) / "bad.json"
            >>> _ = p.write_text('{"name": "x", "fs": -5}')
            >>> ECGProfile.from_file(p)
            Traceback (most recent call last):
            ...
            biomm.errors.ConfigError: .../bad.json: fs: Value error, fs must be a positive ...
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ConfigError("an ECG profile file must be .yaml, .yml or .json", path=path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("profile file not found", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read profile: {exc}", path=path) from None
        try:
            data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"invalid {suffix[1:].upper()}: {exc}", path=path) from None
        return _from_mapping(data, source=path)

    def fingerprint(self) -> str:
        """A stable 16-hex-digit hash of every field that changes the output.

        ``name``, ``description`` and ``reference`` are left out (renaming a profile does not
        change its numbers); :data:`RECIPE_VERSION` is included.

        Examples:
            >>> a = PROFILES["ptbxl100"]
            >>> b = ECGProfile(**{**a.to_dict(), "name": "renamed"})
            >>> c = ECGProfile(**{**a.to_dict(), "fs": 250})
            >>> a.fingerprint() == b.fingerprint(), a.fingerprint() == c.fingerprint()
            (True, False)
        """
        data = {k: v for k, v in self.to_dict().items() if k not in _DESCRIPTIVE}
        data["recipe_version"] = RECIPE_VERSION
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _format_validation_error(exc: ValidationError) -> str:
    known = sorted(ECGProfile.model_fields)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden" and err["loc"]:
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            message = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _from_mapping(data: Any, *, source: str | PathLike[str] | None = None) -> ECGProfile:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"an ECG profile is a mapping of keys, got {type(data).__name__}", path=source
        )
    try:
        return ECGProfile.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc), path=source) from None


# ---- built-in profiles ----------------------------------------------------------------------

_MERL_REF = (
    "Liu C, Wan Z, Ouyang C, Shah A, Bai W, Arcucci R. Zero-Shot ECG Classification with "
    "Multimodal Learning and Test-time Clinical Knowledge Enhancement. ICML 2024 "
    "(arXiv:2403.06659). Recipe from github.com/cheliu-computation/MERL-ICML2024 "
    "(pretrain/preprocess.ipynb, utils/utils_dataset.py)."
)
_PTBXL_REF = (
    "Strodthoff N, Wagner P, Schaeffter T, Samek W. Deep Learning for ECG Analysis: "
    "Benchmarks and Insights from PTB-XL. IEEE J Biomed Health Inform 25(5):1519-1528, 2021. "
    "Data: Wagner P et al. PTB-XL, a large publicly available electrocardiography dataset. "
    "Sci Data 7:154, 2020. Recipe from github.com/helme/ecg_ptbxl_benchmarking "
    "(code/utils/utils.py)."
)
_ECGFM_REF = (
    "McKeen K, Masood S, Toma A, Rubin B, Wang B. ECG-FM: An Open Electrocardiogram "
    "Foundation Model. arXiv:2408.05178, 2024. Recipe from github.com/Jwoo5/fairseq-signals "
    "(fairseq_signals/data/ecg/preprocess/preprocess.py, scripts/preprocess/ecg)."
)
_HUBERT_REF = (
    "Coppola E, Savardi M, Massussi M, Adamo M, Metra M, Signoroni A. HuBERT-ECG as a "
    "self-supervised foundation model for broad and scalable cardiac applications. medRxiv "
    "2024.11.14.24317328. Recipe from github.com/Edoar-do/HuBERT-ECG (code/utils.py "
    "ecg_preprocessing/scaling, hubert_ecg/dataset.py)."
)

#: The built-in profiles by name.
PROFILES: dict[str, ECGProfile] = {
    p.name: p
    for p in (
        ECGProfile(
            name="merl",
            description=(
                "MERL pre-training input: 500 Hz, first 10 s, 12 leads, no filtering, one "
                "min-max over the whole record (all present leads) to [0, 1]."
            ),
            reference=_MERL_REF,
            fs=500,
            duration_s=10,
            normalise="minmax_record",
            normalise_scope="record",
        ),
        ECGProfile(
            name="ptbxl100",
            description=(
                "PTB-XL benchmark input at 100 Hz: 10 s, 12 leads, mV, no filtering; "
                "standardise with training-fold statistics in the training code."
            ),
            reference=_PTBXL_REF,
            fs=100,
            duration_s=10,
        ),
        ECGProfile(
            name="ptbxl500",
            description=(
                "PTB-XL benchmark input at 500 Hz: 10 s, 12 leads, mV, no filtering; "
                "standardise with training-fold statistics in the training code."
            ),
            reference=_PTBXL_REF,
            fs=500,
            duration_s=10,
        ),
        ECGProfile(
            name="ecg_fm",
            description=(
                "ECG-FM input: 500 Hz, 12 leads, per-lead z-score over the whole record, "
                "first 5-s segment."
            ),
            reference=_ECGFM_REF,
            fs=500,
            duration_s=5,
            normalise="zscore_lead",
            normalise_scope="record",
        ),
        ECGProfile(
            name="hubert_ecg",
            description=(
                "HuBERT-ECG input: 0.05-47 Hz band-pass, 100 Hz, first 5 s, 12 leads, "
                "per-lead min-max to [-1, 1] over the whole record."
            ),
            reference=_HUBERT_REF,
            fs=100,
            duration_s=5,
            bandpass=(0.05, 47.0),
            normalise="minmax_lead_pm1",
            normalise_scope="record",
        ),
    )
}


def get_profile(spec: str | PathLike[str] | Mapping[str, Any] | ECGProfile) -> ECGProfile:
    """Resolve a profile from a built-in name, a YAML/JSON path, a dict or a profile.

    Names are matched case-insensitively. A string that is not a built-in name is read as a
    file when it exists or ends in ``.yaml``/``.yml``/``.json``.

    Raises:
        ConfigError: (an :class:`~biomm.errors.InputError`) for an unknown name — listing
            the built-in names and suggesting a close one — or an invalid file or dict.

    Examples:
        >>> get_profile("MERL").name
        'merl'
        >>> get_profile({"name": "mine", "fs": 250, "duration_s": 2}).n_samples
        500
        >>> get_profile("hubert")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: unknown ECG profile 'hubert'; did you mean 'hubert_ecg'? ...
    """
    if isinstance(spec, ECGProfile):
        return spec
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    if isinstance(spec, str | PathLike):
        text = str(spec)
        if text.strip().lower() in PROFILES:
            return PROFILES[text.strip().lower()]
        path = Path(text)
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
            return ECGProfile.from_file(path)
        close = difflib.get_close_matches(text.strip().lower(), list(PROFILES), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown ECG profile {text!r}{hint} Built-in profiles: {', '.join(PROFILES)}; "
            "or give a .yaml/.json profile file"
        )
    raise ConfigError(
        f"an ECG profile is a name, a file, a dict or an ECGProfile, got {type(spec).__name__}"
    )


# ---- applying a profile ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessedECG:
    """An ECG after :func:`apply_profile`.

    Attributes:
        signal: float32 ``[len(profile.leads), samples]``, finite everywhere.
        present: bool per profile lead; False rows hold ``absent_fill``, not a recording.
        lead_names: The profile's leads, in row order.
        fs: Sampling rate in Hz.
        profile: Name of the profile.
        fingerprint: :meth:`ECGProfile.fingerprint` of the profile used.
        notes: JSON-ready record of what was done: original rate and length, NaN samples
            filled per lead, flat and absent leads, skipped filters, crop start, padding.
    """

    signal: np.ndarray
    present: np.ndarray
    lead_names: tuple[str, ...]
    fs: float
    profile: str
    fingerprint: str
    notes: dict[str, Any] = field(default_factory=dict)


def apply_profile(
    ecg: ECG,
    profile: str | PathLike[str] | Mapping[str, Any] | ECGProfile,
    *,
    rng: np.random.Generator | int | None = None,
) -> ProcessedECG:
    """Turn an :class:`~biomm.io.ecg.ECG` into a model input as the profile prescribes.

    Steps, in order: select the profile's leads → repair NaN/inf samples (or raise) → detect
    flat leads → remove baseline → band-pass → notch (filters run at the record's own rate;
    a cut-off at or above its Nyquist frequency is skipped and noted) → resample to
    ``profile.fs`` → crop/pad to ``profile.n_samples`` (padding is excluded from
    normalisation statistics) → normalise (before the crop when ``normalise_scope`` is
    ``"record"``) → write ``absent_fill`` in absent leads and padding. A lead the record
    lacks, or whose samples are all NaN, is absent in ``present`` — never silently
    zero-filled.

    Args:
        ecg: The record (any rate, any length).
        profile: A profile, its name, a YAML/JSON path or a dict (see :func:`get_profile`).
        rng: Generator or seed for ``crop="random"``.

    Raises:
        ECGReadError: Naming ``ecg.path``, when the record is unusable (no samples, bad
            shape or rate, no lead with a finite sample), has NaN samples under
            ``nan_policy="error"``, or processing fails.
        ConfigError: When ``profile`` cannot be resolved.

    Examples:
        >>> import numpy as np
        >>> from biomm.io.ecg import ECG
        >>> x = np.sin(np.linspace(0, 60, 2500))
        >>> x[100:110] = np.nan
        >>> ecg = ECG.from_leads({"I": x, "II": x, "V1": x}, fs=250.0)
        >>> out = apply_profile(ecg, "ecg_fm")
        >>> out.signal.shape, out.present.tolist()[5:8], out.notes["nan_filled"]["V1"]
        ((12, 2500), [True, True, False], 10)
    """
    spec = get_profile(profile)
    where = ecg.path if ecg.path is not None else "<memory>"
    try:
        return _apply(ecg, spec, rng)
    except BiommError as exc:
        if isinstance(exc, ECGReadError) and exc.path is not None:
            raise
        raise ECGReadError(f"profile {spec.name!r}: {exc.reason}", path=where) from exc
    except (ValueError, FloatingPointError, np.linalg.LinAlgError, MemoryError) as exc:
        raise ECGReadError(f"profile {spec.name!r}: processing failed: {exc}", path=where) from exc


def _apply(ecg: ECG, spec: ECGProfile, rng: np.random.Generator | int | None) -> ProcessedECG:
    where = ecg.path if ecg.path is not None else "<memory>"
    signal = np.asarray(ecg.signal)
    names = tuple(ecg.lead_names)
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise ECGReadError(
            f"signal has shape {signal.shape}, expected [{len(names)} leads, samples]",
            path=where,
        )
    try:
        fs = float(ecg.fs)
    except (TypeError, ValueError):
        fs = math.nan
    if not math.isfinite(fs) or fs <= 0:
        raise ECGReadError(f"sampling rate must be positive, got {ecg.fs!r}", path=where)
    n_in = signal.shape[1]
    if n_in == 0:
        raise ECGReadError("the record has no samples", path=where)
    present_in = np.asarray(ecg.present, dtype=bool).reshape(-1)
    if present_in.shape[0] != len(names):
        raise ECGReadError(
            f"present has {present_in.shape[0]} entries for {len(names)} leads", path=where
        )

    notes: dict[str, Any] = {
        "original_fs": fs,
        "original_samples": int(n_in),
        "original_duration_s": n_in / fs,
    }
    # 1. select leads (a lead the record does not name is absent)
    x = np.full((len(spec.leads), n_in), np.nan, dtype=np.float64)
    present = np.zeros(len(spec.leads), dtype=bool)
    for row, lead in enumerate(spec.leads):
        if lead in names:
            k = names.index(lead)
            present[row] = present_in[k]
            x[row] = signal[k]
    x[~present] = np.nan
    finite = np.isfinite(x)
    empty = present & ~finite.any(axis=1)
    if empty.any():
        notes["all_nan_leads"] = [spec.leads[i] for i in np.flatnonzero(empty)]
        present &= ~empty
    if not present.any():  # nothing to analyse: an item failure, never a silent all-zero input
        raise ECGReadError(
            f"no lead of the profile {spec.name!r} has a finite sample (every lead is absent "
            "or all NaN)",
            path=where,
        )

    # 2. NaN / inf repair
    notes["nan_filled"] = {}
    missing = (~finite & present[:, None]).sum(axis=1)
    if missing.any():
        detail = ", ".join(f"{spec.leads[i]}: {int(missing[i])}" for i in np.flatnonzero(missing))
        if spec.nan_policy == "error":
            raise ECGReadError(
                f"NaN/inf samples ({detail}) and the profile {spec.name!r} has nan_policy='error'",
                path=where,
            )
        repaired, counts = ops.interpolate_nans(x)
        x = repaired.astype(np.float64)
        notes["nan_filled"] = {spec.leads[i]: int(counts[i]) for i in np.flatnonzero(counts)}

    # 3. flat (disconnected) leads, judged in mV before filtering
    flat = ops.flat_leads(x, fs) & present
    notes["flat_leads"] = [spec.leads[i] for i in np.flatnonzero(flat)]
    if spec.flat_lead_policy == "mark_absent" and flat.any():
        present &= ~flat
        x[flat] = np.nan

    # 4–6. filters at the record's own rate
    nyquist = fs / 2
    skipped: list[str] = []
    if spec.baseline is not None:
        if spec.baseline == "highpass" and spec.baseline_cutoff_hz >= nyquist:
            skipped.append(f"baseline high-pass {spec.baseline_cutoff_hz:g} Hz ≥ Nyquist")
        else:
            x = ops.remove_baseline(x, fs, spec.baseline, spec.baseline_cutoff_hz)
    if spec.bandpass is not None:
        low, high = spec.bandpass
        if high is not None and high >= nyquist:
            skipped.append(f"band-pass high {high:g} Hz ≥ Nyquist {nyquist:g} Hz")
            high = None
        if low is not None and low >= nyquist:
            skipped.append(f"band-pass low {low:g} Hz ≥ Nyquist {nyquist:g} Hz")
            low = None
        if low is not None or high is not None:
            x = ops.bandpass(x, fs, low, high, order=spec.bandpass_order)
    if spec.notch_hz is not None:
        if spec.notch_hz >= nyquist:
            skipped.append(f"notch {spec.notch_hz:g} Hz ≥ Nyquist {nyquist:g} Hz")
        else:
            x = ops.notch(x, fs, spec.notch_hz, harmonics=spec.notch_harmonics)
    if skipped:
        notes["filters_skipped"] = skipped

    # 7. resample
    if fs != spec.fs:
        up, down = ops.resample_ratio(fs, spec.fs)
        notes["resample"] = f"{up}/{down}"
        x = ops.resample(x, fs, spec.fs)
    x = np.asarray(x, dtype=np.float64)
    x[~present] = np.nan

    # 8–9. crop/pad and normalise (padding is NaN until the end, so it never enters the stats)
    if spec.normalise_scope == "record":
        x = ops.normalise(x, spec.normalise, present=present).astype(np.float64)
    n_out = spec.n_samples
    if n_out is not None:
        start, before, after = ops.crop_plan(x.shape[1], n_out, spec.crop, rng)
        if before or after:
            x = np.pad(x, ((0, 0), (before, after)), constant_values=np.nan)
        else:
            x = x[:, start : start + n_out]
        notes["crop_start_s"] = start / spec.fs
        notes["padded_samples"] = before + after
    if spec.normalise_scope == "window":
        x = ops.normalise(x, spec.normalise, present=present).astype(np.float64)

    # 10. fill absent leads and padding
    notes["absent_leads"] = [spec.leads[i] for i in np.flatnonzero(~present)]
    x[~present] = spec.absent_fill
    x[np.isnan(x)] = spec.absent_fill
    out = x.astype(np.float32)
    if not np.isfinite(out).all():
        raise ECGReadError(
            f"profile {spec.name!r} produced non-finite values (amplitudes out of range?)",
            path=where,
        )
    return ProcessedECG(
        signal=out,
        present=present.copy(),
        lead_names=spec.leads,
        fs=spec.fs,
        profile=spec.name,
        fingerprint=spec.fingerprint(),
        notes=notes,
    )
