"""Fixtures of the report tests: small labelled data and one real tiny `biomm train` run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


@pytest.fixture
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    """120 labels and informative probabilities (AUROC well above 0.5)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    p = 1 / (1 + np.exp(-(2.0 * y - 1 + rng.normal(0, 1.0, 120))))
    return y, p


@pytest.fixture
def survival_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time, event and a risk score that orders the times (higher risk = earlier event)."""
    rng = np.random.default_rng(1)
    risk = rng.normal(size=90)
    time = rng.exponential(10 * np.exp(-1.5 * risk))
    event = (rng.random(90) < 0.75).astype(int)
    return time, event, risk


def write_train_inputs(root: Path, n: int = 90, seed: int = 0) -> Path:
    """A cohort with a binary and a survival target, two embedding tables, a train config."""
    from biomm.demo.multimodal import synthetic_multimodal

    data = synthetic_multimodal(n, seed=seed)
    rng = np.random.default_rng(seed)
    split = np.array(["train", "val", "test"])[np.arange(n) % 3]
    table = pd.DataFrame(
        {
            "patient_id": data.patient_ids,
            "label": data.labels,
            "os_time": data.time.round(4),
            "os_event": data.event,
            "split": split,
        }
    )
    table.to_csv(root / "cohort.csv", index=False)
    schema = {
        "patient_id": "patient_id",
        "split": "split",
        "targets": {
            "label": {"type": "binary", "column": "label"},
            "os": {"type": "survival", "time": "os_time", "event": "os_event"},
        },
    }
    (root / "schema.yaml").write_text(yaml.safe_dump(schema))
    for name, keep in (("a", rng.random(n) > 0.3), ("b", rng.random(n) > 0.4)):
        frame = pd.DataFrame(data.embeddings[name], columns=[f"f{k}" for k in range(16)])
        frame.insert(0, "patient_id", data.patient_ids)
        frame[keep].to_csv(root / f"{name}.csv", index=False)
    config = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {"a": {"embeddings": "a.csv"}, "b": {"embeddings": "b.csv"}},
        "tasks": {
            "label": {"head": "binary", "target": "label"},
            "death": {"head": "survival_cox", "target": "os"},
        },
        "fusion": {"name": "multimodn", "out_dim": 8},
        "training": {"epochs": 3, "batch_size": 32, "lr": 0.01},
    }
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    return root / "train.yaml"


@pytest.fixture(scope="session")
def train_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a real (tiny) MultiModN training run with two tasks."""
    from biomm.train.config import TrainConfig
    from biomm.train.run import run_training

    root = tmp_path_factory.mktemp("train_run")
    cfg = TrainConfig.from_yaml(write_train_inputs(root))
    run_training(cfg, n_bootstrap=10, progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def run_report(train_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``report.html`` of the tiny training run (with its cohort found through the config)."""
    from biomm.report import build_run_report

    return build_run_report(
        train_run, tmp_path_factory.mktemp("run_report"), n_bootstrap=20, dpi=60
    )
