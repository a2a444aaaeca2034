"""The biomm command: exit codes, JSON output, --help everywhere, split and demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from biomm import __version__
from biomm.cli.main import app

runner = CliRunner()

COMMANDS = [
    [],
    ["info"],
    ["demo"],
    ["cohort"],
    ["cohort", "validate"],
    ["cohort", "split"],
    ["cohort", "summary"],
    ["run"],
    ["embed"],
    ["lego"],
    ["lego", "merge"],
    ["train"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "biomm")
def test_every_command_has_help_with_text(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command and command[-1] in {"validate", "split", "summary", "demo", "info", "tile"}:
        assert "Example" in result.output


def test_version_and_info():
    assert runner.invoke(app, ["--version"]).output.strip() == f"biomm {__version__}"
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["biomm"] == __version__ and "torch" in info["packages"]


@pytest.fixture
def manifests(tmp_path: Path, real_files: Path, good_table: pd.DataFrame) -> dict[str, Path]:
    clean = tmp_path / "clean.csv"
    good_table.to_csv(clean, index=False)
    bad = good_table.copy()
    bad.loc[1, "slide"] = "slides/missing.svs"  # missing file
    bad.loc[2, "patient_id"] = "p1"  # duplicate id
    bad["split"] = ["train", "val", "test", "train"]  # p1 now in train and test: a leak
    bad_path = tmp_path / "bad.csv"
    bad.to_csv(bad_path, index=False)
    return {"clean": clean, "bad": bad_path, "root": real_files}


def test_validate_clean_exits_0(manifests):
    result = runner.invoke(
        app, ["cohort", "validate", str(manifests["clean"]), "--data-root", str(manifests["root"])]
    )
    assert result.exit_code == 0, result.output
    assert "validation OK" in result.output


def test_validate_problems_exit_1_with_rows_and_reasons(manifests):
    result = runner.invoke(
        app, ["cohort", "validate", str(manifests["bad"]), "--data-root", str(manifests["root"])]
    )
    assert result.exit_code == 1
    assert "[file_not_found] row 1 (line 3), column 'slide'" in result.output
    assert "[duplicate_id] row 2 (line 4), column 'patient_id'" in result.output
    assert "[split_leak]" in result.output and "train (row 0), test (row 2)" in result.output


def test_validate_json_is_machine_readable(manifests):
    result = runner.invoke(
        app,
        [
            "cohort",
            "validate",
            str(manifests["bad"]),
            "--format",
            "json",
            "--data-root",
            str(manifests["root"]),
        ],
    )
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["passed"] is False
    assert {p["code"] for p in payload["problems"]} >= {
        "file_not_found",
        "duplicate_id",
        "split_leak",
    }
    assert payload["availability"]["wsi"] == 2


def test_strict_turns_warnings_into_failure(manifests, good_table, tmp_path):
    table = good_table.copy()
    table.loc[1, "os_event"] = None  # incomplete survival: a warning
    path = tmp_path / "warn.csv"
    table.to_csv(path, index=False)
    args = ["cohort", "validate", str(path), "--data-root", str(manifests["root"])]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["cohort", "validate", "does-not-exist.csv"],
        ["cohort", "validate"],
        ["cohort", "validate", "x.csv", "--format", "xml"],
        ["cohort", "split", "x.csv", "-o", "y.csv"],
        ["nonsense-command"],
    ],
)
def test_usage_errors_exit_2(args):
    assert runner.invoke(app, args).exit_code == 2


def test_invalid_schema_is_a_usage_error(manifests, tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text("modalities:\n  xray: {column: x}\n")
    result = runner.invoke(app, ["cohort", "validate", str(manifests["clean"]), "-s", str(schema)])
    assert result.exit_code == 2
    assert "modalities.xray" in result.output


def test_unreadable_manifest_is_a_problem(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"patient_id,wsi\n\xff\xfe,a.svs\n")
    result = runner.invoke(app, ["cohort", "validate", str(path)])
    assert result.exit_code == 1
    assert "unreadable_manifest" in result.output and "UTF-8" in result.output


def test_split_writes_patient_level_folds(manifests, tmp_path):
    out = tmp_path / "folds.csv"
    result = runner.invoke(
        app,
        [
            "cohort",
            "split",
            str(manifests["clean"]),
            "--folds",
            "2",
            "--stratify",
            "label",
            "--seed",
            "1",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out)
    assert sorted(folds["fold"].unique()) == [1, 2]
    assert folds.groupby("label")["fold"].nunique().tolist() == [2, 2]


def test_split_ratios_and_summary(manifests, tmp_path):
    out = tmp_path / "split.tsv"
    result = runner.invoke(
        app,
        ["cohort", "split", str(manifests["clean"]), "--ratios", "0.5,0.25,0.25", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_csv(out, sep="\t")["split"]) == ["test", "train", "train", "val"]
    result = runner.invoke(app, ["cohort", "summary", str(out)])
    assert result.exit_code == 0 and "availability patterns" in result.output


def test_console_script_runs_as_a_process():
    result = subprocess.run(
        [sys.executable, "-m", "biomm.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_split_rejects_bad_output_and_ratios_before_work(manifests, tmp_path):
    args = ["cohort", "split", str(manifests["clean"])]
    result = runner.invoke(app, [*args, "--folds", "2", "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2 and "csv" in result.output
    result = runner.invoke(app, [*args, "--ratios", "0.5,0.5,0.5", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "summing to 1" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_split_with_leaking_existing_column_is_a_data_problem(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,sample_id,report,split\na,1,x,train\na,2,y,test\nb,3,z,val\n")
    result = runner.invoke(
        app,
        ["cohort", "split", str(path), "--ratios", "0.5,0.25,0.25", "-o", str(tmp_path / "o.csv")],
    )
    assert result.exit_code == 1
    assert "split_leak" in result.output


def test_split_keeps_existing_column_with_a_note(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,report,split\na,x,train\nb,y,test\n")
    args = [
        "cohort",
        "split",
        str(path),
        "--ratios",
        "0.5,0.25,0.25",
        "-o",
        str(tmp_path / "o.csv"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "kept the existing 'split' column" in result.output
    path.write_text("patient_id,report,split\na,x,train\nb,y,test\nc,z,\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "leaves 1 patient(s) without a value" in result.output


def test_summary_without_patients_fails(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("Name,Slide\nx,a.svs\n")
    result = runner.invoke(app, ["cohort", "summary", str(path)])
    assert result.exit_code == 1 and "no patients" in result.output


def test_table_output_is_capped_with_counts(tmp_path):
    path = tmp_path / "m.csv"
    rows = "".join(f"p{i},missing{i}.svs\n" for i in range(30))
    path.write_text("patient_id,slide\n" + rows)
    result = runner.invoke(app, ["cohort", "validate", str(path), "--max-problems", "5"])
    assert result.exit_code == 1
    assert result.output.count("[file_not_found]") == 5
    assert "25 more problem(s) not shown" in result.output


def test_demo_output_folder_checks(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = ["demo", "--out", str(afile), "--no-progress", "--cohort-only"]
    assert runner.invoke(app, args).exit_code == 2
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--out", str(busy), "--no-progress"])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (busy / "mine.txt").read_text() == "keep me"


def test_demo_rerun_replaces_its_own_outputs(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--patients", "6", "--no-progress", "--cohort-only"]
    assert runner.invoke(app, args).exit_code == 0
    (out / "cohort_folds.csv").write_text("user file")
    args[4] = "3"
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "rebuilt the demo cohort" in result.output
    assert len(pd.read_csv(out / "cohort.csv")) == 3
    assert len(list((out / "ecg").glob("*.hea"))) <= 3
    assert (out / "cohort_folds.csv").read_text() == "user file"


def test_cli_reference_page_is_current():
    from biomm.cli.reference import cli_reference

    page = Path(__file__).resolve().parents[2] / "docs" / "cli-reference.md"
    assert page.read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli-reference.md is stale: python -m biomm.cli.reference docs/cli-reference.md"
    )
