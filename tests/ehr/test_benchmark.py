"""Smoke test of benchmarks/ehr_survival.py on a subsample (slow: trains small models)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ehr_survival.py"


@pytest.mark.slow
def test_benchmark_runs_on_a_subsample():
    pytest.importorskip("lifelines")
    cmd = [sys.executable, str(SCRIPT), "--datasets", "gbsg2", "lung", "--folds", "2"]
    cmd += ["--subsample", "120", "--ensemble", "1", "--mask-seeds", "1", "--max-epochs", "15"]
    cmd += ["--jobs", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + 2 * 3  # header + 2 datasets × 3 methods
    for method in ("coxph", "transformer+cox", "transformer+discrete"):
        assert any(f"| lung | {method} |" in line for line in lines)
    helped = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0 and "--folds" in helped.stdout and "--seeds" in helped.stdout
