"""Every case of the bad-input corpus gets its specific error, naming the file, in bounded time.

Each reader's cases run in one child interpreter (``tests/data/bad/worker.py``): a case that
kills the process (a crash in a C library) or hangs is reported as such, the child is
restarted, and the remaining cases still run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.data.bad.corpus import (
    GENERIC_ERRORS,
    HERE,
    build_corpus,
    case_modules,
    docs_table,
    load_manifest,
    sha256_tree,
)

ROOT = Path(__file__).resolve().parents[2]
#: Wall-clock bound for one case, reading included (not interpreter start-up).
CASE_SECONDS = 30.0
MIN_CASES_PER_READER = 10

MANIFEST = load_manifest()
CASES = MANIFEST["cases"]


def _run_reader(reader: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Run ``names`` through ``reader`` in child processes; restart after a crash or hang."""
    results: dict[str, dict[str, Any]] = {}
    pending = list(names)
    while pending:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.data.bad.worker", reader, str(HERE), *pending],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        current = None
        deadline = None
        assert proc.stdout is not None
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        startup_deadline = time.monotonic() + 120
        while True:
            limit = deadline if deadline is not None else startup_deadline
            ready = selector.select(timeout=max(0.0, limit - time.monotonic()))
            if not ready:
                proc.kill()
                proc.wait()
                if current is None:
                    raise RuntimeError(f"{reader} worker did not start: {proc.stderr.read()}")
                results[current] = {"outcome": "timeout", "message": "", "classes": []}
                break
            line = proc.stdout.readline()
            if not line:  # the child died (or finished)
                proc.wait()
                if current is not None:
                    stderr = proc.stderr.read()[-2000:]
                    results[current] = {
                        "outcome": f"crashed (exit {proc.returncode})",
                        "message": stderr,
                        "classes": [],
                    }
                break
            record = json.loads(line)
            if record["outcome"] == "started":
                current = record["case"]
                deadline = time.monotonic() + CASE_SECONDS
                continue
            results[record["case"]] = record
            current, deadline = None, None
        selector.close()
        pending = [n for n in pending if n not in results]
    return results


_OUTCOMES: dict[str, dict[str, dict[str, Any]]] = {}


def _outcome(reader: str, case: str) -> dict[str, Any]:
    """The outcome of one case; all cases of its reader run together on first use."""
    if reader not in _OUTCOMES:
        names = [e["case"] for e in CASES if e["reader"] == reader]
        _OUTCOMES[reader] = _run_reader(reader, names)
    return _OUTCOMES[reader][case]


@pytest.mark.parametrize("entry", CASES, ids=[f"{e['reader']}/{e['case']}" for e in CASES])
def test_bad_input_gets_its_error(entry: dict[str, Any]) -> None:
    result = _outcome(entry["reader"], entry["case"])
    assert result["outcome"] == "raised", (
        f"{entry['path']}: expected {entry['error']}, but the reader {result['outcome']}"
        f" {result.get('message', '')}"
    )
    classes = result["classes"]
    assert entry["error"] in classes, (
        f"{entry['path']}: expected {entry['error']}, got {classes[0]}: {result['message']}"
    )
    assert "BiommError" in classes, classes
    name = Path(entry["path"]).name
    assert name in result["message"], f"message does not name {name}: {result['message']}"
    # the reason is matched without the path, so a case's folder name cannot match it
    reason = result.get("reason") or result["message"].replace(str(HERE), "")
    assert re.search(entry["reason"], reason, re.IGNORECASE), (
        f"{entry['path']}: reason {reason!r} does not match {entry['reason']!r}"
    )
    assert result["seconds"] < CASE_SECONDS


def test_every_reader_has_enough_cases() -> None:
    modules = case_modules()
    expected = {"wsi", "ecg", "fundus", "oct", "ehr", "report", "manifest", "pipeline"}
    expected |= {"checkpoint"}
    assert expected <= set(modules), sorted(expected - set(modules))
    for reader, module in modules.items():
        assert len(module.CASES) >= MIN_CASES_PER_READER, reader
        assert all(case.error not in GENERIC_ERRORS for case in module.CASES)


def test_committed_corpus_matches_its_manifest() -> None:
    for entry in CASES:
        folder = HERE / entry["reader"] / entry["case"]
        assert sha256_tree(folder) == entry["files"], f"{folder} differs from MANIFEST.json"
    listed = {(e["reader"], e["case"]) for e in CASES}
    defined = {(r, c.name) for r, m in case_modules().items() for c in m.CASES}
    assert listed == defined, "run python tests/data/bad/make_corpus.py --docs docs/bad-inputs.md"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first = build_corpus(tmp_path / "a")
    second = build_corpus(tmp_path / "b")
    assert first == second


def test_docs_table_is_current() -> None:
    page = (ROOT / "docs" / "bad-inputs.md").read_text(encoding="utf-8")
    assert page == docs_table(MANIFEST), (
        "docs/bad-inputs.md is stale: python tests/data/bad/make_corpus.py --docs"
        " docs/bad-inputs.md"
    )
