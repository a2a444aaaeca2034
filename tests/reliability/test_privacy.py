"""Privacy end to end: planted PHI never reaches a file, log, message or report biomm writes.

A tiny demo cohort gets a patient-name column, a date-of-birth column, an MRN column, an
e-mail column and distinctive report sentences (inline and in files), plus bad rows that
trigger errors (a date of birth in a column declared continuous, an unreadable report file, a
binary "report", a missing one). The validator, ``biomm cohort validate|summary|pseudonymise``
and ``biomm run`` (report embedding, EHR embedding, training, HTML report; with a salt) then
run, and every text file they wrote — and their stdout/stderr — is searched for the planted
strings. Pseudonyms are checked to be stable under one salt and to differ under another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.cohort import Cohort
from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort
from biomm.errors import ConfigError
from biomm.privacy import (
    LEGACY_SALT_ENV,
    PSEUDONYM_PATTERN,
    SALT_ENV,
    Pseudonymiser,
    phi_columns,
    pseudonym,
    pseudonymise_cohort,
    resolve_salt,
)

SALT = "privacy-test-salt-0123456789"
OTHER_SALT = "another-salt-9876543210"

#: Distinctive PHI planted in the cohort: none may appear in anything biomm writes.
NAMES = ["Zebulon Quartermaine", "Philippa Fortescue-Smythe", "Ignatius Wolstenholme"]
DOBS = ["1931-04-17", "1944-11-29", "1958-02-06"]
MRNS = ["MRN 7730142", "MRN 7730917", "MRN 7731555"]
EMAILS = ["zeb.quartermaine@example.org", "pfs@example.org", "iggy@example.org"]
SENTENCES = [
    "Quixotic zeppelin marmalade fills the xylophone lobe",
    "Flamboyant periwinkle dirigible crosses the mediastinum",
    "Gargantuan tangerine harpsichord abuts the pleura",
]


def _secrets() -> list[str]:
    return [*NAMES, *DOBS, *MRNS, *EMAILS, *SENTENCES, SALT, OTHER_SALT]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 9-patient demo cohort with PHI columns, PHI-laden reports and a few bad rows."""
    root = tmp_path_factory.mktemp("privacy")
    cohort = make_demo_cohort(root / "cohort", DemoCohortSpec(n_patients=9, slide_size=512))
    table = pd.read_csv(cohort / "cohort.csv", dtype=str)
    n = len(table)
    table["patient_name"] = [NAMES[i % 3] for i in range(n)]
    table["date_of_birth"] = [DOBS[i % 3] for i in range(n)]
    table["mrn"] = [MRNS[i % 3] + str(i) for i in range(n)]
    table["contact"] = [EMAILS[i % 3] for i in range(n)]
    reports = cohort / "reports"
    reports.mkdir(exist_ok=True)
    for i in range(n):  # every report names the patient, the birth date and a sentence
        text = (
            f"CLINICAL HISTORY: {NAMES[i % 3]}, born {DOBS[i % 3]}, {MRNS[i % 3]}.  "
            f"MICROSCOPIC: {SENTENCES[i % 3]}. A {'high' if i % 2 else 'low'}-grade carcinoma."
            f"  DIAGNOSIS: Invasive carcinoma, {'high' if i % 2 else 'low'}-grade."
        )
        if i % 3 == 0:
            (reports / f"r{i}.txt").write_text(text, encoding="utf-8")
            table.loc[i, "report"] = f"reports/r{i}.txt"
        else:
            table.loc[i, "report"] = text
    # bad rows: a binary "report" file and one that is not decodable text
    (reports / "binary.txt").write_bytes(b"%PDF-1.7 " + SENTENCES[0].encode() + b"\x00" * 9)
    (reports / "latin.txt").write_bytes(NAMES[1].encode("utf-16-le"))
    table.loc[1, "report"] = "reports/binary.txt"
    table.loc[2, "report"] = "reports/latin.txt"
    table = table.drop(columns=["slide", "ecg", "fundus"])  # keep the run short
    table.to_csv(cohort / "cohort.csv", index=False)
    schema = yaml.safe_load((cohort / "schema.yaml").read_text())
    schema["modalities"] = {"report": {"column": "report"}}
    (cohort / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    # a broken variant: the date of birth declared a continuous EHR feature, a missing report
    bad = root / "bad"
    shutil.copytree(cohort, bad)
    bad_table = table.copy()
    bad_table.loc[4, "report"] = "reports/missing.txt"
    bad_table.to_csv(bad / "cohort.csv", index=False)
    bad_schema = dict(schema)
    bad_schema["ehr"] = {
        "columns": [*schema["ehr"]["columns"], "date_of_birth", "contact"],
        "types": {**schema["ehr"]["types"], "date_of_birth": "continuous", "contact": "continuous"},
    }
    (bad / "schema.yaml").write_text(yaml.safe_dump(bad_schema, sort_keys=False))
    salt_file = root / "salt.txt"
    salt_file.write_text(SALT + "\n")
    other_salt = root / "other_salt.txt"
    other_salt.write_text(OTHER_SALT)
    return {
        "root": root,
        "cohort": cohort,
        "bad": bad,
        "salt": salt_file,
        "other_salt": other_salt,
    }


def _scan(folder: Path, *extra: str) -> dict[str, list[str]]:
    """Planted strings found in any text file under ``folder`` or in ``extra`` texts."""
    found: dict[str, list[str]] = {}
    texts = [(str(p), p) for p in folder.rglob("*") if p.is_file()]
    for name, path in texts:
        data = path.read_bytes()
        if b"\x00" in data[:4096] and path.suffix != ".csv":
            continue  # binary (HDF5, safetensors, PNG): not text
        text = data.decode("utf-8", errors="replace")
        hits = [s for s in _secrets() if s in text]
        if hits:
            found[name] = hits
    for k, text in enumerate(extra):
        hits = [s for s in _secrets() if s in text]
        if hits:
            found[f"<output {k}>"] = hits
    return found


def _invoke(*args: str | Path, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_validation_never_quotes_phi(planted):
    report = Cohort.from_file(planted["bad"] / "cohort.csv", planted["bad"] / "schema.yaml")
    problems = report.validate()
    codes = problems.codes()
    assert {"type_mismatch", "file_not_found", "format_mismatch"} <= codes, codes
    text = problems.format() + problems.to_json()
    assert not [s for s in _secrets() if s in text]
    mismatched = [p for p in problems.problems if p.code == "type_mismatch"]
    assert {p.column for p in mismatched} == {"date_of_birth", "contact"}
    assert all(p.value == "<redacted>" for p in mismatched)
    with pytest.raises(Exception) as excinfo:
        problems.raise_if_errors()
    assert not [s for s in _secrets() if s in str(excinfo.value)]


def test_cli_commands_keep_phi_out_of_their_output(planted, tmp_path):
    outputs = []
    for folder in ("bad", "cohort"):
        manifest, schema = planted[folder] / "cohort.csv", planted[folder] / "schema.yaml"
        for fmt in ("table", "json"):
            result = _invoke("cohort", "validate", manifest, "--schema", schema, "--format", fmt)
            assert result.exit_code == 1, result.output  # both have bad report files
            outputs.append(result.output)
        result = _invoke("cohort", "summary", manifest, "--schema", schema)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    out = tmp_path / "shared" / "cohort.csv"
    result = _invoke(
        "cohort", "pseudonymise", planted["cohort"] / "cohort.csv", "-o", out,
        "--schema", planted["cohort"] / "schema.yaml", "--salt-file", planted["salt"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    outputs.append(result.output)
    for column in ("patient_name", "date_of_birth", "mrn", "contact"):
        assert column in result.output  # each dropped column is listed
    assert not list(out.parent.glob("*key*"))  # no key file unless asked
    written = pd.read_csv(out, dtype=str)
    assert not {"patient_name", "date_of_birth", "mrn", "contact"} & set(written.columns)
    original = pd.read_csv(planted["cohort"] / "cohort.csv", dtype=str)
    assert written["patient_id"].tolist() == [pseudonym(p, SALT) for p in original["patient_id"]]
    # the planted strings survive only inside free-text reports, which are kept (documented)
    leaks = _scan(out.parent, *outputs)
    assert set(leaks) <= {str(out)}, leaks
    no_reports = written.drop(columns="report").to_csv()
    assert not [s for s in _secrets() if s in no_reports]


def test_pseudonymise_usage_errors_and_key_file(planted, tmp_path):
    manifest = planted["cohort"] / "cohort.csv"
    schema = planted["cohort"] / "schema.yaml"
    short = tmp_path / "short.txt"
    short.write_text("abc")
    result = _invoke("cohort", "pseudonymise", manifest, "-o", tmp_path / "a.csv",
                     "--salt-file", short)  # fmt: skip
    assert result.exit_code == 2 and "too short" in result.output and "abc" not in result.output
    env = {SALT_ENV: "", LEGACY_SALT_ENV: ""}
    result = _invoke("cohort", "pseudonymise", manifest, "-o", tmp_path / "a.csv", env=env)
    assert result.exit_code == 2 and "salt" in result.output
    result = _invoke("cohort", "pseudonymise", manifest, "-o", manifest,
                     "--salt-file", planted["salt"])  # fmt: skip
    assert result.exit_code == 2 and "overwrite" in result.output
    key = tmp_path / "private" / "key.csv"
    result = _invoke(
        "cohort", "pseudonymise", manifest, "-o", tmp_path / "a.csv", "--schema", schema,
        "--key-out", key, env={SALT_ENV: OTHER_SALT},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert key.stat().st_mode & 0o077 == 0  # readable by the owner only
    table = pd.read_csv(key, dtype=str)
    assert set(table["column"]) == {"patient_id"}
    for pseudo, real in zip(table["pseudonym"], table["id"], strict=True):
        assert pseudo == pseudonym(real, OTHER_SALT)


def test_pseudonyms_are_stable_keyed_and_salt_dependent(planted, tmp_path):
    cohort = Cohort.from_file(planted["cohort"] / "cohort.csv", planted["cohort"] / "schema.yaml")
    first = pseudonymise_cohort(cohort, SALT).table["patient_id"].tolist()
    again = pseudonymise_cohort(cohort, SALT).table["patient_id"].tolist()
    other = pseudonymise_cohort(cohort, OTHER_SALT).table["patient_id"].tolist()
    assert first == again and len(set(first)) == len(first)
    assert not set(first) & set(other)
    assert all(re.fullmatch(r"id-[0-9a-f]{16}", p) for p in first)
    expected = hmac.new(SALT.encode(), b"P0001", hashlib.sha256).hexdigest()[:16]
    assert first[0] == f"id-{expected}"  # HMAC-SHA256 keyed by the salt: reproducible anywhere
    assert Pseudonymiser(SALT, ["P0001"]).text("P0001 failed") == f"id-{expected} failed"
    assert resolve_salt(salt_file=planted["salt"]) == SALT
    assert resolve_salt(environ={SALT_ENV: SALT}) == SALT
    assert resolve_salt(environ={LEGACY_SALT_ENV: SALT}) == SALT
    with pytest.raises(ConfigError, match="not both"):
        resolve_salt(SALT, planted["salt"])
    frame = pd.read_csv(planted["cohort"] / "cohort.csv", dtype=str)
    assert {"patient_name", "date_of_birth", "mrn", "contact"} <= set(phi_columns(frame))
    assert "patient_id" not in phi_columns(frame) and "age" not in phi_columns(frame)


PIPELINE = {
    "name": "privacy",
    "cohort": "cohort/cohort.csv",
    "schema": "cohort/schema.yaml",
    "split": {"ratios": [0.5, 0.25, 0.25], "seed": 0},
    "steps": {
        "validate": {"uses": "cohort.validate"},
        "reports": {"uses": "embed", "with": {"modality": "report", "workers": 1}},
        "ehr": {
            "uses": "embed",
            "with": {
                "modality": "ehr",
                "encoder_args": {"dim": 8, "depth": 1, "heads": 2},
                "options": {"pretrain_epochs": 1},
            },
        },
        "train": {
            "uses": "train",
            "with": {
                "modalities": {
                    "report": {"embeddings": "${steps.reports.embeddings}"},
                    "ehr": {"embeddings": "${steps.ehr.embeddings}"},
                },
                "tasks": {"high_risk": {"head": "binary", "target": "high_risk"}},
                "fusion": {"name": "multimodn", "out_dim": 8},
                "training": {"epochs": 2, "batch_size": 4, "device": "cpu", "patience": 0},
                "bootstrap": 5,
            },
        },
        "report": {"uses": "report", "with": {"n_bootstrap": 5}},
    },
}


def test_pipeline_run_writes_no_phi_and_stable_pseudonyms(planted, tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(planted["cohort"], project / "cohort")
    (project / "privacy.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ids = pd.read_csv(project / "cohort" / "cohort.csv", dtype=str)["patient_id"].tolist()
    outputs, failures, pages = [], [], []
    run = project / "run"
    for salt in (SALT, SALT, OTHER_SALT):  # reruns are cached: only the run's records change
        result = _invoke(
            "run", project / "privacy.yaml", "--out", run, "--threads", "1", "--no-progress",
            "--pseudonymise", env={"BIOMM_PSEUDONYM_SALT": salt},
        )  # fmt: skip
        assert result.exit_code == 1, result.output  # the two bad report files fail
        outputs.append(result.output)
        failures.append(pd.read_csv(run / "failures.csv", dtype=str))
        pages.append((run / "steps/report/report.html").read_text(encoding="utf-8"))
        if salt == SALT and len(outputs) == 1:
            summary = json.loads((run / "summary.json").read_text())
            statuses = {s["step"]: s["status"] for s in summary["steps"]}
            assert statuses == dict.fromkeys(statuses, "ran"), statuses
            records = "".join(
                (run / f).read_text(encoding="utf-8")
                for f in ("logs/pipeline.log", "failures.csv", "summary.json")
            )
    # no planted PHI anywhere in the run folder or the command output; RUN/cohort/cohort.csv
    # is the runner's copy of the input manifest (split added): input data, whose inline
    # reports do name the patients, but without the columns the schema does not name
    leaks = _scan(run, *outputs)
    leaks.pop(str(run / "cohort" / "cohort.csv"), None)
    assert not leaks, leaks
    copied = pd.read_csv(run / "cohort" / "cohort.csv", dtype=str)
    assert not {"patient_name", "date_of_birth", "mrn", "contact"} & set(copied.columns)
    # the run's own records (log, failures, summary, report) hold pseudonyms, not ids
    records += pages[0]
    # under another salt the report (which shows ids) is redone, not served from the cache
    last = json.loads((run / "summary.json").read_text())
    statuses = {s["step"]: s["status"] for s in last["steps"]}
    assert statuses.pop("report") == "ran" and set(statuses.values()) == {"cached"}
    assert pages[0] == pages[1]
    assert not [i for i in ids if re.search(rf"(?<![A-Za-z0-9]){i}(?![A-Za-z0-9])", records)]
    # pseudonyms: the same under one salt, different under another
    first, second, other = (sorted(set(f["patient_id"].dropna())) for f in failures)
    assert len(first) == 2 and first == second and not set(first) & set(other)
    assert set(first) <= {pseudonym(i, SALT) for i in ids}
    assert set(other) <= {pseudonym(i, OTHER_SALT) for i in ids}
    assert all(PSEUDONYM_PATTERN.fullmatch(p) for p in first + other)
