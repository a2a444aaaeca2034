"""The bad-input corpus: every case, how it is built, and which error its reader must raise.

A case is one malformed input for one reader (WSI, ECG, fundus, OCT, EHR table, report,
cohort manifest, pipeline config, checkpoint). Each ``cases_<reader>.py`` module in this
folder defines:

* ``READER`` — a :class:`Reader`: the biomm entry point a user would call on such a file
  (e.g. open a slide and read from it), as a function of the case's primary path;
* ``CASES`` — a list of :class:`Case`.

``make_corpus.py`` writes every case into ``tests/data/bad/<reader>/<case>/`` with a seeded
generator and records the files' SHA-256 in ``MANIFEST.json``; ``docs/bad-inputs.md`` is the
table of all cases. ``tests/reliability/test_bad_inputs.py`` runs each reader's cases in a
child interpreter (so that a crash in a C library shows up as a crash, not as a dead test
run) and checks the error class, that the message names the file, the reason, and the time.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "MANIFEST.json"
SEED = 20261128

#: Error classes too general to count as "a specific biomm.errors subclass".
GENERIC_ERRORS = {"BiommError", "InputError", "FileFormatError", "Exception", "ValueError"}


@dataclass(frozen=True)
class Reader:
    """How a user reads one input of this kind.

    Attributes:
        name: Short reader name, also the corpus sub-folder (``wsi``, ``ecg``, ...).
        entry_point: The public call the test makes, for the docs table (e.g. ``read_ecg``).
        read: Reads the case's primary path the way a cohort run would; must raise on bad input.
    """

    name: str
    entry_point: str
    read: Callable[[Path], Any]


@dataclass(frozen=True)
class Case:
    """One malformed input.

    Attributes:
        name: Case name, unique within its reader (``kebab-case``); the case's folder name.
        what: What is wrong with the input, in one line (goes into the docs table).
        error: Name of the ``biomm.errors`` class (or subclass elsewhere in biomm) it must raise.
        reason: Regular expression the error message must match (case-insensitive), besides
            naming the file.
        build: Writes the case's files into an empty folder with the given generator and
            returns the primary file's name relative to that folder.
        category: One of the issue's kinds of damage (truncated, zero-length, wrong-magic,
            header-vs-data, absurd-dimensions, nan-inf, unsupported-compression, non-utf8,
            wrong-types, duplicated-keys, missing, other).
    """

    name: str
    what: str
    error: str
    reason: str
    build: Callable[[Path, np.random.Generator], str]
    category: str = "other"


CATEGORIES = (
    "truncated",
    "zero-length",
    "wrong-magic",
    "header-vs-data",
    "absurd-dimensions",
    "nan-inf",
    "unsupported-compression",
    "non-utf8",
    "wrong-types",
    "duplicated-keys",
    "missing",
    "other",
)


def case_modules() -> dict[str, Any]:
    """Import every ``cases_<reader>.py`` module, keyed by reader name."""
    modules = {}
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f"tests.data.bad.{info.name}")
            modules[module.READER.name] = module
    return modules


def case_seed(reader: str, case: str) -> int:
    """A stable per-case seed (independent of case order and of Python's hash salt)."""
    return SEED + zlib.crc32(f"{reader}/{case}".encode())


def check_cases(modules: dict[str, Any]) -> None:
    """Fail early on a malformed case list (duplicate names, generic errors, bad categories)."""
    for reader, module in modules.items():
        names = [case.name for case in module.CASES]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"{reader}: duplicate case names {sorted(duplicates)}")
        for case in module.CASES:
            if case.error in GENERIC_ERRORS:
                raise ValueError(f"{reader}/{case.name}: error {case.error} is not specific")
            if case.category not in CATEGORIES:
                raise ValueError(f"{reader}/{case.name}: unknown category {case.category!r}")


def sha256_tree(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, keyed by relative POSIX path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def build_corpus(out: Path, readers: set[str] | None = None) -> dict[str, Any]:
    """Write every case under ``out/<reader>/<case>/`` and return the manifest (not written).

    ``readers`` limits the build to those readers.

    The manifest lists, per case, the primary path (relative to ``out``), the expected error,
    the reason pattern, the category, and the SHA-256 of each of the case's files.
    """
    modules = case_modules()
    check_cases(modules)
    entries = []
    modules = {r: m for r, m in modules.items() if readers is None or r in readers}
    for reader, module in modules.items():
        for case in module.CASES:
            folder = out / reader / case.name
            folder.mkdir(parents=True, exist_ok=False)
            rng = np.random.default_rng(case_seed(reader, case.name))
            primary = case.build(folder, rng)
            entries.append(
                {
                    "reader": reader,
                    "case": case.name,
                    "path": f"{reader}/{case.name}/{primary}",
                    "category": case.category,
                    "what": case.what,
                    "error": case.error,
                    "reason": case.reason,
                    "files": sha256_tree(folder),
                }
            )
    readers = {r: m.READER.entry_point for r, m in modules.items()}
    return {"seed": SEED, "readers": readers, "cases": entries}


def load_manifest() -> dict[str, Any]:
    """The committed ``MANIFEST.json``."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def docs_table(manifest: dict[str, Any]) -> str:
    """The Markdown page ``docs/bad-inputs.md``: every case with its expected error."""
    lines = [
        "# What biomm does with bad input",
        "",
        "<!-- generated by `python tests/data/bad/make_corpus.py --docs docs/bad-inputs.md`;"
        " do not edit -->",
        "",
        "Every reader is run against a corpus of malformed files (`tests/data/bad/`, made by a"
        " seeded script). For each case the test suite checks that the reader raises the"
        " `biomm.errors` class below, that the message names the file and matches the reason,"
        " that it does so within seconds, and that the interpreter survives (each reader's"
        " cases run in a child process, so a crash in a C library would be caught as a"
        " failure). In a cohort run such an error is recorded for that one item"
        " (`failures.csv`) and every other item still finishes.",
        "",
        f"{len(manifest['cases'])} cases over {len(manifest['readers'])} readers.",
        "",
    ]
    by_reader: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest["cases"]:
        by_reader.setdefault(entry["reader"], []).append(entry)
    for reader, entries in by_reader.items():
        lines += [
            f"## {reader}",
            "",
            f"Read with `{manifest['readers'][reader]}`.",
            "",
            "| case | kind | what is wrong | error | message says |",
            "|---|---|---|---|---|",
        ]
        for e in entries:
            reason = e["reason"].replace("|", "\\|")
            lines.append(
                f"| `{e['case']}` | {e['category']} | {e['what']} | `{e['error']}` | `{reason}` |"
            )
        lines.append("")
    return "\n".join(lines)
