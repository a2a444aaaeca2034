"""``biomm run``: exit codes 0/1/2, --dry-run, --set, --allow-failures, --pseudonymise."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from biomm.cli.run import run
from tests.pipeline.conftest import write_yaml

app = typer.Typer()
app.command()(run)
runner = CliRunner()


@pytest.fixture
def cohort(tiny_cohort, tmp_path):
    shutil.copytree(tiny_cohort, tmp_path / "cohort")
    return tmp_path / "cohort"


@pytest.fixture
def pipeline(cohort, tmp_path):
    data = {
        "name": "check",
        "cohort": "cohort/cohort.csv",
        "schema": "cohort/schema.yaml",
        "steps": {"validate": {"uses": "cohort.validate"}},
    }
    return write_yaml(tmp_path / "check.yaml", data)


def _invoke(*args: str):
    return runner.invoke(app, [*map(str, args)])


def test_help_has_examples():
    result = _invoke("--help")
    assert result.exit_code == 0 and "Example usage:" in result.output
    assert "biomm run pipelines/demo.yaml" in result.output


def test_clean_run_exits_0_and_dry_run_writes_nothing(pipeline, tmp_path):
    out = tmp_path / "run"
    result = _invoke(pipeline, "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "validate" in result.output and "run" in result.output
    assert not out.exists()
    result = _invoke(pipeline, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "validate: done" in result.output and "items_failed" in result.output
    assert json.loads((out / "summary.json").read_text())["steps"][0]["status"] == "ran"
    result = _invoke(pipeline, "--out", out, "--dry-run")
    assert "cached" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "steps.validate.uses=cohort.validat"], "steps.validate.uses"),
        (["--set", "steps.validate.with.strictt=true"], "steps.validate.with.strictt"),
        (["--set", "steps.nope.with.x=1"], "no step 'nope'"),
        (["--scheduler", "dask"], "--scheduler"),
        (["--force", "nope"], "--force nope"),
        (["--cohort", "missing.csv"], "file not found"),
        (["--pseudonymise"], "no pseudonymisation salt"),
    ],
)
def test_usage_errors_exit_2(pipeline, tmp_path, args, message):
    result = _invoke(pipeline, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_item_failures_exit_1_unless_allowed(pipeline, cohort, tmp_path):
    table = pd.read_csv(cohort / "cohort.csv")
    fundus = table["fundus"].dropna().iloc[0]
    (cohort / fundus).write_bytes(b"not a png")
    out = tmp_path / "run"
    salt_file = tmp_path / "salt.txt"
    salt_file.write_text("pepper-and-salt\n")
    result = _invoke(pipeline, "--out", out, "--salt-file", salt_file)
    assert result.exit_code == 1, result.output
    assert "1 item failure(s)" in result.output
    failures = (out / "failures.csv").read_text()
    patient = table.loc[table["fundus"] == fundus, "patient_id"].iloc[0]
    assert patient not in failures and "id-" in failures
    result = _invoke(pipeline, "--out", out, "--allow-failures")
    assert result.exit_code == 0, result.output
    assert "cached" in result.output


def test_failed_step_exits_1(pipeline, cohort, tmp_path):
    table = pd.read_csv(cohort / "cohort.csv")
    pd.concat([table, table.head(1)]).to_csv(cohort / "cohort.csv", index=False)  # duplicate id
    result = _invoke(pipeline, "--out", tmp_path / "run", "--allow-failures")
    assert result.exit_code == 1, result.output
    assert "step validate failed" in result.output and "duplicate_id" in result.output
