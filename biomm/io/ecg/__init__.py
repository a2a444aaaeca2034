"""ECG records: readers for WFDB, GE MUSE XML, NumPy and CSV; canonical 12-lead handling.

Examples:
    >>> from biomm.io.ecg import LEADS_12
    >>> len(LEADS_12)
    12
"""

from biomm.io.ecg.leads import LEADS_12, canonical_lead, derive_limb_leads
from biomm.io.ecg.readers import read_ecg
from biomm.io.ecg.record import ECG

__all__ = ["ECG", "LEADS_12", "canonical_lead", "derive_limb_leads", "read_ecg"]
