"""End to end from the command line: synth → convert → pretrain → zeroshot/embed/probe."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from biomm.cli.main import app

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny synthetic experiment trained for two epochs (mechanics, not accuracy)."""
    root = tmp_path_factory.mktemp("merl")
    _invoke("ecg", "synth", root / "exp", "-n", "66", "--epochs", "2")
    config = root / "exp" / "pretrain.yaml"
    data = yaml.safe_load(config.read_text())
    data["ecg_encoder"]["kwargs"]["width"] = 8
    data.update(batch_size=16, proj_dim=32, progress=False)
    config.write_text(yaml.safe_dump(data))
    out = _invoke("ecg", "pretrain", "--config", config)
    assert "trained on" in out
    return root / "exp"


def test_pretrain_writes_checkpoints_history_and_store(trained):
    run = trained / "run"
    for folder in ("model", "last"):
        config = json.loads((run / folder / "config.json").read_text())
        assert config["kind"] == "biomm-merl" and config["profile"]["fs"] == 100.0
        assert (run / folder / "model.safetensors").stat().st_size < 20e6  # no frozen LM inside
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2] and np.isfinite(history["train_loss"]).all()
    assert {"train_cma", "train_uma", "val_cma"} <= set(history.columns)
    counts = config["counts"]
    assert counts["train"] + counts["val"] <= counts["records"] == 66


def test_zeroshot_embed_and_probe(trained, tmp_path):
    model = trained / "run" / "model"
    manifest = trained / "manifest.csv"
    out = _invoke(
        "ecg",
        "zeroshot",
        "--model",
        model,
        "--cohort",
        manifest,
        "--classes",
        trained / "classes.yaml",
        "--split",
        "test",
        "--out",
        tmp_path / "zs",
        "--no-progress",
    )
    assert "macro AUROC" in out
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert set(metrics["modes"]) == {"knowledge", "names"}
    test_rows = (pd.read_csv(manifest)["split"] == "test").sum()
    assert metrics["records"] == test_rows
    scores = pd.read_csv(tmp_path / "zs" / "scores.csv")
    probs = scores[metrics["classes"]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    prompts = json.loads((tmp_path / "zs" / "prompts.json").read_text())
    assert len(prompts["knowledge"]["atrial fibrillation"]) > len(
        prompts["names"]["atrial fibrillation"]
    )

    _invoke(
        "ecg",
        "embed",
        "--model",
        model,
        "--cohort",
        manifest,
        "--out",
        tmp_path / "e.h5",
        "--no-progress",
    )
    with h5py.File(tmp_path / "e.h5") as h5:
        emb = h5["embeddings"][:]
        assert emb.shape == (66, 32) and len(h5["record_id"]) == 66
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
        assert "merl_100hz" in h5.attrs["profile"]
        # the weights that made these embeddings are named by their hash
        from biomm.utils.checkpoint import sha256_file

        assert h5.attrs["weights_sha256"] == sha256_file(model / "model.safetensors")

    out = _invoke(
        "ecg",
        "probe",
        "--model",
        model,
        "--cohort",
        manifest,
        "--classes",
        "synthetic_ecg",
        "--out",
        tmp_path / "probe",
        "--fractions",
        "0.5,1",
        "--no-progress",
    )
    probe = pd.read_csv(tmp_path / "probe" / "probe.csv")
    assert probe["fraction"].tolist() == [0.5, 1.0] and probe["macro_auroc"].notna().all()


def test_cli_errors_are_clear(trained, tmp_path):
    result = runner.invoke(
        app,
        [
            "ecg",
            "zeroshot",
            "--model",
            str(tmp_path),
            "--cohort",
            str(trained / "manifest.csv"),
            "--classes",
            "synthetic_ecg",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "not a model checkpoint" in result.output
    assert not (tmp_path / "o").exists()  # a failed run leaves no output folder
    bad = tmp_path / "bad.yaml"
    bad.write_text("cohort: m.csv\nout: o\nepochz: 3\n")
    result = runner.invoke(app, ["ecg", "pretrain", "--config", str(bad)])
    assert result.exit_code == 2 and "epochz" in result.output
    result = runner.invoke(app, ["ecg", "info", str(tmp_path / "nothing.hea")])
    assert result.exit_code == 1 and "nothing" in result.output


def test_convert_cli_lists_failures(trained, tmp_path):
    table = pd.read_csv(trained / "manifest.csv").head(5)
    table["ecg"] = [str(trained / p) for p in table["ecg"]]
    table.loc[2, "ecg"] = str(tmp_path / "missing_record")
    table[["patient_id", "ecg"]].to_csv(tmp_path / "m.csv", index=False)
    result = runner.invoke(
        app,
        [
            "ecg",
            "convert",
            str(tmp_path / "m.csv"),
            "--out",
            str(tmp_path / "store"),
            "--profile",
            "ptbxl100",
            "--no-progress",
        ],
    )
    assert result.exit_code == 1 and "5 record(s) read now (4 stored, 1 failed" in result.output
    failures = pd.read_csv(tmp_path / "store" / "failures.csv")
    assert failures["source"].str.contains("missing_record").all()
    again = runner.invoke(
        app,
        [
            "ecg",
            "convert",
            str(tmp_path / "m.csv"),
            "--out",
            str(tmp_path / "store"),
            "--profile",
            "ptbxl100",
            "--no-progress",
            "--allow-failures",
        ],
    )
    assert (
        again.exit_code == 0
        and "0 record(s) read now" in again.output
        and "5 handled by an earlier run" in again.output
    )
    info = _invoke("ecg", "info", table.loc[0, "ecg"] + ".hea", "--json")
    assert json.loads(info)["fs"] == 500.0


@pytest.mark.slow
def test_zero_shot_auroc_on_held_out_synthetic_patients(tmp_path):
    """The issue's evidence: CPU pretraining, then zero-shot on held-out patients ≥ 0.85."""
    _invoke("ecg", "synth", tmp_path / "exp", "-n", "600")
    _invoke("ecg", "pretrain", "--config", tmp_path / "exp" / "pretrain.yaml")
    _invoke(
        "ecg",
        "zeroshot",
        "--model",
        tmp_path / "exp" / "run" / "model",
        "--cohort",
        tmp_path / "exp" / "manifest.csv",
        "--classes",
        tmp_path / "exp" / "classes.yaml",
        "--split",
        "test",
        "--out",
        tmp_path / "zs",
        "--no-progress",
    )
    modes = json.loads((tmp_path / "zs" / "metrics.json").read_text())["modes"]
    assert modes["knowledge"]["classes_scored"] >= 5
    assert modes["knowledge"]["macro_auroc"] >= 0.85
    assert modes["knowledge"]["macro_auroc"] >= modes["names"]["macro_auroc"] - 0.02


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    """DDP path: torchrun with the gloo backend, embeddings gathered across processes."""
    import subprocess
    import sys

    _invoke("ecg", "synth", tmp_path / "exp", "-n", "66", "--epochs", "2")
    config = tmp_path / "exp" / "pretrain.yaml"
    data = yaml.safe_load(config.read_text())
    data["ecg_encoder"]["kwargs"]["width"] = 8
    data.update(batch_size=8, proj_dim=16, progress=False)
    config.write_text(yaml.safe_dump(data))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "biomm",
        "ecg",
        "pretrain",
        "--config",
        str(config),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained on") == 1  # only rank 0 reports
    history = pd.read_csv(tmp_path / "exp" / "run" / "history.csv")
    assert len(history) == 2 and np.isfinite(history["train_loss"]).all()
    assert (tmp_path / "exp" / "run" / "model" / "model.safetensors").is_file()


def test_zeroshot_on_a_ptbxl_layout_with_a_registered_prompt_set(trained, tmp_path):
    """PTB-XL adapter → manifest + schema → zero-shot with the knowledge-based prompt set."""
    from biomm.datasets.ptbxl import load_ptbxl, write_example_ptbxl

    root = write_example_ptbxl(tmp_path / "ptbxl", seconds=2.0)
    files = load_ptbxl(root, rate=500, label_set="superclass").to_manifest(tmp_path / "ptbxl.csv")
    _invoke(
        "ecg",
        "zeroshot",
        "--model",
        trained / "run" / "model",
        "--cohort",
        files.manifest,
        "--schema",
        files.schema,
        "--classes",
        "ptbxl_superclass",
        "--out",
        tmp_path / "zs",
        "--no-progress",
    )
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert metrics["classes"][0] == "normal ECG" and metrics["records"] == 6
    knowledge = metrics["modes"]["knowledge"]
    assert knowledge["per_class"]["normal ECG"]["n"] == 6  # labels read from label_NORM
    assert knowledge["prompts_per_class"]["myocardial infarction"] > 2  # knowledge added
