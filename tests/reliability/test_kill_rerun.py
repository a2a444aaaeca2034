"""Crash safety: every long command, SIGKILLed at seeded random moments and rerun, ends with
the outputs of a run never killed, and never leaves a partial file that looks complete.

For each command: one uninterrupted reference run (its wall time measured), then runs killed
with SIGKILL (whole process group) at seeded random times within that duration, then a rerun
to completion into the same folder. The final folder must equal the reference, file by file:
the same names, and the same bytes (HDF5, CSV, safetensors, .npy all come out byte-identical
on one machine; a differing HDF5 file is compared dataset by dataset to say where).

Excluded from the comparison, because they describe the run rather than its results:

* ``summary.json`` of wsi jobs and ``ecg pretrain`` (wall time, slides done *in this run*),
  pipeline ``summary.json``, ``step.json``, ``started.json`` and ``environment.json`` (wall
  times, timestamps), and logs (``log.jsonl`` of the ECG store gains a line per record redone
  after a kill; ``logs/``);
* ``parts/`` of ``biomm embed`` (resume checkpoints: a kill may split the same items into
  other chunks; the assembled ``embeddings.h5``/``items.csv`` are compared) and
  ``train_state/`` of ``ecg pretrain`` (its resume point; its weights are in ``last/``).

After every kill, every output file that exists must open and read completely (no partial
HDF5, CSV, JSON, NumPy or safetensors file under a final name); after the final run no
``.tmp`` file and no lock file is left.

The default run kills seven commands once each (``DEFAULT``); ``-m slow`` kills the other four
once, sweeps four kill points per command and checks that two uninterrupted runs are identical
(the precondition). ``history.csv`` of ``biomm train`` is compared without its ``seconds``
column (per-epoch wall time).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from . import killable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RUN_LOGS = ("logs/*", "*/logs/*", "environment.json", "**/step.json", "**/started.json")


@dataclass
class Case:
    """One command to kill and rerun.

    Attributes:
        name: Test id.
        args: ``biomm`` arguments.
        out: The output folder (compared as a whole).
        exclude: Glob patterns (relative to ``out``) that are not compared.
        codes: Acceptable exit codes of a complete run (1: some items failed, by design).
    """

    name: str
    args: Sequence[str]
    out: Path
    exclude: Sequence[str] = ()
    codes: Sequence[int] = (0,)


# ---- fixtures: tiny seeded cohorts -----------------------------------------------------------


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> Path:
    """Start the fork server once, so that no measured run includes importing torch."""
    folder = tmp_path_factory.mktemp("warm")
    code, _ = killable.run(["--help"], folder, folder / "log.txt")
    assert code == 0
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo cohort, 8 patients, 512-px slides, with a split column."""
    from biomm.demo import DemoCohortSpec, make_demo_cohort

    folder = make_demo_cohort(
        tmp_path_factory.mktemp("demo"), DemoCohortSpec(n_patients=8, seed=3, slide_size=512)
    )
    table = pd.read_csv(folder / "cohort.csv", dtype=str)
    table["split"] = ["train"] * 5 + ["test"] * 3
    table.to_csv(folder / "cohort.csv", index=False)
    (folder / "schema.yaml").write_text((folder / "schema.yaml").read_text() + "split: split\n")
    return folder


@pytest.fixture(scope="module")
def ecg_exp(tmp_path_factory, warm) -> Path:
    """A synthetic ECG experiment (24 patients) with a tiny pretraining config."""
    from biomm.ecg.experiment import write_synthetic_experiment

    root = tmp_path_factory.mktemp("ecg")
    paths = write_synthetic_experiment(root, 24, seed=1, epochs=3)
    data = yaml.safe_load(paths["config"].read_text())
    data["ecg_encoder"]["kwargs"]["width"] = 4
    data.update(batch_size=8, proj_dim=16, progress=False, workers=0)
    paths["config"].write_text(yaml.safe_dump(data))
    return root


@pytest.fixture(scope="module")
def merl_model(ecg_exp, warm) -> Path:
    """A pretrained tiny MERL checkpoint for the embed and zero-shot cases."""
    code, _ = killable.run(
        ["ecg", "pretrain", "--config", ecg_exp / "pretrain.yaml", "--out", ecg_exp / "fixed"],
        ecg_exp,
        ecg_exp / "fixed.log",
    )
    assert code == 0, (ecg_exp / "fixed.log").read_text()[-3000:]
    return ecg_exp / "fixed" / "model"


@pytest.fixture(scope="module")
def train_cohort(tmp_path_factory) -> Path:
    """Two embedding tables with missing modalities, a binary and a survival target."""
    from tests.train.test_train_cli import write_cohort

    root = tmp_path_factory.mktemp("train")
    write_cohort(root, n=160, seed=4)
    config = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {"a": {"embeddings": "a.h5"}, "b": {"embeddings": "b.csv"}},
        "tasks": {
            "label": {"head": "binary", "target": "label"},
            "os": {"head": "survival_cox", "target": "os"},
        },
        "fusion": {"name": "multimodn", "out_dim": 16},
        "training": {"epochs": 8, "batch_size": 32, "seed": 0, "device": "cpu"},
    }
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    return root


# ---- the harness -----------------------------------------------------------------------------


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(rel, p) or rel.startswith(p.rstrip("*")) for p in patterns)


def output_files(root: Path, exclude: Sequence[str] = ()) -> dict[str, Path]:
    """Relative path → file, for every file under ``root`` not excluded."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not _excluded(rel, exclude):
            files[rel] = path
    return files


def _h5_differences(a: Path, b: Path) -> list[str]:
    out: list[str] = []
    with h5py.File(a) as fa, h5py.File(b) as fb:
        if dict(fa.attrs) != dict(fb.attrs):
            keys = {k for k in {*fa.attrs, *fb.attrs} if fa.attrs.get(k) != fb.attrs.get(k)}
            out.append(f"attributes differ: {sorted(keys)}")
        names_a, names_b = set(fa), set(fb)
        if names_a != names_b:
            out.append(f"datasets {sorted(names_a ^ names_b)}")
        for name in sorted(names_a & names_b):
            if not np.array_equal(fa[name][()], fb[name][()]):
                out.append(f"dataset {name} differs")
    return out or ["same datasets, different bytes"]


TIMING_COLUMNS = ("seconds",)
"""Per-epoch wall times in ``history.csv`` of ``biomm train``: the only column not compared."""


def _same_table(a: Path, b: Path) -> bool:
    """CSV tables equal exactly once timing columns are dropped."""
    if a.suffix != ".csv":
        return False
    fa, fb = pd.read_csv(a), pd.read_csv(b)
    timing = [c for c in TIMING_COLUMNS if c in fa.columns]
    if not timing:
        return False
    try:
        pd.testing.assert_frame_equal(
            fa.drop(columns=timing), fb.drop(columns=timing), check_exact=True
        )
    except AssertionError:
        return False
    return True


def assert_same_outputs(reference: Path, result: Path, exclude: Sequence[str]) -> None:
    """The same files, each byte-identical (HDF5 differences spelled out)."""
    ref, got = output_files(reference, exclude), output_files(result, exclude)
    assert sorted(got) == sorted(ref), f"file sets differ: {sorted(set(ref) ^ set(got))}"
    problems = []
    for rel, path in ref.items():
        if path.read_bytes() == got[rel].read_bytes() or _same_table(path, got[rel]):
            continue
        detail = _h5_differences(path, got[rel]) if rel.endswith(".h5") else ["bytes differ"]
        problems.append(f"{rel}: {'; '.join(detail)}")
    assert not problems, "outputs differ from the uninterrupted run:\n" + "\n".join(problems)


def _is_log(rel: str) -> bool:
    return rel.endswith((".jsonl", ".log", ".txt"))


def assert_every_output_opens(root: Path) -> None:
    """No partial file under a final name: every output that exists reads completely."""
    from safetensors.numpy import load_file

    for rel, path in output_files(root).items():
        name = path.name
        if name.endswith(".tmp") or (name.startswith(".") and ".lock" in name) or _is_log(rel):
            continue  # temporaries and locks are never outputs; append-only logs may be torn
        try:
            if name.endswith(".h5"):
                with h5py.File(path) as h5:
                    h5.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else 0)
            elif name.endswith(".json"):
                json.loads(path.read_text())
            elif name.endswith((".csv", ".tsv")):
                pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
            elif name.endswith(".npy"):
                np.load(path, mmap_mode="r")
            elif name.endswith(".npz"):
                with np.load(path) as data:
                    [data[k] for k in data.files]
            elif name.endswith(".safetensors"):
                load_file(str(path))
        except pd.errors.EmptyDataError:
            continue  # an empty table (e.g. no failures) is complete
        except Exception as exc:
            raise AssertionError(
                f"{rel} is a partial or corrupt output after a kill: {exc}"
            ) from exc


def assert_clean(root: Path) -> None:
    """After a complete run: no temporary file, no lock file."""
    leftovers = [
        p.relative_to(root).as_posix()
        for p in root.rglob(".*")
        if p.name.endswith(".tmp") or ".lock" in p.name
    ]
    assert not leftovers, f"left behind after a complete run: {leftovers}"


def kill_and_rerun(case: Case, cwd: Path, kills: int, seed: int) -> int:
    """Reference run, ``kills`` SIGKILLed runs, final run; compare. Returns kills that hit."""
    log = cwd / f"{case.name}.log"
    code, seconds = killable.run(case.args, cwd, log)
    assert code in case.codes, log.read_text()[-3000:]
    reference = case.out.with_name(case.out.name + ".reference")
    if reference.exists():
        shutil.rmtree(reference)
    case.out.rename(reference)  # the reruns write to the same path (paths inside match)
    rng = random.Random(seed)
    hits = 0
    for _ in range(kills):
        after = rng.uniform(0.15, 0.9) * seconds
        hits += killable.run_killed(case.args, cwd, log, after)
        if case.out.exists():
            assert_every_output_opens(case.out)
    final, _ = killable.run(case.args, cwd, log)
    assert final == code, log.read_text()[-3000:]
    assert_clean(case.out)
    assert_same_outputs(reference, case.out, case.exclude)
    return hits


def _case(
    name: str, demo: Path, ecg_exp: Path, train_cohort: Path, model: Callable[[], Path], tmp: Path
) -> Case:
    cohort = ["-s", demo / "schema.yaml"]
    wsi = [demo / "cohort.csv", *cohort, "--mpp", "2.0", "--patch-size", "64"]
    wsi += ["--min-tissue", "0.3", "--no-progress"]
    manifest = ecg_exp / "manifest.csv"
    make = {
        "wsi-tile": lambda: Case(
            "wsi-tile", ["wsi", "tile", *wsi, "-o", tmp / "tile"], tmp / "tile", ["summary.json"]
        ),
        "wsi-embed": lambda: Case(
            "wsi-embed",
            ["wsi", "embed", *wsi, "-o", tmp / "wemb", "--workers", "0", "--batch-size", "8"],
            tmp / "wemb",
            ["summary.json"],
        ),
        "ecg-convert": lambda: Case(
            "ecg-convert",
            ["ecg", "convert", manifest, "-o", tmp / "store", "--profile", "merl", "--no-progress"],
            tmp / "store",
            ["log.jsonl"],
        ),
        "ecg-pretrain": lambda: Case(
            "ecg-pretrain",
            ["ecg", "pretrain", "--config", ecg_exp / "pretrain.yaml", "--out", tmp / "merl"],
            tmp / "merl",
            ["summary.json", "train_state/*", "store/log.jsonl"],
        ),
        "ecg-embed": lambda: Case(
            "ecg-embed",
            [
                "ecg",
                "embed",
                "--model",
                model(),
                "--cohort",
                manifest,
                "--out",
                tmp / "eemb" / "ecg.h5",
                "--no-progress",
                "--batch-size",
                "4",
            ],
            tmp / "eemb",
            ["ecg.store/log.jsonl"],
        ),
        "ecg-zeroshot": lambda: Case(
            "ecg-zeroshot",
            [
                "ecg",
                "zeroshot",
                "--model",
                model(),
                "--cohort",
                manifest,
                "--classes",
                ecg_exp / "classes.yaml",
                "--out",
                tmp / "zs",
                "--no-progress",
            ],
            tmp / "zs",
            ["store/log.jsonl"],
        ),
        "embed-fundus": lambda: Case(
            "embed-fundus",
            [
                "embed",
                "-m",
                "fundus",
                "-c",
                demo / "cohort.csv",
                *cohort,
                "-o",
                tmp / "fundus",
                "--encoder-arg",
                "weights=null",
                "--batch-size",
                "2",
                "--workers",
                "1",
                "--no-progress",
            ],
            tmp / "fundus",
            ["parts/*"],
        ),
        "embed-report": lambda: Case(
            "embed-report",
            [
                "embed",
                "-m",
                "report",
                "-c",
                demo / "cohort.csv",
                *cohort,
                "-o",
                tmp / "report",
                "--batch-size",
                "2",
                "--workers",
                "1",
                "--no-progress",
            ],
            tmp / "report",
            ["parts/*"],
        ),
        "embed-ehr": lambda: Case(
            "embed-ehr",
            [
                "embed",
                "-m",
                "ehr",
                "-c",
                demo / "cohort.csv",
                *cohort,
                "-o",
                tmp / "ehr",
                "--encoder-arg",
                "dim=8",
                "--encoder-arg",
                "depth=1",
                "--encoder-arg",
                "heads=2",
                "--set",
                "pretrain_epochs=20",
                "--no-progress",
            ],
            tmp / "ehr",
        ),
        "train": lambda: Case(
            "train",
            [
                "train",
                "-c",
                train_cohort / "train.yaml",
                "-o",
                tmp / "train",
                "--no-progress",
                "--bootstrap",
                "20",
            ],
            tmp / "train",
        ),
        "run": lambda: Case(
            "run",
            [
                "run",
                _small_pipeline(demo, tmp),
                "--out",
                tmp / "pipe",
                "--threads",
                "1",
                "--no-progress",
            ],
            tmp / "pipe",
            ["summary.json", *RUN_LOGS, "steps/*/parts/*", "steps/*/store/log.jsonl"],
        ),
    }
    return make[name]()


def _small_pipeline(demo: Path, tmp: Path) -> Path:
    spec = {
        "name": "kill-rerun",
        "cohort": str(demo / "cohort.csv"),
        "schema": str(demo / "schema.yaml"),
        "steps": {
            "validate": {"uses": "cohort.validate"},
            "ecg_convert": {
                "uses": "ecg.convert",
                "with": {"profile": {"name": "p", "fs": 100.0, "duration_s": 5.0}},
            },
            "fundus": {"uses": "embed", "with": {"modality": "fundus", "workers": 1}},
            "ehr": {
                "uses": "embed",
                "with": {
                    "modality": "ehr",
                    "encoder_args": {"dim": 8, "depth": 1, "heads": 2},
                    "options": {"pretrain_epochs": 10},
                },
            },
        },
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


DEFAULT = ["wsi-tile", "ecg-convert", "ecg-pretrain", "embed-fundus", "embed-ehr", "train", "run"]
"""Killed once each in the default run (about 4 min on 2 busy cores; see the module docs)."""
SLOW = ["wsi-embed", "ecg-embed", "ecg-zeroshot", "embed-report"]
"""Killed once each with ``-m slow`` (they end in the same atomic writes as the default set)."""
ALL = DEFAULT + SLOW


@pytest.fixture
def case(request, demo, ecg_exp, train_cohort, warm, tmp_path) -> Callable[[str], Case]:
    def make(name: str) -> Case:
        model = lambda: request.getfixturevalue("merl_model")  # noqa: E731
        return _case(name, demo, ecg_exp, train_cohort, model, tmp_path)

    return make


@pytest.mark.parametrize(
    "name", [*DEFAULT, *(pytest.param(n, marks=pytest.mark.slow) for n in SLOW)]
)
def test_killed_runs_end_like_an_uninterrupted_run(name, case, tmp_path):
    kill_and_rerun(case(name), tmp_path, kills=1, seed=ALL.index(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_two_uninterrupted_runs_are_identical(name, case, tmp_path):
    """The precondition of the kill tests: each command is deterministic."""
    kill_and_rerun(case(name), tmp_path, kills=0, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_kill_sweep(name, case, tmp_path):
    hits = kill_and_rerun(case(name), tmp_path, kills=4, seed=100 + ALL.index(name))
    assert hits >= 1, "no kill landed while the command ran"
