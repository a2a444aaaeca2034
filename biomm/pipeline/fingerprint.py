"""Cache keys of pipeline steps: params, the cohort's bytes and a ``stat`` of every input file.

A step's key is a SHA-256 over its kind, its params (each reference replaced by the referenced
step's key), the cohort fingerprint (manifest + schema + EHR table bytes, the split settings)
and the input fingerprint: ``(path, size, mtime_ns)`` of every file the cohort references for
the modalities the step reads, plus every existing file or folder its params name. Only
``stat`` calls: a cohort of 10,000 slides is fingerprinted in well under a second, and a
deleted or rewritten file changes the key of exactly the steps that read it (and, through
their keys, everything downstream). Paths enter keys relative to the data root (and to the
pipeline's folder), so a cohort copied elsewhere with its times kept (``cp -p``,
``rsync -a``) keeps its keys.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("x")
    >>> before = file_entries([str(d / "a.txt")])
    >>> _ = (d / "a.txt").write_text("xy")
    >>> before == file_entries([str(d / "a.txt")])
    False
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def _hash_file(digest: Any, path: Path | None) -> None:
    if path is None:
        digest.update(b"<none>")
        return
    digest.update(b"<file>")
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        digest.update(b"<unreadable>")


def cohort_fingerprint(
    cohort: Path | None,
    schema: Path | None,
    data_root: Path | None = None,
    split: Mapping[str, Any] | None = None,
) -> str:
    """SHA-256 of the manifest, schema and EHR table bytes and the split settings.

    ``data_root`` only locates a separate EHR table; the files themselves enter the input
    fingerprints.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "c.csv").write_text("patient_id\\na\\n")
        >>> a = cohort_fingerprint(d / "c.csv", None)
        >>> a == cohort_fingerprint(d / "c.csv", None, split={"seed": 1})
        False
    """
    digest = hashlib.sha256()
    _hash_file(digest, cohort)
    _hash_file(digest, schema)
    digest.update(json.dumps(split, sort_keys=True, default=str).encode())
    if schema is not None and cohort is not None:
        from biomm.cohort.schema import CohortSchema
        from biomm.errors import BiommError

        try:
            ehr = CohortSchema.from_yaml(schema).ehr
        except BiommError:
            ehr = None  # the cohort step will say why
        if ehr is not None and ehr.table:
            table = Path(ehr.table)
            if not table.is_absolute():
                table = (data_root or cohort.parent) / table
            _hash_file(digest, table)
    return digest.hexdigest()


class _Lister:
    """Directory listings, read once per folder (WFDB records are ``stem`` + ``.hea/.dat``)."""

    def __init__(self) -> None:
        self._cache: dict[str, list[str]] = {}
        self._by_stem: dict[str, dict[str, list[str]]] = {}

    def names(self, folder: str) -> list[str]:
        if folder not in self._cache:
            try:
                self._cache[folder] = sorted(os.listdir(folder))
            except OSError:
                self._cache[folder] = []
        return self._cache[folder]

    def siblings(self, folder: str, stem: str) -> list[str]:
        """Names ``stem.*`` in ``folder``, from an index built once per folder.

        The index maps every prefix that ends before a dot to its names (``a.b.hea`` is found
        for ``a`` and ``a.b``), so a folder of 10,000 record files costs one pass, not one
        scan per record.
        """
        if folder not in self._by_stem:
            index: dict[str, list[str]] = {}
            for name in self.names(folder):
                for i, char in enumerate(name):
                    if char == ".":
                        index.setdefault(name[:i], []).append(name)
            self._by_stem[folder] = index
        return self._by_stem[folder].get(stem, [])


def _shown(path: str, root: str | None) -> str:
    if root is None:
        return path
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def _stat(path: str, root: str | None = None) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [_shown(path, root), "missing"]
    return [_shown(path, root), st.st_size, st.st_mtime_ns]


def file_entries(
    paths: Iterable[str], lister: _Lister | None = None, root: str | os.PathLike[str] | None = None
) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` per file: folders are walked, a record stem lists its siblings.

    A path that does not exist but names files ``path.*`` (a WFDB record ``ecg/P1`` for
    ``P1.hea`` + ``P1.dat``) stands for those files; otherwise it is ``[path, "missing"]``.
    Paths under ``root`` are given relative to it.

    Examples:
        >>> file_entries(["/nonexistent/x"]), file_entries(["/nonexistent/x"], root="/nonexistent")
        ([['/nonexistent/x', 'missing']], [['x', 'missing']])
    """
    lister = lister or _Lister()
    base = None if root is None else os.fspath(root)
    out: list[list[Any]] = []
    for path in paths:
        if os.path.isdir(path):
            for top, dirs, files in os.walk(path):
                dirs.sort()
                out += [_stat(os.path.join(top, f), base) for f in sorted(files)]
            continue
        if os.path.exists(path):
            out.append(_stat(path, base))
            continue
        folder, name = os.path.split(path)
        siblings = lister.siblings(folder or ".", name)
        found = [_stat(os.path.join(folder, n), base) for n in siblings]
        out += found or [[_shown(path, base), "missing"]]
    return out


class InputFingerprints:
    """Per-modality fingerprints of the files a cohort references (computed once each).

    Args:
        cohort: A :class:`~biomm.cohort.Cohort`, or None for a pipeline without one.

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort import Cohort
        >>> fp = InputFingerprints(Cohort(pd.DataFrame({"patient_id": ["a"], "report": ["Hi."]})))
        >>> len(fp.of(("report",))), fp.of(()) == fp.of(("report",))
        (64, False)
    """

    def __init__(self, cohort: Any) -> None:
        self.cohort = cohort
        self._lister = _Lister()
        self._digests: dict[str, str] = {}

    def modalities(self, names: Iterable[str]) -> list[str]:
        """The modality names, ``*`` expanded to every declared file modality."""
        if self.cohort is None:
            return []
        declared = list(self.cohort.schema.modalities)
        out: list[str] = []
        for name in names:
            for m in declared if name == "*" else [name]:
                if m in declared and m not in out:
                    out.append(m)
        return out

    def _modality(self, modality: str) -> str:
        if modality not in self._digests:
            cohort = self.cohort
            paths = []
            for row in range(len(cohort)):
                for ref in cohort.references(modality, row):
                    if modality == "report" and not cohort.is_report_file(ref):
                        continue  # inline text: part of the manifest's bytes
                    paths.append(str(cohort.resolve(ref)))
            entries = file_entries(paths, self._lister, root=cohort.data_root)
            text = json.dumps(entries, separators=(",", ":"))
            self._digests[modality] = hashlib.sha256(text.encode()).hexdigest()
        return self._digests[modality]

    def of(self, names: Iterable[str]) -> str:
        """One digest over the files of ``names`` (``*``: every modality).

        Examples:
            >>> InputFingerprints(None).of(("*",)) == InputFingerprints(None).of(())
            True
        """
        parts = {m: self._modality(m) for m in self.modalities(names)}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def param_files(params: Any, base: str | os.PathLike[str] | None = None) -> list[list[Any]]:
    """Stat entries of every absolute, existing path in ``params`` (e.g. a prompt YAML).

    Paths under ``base`` (the pipeline's folder) are given relative to it.

    Examples:
        >>> param_files({"device": "cpu", "n": 3})
        []
    """
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif (
            isinstance(value, str)
            and "${" not in value
            and os.path.isabs(value)
            and os.path.exists(value)
        ):
            found.append(value)

    walk(params)
    return file_entries(found, root=base)


def step_key(
    kind: str,
    params: Any,
    *,
    cohort: str,
    inputs: str,
    deps: Mapping[str, str],
    files: list[list[Any]] | None = None,
) -> str:
    """The SHA-256 cache key of one step.

    Examples:
        >>> a = step_key("train", {"epochs": 2}, cohort="c", inputs="i", deps={})
        >>> a == step_key("train", {"epochs": 3}, cohort="c", inputs="i", deps={})
        False
    """
    payload = {
        "kind": kind,
        "params": params,
        "cohort": cohort,
        "inputs": inputs,
        "deps": dict(sorted(deps.items())),
        "files": files or [],
    }
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = [
    "InputFingerprints",
    "cohort_fingerprint",
    "file_entries",
    "param_files",
    "step_key",
]
