"""ECG throughput: read → profile → store, training reads, and zero-shot ECGs/s.

Baselines measured in the same run on the same records:

1. **convert**: a plain loop of ``wfdb.rdrecord`` + ``scipy.signal.resample`` (FFT) to the
   profile's rate and length, kept in a list — what most ECG scripts do. Measured: ``biomm ecg
   convert`` logic (``convert_ecgs``: read, lead mapping, NaN repair, polyphase resampling,
   crop/pad, normalisation, atomic memory-mapped store, failure log) with 1 and N workers.
2. **training reads**: random batches of 64 from the store's memory map vs re-reading and
   resampling the WFDB files for each batch (what a dataset without a store does).
3. **zero-shot**: ECGs/s through a ResNet1d-18 MERL model (embedding + prompt similarity), CPU.

Prints ratios; no threshold is asserted. Run:
    python benchmarks/ecg_throughput.py [--records 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal
import torch
import wfdb

from biomm.demo.synthetic import synthetic_ecg, write_wfdb
from biomm.ecg.profiles import get_profile
from biomm.ecg.store import ECGStore, convert_ecgs


def make_records(root: Path, n: int, fs: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        stem = root / "ecg" / f"r{i:05d}"
        write_wfdb(stem, synthetic_ecg(rng, fs, 10.0, float(rng.uniform(50, 110)), 0.0), fs, [])
        paths.append(stem)
    return paths


def baseline_convert(paths: list[Path], fs: float, n_samples: int) -> tuple[float, list]:
    start = time.perf_counter()
    out = []
    for path in paths:
        record = wfdb.rdrecord(str(path))
        x = record.p_signal.T
        x = scipy.signal.resample(x, round(x.shape[1] * fs / record.fs), axis=1)
        out.append(x[:, :n_samples].astype(np.float32))
    return time.perf_counter() - start, out


def timed_convert(paths: list[Path], out: Path, profile: str, workers: int) -> float:
    start = time.perf_counter()
    summary = convert_ecgs(
        [(p.name, p) for p in paths], out, profile, workers=workers, resume=False, progress=False
    )
    assert summary.failed == 0, summary.failures[:2]
    return time.perf_counter() - start


def training_reads(
    store: ECGStore, paths: list[Path], fs: float, batches: int
) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(batches):
        rows = np.sort(rng.choice(len(store), 64, replace=False))
        np.asarray(store.signals[rows], dtype=np.float32)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(max(1, batches // 10)):
        for k in rng.choice(len(paths), 64, replace=False):
            record = wfdb.rdrecord(str(paths[k]))
            scipy.signal.resample_poly(record.p_signal.T, 1, int(record.fs // fs), axis=1)
    slow = (time.perf_counter() - start) * batches / max(1, batches // 10)
    return fast, slow


def zeroshot_rate(store: ECGStore, n: int) -> float:
    from biomm.ecg.merl import MERLModel
    from biomm.zeroshot import ZeroShotClassifier

    torch.manual_seed(0)
    model = MERLModel(
        {"name": "resnet1d18", "kwargs": {}}, {"model": "minilm", "pooling": "mean"}, proj_dim=256
    ).eval()
    clf = ZeroShotClassifier(
        model.encode_text, ["normal ECG", "atrial fibrillation", "ST elevation"]
    )
    x = torch.from_numpy(np.array(store.signals[:n], dtype=np.float32))
    with torch.inference_mode():
        model.encode_ecg(x[:8])  # warm-up
        start = time.perf_counter()
        for batch in x.split(64):
            clf.predict_proba(model.encode_ecg(batch))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source-fs", type=int, default=1000)
    parser.add_argument("--profile", default="merl")
    args = parser.parse_args()
    profile = get_profile(args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_records(root, args.records, args.source_fs)
        base, _ = baseline_convert(paths, profile.fs, profile.n_samples)
        one = timed_convert(paths, root / "store1", args.profile, 1)
        many = timed_convert(paths, root / "storeN", args.profile, args.workers)
        store = ECGStore(root / "store1")
        fast, slow = training_reads(store, paths, profile.fs, batches=50)
        rate = zeroshot_rate(store, min(256, args.records))
    n = args.records
    print(
        f"records: {n} × 12 leads × 10 s at {args.source_fs} Hz → profile {args.profile!r} "
        f"({profile.fs:g} Hz, {profile.n_samples} samples)"
    )
    rows = [
        ("convert baseline (rdrecord + FFT resample)", n / base, ""),
        ("convert biomm, 1 worker", n / one, f"ratio {base / one:.2f}x"),
        (f"convert biomm, {args.workers} workers", n / many, f"ratio {base / many:.2f}x"),
    ]
    for label, value, ratio in rows:
        print(f"{label:<44}{value:8.1f} records/s  {ratio}")
    print(
        f"training reads from the store:              {50 * 64 / fast:8.0f} records/s  "
        f"ratio {slow / fast:.0f}x vs re-reading WFDB"
    )
    print(f"zero-shot (ResNet1d-18, CPU, batch 64):     {rate:8.1f} ECGs/s")


if __name__ == "__main__":
    main()
