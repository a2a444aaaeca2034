from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from biomm.utils.atomic import atomic_path, atomic_write_table, atomic_write_text


def test_new_files_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_table(pd.DataFrame({"a": [1]}), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "a\n1\n"


def test_failed_write_leaves_target_untouched(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("original")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert path.read_text() == "original"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
