"""`biomm lego merge`: unimodal MM-Lego runs merged into one model, evaluated, fine-tuned."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.errors import ConfigError
from biomm.train.lego import merge_lego_runs
from biomm.train.model import build_model
from biomm.train.trainer import load_model
from tests.train.test_train_cli import write_cohort

runner = CliRunner()
BLOCK = {"name": "lego_merge", "out_dim": 16, "kwargs": {"num_latents": 4, "depth": 1}}
TASKS = {
    "label": {"head": "binary", "target": "label"},
    "death": {"head": "survival_cox", "target": "os"},
}


def config(root, name, modalities, fusion=None, epochs=10):
    cfg = {
        "cohort": "cohort.csv",
        "schema": "schema.yaml",
        "out": f"runs/{name}",
        "modalities": {m: {"embeddings": f"{m}.{ext}"} for m, ext in modalities.items()},
        "tasks": TASKS,
        "fusion": fusion or BLOCK,
        "training": {"epochs": epochs, "batch_size": 64, "lr": 0.003, "patience": 5},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def train(path):
    result = runner.invoke(
        app, ["train", "--config", str(path), "--bootstrap", "20", "--no-progress"]
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lego")
    write_cohort(root, n=400)
    train(config(root, "a", {"a": "h5"}))
    train(config(root, "b", {"b": "csv"}))
    return root


def test_merge_without_training_evaluates_per_pattern(runs):
    both = config(runs, "both", {"a": "h5", "b": "csv"})
    result = runner.invoke(
        app,
        [
            "lego", "merge", str(runs / "runs/a"), str(runs / "runs/b"),
            "--out", str(runs / "merged"), "--config", str(both), "--bootstrap", "20",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(runs / "merged/metrics.csv")
    overall = metrics[metrics["pattern"] == "all"].set_index("task")
    assert overall.loc["label", "auroc"] > 0.7  # no paired training at all
    assert {"a+b", "a", "b"} <= set(metrics["pattern"])
    model, cfg = load_model(runs / "merged/model")  # a normal checkpoint, rebuilt from its spec
    assert cfg["model"]["fusion"]["name"] == "lego_merge"
    assert [r["modalities"] for r in cfg["model"]["lego_runs"]] == [["a"], ["b"]]
    assert model.heads["death"].fitted  # Breslow baseline refit on the merged risks

    # a patient with only modality a gets exactly run a's block output
    run_a, _ = load_model(runs / "runs/a/model")
    x = {"a": torch.randn(3, 16)}
    present = {"a": torch.ones(3, dtype=torch.bool)}
    with torch.inference_mode():
        torch.testing.assert_close(model.fusion(x, present), run_a.fusion(x, present))


def test_merged_model_saved_without_config_and_rebuilt(runs, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(
        app,
        [
            "lego", "merge", str(runs / "runs/a"), str(runs / "runs/b"), "--out", str(out),
            "--latent-merge", "harmonic", "--head-merge", "linear", "-w", "a=2",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model, cfg = load_model(out / "model")
    assert cfg["model"]["fusion"]["latent_merge"] == "harmonic"
    run_a, _ = load_model(runs / "runs/a/model")
    run_b, _ = load_model(runs / "runs/b/model")
    # a linear merge with weights 2:1 of the two runs' label heads
    expected = (2 * run_a.heads["label"].layers.weight + run_b.heads["label"].layers.weight) / 3
    torch.testing.assert_close(model.heads["label"].layers.weight, expected)
    rebuilt = build_model(cfg["model"])
    rebuilt.load_state_dict(model.state_dict())


def test_lego_fuse_fine_tuned(runs):
    both = config(runs, "fuse", {"a": "h5", "b": "csv"})
    result = runner.invoke(
        app,
        [
            "lego", "merge", str(runs / "runs/a"), str(runs / "runs/b"), "--out",
            str(runs / "fused"), "--fusion", "lego_fuse", "--mode", "weave", "--config",
            str(both), "--fine-tune", "--epochs", "3", "--bootstrap", "20",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    history = pd.read_csv(runs / "fused/history.csv")
    assert 1 <= len(history) <= 3
    metrics = pd.read_csv(runs / "fused/metrics.csv")
    assert metrics.set_index(["task", "pattern"]).loc[("label", "all"), "auroc"] > 0.7


def test_merge_errors(runs, tmp_path):
    with pytest.raises(ConfigError, match="comes from two runs"):
        merge_lego_runs([runs / "runs/a", runs / "runs/a"])
    train(
        config(
            runs,
            "deep",
            {"b": "csv"},
            fusion={**BLOCK, "kwargs": {"num_latents": 4, "depth": 2}},
            epochs=1,
        )
    )
    with pytest.raises(ConfigError, match=r"block architecture differs .*'depth'"):
        merge_lego_runs([runs / "runs/a", runs / "runs/deep"])
    concat = {"name": "concat", "out_dim": 16}
    train(config(runs, "concat", {"b": "csv"}, fusion=concat, epochs=1))
    with pytest.raises(ConfigError, match="only lego_merge/lego_fuse runs"):
        merge_lego_runs([runs / "runs/a", runs / "runs/concat"])
    result = runner.invoke(
        app, ["lego", "merge", str(runs / "runs/a"), str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "not a model checkpoint" in result.output
    result = runner.invoke(
        app,
        ["lego", "merge", str(runs / "runs/a"), str(runs / "runs/b"), "-o", "x", "-w", "a"],
    )
    assert result.exit_code == 2 and "MODALITY=WEIGHT" in result.output
