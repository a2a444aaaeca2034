"""The :class:`ECG` record: leads × samples in millivolts, with a per-lead presence mask.

Examples:
    >>> import numpy as np
    >>> ecg = ECG.from_leads({"I": np.zeros(500), "II": np.ones(500)}, fs=500.0)
    >>> ecg.lead_names[:4], ecg.present[:4].tolist()
    (('I', 'II', 'III', 'aVR'), [True, True, True, True])
    >>> ecg.present[6:].any()  # no chest lead: absent, never silently zero-filled
    np.False_
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ECGReadError
from biomm.io.ecg.leads import LEADS_12, canonical_lead, derive_limb_leads


@dataclass
class ECG:
    """An ECG in canonical 12-lead order.

    Attributes:
        signal: ``[12, samples]`` float32 in mV; rows of absent leads are NaN.
        fs: Sampling rate in Hz.
        present: ``[12]`` bool, True where the lead was recorded or derived.
        lead_names: The canonical lead order (``I, II, III, aVR, aVL, aVF, V1–V6``).
        meta: Age, sex, statements, source leads, original units…
        path: The source file, if any.
    """

    signal: np.ndarray
    fs: float
    present: np.ndarray
    lead_names: tuple[str, ...] = LEADS_12
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.signal.shape[1] / self.fs

    def lead(self, name: str) -> np.ndarray:
        """One lead's samples (NaN when absent).

        Examples:
            >>> ECG.from_leads({"V1": np.ones(3)}, fs=100.0).lead("v1").tolist()
            [1.0, 1.0, 1.0]
        """
        canonical = canonical_lead(name)
        if canonical is None:
            raise KeyError(f"unknown lead {name!r}; leads: {', '.join(self.lead_names)}")
        return self.signal[self.lead_names.index(canonical)]

    @classmethod
    def from_leads(
        cls,
        leads: dict[str, np.ndarray],
        fs: float,
        *,
        meta: dict[str, Any] | None = None,
        path: Path | None = None,
        derive: bool = True,
    ) -> ECG:
        """Build from named leads (any spelling); unknown names are kept in ``meta``.

        Raises:
            ECGReadError: On no usable lead, unequal lengths, a non-positive rate, a lead
                given twice, or infinite samples (NaN marks a missing sample; inf is an error).
        """
        where = path or "<memory>"
        if not fs or fs <= 0 or not np.isfinite(fs):
            raise ECGReadError(f"sampling rate must be positive, got {fs!r}", path=where)
        named: dict[str, np.ndarray] = {}
        unknown = []
        for raw, values in leads.items():
            name = canonical_lead(str(raw))
            if name is None:
                unknown.append(str(raw))
                continue
            if name in named:
                raise ECGReadError(f"lead {name} is given twice ({raw!r})", path=where)
            array = np.asarray(values, dtype=np.float32).ravel()
            infinite = int(np.isinf(array).sum())
            if infinite:
                raise ECGReadError(
                    f"lead {name} has {infinite} infinite (non-finite) samples; missing samples "
                    "should be NaN",
                    path=where,
                )
            named[name] = array
        if not named:
            raise ECGReadError(f"no recognisable ECG lead among {list(leads)[:12]}", path=where)
        lengths = {len(v) for v in named.values()}
        if len(lengths) != 1:
            raise ECGReadError(f"leads differ in length: {sorted(lengths)}", path=where)
        recorded = sorted(named, key=LEADS_12.index)
        if derive:
            named = derive_limb_leads(named)
        n = lengths.pop()
        signal = np.full((12, n), np.nan, np.float32)
        present = np.zeros(12, bool)
        for k, lead in enumerate(LEADS_12):
            if lead in named:
                signal[k] = named[lead]
                present[k] = bool(np.isfinite(named[lead]).any())  # an all-NaN lead is absent
        info = dict(meta or {})
        info["recorded_leads"] = recorded
        if unknown:
            info["unrecognised_channels"] = unknown
        return cls(signal=signal, fs=float(fs), present=present, meta=info, path=path)
