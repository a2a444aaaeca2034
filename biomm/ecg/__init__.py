"""ECG model inputs: named preprocessing profiles (MERL, PTB-XL, ECG-FM, HuBERT-ECG).

The signal building blocks live in :mod:`biomm.preprocess.ecg`; readers in
:mod:`biomm.io.ecg`.

Examples:
    >>> from biomm.ecg import PROFILES, get_profile
    >>> sorted(PROFILES)
    ['ecg_fm', 'hubert_ecg', 'merl', 'ptbxl100', 'ptbxl500']
    >>> get_profile("ptbxl100").n_samples
    1000
"""

from biomm.ecg.profiles import PROFILES, ECGProfile, ProcessedECG, apply_profile, get_profile

__all__ = ["PROFILES", "ECGProfile", "ProcessedECG", "apply_profile", "get_profile"]
