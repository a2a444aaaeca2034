"""Input fingerprints: one changed file changes the fingerprint of its modality only."""

from __future__ import annotations

import os
import shutil

from biomm.cohort import Cohort
from biomm.pipeline.fingerprint import InputFingerprints, cohort_fingerprint


def _fingerprints(root):
    cohort = Cohort.from_file(root / "cohort.csv", root / "schema.yaml")
    fp = InputFingerprints(cohort)
    return {m: fp.of((m,)) for m in ("wsi", "ecg", "fundus", "report")} | {"*": fp.of(("*",))}


def test_a_deleted_or_rewritten_file_changes_only_its_modality(tiny_cohort, tmp_path):
    root = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, root)
    before = _fingerprints(root)
    assert _fingerprints(root) == before  # stable
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)  # copy2 keeps times: a moved cohort keeps its keys
    assert _fingerprints(moved) == before
    dat = sorted((root / "ecg").glob("*.dat"))[0]
    dat.unlink()  # WFDB: the manifest names the record stem; its .dat is part of it
    after = _fingerprints(root)
    assert after["ecg"] != before["ecg"] and after["*"] != before["*"]
    assert {m: after[m] for m in ("wsi", "fundus", "report")} == {
        m: before[m] for m in ("wsi", "fundus", "report")
    }
    slide = sorted((root / "slides").glob("*.svs"))[0]
    stat = slide.stat()
    os.utime(slide, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _fingerprints(root)["wsi"] != before["wsi"]


def test_cohort_fingerprint_follows_manifest_schema_and_split(tiny_cohort, tmp_path):
    root = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, root)
    manifest, schema = root / "cohort.csv", root / "schema.yaml"
    base = cohort_fingerprint(manifest, schema)
    assert cohort_fingerprint(manifest, schema, split={"seed": 1}) != base
    assert cohort_fingerprint(manifest, None) != base
    manifest.write_text(manifest.read_text().replace("P0001", "P9999"))
    assert cohort_fingerprint(manifest, schema) != base


def test_record_stems_find_their_files_through_the_folder_index(tmp_path):
    from biomm.pipeline.fingerprint import file_entries

    for name in ("r1.hea", "r1.dat", "r10.hea", "a.b.hea", "a.b.dat", "notes.txt"):
        (tmp_path / name).write_text(name)
    shown = [e[0] for e in file_entries([str(tmp_path / s) for s in ("r1", "a.b", "a", "r")])]
    # r1 is not r10; a dotted stem and its prefix both find a.b.*; r finds nothing
    assert shown == [
        str(tmp_path / n) for n in ("r1.dat", "r1.hea", "a.b.dat", "a.b.hea", "a.b.dat", "a.b.hea")
    ] + [str(tmp_path / "r")]
