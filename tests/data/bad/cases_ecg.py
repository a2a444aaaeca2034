"""Bad ECG records (read with :func:`biomm.io.ecg.read_ecg`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.io.ecg import read_ecg

    read_ecg(path)


READER = Reader("ecg", "biomm.io.ecg.read_ecg(path)", _read)


def _zero_length_hea(folder: Path, rng: np.random.Generator) -> str:
    (folder / "rec.hea").write_bytes(b"")
    return "rec.hea"


def _npy_with_nan(folder: Path, rng: np.random.Generator) -> str:
    signal = rng.normal(0, 0.1, (5000, 12)).astype(np.float32)
    signal[100:200, 3] = np.nan
    signal[:, :] = np.inf
    np.save(folder / "rec.npy", signal)
    return "rec.npy"


CASES = [
    Case(
        "zero-length-header",
        "a WFDB header file of 0 bytes",
        "ECGReadError",
        r"empty|header",
        _zero_length_hea,
        "zero-length",
    ),
    Case(
        "npy-all-inf",
        "a NumPy record whose samples are all +inf",
        "ECGReadError",
        r"inf|finite",
        _npy_with_nan,
        "nan-inf",
    ),
]
