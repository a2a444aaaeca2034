"""`biomm train` end to end on a synthetic cohort with per-modality embedding tables."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.demo.multimodal import synthetic_multimodal
from biomm.train.trainer import load_model

runner = CliRunner()


def write_cohort(root, n=800, seed=0):
    data = synthetic_multimodal(n, seed=seed)
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.2, 0.2])
    table = pd.DataFrame(
        {
            "patient_id": data.patient_ids,
            "label": data.labels,
            "os_time": data.time.round(4),
            "os_event": data.event,
            "split": split,
        }
    )
    table.loc[::17, "label"] = np.nan  # some unknown labels
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
    keep_a = rng.random(n) > 0.3  # modality a missing for 30 %
    with h5py.File(root / "a.h5", "w") as h5:  # the layout `biomm ecg embed` writes
        h5["embeddings"] = data.embeddings["a"][keep_a]
        h5["patient_id"] = np.array(data.patient_ids, dtype=object)[keep_a].astype("S")
    frame = pd.DataFrame(data.embeddings["b"], columns=[f"f{k}" for k in range(16)])
    frame.insert(0, "patient_id", data.patient_ids)
    frame.iloc[rng.random(n) > 0.6].to_csv(root / "b.csv", index=False)  # b present for 60 %
    return data


@pytest.mark.parametrize("fusion", ["multimodn", "concat"])
def test_train_cli_two_tasks_metrics_per_pattern(tmp_path, fusion):
    write_cohort(tmp_path)
    config = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {"a": {"embeddings": "a.h5"}, "b": {"embeddings": "b.csv"}},
        "tasks": {
            "label": {"head": "binary", "target": "label"},
            "death": {"head": "survival_cox", "target": "os"},
        },
        "fusion": {"name": fusion, "out_dim": 16},
        "training": {
            "epochs": 20,
            "batch_size": 64,
            "lr": 0.003,
            "modality_dropout": 0.2,
            "patience": 5,
        },
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app,
        ["train", "--config", str(tmp_path / "train.yaml"), "--bootstrap", "50", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    metrics = pd.read_csv(run / "metrics.csv")
    overall = metrics[metrics["pattern"] == "all"].set_index("task")
    assert overall.loc["label", "auroc"] > 0.75  # a and b carry the label; 12 % have neither
    assert overall.loc["death", "c_index"] > 0.6
    assert (
        overall.loc["label", "auroc_low"]
        <= overall.loc["label", "auroc"]
        <= overall.loc["label", "auroc_high"]
    )
    assert {"a+b", "a", "b", "none"} <= set(metrics["pattern"])  # broken down by availability
    predictions = pd.read_csv(run / "predictions.csv")
    assert {"patient_id", "has_a", "has_b", "label", "death"} <= set(predictions.columns)
    model, config_json = load_model(run / "model")
    assert config_json["model"]["fusion"]["name"] == fusion
    if fusion == "multimodn":
        assert model.heads["death"].fitted  # Breslow baseline for survival curves
        steps = pd.read_csv(run / "trajectories.csv")  # predictions after every step
        assert steps["modality"].unique().tolist() == ["initial", "a", "b"]
        first = steps[steps["patient_id"] == steps["patient_id"].iloc[0]]
        assert len(first) == 3 and first["applied"].iloc[0]
        skipped = steps[~steps["applied"]]
        assert len(skipped)  # some patients lack a modality: their prediction stays the same
        row = skipped.iloc[0]
        before = steps[
            (steps["patient_id"] == row["patient_id"]) & (steps["step"] == row["step"] - 1)
        ]
        assert before["label"].iloc[0] == pytest.approx(row["label"], abs=1e-6)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["counts"]["train"] > summary["counts"]["test"] > 0
    from biomm.utils.checkpoint import sha256_file

    assert summary["model_weights_sha256"] == sha256_file(run / "model" / "model.safetensors")


def test_train_cli_config_errors(tmp_path):
    write_cohort(tmp_path, n=60)
    bad = {
        "cohort": "cohort.csv",
        "out": "run",
        "modalities": {"a": {"embeddings": "a.h5"}},
        "tasks": {"y": {"head": "binary", "target": "nope"}},
        "schema": "schema.yaml",
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "t.yaml")])
    assert result.exit_code == 2 and "not a cohort target" in result.output
    bad["tasks"] = {"y": {"head": "binary", "target": "label", "colour": 1}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "t.yaml")])
    assert result.exit_code == 2 and "colour" in result.output
    bad["tasks"] = {"y": {"head": "binary", "target": "label"}}
    bad["modalities"] = {"a": {"embeddings": "missing.h5"}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "t.yaml")])
    assert result.exit_code == 2 and "missing.h5" in result.output


def test_train_cli_with_tile_bags_aggregated_end_to_end(tmp_path):
    """A `wsi` modality given as per-slide feature files (the `biomm wsi embed` layout)."""
    data = write_cohort(tmp_path, n=300, seed=1)
    rng = np.random.default_rng(1)
    features = tmp_path / "wsi" / "features"
    features.mkdir(parents=True)
    for k, pid in enumerate(data.patient_ids):
        if k % 5 == 0:
            continue  # 20 % have no slide
        n_tiles = int(rng.integers(3, 12))
        tiles = rng.normal(size=(n_tiles, 8)).astype(np.float32)
        tiles[:2, :4] += 1.5 * data.embeddings["a"][k, :4]  # two informative tiles
        with h5py.File(features / f"slide{k}.h5", "w") as h5:
            h5["features"] = tiles
            h5["coords"] = np.zeros((n_tiles, 2), np.int64)
            h5.attrs["patient_id"] = pid
    (features / "corrupt.h5").write_bytes(b"not hdf5")  # one corrupt slide: skipped, named
    config = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {
            "wsi": {"bags": "wsi", "encoder": {"name": "abmil", "hidden_dim": 16}},
            "b": {"embeddings": "b.csv"},
        },
        "tasks": {"label": {"head": "binary", "target": "label"}},
        "fusion": {"name": "multimodn", "out_dim": 16},
        "training": {"epochs": 15, "batch_size": 32, "lr": 0.003, "patience": 5},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(
            app,
            [
                "train",
                "--config",
                str(tmp_path / "train.yaml"),
                "--bootstrap",
                "0",
                "--no-progress",
            ],
        )
    assert result.exit_code == 0, result.output
    assert any("corrupt.h5" in str(w.message) for w in caught)  # named, skipped
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert {"wsi", "b", "b+wsi"} & set(metrics["pattern"])
    assert metrics.loc[metrics["pattern"] == "all", "auroc"].iloc[0] > 0.6
    model, config_json = load_model(tmp_path / "run" / "model")
    assert config_json["model"]["encoders"]["wsi"]["name"] == "abmil"
    assert "wsi" in model.encoders


def test_train_cli_with_an_ecg_store_trained_end_to_end(tmp_path):
    """An `ecg` modality read from a `biomm ecg convert` store, ResNet1d trained inside."""
    assert runner.invoke(app, ["ecg", "synth", str(tmp_path / "exp"), "-n", "88"]).exit_code == 0
    manifest = tmp_path / "exp" / "manifest.csv"
    result = runner.invoke(
        app,
        [
            "ecg",
            "convert",
            str(manifest),
            "--out",
            str(tmp_path / "store"),
            "--profile",
            "ptbxl100",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    schema = {
        "patient_id": "patient_id",
        "split": "split",
        "targets": {"brady": {"type": "binary", "column": "sinus_bradycardia"}},
    }
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    config = {
        "cohort": str(manifest),
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {"ecg": {"store": "store", "encoder": {"name": "resnet1d18", "width": 8}}},
        "tasks": {"brady": {"head": "binary", "target": "brady"}},
        "fusion": {"name": "concat", "out_dim": 16},
        "training": {"epochs": 3, "batch_size": 16, "lr": 0.003},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app,
        ["train", "--config", str(tmp_path / "train.yaml"), "--bootstrap", "0", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert (
        metrics.loc[metrics["pattern"] == "all", "n"].iloc[0]
        == (pd.read_csv(manifest)["split"] == "test").sum()
    )
    model, config_json = load_model(tmp_path / "run" / "model")
    assert config_json["model"]["encoders"]["ecg"] == {
        "name": "resnet1d18",
        "in_leads": 12,
        "width": 8,
    }
    assert model.encoders["ecg"].embed_dim == model.fusion.embed_dims["ecg"]
    bad = dict(config, modalities={"ecg": {"store": "store", "embeddings": "x.h5"}})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_train_cli_with_ehr_columns_through_a_tabular_transformer(tmp_path):
    data = write_cohort(tmp_path, n=400)
    table = pd.read_csv(tmp_path / "cohort.csv", dtype={"patient_id": str})
    rng = np.random.default_rng(1)
    signal = data.labels + rng.normal(0, 0.7, len(table))  # the EHR carries the label
    table["marker"] = (signal + rng.normal(0, 0.3, len(table))).round(3)
    table["stage"] = np.where(signal > np.median(signal), "III", "I")
    table["site"] = rng.choice(["north", "south"], len(table))
    table.loc[rng.random(len(table)) < 0.3, "marker"] = np.nan  # 30 % missing cells
    table.loc[rng.random(len(table)) < 0.3, "stage"] = np.nan
    is_test = table["split"] == "test"
    table.loc[is_test & (rng.random(len(table)) < 0.5), "site"] = "east"  # unseen category
    table.to_csv(tmp_path / "cohort.csv", index=False)
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    schema["ehr"] = {"columns": ["marker", "stage", "site"], "types": {"stage": "categorical"}}
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    config = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": "run",
        "modalities": {
            "ehr": {"tabular": "cohort", "encoder": {"dim": 16, "depth": 1, "heads": 2}},
            "b": {"embeddings": "b.csv"},
        },
        "tasks": {"label": {"head": "binary", "target": "label"}},
        "fusion": {"name": "multimodn", "out_dim": 16},
        "training": {"epochs": 12, "batch_size": 64, "lr": 0.005, "patience": 4},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app,
        ["train", "--config", str(tmp_path / "train.yaml"), "--bootstrap", "20", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "run/metrics.csv")
    overall = metrics[metrics["pattern"] == "all"].set_index("task")
    assert overall.loc["label", "auroc"] > 0.75
    model, cfg = load_model(tmp_path / "run/model")
    spec = cfg["model"]
    assert spec["encoders"]["ehr"]["name"] == "tabular_transformer"
    prep = spec["preprocessors"]["ehr"]
    n_train = int((table["split"] == "train").sum())
    assert prep["state"]["n_train"] == n_train  # fitted on the train split only
    assert "east" not in json.dumps(prep)  # a test-only category never reaches the recipe
    # a patient's unobserved cells do not change its embedding
    x = torch.tensor([[0.5, 1.0, float("nan")]])
    y = x.clone()
    y[0, 2] = 123.0
    with torch.inference_mode():
        a = model.encoders["ehr"](x)
        b = model.encoders["ehr"](y, torch.isfinite(x))
    torch.testing.assert_close(a, b)
