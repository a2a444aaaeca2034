"""Soak: a synthetic cohort with a known share of corrupt files, run with ``biomm run``.

What it checks, on one cohort written by this script (seeded):

* **Nothing is lost.** Every input ends either in a step's outputs or in its failures table;
  every corrupt input fails with a biomm error naming the reason (not a bare Python
  exception); no good input fails; no corrupt input is silently "completed".
* **Memory is flat.** A sampler thread reads the resident memory of the whole ``biomm run``
  process tree every 0.5 s. Per step, the peak in the last third of the step is divided by
  the peak in its first third (the baseline, measured in the same run): about 1.0 means no
  growth with the number of items processed. The verdict uses anonymous memory (RSS minus
  file-backed pages): the ECG store is a memory map whose touched pages are page cache and
  grow with the records written by design; both ratios are printed.

The cohort: ``--slides`` Aperio-style pyramidal SVS slides (tissue-like H&E content,
0.5 µm/px) and ``--ecgs`` 12-lead WFDB records (500 Hz, 10 s) with a short machine report
each, in a manifest + schema (``cohort.csv``, ``schema.yaml``). Exactly
``round(corrupt_fraction × n)`` inputs per modality are corrupted, cycling through the kinds
below; ``ground_truth.json`` lists them.

* slides: ``truncated`` (first half of the file), ``zero_length``, ``wrong_magic`` (not a
  TIFF header), ``header_data_mismatch`` (first IFD offset past the end of the file),
  ``missing_file`` (referenced, not on disk), ``not_a_slide`` (a text file named ``.svs``).
* ECGs: ``truncated_dat`` (signal file cut to 40 %), ``zero_length_header``,
  ``wrong_magic_header`` (random bytes), ``header_data_mismatch`` (header declares 15
  signals, lists 12), ``missing_dat`` (companion signal file removed), ``nan_samples`` (a
  burst of NaN samples in 4 leads; the soak's profile has ``nan_policy: error``),
  ``all_nan`` (every sample NaN).

The pipeline (``pipeline.yaml``, written next to the cohort): ``cohort.validate`` →
``wsi.embed`` (EfficientNet-Lite0, 2 µm/px, 112-px tiles) → ``ecg.convert`` (MERL's recipe at
100 Hz) → ``ecg.pretrain`` (1 epoch, ResNet1d-18 width 16, on a ``train``/``val`` subset of
``--pretrain-records``) → ``ecg.embed`` (every record), run as ``python -m biomm run``.

Exit code 1 when an item was lost, a good input failed, a corrupt input completed, a step
failed, or a step's memory was not flat; 0 otherwise.

Run (the full default size took 20 min on 2 busy CPU cores: 10.5 min writing the cohort, 9 min
the pipeline):
    python benchmarks/soak.py --threads 1
    python benchmarks/soak.py --slides 30 --ecgs 300 --threads 1 --json soak.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

MIB = 1024 * 1024
SLIDE_KINDS = (
    "truncated",
    "zero_length",
    "wrong_magic",
    "header_data_mismatch",
    "missing_file",
    "not_a_slide",
)
ECG_KINDS = (
    "truncated_dat",
    "zero_length_header",
    "wrong_magic_header",
    "header_data_mismatch",
    "missing_dat",
    "nan_samples",
    "all_nan",
)
ECG_PROFILE = {
    "name": "soak_100hz",
    "description": "MERL's recipe at 100 Hz; NaN samples are an error (corrupt input)",
    "fs": 100.0,
    "duration_s": 10.0,
    "normalise": "minmax_record",
    "nan_policy": "error",
}
#: A failure reason that is a bare Python exception (optionally after the file's path).
_BARE_EXCEPTION = re.compile(r"^(?:\S+: )?(?:[A-Za-z_][\w.]*)?(?:Error|Exception)\b:")


# ---- the cohort -----------------------------------------------------------------------------


@dataclass
class Corrupt:
    """One corrupted input: modality, item id (the patient id), file and kind."""

    modality: str
    item: str
    path: str
    kind: str


@dataclass
class SoakCohort:
    """What :func:`make_cohort` wrote."""

    root: Path
    manifest: Path
    schema: Path
    slides: dict[str, str] = field(default_factory=dict)  # item id -> file
    ecgs: dict[str, str] = field(default_factory=dict)  # item id -> record stem
    corrupt: list[Corrupt] = field(default_factory=list)
    seconds: float = 0.0

    def corrupt_of(self, modality: str) -> dict[str, str]:
        """Item id -> corruption kind, for one modality."""
        return {c.item: c.kind for c in self.corrupt if c.modality == modality}


def _tissue_pool(rng: np.random.Generator, size: int, n: int) -> list[np.ndarray]:
    from biomm.demo.synthetic import synthetic_he_tile

    return [synthetic_he_tile(rng, size, float(rng.uniform(0.35, 0.85))) for _ in range(n)]


def _vary(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A distinct slide from a pool image: rotation, flip and a small colour shift."""
    out = np.rot90(image, int(rng.integers(4)))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    shift = rng.integers(-6, 7, size=3)
    return np.clip(out.astype(np.int16) + shift, 0, 255).astype(np.uint8)


def _report(heart_rate: float, st: float) -> str:
    rhythm = (
        "Sinus bradycardia"
        if heart_rate < 60
        else "Sinus tachycardia"
        if heart_rate > 100
        else "Sinus rhythm"
    )
    st_text = " ST depression." if st < -0.05 else " No ST changes."
    return f"{rhythm}, rate about {int(round(heart_rate, -1))} bpm.{st_text}"


def corrupt_slide(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Corrupt a written slide in place (``missing_file`` deletes it).

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "s.svs"
        >>> _ = p.write_bytes(b"II*\\x00" + bytes(100))
        >>> corrupt_slide(p, "truncated", np.random.default_rng(0)); p.stat().st_size
        52
    """
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif kind == "zero_length":
        path.write_bytes(b"")
    elif kind == "wrong_magic":
        data[:4] = b"PK\x03\x04"
        path.write_bytes(bytes(data))
    elif kind == "header_data_mismatch":
        if data[2:4] in (b"\x2a\x00", b"\x00\x2a"):  # classic TIFF: 4-byte offset
            data[4:8] = struct.pack("<I" if data[:2] == b"II" else ">I", len(data) + 4096)
        else:  # BigTIFF: 8-byte offset
            data[8:16] = struct.pack("<Q" if data[:2] == b"II" else ">Q", len(data) + 4096)
        path.write_bytes(bytes(data))
    elif kind == "missing_file":
        path.unlink()
    elif kind == "not_a_slide":
        path.write_text("slide scanner export failed\n" * int(rng.integers(5, 50)))
    else:
        raise ValueError(f"unknown slide corruption {kind!r}")


def corrupt_ecg(stem: Path, kind: str, rng: np.random.Generator) -> None:
    """Corrupt a written WFDB record (``stem.hea`` + ``stem.dat``) in place.

    ``nan_samples`` and ``all_nan`` rewrite the record, so they are applied at write time by
    :func:`make_cohort`; here they are no-ops.
    """
    hea, dat = stem.with_suffix(".hea"), stem.with_suffix(".dat")
    if kind == "truncated_dat":
        data = dat.read_bytes()
        dat.write_bytes(data[: len(data) * 2 // 5])
    elif kind == "zero_length_header":
        hea.write_bytes(b"")
    elif kind == "wrong_magic_header":
        hea.write_bytes(rng.bytes(int(rng.integers(200, 800))))
    elif kind == "header_data_mismatch":
        lines = hea.read_text().split("\n")
        fields = lines[0].split()
        fields[1] = "15"  # 15 signals declared, 12 signal lines follow
        lines[0] = " ".join(fields)
        hea.write_text("\n".join(lines))
    elif kind == "missing_dat":
        dat.unlink()
    elif kind not in ("nan_samples", "all_nan"):
        raise ValueError(f"unknown ECG corruption {kind!r}")


def _pick_corrupt(
    rng: np.random.Generator, items: list[str], fraction: float, kinds: tuple[str, ...]
) -> dict[str, str]:
    n = round(fraction * len(items))
    chosen = rng.choice(len(items), size=n, replace=False) if n else []
    return {items[int(k)]: kinds[i % len(kinds)] for i, k in enumerate(chosen)}


def _write_ecgs(jobs: list[tuple[str, float, float, str | None, tuple[int, int]]]) -> int:
    """Write (and corrupt) a chunk of WFDB records (in a worker process when there are several)."""
    from biomm.demo.synthetic import synthetic_ecg, write_wfdb

    for stem, hr, st, kind, key in jobs:
        rng = np.random.default_rng(key)  # per record: the same files for any worker count
        signal = synthetic_ecg(rng, 500, 10.0, hr, st)
        if kind == "nan_samples":
            start = int(rng.integers(0, signal.shape[0] - 200))
            signal[start : start + 150, rng.choice(12, size=4, replace=False)] = np.nan
        elif kind == "all_nan":
            signal[:] = np.nan
        write_wfdb(Path(stem), signal, 500, [f"heart_rate: {hr:.0f}"])
        if kind is not None:
            corrupt_ecg(Path(stem), kind, rng)
    return len(jobs)


def make_cohort(
    root: Path,
    *,
    slides: int,
    ecgs: int,
    corrupt_fraction: float,
    seed: int = 0,
    slide_size: int = 1024,
    pretrain_records: int = 200,
    gen_workers: int = 1,
    echo: Any = print,
) -> SoakCohort:
    """Write the soak cohort (manifest, schema, files, ``ground_truth.json``) into ``root``.

    Patients ``P00001``… hold an ECG (the first ``ecgs``) and/or a slide (``slides`` drawn at
    random). The first ``pretrain_records`` ECG patients are split 80/20 into ``train`` and
    ``val`` for the pretraining step; every other row is ``test``. ECG records are written by
    ``gen_workers`` processes, each record from its own seed (same files for any count).
    """
    from biomm.demo.synthetic import write_pyramidal_svs

    begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    n_patients = max(slides, ecgs)
    pids = [f"P{i + 1:05d}" for i in range(n_patients)]
    slide_pids = sorted(pids[int(k)] for k in rng.choice(n_patients, size=slides, replace=False))
    ecg_pids = pids[:ecgs]
    bad_slides = _pick_corrupt(rng, slide_pids, corrupt_fraction, SLIDE_KINDS)
    bad_ecgs = _pick_corrupt(rng, ecg_pids, corrupt_fraction, ECG_KINDS)
    cohort = SoakCohort(root, root / "cohort.csv", root / "schema.yaml")
    rows: dict[str, dict[str, Any]] = {pid: {"patient_id": pid, "split": "test"} for pid in pids}

    pool = _tissue_pool(rng, slide_size, min(32, max(1, slides)))
    step = max(1, slides // 10)
    for k, pid in enumerate(slide_pids):
        path = root / "slides" / f"{pid}.svs"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_pyramidal_svs(path, _vary(rng, pool[int(rng.integers(len(pool)))]), 0.5)
        if pid in bad_slides:
            corrupt_slide(path, bad_slides[pid], rng)
            cohort.corrupt.append(Corrupt("wsi", pid, str(path), bad_slides[pid]))
        rows[pid]["slide"] = f"slides/{pid}.svs"
        cohort.slides[pid] = str(path)
        if (k + 1) % step == 0 or k + 1 == slides:
            echo(f"  slides written: {k + 1}/{slides}")

    n_pre = min(ecgs, pretrain_records)
    jobs = []
    for k, pid in enumerate(ecg_pids):
        hr = float(np.clip(rng.normal(75, 15), 42, 140))
        st = float(min(0.0, rng.normal(0, 0.06)))
        jobs.append((str(root / "ecg" / pid), hr, st, bad_ecgs.get(pid), (seed, k)))
        rows[pid]["ecg"] = f"ecg/{pid}"
        rows[pid]["report"] = _report(hr, st)
        if k < n_pre:
            rows[pid]["split"] = "val" if k % 5 == 4 else "train"
        cohort.ecgs[pid] = str(root / "ecg" / pid)
        if pid in bad_ecgs:
            cohort.corrupt.append(Corrupt("ecg", pid, str(root / "ecg" / pid), bad_ecgs[pid]))
    (root / "ecg").mkdir(exist_ok=True)
    step = max(1, ecgs // 10)
    chunks = [jobs[i : i + 50] for i in range(0, len(jobs), 50)]
    written = 0
    with contextlib.ExitStack() as stack:
        if gen_workers > 1:
            results = stack.enter_context(ProcessPoolExecutor(gen_workers)).map(_write_ecgs, chunks)
        else:
            results = map(_write_ecgs, chunks)
        for n in results:
            before, written = written, written + n
            if written // step > before // step or written == ecgs:
                echo(f"  ECGs written: {written}/{ecgs}")

    columns = ["patient_id", "slide", "ecg", "report", "split"]
    table = pd.DataFrame(list(rows.values())).reindex(columns=columns)
    table.to_csv(cohort.manifest, index=False)
    schema = {
        "patient_id": "patient_id",
        "split": "split",
        "modalities": {
            "wsi": {"column": "slide"},
            "ecg": {"column": "ecg"},
            "report": {"column": "report"},
        },
    }
    cohort.schema.write_text(yaml.safe_dump(schema, sort_keys=False))
    truth = {
        "seed": seed,
        "corrupt_fraction": corrupt_fraction,
        "slides": slides,
        "ecgs": ecgs,
        "corrupt": [asdict(c) for c in cohort.corrupt],
    }
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    cohort.seconds = time.perf_counter() - begin
    return cohort


def write_pipeline(cohort: SoakCohort, *, workers: int = 1, device: str = "cpu") -> Path:
    """Write ``pipeline.yaml`` next to the manifest; return its path."""
    steps: dict[str, Any] = {"validate": {"uses": "cohort.validate"}}
    if cohort.slides:
        steps["wsi"] = {
            "uses": "wsi.embed",
            "with": {
                "encoder": "efficientnet_lite0",
                "mpp": 2.0,
                "patch_size": 112,
                "min_tissue": 0.3,
                "batch_size": 32,
                "workers": workers,
                "device": device,
            },
        }
    if cohort.ecgs:
        steps["ecg_convert"] = {
            "uses": "ecg.convert",
            "with": {"profile": ECG_PROFILE, "workers": workers},
        }
        steps["ecg_pretrain"] = {
            "uses": "ecg.pretrain",
            "with": {
                "store": "${steps.ecg_convert.store}",
                "profile": ECG_PROFILE,
                "ecg_encoder": {"name": "resnet1d18", "kwargs": {"width": 16}},
                "text": {"model": "minilm", "max_length": 32},
                "proj_dim": 32,
                "epochs": 1,
                "batch_size": 32,
                "lr": 0.002,
                "device": device,
            },
        }
        steps["ecg_embed"] = {
            "uses": "ecg.embed",
            "with": {
                "model": "${steps.ecg_pretrain.model}",
                "store": "${steps.ecg_convert.store}",
                "batch_size": 128,
                "device": device,
            },
        }
    spec = {"name": "soak", "cohort": "cohort.csv", "schema": "schema.yaml", "steps": steps}
    path = cohort.root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# ---- running it, with a memory sampler -------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples RSS and anonymous RSS (RSS minus file-backed pages) of a process tree."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.started = time.perf_counter()
        self.samples: list[tuple[float, int, int]] = []  # (time, rss, anon)
        self._halt = threading.Event()

    def stop(self) -> None:
        """Stop after the current sample."""
        self._halt.set()

    def sample(self) -> tuple[int, int] | None:
        """``(rss, anon)`` in bytes summed over the tree, or None when it is gone."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        rss = anon = 0
        for proc in procs:
            try:
                info = proc.memory_info()
            except psutil.Error:
                continue
            rss += info.rss
            anon += info.rss - getattr(info, "shared", 0)
        return rss, anon

    def run(self) -> None:
        while not self._halt.is_set():
            value = self.sample()
            if value is not None:
                self.samples.append((time.perf_counter(), *value))
            self._halt.wait(self.interval)


_START = re.compile(r"^\[(\d+)/(\d+)\] (\S+) \(([\w.]+)\) \.\.\.$")
_END = re.compile(r"^\[(\d+)/(\d+)\] ([^\s:]+): (.*)$")


@dataclass
class StepWindow:
    """When a step ran, as seen from the pipeline's own start/end lines."""

    name: str
    kind: str
    start: float
    end: float | None = None
    line: str = ""


def run_biomm(
    pipeline: Path,
    run_dir: Path,
    *,
    threads: int,
    interval: float,
    progress: bool,
    echo: Any = print,
) -> tuple[int, list[StepWindow], TreeSampler, float]:
    """``python -m biomm run`` as a subprocess with a sampler thread on its process tree."""
    cmd = [sys.executable, "-m", "biomm", "run", str(pipeline), "--out", str(run_dir)]
    cmd += ["--threads", str(threads), "--allow-failures"]
    cmd += ["--progress" if progress else "--no-progress"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    echo("  $ " + " ".join(cmd[1:]))
    begin = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=None if progress else subprocess.STDOUT,
        text=True,
        env=env,
    )
    sampler = TreeSampler(proc.pid, interval)
    sampler.start()
    windows: list[StepWindow] = []
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            now = time.perf_counter()
            if m := _START.match(line):
                windows.append(StepWindow(m.group(3), m.group(4), now))
            elif (m := _END.match(line)) and windows and windows[-1].name == m.group(3):
                windows[-1].end, windows[-1].line = now, m.group(4)
            echo("  | " + line)
        code = proc.wait()
    except BaseException:  # Ctrl-C: do not leave the pipeline running
        proc.terminate()
        proc.wait()
        raise
    finally:
        sampler.stop()
    sampler.join()
    return code, windows, sampler, time.perf_counter() - begin


#: Steps that stream items (memory must not grow with the items done). Training steps load
#: models and build optimiser state during their first third: their peak is reported only.
STREAMING_STEPS = ("cohort.validate", "wsi.embed", "ecg.convert", "ecg.embed")


def memory_profile(
    window: StepWindow,
    samples: list[tuple[float, int, int]],
    *,
    threshold: float,
    min_seconds: float,
) -> dict[str, Any]:
    """Peak RSS of a step and its flatness: peak in the last third ÷ peak in the first third.

    Only :data:`STREAMING_STEPS` longer than ``min_seconds`` get a verdict.

    Examples:
        >>> w = StepWindow("s", "ecg.convert", 0.0, 30.0)
        >>> samples = [(t / 2, 100 * MIB, 50 * MIB) for t in range(61)]
        >>> memory_profile(w, samples, threshold=1.1, min_seconds=20)["verdict"]
        'PASS'
    """
    end = window.end if window.end is not None else window.start
    inside = [s for s in samples if window.start <= s[0] <= end]
    out: dict[str, Any] = {"seconds": round(end - window.start, 1), "samples": len(inside)}
    if not inside:
        return out | {"verdict": "n/a (no samples)"}
    out["peak_rss_mib"] = round(max(s[1] for s in inside) / MIB, 1)
    out["peak_anon_mib"] = round(max(s[2] for s in inside) / MIB, 1)
    third = (end - window.start) / 3
    first = [s for s in inside if s[0] <= window.start + third]
    last = [s for s in inside if s[0] >= end - third]
    if end - window.start < min_seconds or len(first) < 3 or len(last) < 3:
        return out | {"verdict": f"n/a (< {min_seconds:g} s)"}
    judged = window.kind in STREAMING_STEPS
    for label, col in (("rss", 1), ("anon", 2)):
        a, b = max(s[col] for s in first), max(s[col] for s in last)
        out[f"first_third_{label}_mib"] = round(a / MIB, 1)
        out[f"last_third_{label}_mib"] = round(b / MIB, 1)
        out[f"flatness_{label}"] = round(b / a, 3) if a else None
    ratio = out["flatness_anon"]
    if not judged:
        out["verdict"] = "n/a (training)"
    else:
        out["verdict"] = "PASS" if ratio is not None and ratio <= threshold else "FAIL"
    return out


# ---- accounting ---------------------------------------------------------------------------


def _clear(reason: str) -> bool:
    """A failure reason that says what is wrong, not a bare Python exception."""
    reason = (reason or "").strip()
    return bool(reason) and not _BARE_EXCEPTION.match(reason)


def account(
    inputs: list[str], corrupt: dict[str, str], done: set[str], failed: dict[str, str]
) -> dict[str, Any]:
    """Sort every input into exactly one outcome.

    Examples:
        >>> r = account(["a", "b", "c", "d"], {"b": "zero_length", "d": "truncated"},
        ...             done={"a", "d"}, failed={"b": "file is empty (0 bytes)"})
        >>> r["completed"], r["failed_expected"], r["corrupt_completed"], r["lost"]
        (1, 1, 1, 1)
    """
    outcome: dict[str, list[Any]] = {
        k: []
        for k in (
            "completed",
            "failed_expected",
            "failed_unclear",
            "failed_unexpected",
            "corrupt_completed",
            "lost",
            "inconsistent",
        )
    }
    for item in inputs:
        is_done, reason = item in done, failed.get(item)
        is_failed = item in failed
        kind = corrupt.get(item)
        if is_done and is_failed:
            outcome["inconsistent"].append(item)
        elif is_failed and kind is not None:
            key = "failed_expected" if _clear(reason or "") else "failed_unclear"
            outcome[key].append({"item": item, "kind": kind, "reason": reason})
        elif is_failed:
            outcome["failed_unexpected"].append({"item": item, "reason": reason})
        elif is_done and kind is not None:
            outcome["corrupt_completed"].append({"item": item, "kind": kind})
        elif is_done:
            outcome["completed"].append(item)
        else:
            outcome["lost"].append({"item": item, "kind": kind})
    known = set(inputs)
    result: dict[str, Any] = {"inputs": len(inputs), "corrupt": len(corrupt)}
    result |= {k: len(v) for k, v in outcome.items()}
    result["unknown_outputs"] = sorted((done | set(failed)) - known)
    result["details"] = {k: v for k, v in outcome.items() if k != "completed" and v}
    return result


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def wsi_outcomes(step_dir: Path) -> tuple[set[str], dict[str, str], dict[str, int]]:
    """Slides with features, failed slides (name -> reason), bad tiles per output."""
    import h5py

    done, bad_tiles = set(), {}
    for path in sorted((step_dir / "features").glob("*.h5")):
        done.add(path.stem)
        try:
            with h5py.File(path, "r") as h5:
                bad_tiles[path.stem] = int(np.asarray(h5["bad"]).sum())
        except (OSError, KeyError):
            bad_tiles[path.stem] = -1
    table = _read_csv(step_dir / "failures.csv")
    failed = {row["name"]: row.get("reason", "") for row in table.to_dict("records")}
    return done, failed, bad_tiles


def ecg_convert_outcomes(step_dir: Path) -> tuple[set[str], dict[str, str]]:
    """Records converted (``status == done`` in the store's index) and failed records."""
    index = _read_csv(step_dir / "index.csv")
    done = set(index.loc[index["status"] == "done", "record_id"]) if len(index) else set()
    table = _read_csv(step_dir / "failures.csv")
    failed = {r["record_id"]: r.get("error", "") for r in table.to_dict("records")}
    return done, failed


def ecg_embed_outcomes(step_dir: Path) -> tuple[set[str], dict[str, str]]:
    """Records with an embedding row and failed records."""
    import h5py

    done: set[str] = set()
    path = step_dir / "embeddings.h5"
    if path.is_file():
        with h5py.File(path, "r") as h5:
            done = {v.decode() if isinstance(v, bytes) else str(v) for v in h5["record_id"][:]}
    table = _read_csv(step_dir / "failures.csv")
    failed = {r["record_id"]: r.get("error", "") for r in table.to_dict("records")}
    return done, failed


def flagged_at_validation(run_dir: Path, cohort: SoakCohort) -> dict[str, set[str]]:
    """Items whose file ``cohort.validate`` listed as an item failure, per modality."""
    table = _read_csv(run_dir / "steps" / "validate" / "failures.csv")
    flagged: dict[str, set[str]] = {"wsi": set(), "ecg": set()}
    columns = {"slide": "wsi", "ecg": "ecg"}
    for row in table.to_dict("records"):
        modality = columns.get(row.get("column", ""))
        if modality:
            flagged[modality].add(Path(row.get("file", "")).name.split(".")[0])
    return flagged


# ---- report -------------------------------------------------------------------------------


def _table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _modality_rows(
    cohort: SoakCohort, run_dir: Path, memory: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """One accounting row per (modality, step that produces its per-item outputs)."""
    steps = run_dir / "steps"
    plan = []
    bad_tiles: dict[str, int] = {}
    if cohort.slides:
        done, failed, bad_tiles = wsi_outcomes(steps / "wsi")
        plan.append(("wsi", "wsi", cohort.slides, done, failed))
    if cohort.ecgs:
        plan.append(
            ("ecg", "ecg_convert", cohort.ecgs, *ecg_convert_outcomes(steps / "ecg_convert"))
        )
        plan.append(("ecg", "ecg_embed", cohort.ecgs, *ecg_embed_outcomes(steps / "ecg_embed")))
    flagged = flagged_at_validation(run_dir, cohort)
    rows = {}
    for modality, step, inputs, done, failed in plan:
        corrupt = cohort.corrupt_of(modality)
        row = account(sorted(inputs), corrupt, done, failed)
        mem = memory.get(step, {})
        secs = mem.get("seconds") or 0.0
        row |= {
            "modality": modality,
            "step": step,
            "seconds": secs,
            "items_per_second": round(len(inputs) / secs, 1) if secs else None,
            "peak_rss_mib": mem.get("peak_rss_mib"),
            "flatness_anon": mem.get("flatness_anon"),
            "memory_verdict": mem.get("verdict"),
            "flagged_at_validation": len(flagged[modality] & set(corrupt)),
            "good_flagged_at_validation": len(flagged[modality] - set(corrupt)),
        }
        if modality == "wsi":  # a corrupt slide that completed: did its output flag bad tiles?
            completed = row["details"].get("corrupt_completed", [])
            row["corrupt_completed_bad_tiles"] = {
                d["item"]: bad_tiles.get(d["item"]) for d in completed
            }
        rows[step] = row
    return rows


def _kind_rows(cohort: SoakCohort, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per corruption kind: how many, how many failed in the first step reading them, an error."""
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cohort.corrupt:
        details = rows.get("wsi" if c.modality == "wsi" else "ecg_convert", {}).get("details", {})
        reasons = {
            d["item"]: d["reason"]
            for d in details.get("failed_expected", []) + details.get("failed_unclear", [])
        }
        entry = kinds.setdefault(
            (c.modality, c.kind),
            {"modality": c.modality, "kind": c.kind, "n": 0, "failed": 0, "example": ""},
        )
        entry["n"] += 1
        if c.item in reasons:
            entry["failed"] += 1
            entry["example"] = entry["example"] or str(reasons[c.item])[:160]
    return sorted(kinds.values(), key=lambda e: (e["modality"], e["kind"]))


def _problems(
    rows: dict[str, dict[str, Any]],
    memory: dict[str, dict[str, Any]],
    status: dict[str, str | None],
    *,
    code: int,
    threshold: float,
) -> list[str]:
    """Everything that makes the soak fail, one line each."""
    problems = []
    for step, row in rows.items():
        for key in ("lost", "failed_unexpected", "corrupt_completed", "inconsistent"):
            if row[key]:
                problems.append(f"{step}: {row[key]} {key.replace('_', ' ')}")
        if row["unknown_outputs"]:
            problems.append(f"{step}: {len(row['unknown_outputs'])} unknown item(s) in outputs")
        if step not in memory:
            problems.append(f"{step}: the step did not run")
    for name, mem in memory.items():
        if mem.get("verdict") == "FAIL":
            problems.append(f"{name}: memory grew ({mem['flatness_anon']}× > {threshold:g}×)")
    for name, state in status.items():
        if state not in ("ran", "cached"):
            problems.append(f"{name}: step {state}")
    if code not in (0, 1):
        problems.append(f"biomm run exited with {code}")
    return problems


def build_report(
    cohort: SoakCohort,
    run_dir: Path,
    windows: list[StepWindow],
    sampler: TreeSampler,
    *,
    code: int,
    seconds: float,
    threshold: float,
    min_seconds: float,
) -> dict[str, Any]:
    """Per-modality accounting, per-step memory and the overall verdict."""
    summary = json.loads((run_dir / "summary.json").read_text())
    status = {s["step"]: s.get("status") for s in summary.get("steps", [])}
    memory = {
        w.name: {"kind": w.kind, "status": status.get(w.name)}
        | memory_profile(w, sampler.samples, threshold=threshold, min_seconds=min_seconds)
        for w in windows
    }
    rows = _modality_rows(cohort, run_dir, memory)
    problems = _problems(rows, memory, status, code=code, threshold=threshold)
    first = windows[0].start - sampler.started if windows else None
    return {
        "cohort": {
            "root": str(cohort.root),
            "slides": len(cohort.slides),
            "ecgs": len(cohort.ecgs),
            "corrupt": len(cohort.corrupt),
            "generation_seconds": round(cohort.seconds, 1),
        },
        "run": {
            "dir": str(run_dir),
            "exit_code": code,
            "seconds": round(seconds, 1),
            "startup_seconds": round(first, 1) if first is not None else None,
            "peak_rss_mib": round(max((s[1] for s in sampler.samples), default=0) / MIB, 1),
            "samples": len(sampler.samples),
        },
        "modalities": list(rows.values()),
        "steps": memory,
        "corrupt_kinds": _kind_rows(cohort, rows),
        "threshold": threshold,
        "windows": [
            {
                "step": w.name,
                "kind": w.kind,
                "start": round(w.start - sampler.started, 2),
                "end": round(w.end - sampler.started, 2) if w.end is not None else None,
            }
            for w in windows
        ],
        "timeline": [  # seconds since start, RSS MiB, anonymous MiB
            [round(t - sampler.started, 2), round(rss / MIB, 1), round(anon / MIB, 1)]
            for t, rss, anon in sampler.samples
        ],
        "ok": not problems,
        "problems": problems,
    }


#: (header, key) of the printed tables.
_ITEM_COLUMNS = [
    ("modality", "modality"),
    ("step", "step"),
    ("inputs", "inputs"),
    ("corrupt", "corrupt"),
    ("completed", "completed"),
    ("failed as expected", "failed_expected"),
    ("failed, unclear error", "failed_unclear"),
    ("failed unexpectedly", "failed_unexpected"),
    ("corrupt completed", "corrupt_completed"),
    ("lost", "lost"),
    ("corrupt caught by validate", "flagged_at_validation"),
    ("wall s", "seconds"),
    ("items/s", "items_per_second"),
    ("peak RSS MiB", "peak_rss_mib"),
]
_STEP_COLUMNS = [
    ("kind", "kind"),
    ("status", "status"),
    ("s", "seconds"),
    ("peak RSS MiB", "peak_rss_mib"),
    ("peak anon MiB", "peak_anon_mib"),
    ("RSS ratio", "flatness_rss"),
    ("anon ratio", "flatness_anon"),
    ("verdict", "verdict"),
]


def print_report(report: dict[str, Any]) -> None:
    """The report as Markdown tables on stdout."""
    print("\n## Items per modality\n")
    rows = [[r.get(key) for _, key in _ITEM_COLUMNS] for r in report["modalities"]]
    print(_table(rows, [h for h, _ in _ITEM_COLUMNS]))
    print(
        "\n## Memory per step (flat: peak in the last third of the step ÷ peak in its first "
        f"third ≤ {report['threshold']:g}, anonymous memory)\n"
    )
    rows = [
        [name] + [m.get(key, "—") for _, key in _STEP_COLUMNS]
        for name, m in report["steps"].items()
    ]
    print(_table(rows, ["step"] + [h for h, _ in _STEP_COLUMNS]))
    print("\n## Corrupt inputs by kind (first step reading them)\n")
    rows = [
        [k["modality"], k["kind"], k["n"], k["failed"], k["example"].replace("|", "/")]
        for k in report["corrupt_kinds"]
    ]
    print(_table(rows, ["modality", "kind", "n", "failed", "example error"]))
    for row in report["modalities"]:
        for key in ("corrupt_completed", "failed_unexpected", "failed_unclear", "lost"):
            for d in row["details"].get(key, [])[:5]:
                print(f"  {row['step']}: {key}: {d}")
    run = report["run"]
    print(
        f"\nrun: {run['seconds']} s ({run['startup_seconds']} s before the first step), peak "
        f"RSS of the process tree {run['peak_rss_mib']} MiB, {run['samples']} samples; cohort "
        f"written in {report['cohort']['generation_seconds']} s"
    )
    if report["ok"]:
        print("VERDICT: PASS (nothing lost, every corrupt input failed, memory flat)")
    else:
        print("VERDICT: FAIL\n  " + "\n  ".join(report["problems"]))


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slides", type=int, default=500, help="slides in the cohort (500)")
    p.add_argument("--ecgs", type=int, default=5000, help="ECG records in the cohort (5000)")
    p.add_argument(
        "--corrupt-fraction",
        type=float,
        default=0.02,
        help="share of corrupt inputs per modality (0.02)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="biomm run --threads (1)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ECG conversion processes and slide-reading threads (1)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the cohort and the run (default: a temporary folder)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (always kept with --out)"
    )
    p.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    p.add_argument("--slide-size", type=int, default=1024, help="level-0 slide side in px")
    p.add_argument(
        "--pretrain-records",
        type=int,
        default=200,
        help="ECGs in the pretraining subset (train/val split)",
    )
    p.add_argument(
        "--gen-workers",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        help="processes writing the cohort's ECG files (all CPUs)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--interval", type=float, default=0.5, help="memory sampling period, s")
    p.add_argument(
        "--flat-threshold",
        type=float,
        default=1.10,
        help="largest last-third/first-third peak ratio that counts as flat",
    )
    p.add_argument(
        "--min-step-seconds",
        type=float,
        default=20.0,
        help="steps shorter than this get no memory verdict",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the pipeline's progress bars")
    args = p.parse_args(argv)
    if not 0 <= args.corrupt_fraction <= 1:
        p.error("--corrupt-fraction must be in [0, 1]")
    if args.slides < 0 or args.ecgs < 0 or args.slides + args.ecgs == 0:
        p.error("--slides and --ecgs must be >= 0, and not both 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate, run, report; the exit code says whether the soak passed."""
    args = parse_args(argv)
    root = args.out or Path(tempfile.mkdtemp(prefix="biomm-soak-"))
    if root.exists() and any(root.iterdir()):
        print(f"error: {root} is not empty; choose a new --out folder", file=sys.stderr)
        return 2
    try:
        print(
            f"[soak 1/3] writing the cohort into {root}: {args.slides} slides, {args.ecgs} "
            f"ECGs, {args.corrupt_fraction:.0%} corrupt (seed {args.seed})",
            flush=True,
        )
        cohort = make_cohort(
            root / "cohort",
            slides=args.slides,
            ecgs=args.ecgs,
            corrupt_fraction=args.corrupt_fraction,
            seed=args.seed,
            slide_size=args.slide_size,
            pretrain_records=args.pretrain_records,
            gen_workers=args.gen_workers,
            echo=lambda line: print(line, flush=True),
        )
        pipeline = write_pipeline(cohort, workers=args.workers, device=args.device)
        print(f"[soak 2/3] running the pipeline ({len(cohort.corrupt)} corrupt inputs)", flush=True)
        code, windows, sampler, seconds = run_biomm(
            pipeline,
            root / "run",
            threads=args.threads,
            interval=args.interval,
            progress=not args.no_progress,
            echo=lambda line: print(line, flush=True),
        )
        print("[soak 3/3] checking the outputs against the ground truth", flush=True)
        if not (root / "run" / "summary.json").is_file():
            print(f"error: biomm run exited with {code} and wrote no summary", file=sys.stderr)
            return 1
        report = build_report(
            cohort,
            root / "run",
            windows,
            sampler,
            code=code,
            seconds=seconds,
            threshold=args.flat_threshold,
            min_seconds=args.min_step_seconds,
        )
        report["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        print_report(report)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str))
            print(f"report: {args.json}")
        return 0 if report["ok"] else 1
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"cohort and run kept in {root}")


if __name__ == "__main__":
    sys.exit(main())
