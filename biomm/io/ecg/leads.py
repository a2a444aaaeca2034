"""Lead names: canonical 12-lead order, spelling normalisation and limb-lead derivation.

Examples:
    >>> canonical_lead("AVR"), canonical_lead("lead II"), canonical_lead("v5")
    ('aVR', 'II', 'V5')
"""

from __future__ import annotations

import re

import numpy as np

#: The standard 12-lead order.
LEADS_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_ALIASES = {"MLI": "I", "MLII": "II", "MLIII": "III", "DI": "I", "DII": "II", "DIII": "III"}


def canonical_lead(name: str) -> str | None:
    """Canonical spelling of a lead name, or None when it is not one of the 12 leads.

    Accepts case and spacing variants (``avr``, ``aVR``, ``AVR``, ``Lead II``, ``V 1``),
    Holter names (``MLII`` → ``II``) and French/Spanish ``DI``/``DII``/``DIII``.

    Examples:
        >>> canonical_lead("MLII"), canonical_lead("ECG1")
        ('II', None)
    """
    text = re.sub(r"^(lead|ecg lead|ableitung)\s*", "", name.strip(), flags=re.I)
    text = re.sub(r"[\s_\-]", "", text).upper()
    if text in _ALIASES:
        return _ALIASES[text]
    for lead in LEADS_12:
        if text == lead.upper():
            return lead
    return None


def derive_limb_leads(signal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add III, aVR, aVL, aVF from I and II where they are missing (Einthoven/Goldberger).

    ``III = II − I``, ``aVR = −(I + II)/2``, ``aVL = I − II/2``, ``aVF = II − I/2``.

    Examples:
        >>> out = derive_limb_leads({"I": np.array([1.0]), "II": np.array([3.0])})
        >>> {k: float(v[0]) for k, v in out.items() if k != "I" and k != "II"}
        {'III': 2.0, 'aVR': -2.0, 'aVL': -0.5, 'aVF': 2.5}
    """
    out = dict(signal)
    if "I" in out and "II" in out:
        lead_i, lead_ii = out["I"], out["II"]
        out.setdefault("III", lead_ii - lead_i)
        out.setdefault("aVR", -(lead_i + lead_ii) / 2)
        out.setdefault("aVL", lead_i - lead_ii / 2)
        out.setdefault("aVF", lead_ii - lead_i / 2)
    return out
