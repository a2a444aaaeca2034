"""benchmarks/soak.py: its cohort, its accounting, and a tiny soak through `biomm run`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("biomm_soak_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_cohort_has_the_exact_corrupt_share_and_every_kind(soak, tmp_path):
    from biomm.cohort import Cohort
    from biomm.io.ecg import read_ecg

    cohort = soak.make_cohort(
        tmp_path, slides=8, ecgs=10, corrupt_fraction=0.7, slide_size=256, echo=lambda _: None
    )
    truth = json.loads((tmp_path / "ground_truth.json").read_text())["corrupt"]
    assert len(truth) == len(cohort.corrupt) == 6 + 7
    assert {c["kind"] for c in truth if c["modality"] == "wsi"} == set(soak.SLIDE_KINDS)
    assert {c["kind"] for c in truth if c["modality"] == "ecg"} == set(soak.ECG_KINDS)
    table = Cohort.from_file(cohort.manifest, cohort.schema).table
    assert table["slide"].notna().sum() == 8 and table["ecg"].notna().sum() == 10
    bad = cohort.corrupt_of("ecg")
    for pid, stem in cohort.ecgs.items():  # good records read; the broken ones are broken
        kind = bad.get(pid)
        if kind is None:
            assert read_ecg(stem).signal.shape == (12, 5000)
        elif kind == "missing_dat":
            assert not Path(stem + ".dat").exists()
        elif kind == "zero_length_header":
            assert Path(stem + ".hea").stat().st_size == 0
    slides = cohort.corrupt_of("wsi")
    for pid, path in cohort.slides.items():
        head = Path(path).read_bytes()[:4] if Path(path).exists() else None
        if pid not in slides:
            assert head == b"II*\x00"
        elif slides[pid] in ("wrong_magic", "not_a_slide", "zero_length", "missing_file"):
            assert head != b"II*\x00"


def test_cohort_is_seeded(soak, tmp_path):
    kwargs = {"slides": 2, "ecgs": 8, "corrupt_fraction": 0.3, "slide_size": 256}
    a = soak.make_cohort(tmp_path / "a", seed=3, echo=lambda _: None, **kwargs)
    b = soak.make_cohort(tmp_path / "b", seed=3, gen_workers=2, echo=lambda _: None, **kwargs)
    assert [(c.item, c.kind) for c in a.corrupt] == [(c.item, c.kind) for c in b.corrupt]
    good = next(pid for pid in a.ecgs if pid not in a.corrupt_of("ecg"))
    assert Path(a.ecgs[good] + ".dat").read_bytes() == Path(b.ecgs[good] + ".dat").read_bytes()


def test_account_puts_each_input_in_exactly_one_outcome(soak):
    inputs = [f"i{k}" for k in range(8)]
    corrupt = {"i0": "zero_length", "i1": "truncated", "i2": "all_nan", "i3": "missing_file"}
    failed = {
        "i0": "/x/i0: file is empty (0 bytes)",
        "i1": "/x/i1: ValueError: buffer is smaller than requested size",
        "i3": "file not found",
        "i5": "cannot open the slide",
    }
    done = {"i2", "i4", "i6"}
    r = soak.account(inputs, corrupt, done, failed)
    assert (r["failed_expected"], r["failed_unclear"], r["corrupt_completed"]) == (2, 1, 1)
    assert (r["completed"], r["failed_unexpected"], r["lost"]) == (2, 1, 1)
    outcomes = ("completed", "failed_expected", "failed_unclear", "failed_unexpected")
    outcomes += ("corrupt_completed", "lost", "inconsistent")
    assert sum(r[k] for k in outcomes) == len(inputs)
    assert r["details"]["lost"] == [{"item": "i7", "kind": None}]


def test_memory_profile_flags_growth_only_in_streaming_steps(soak):
    mib = soak.MIB
    flat = [(t / 2, 400 * mib, (200 + (t % 3)) * mib) for t in range(121)]
    grows = [(t / 2, (400 + t) * mib, (200 + t) * mib) for t in range(121)]
    window = soak.StepWindow("convert", "ecg.convert", 0.0, 60.0)
    assert soak.memory_profile(window, flat, threshold=1.1, min_seconds=20)["verdict"] == "PASS"
    verdict = soak.memory_profile(window, grows, threshold=1.1, min_seconds=20)
    assert verdict["verdict"] == "FAIL" and verdict["flatness_anon"] > 1.3
    training = soak.StepWindow("pretrain", "ecg.pretrain", 0.0, 60.0)
    assert soak.memory_profile(training, grows, threshold=1.1, min_seconds=20)["verdict"] == (
        "n/a (training)"
    )
    short = soak.StepWindow("convert", "ecg.convert", 0.0, 5.0)
    assert soak.memory_profile(short, grows, threshold=1.1, min_seconds=20)["verdict"].startswith(
        "n/a"
    )


@pytest.mark.slow
def test_tiny_soak_loses_nothing_and_fails_every_corrupt_input(tmp_path):
    pytest.importorskip("psutil")
    report_path = tmp_path / "soak.json"
    cmd = [sys.executable, str(SCRIPT), "--slides", "10", "--ecgs", "50"]
    cmd += ["--corrupt-fraction", "0.2", "--slide-size", "512", "--pretrain-records", "30"]
    cmd += ["--threads", "1", "--gen-workers", "1", "--no-progress"]
    cmd += ["--out", str(tmp_path / "soak"), "--json", str(report_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert report_path.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    rows = {row["step"]: row for row in report["modalities"]}
    assert set(rows) == {"wsi", "ecg_convert", "ecg_embed"}
    assert (rows["wsi"]["corrupt"], rows["ecg_convert"]["corrupt"]) == (2, 10)
    for step, row in rows.items():
        assert row["lost"] == 0, (step, row["details"])
        assert row["failed_unexpected"] == 0, (step, row["details"])
        assert row["failed_expected"] == row["corrupt"], (step, row["details"])
        assert row["completed"] == row["inputs"] - row["corrupt"]
    assert report["ok"] == (done.returncode == 0), report["problems"]
    assert "## Items per modality" in done.stdout and "VERDICT" in done.stdout
    assert np.isfinite(report["run"]["peak_rss_mib"]) and report["run"]["peak_rss_mib"] > 0
