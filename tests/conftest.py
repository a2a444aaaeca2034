"""Shared fixtures: tiny files in real formats, written by seeded code (nothing downloaded).

The whole run is offline: the model hubs are told so, and sockets can reach only this machine
(``tests/network_guard.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from biomm.demo.synthetic import synthetic_ecg, write_pyramidal_svs, write_wfdb
from tests import network_guard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
network_guard.install()
# Child interpreters (CLI subprocesses, Dask workers, notebook kernels) are guarded too.
collect_ignore = ["offline_site"]  # its sitecustomize.py is for children, not a test module
_OFFLINE_SITE = str(Path(__file__).resolve().parent / "offline_site")
os.environ["BIOMM_TEST_OFFLINE"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_OFFLINE_SITE, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)


@pytest.fixture(scope="session")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one valid file per modality: slides/a.svs, ecg/r1(.hea/.dat),
    fundus/f.png, reports/r.txt, oct/v.npy."""
    root = tmp_path_factory.mktemp("real_files")
    rng = np.random.default_rng(0)
    (root / "slides").mkdir()
    for name in ("a", "b"):
        image = rng.integers(150, 250, (512, 512, 3), dtype=np.uint8)
        write_pyramidal_svs(root / "slides" / f"{name}.svs", image, mpp=0.5)
    for name in ("r1", "r2"):
        write_wfdb(root / "ecg" / name, synthetic_ecg(rng, 500, 2.0, 70.0, 0.0), 500, ["age: 50"])
    (root / "fundus").mkdir()
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "fundus/f.png")
    (root / "reports").mkdir()
    (root / "reports" / "r.txt").write_text("DIAGNOSIS:\nBenign.\n", encoding="utf-8")
    (root / "oct").mkdir()
    np.save(root / "oct" / "v.npy", np.zeros((4, 8, 8), np.float32))
    return root


@pytest.fixture
def good_table() -> pd.DataFrame:
    """A clean manifest table referencing the files of ``real_files``."""
    return pd.DataFrame(
        {
            "patient_id": ["p1", "p2", "p3", "p4"],
            "slide": ["slides/a.svs", None, "slides/b.svs", None],
            "ecg": ["ecg/r1", "ecg/r2.hea", None, None],
            "fundus": [None, "fundus/f.png", None, None],
            "report": ["reports/r.txt", "Inline report: benign.", None, "Another inline report."],
            "label": [1, 0, 1, 0],
            "os_time": [12.0, 30.5, 4.0, 8.0],
            "os_event": [1, 0, 1, 1],
            "age": [61, 55, None, 70],
        }
    )
