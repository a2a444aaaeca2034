"""How much does full manifest validation cost over the bare minimum?

Baseline (measured in the same run): read the manifest with pandas and ``os.stat`` every
referenced file — the least any check for missing files must do. Measured: ``Cohort.from_file``
+ ``validate()`` with file probes (magic bytes, WFDB headers), ids, targets, splits and
availability. Prints the ratio; no threshold is asserted.

Run: python benchmarks/bench_cohort_validate.py [--rows 5000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from biomm import Cohort
from biomm.demo.synthetic import synthetic_ecg, write_pyramidal_svs, write_wfdb


def make_manifest(root: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "slides").mkdir()
    for i in range(rows):  # distinct small files, so the page cache is exercised realistically
        (root / "slides" / f"s{i}.svs").write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 64)
    write_pyramidal_svs(root / "slides" / "real.svs", np.full((512, 512, 3), 200, np.uint8), 0.5)
    write_wfdb(root / "ecg" / "r", synthetic_ecg(rng, 500, 1.0, 60.0, 0.0), 500, [])
    table = pd.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(rows)],
            "slide": [f"slides/s{i}.svs" for i in range(rows)],
            "ecg": ["ecg/r"] * rows,
            "report": ["Invasive carcinoma."] * rows,
            "label": rng.integers(0, 2, rows),
            "os_time": rng.uniform(1, 100, rows).round(1),
            "os_event": rng.integers(0, 2, rows),
            "split": rng.choice(["train", "val", "test"], rows),
        }
    )
    path = root / "cohort.csv"
    table.to_csv(path, index=False)
    return path


def baseline(path: Path) -> float:
    start = time.perf_counter()
    table = pd.read_csv(path, dtype=str)
    for col in ("slide", "ecg"):
        for ref in table[col]:
            os.stat(path.parent / ref)
    return time.perf_counter() - start


def full_validation(path: Path) -> float:
    start = time.perf_counter()
    report = Cohort.from_file(path).validate()
    elapsed = time.perf_counter() - start
    assert report.ok, str(report)[:500]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_manifest(Path(tmp), args.rows)
        base = min(baseline(path) for _ in range(args.repeats))
        full = min(full_validation(path) for _ in range(args.repeats))
    print(f"rows={args.rows}")
    print(f"baseline (read + stat): {base * 1e3:8.1f} ms  ({args.rows / base:,.0f} rows/s)")
    print(f"biomm validate:         {full * 1e3:8.1f} ms  ({args.rows / full:,.0f} rows/s)")
    print(f"ratio validate/baseline: {full / base:.1f}x")


if __name__ == "__main__":
    main()
