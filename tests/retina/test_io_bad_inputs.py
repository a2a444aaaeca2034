"""Retina reader bugs found by the bad-input corpus (tests/data/bad), pinned in-process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from biomm.errors import ImageReadError
from biomm.io.retina import read_fundus, read_oct
from tests.data.bad import cases_fundus, cases_oct

RNG = np.random.default_rng(0)


def test_float_tiff_with_nan_says_nan(tmp_path):
    name = cases_fundus._tiff_float_nan(tmp_path, RNG)  # said "pixel type float32"
    with pytest.raises(ImageReadError, match="100 NaN or infinite"):
        read_fundus(tmp_path / name)


def test_symlink_loop_and_broken_link_are_named(tmp_path):
    cases_fundus._symlink_loop(tmp_path, RNG)  # said "file not found"
    with pytest.raises(ImageReadError, match="symbolic link loop"):
        read_fundus(tmp_path / "eye.jpg")
    os.symlink("gone.npy", tmp_path / "scan.npy")
    with pytest.raises(ImageReadError, match=r"broken symbolic link \(to gone.npy"):
        read_oct(tmp_path / "scan.npy")


def test_npy_voxel_limit_is_checked_from_the_header(tmp_path):
    name = cases_oct._npy_absurd_shape(tmp_path, RNG)  # said "truncated"
    with pytest.raises(ImageReadError, match=r"1,000,000,000,000,000,000 voxels, above the limit"):
        read_oct(tmp_path / name)
    name = cases_oct._npy_truncated(tmp_path, RNG)
    with pytest.raises(
        ImageReadError, match=r"truncated \(its header declares shape \(8, 32, 48\)"
    ):
        read_oct(tmp_path / name)


def test_npz_spacing_must_be_numbers_and_volume_unique(tmp_path):
    name = cases_oct._npz_spacing_text(tmp_path, RNG)  # said "truncated or corrupt"
    with pytest.raises(ImageReadError, match="'spacing' must be three positive numbers"):
        read_oct(tmp_path / name)
    (tmp_path / name).unlink()
    name = cases_oct._npz_two_volumes(tmp_path, RNG)  # silently read the last member
    with pytest.raises(ImageReadError, match=r"volume\.npy more than once"):
        read_oct(tmp_path / name)


def test_valid_npy_and_npz_still_read(tmp_path):
    volume = cases_oct.volume(RNG)
    np.save(tmp_path / "v.npy", volume)
    np.savez(tmp_path / "v.npz", volume=volume, spacing=np.array([0.12, 0.0039, 0.0117]))
    np.testing.assert_array_equal(read_oct(tmp_path / "v.npy").pixels, volume)
    assert read_oct(tmp_path / "v.npz").spacing == (0.12, 0.0039, 0.0117)
