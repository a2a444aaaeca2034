"""Reader bugs found by the bad-input corpus (tests/data/bad), pinned in-process.

Each test names what the reader did before the fix: a raw exception, a silent default, a
huge allocation or a misleading message.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from biomm.errors import ECGReadError, SlideReadError
from biomm.io.ecg import read_ecg
from biomm.io.wsi import TiffSlide, open_slide
from biomm.io.wsi import base as wsi_base
from biomm.io.wsi.base import Slide, SlideDamagedError, white_canvas
from tests.data.bad import cases_ecg, cases_wsi

RNG = np.random.default_rng(0)

# ---- whole-slide images ----------------------------------------------------------------------


def test_truncated_tiff_is_refused_on_open_without_falling_back_to_openslide(tmp_path):
    name = cases_wsi._truncated_mid_tile(tmp_path, RNG)  # OpenSlide would open it silently
    with pytest.raises(SlideDamagedError, match=r"truncated: 1 of 4 tiles") as err:
        open_slide(tmp_path / name)
    assert "openslide" not in str(err.value)


def test_absurd_dimensions_are_refused_before_any_read(tmp_path):
    name = cases_wsi._absurd_dimensions_tiled(tmp_path, RNG)  # was a 175 GiB allocation
    with pytest.raises(SlideDamagedError, match="1,000,000 × 1,000,000"):
        open_slide(tmp_path / name)


class _Flat(Slide):
    """A grey slide without a pyramid that records the source windows it is asked for."""

    backend = "flat"

    def __init__(self, size: int) -> None:
        self.windows: list[tuple[int, int]] = []
        super().__init__(path=None, level_dimensions=((size, size),), mpp=0.25)

    def read_level(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        self.windows.append((width, height))
        return white_canvas(width, height)


def test_thumbnail_chunks_are_bounded_on_slides_without_a_pyramid(monkeypatch):
    monkeypatch.setattr(wsi_base, "MAX_CHUNK_SOURCE", 256)
    slide = _Flat(4000)
    thumb = slide.thumbnail(mpp=8.0)  # 32 source px per output px: 1024-px chunks read 32768
    assert thumb.shape == (125, 125, 3)
    assert max(max(w) for w in slide.windows) <= 256


@pytest.mark.parametrize(
    ("builder", "note"),
    [
        (cases_wsi._mpp_twice, "conflicting MPP values in the description: 0.25, 0.5"),
        (cases_wsi._mpp_not_a_number, "MPP 'abc' in the description is not a number"),
    ],
)
def test_unusable_aperio_mpp_is_explained(tmp_path, builder, note):
    slide = open_slide(tmp_path / builder(tmp_path, RNG))  # twice: the last value was used
    assert slide.mpp is None
    with pytest.raises(SlideReadError, match=note):
        slide.require_mpp()
    forced = open_slide(tmp_path / "slide.svs", mpp_policy="objective-power")
    assert forced.mpp == (0.5, 0.5)  # AppMag 20 still parsed


def test_nan_pixels_are_an_error_not_garbage(tmp_path):
    slide = open_slide(tmp_path / cases_wsi._nan_pixels(tmp_path, RNG))
    with pytest.raises(SlideReadError, match="non-finite"):
        slide.read(0, 0, 32, 32)


def test_two_samples_per_pixel_is_refused_by_tifffile_backend(tmp_path):
    image = RNG.integers(0, 255, (64, 64, 2), dtype=np.uint8)
    import tifffile

    tifffile.imwrite(tmp_path / "ga.tif", image, tile=(32, 32), planarconfig="contig")
    with pytest.raises(SlideReadError, match="2 samples per pixel"):  # was a ValueError
        TiffSlide(tmp_path / "ga.tif")


def test_symlink_loop_and_broken_link_are_named(tmp_path):
    cases_wsi._symlink_loop(tmp_path, RNG)
    with pytest.raises(SlideReadError, match="symbolic link loop"):
        open_slide(tmp_path / "slide.svs")
    os.symlink("gone.svs", tmp_path / "broken.svs")
    with pytest.raises(SlideReadError, match=r"broken symbolic link \(to gone.svs"):
        open_slide(tmp_path / "broken.svs")


# ---- ECG -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "message"),
    [
        (cases_ecg._fs_not_a_number, r"sampling frequency 'abc'"),  # was read at 250 Hz
        (cases_ecg._fs_zero, r"sampling frequency '0'"),
        (cases_ecg._gain_zero, r"II: ADC gain 0 marks an uncalibrated"),  # was 200 adu/mV
        (cases_ecg._unknown_format, r"format '99' is not a known format"),  # was KeyError
        (cases_ecg._fewer_signal_lines, r"declares 12 signals, the header has 11"),
    ],
)
def test_wfdb_header_fields_are_checked(tmp_path, builder, message):
    name = builder(tmp_path, RNG)
    with pytest.raises(ECGReadError, match=message) as err:
        read_ecg(tmp_path / name)
    assert "rec.hea" in str(err.value)


def test_valid_wfdb_header_variants_still_read(tmp_path):
    name = cases_ecg._edit_header(tmp_path, RNG, "rec 12 500 500", "rec 12 500/500(0) 500")
    assert read_ecg(tmp_path / name).fs == 500


def test_muse_duplicate_lead_is_refused(tmp_path):
    name = cases_ecg._muse_duplicate_lead(tmp_path, RNG)  # the second V3 replaced the first
    with pytest.raises(ECGReadError, match="lead V3 is given twice"):
        read_ecg(tmp_path / name)


def test_infinite_samples_are_refused_nan_is_kept(tmp_path):
    with pytest.raises(ECGReadError, match="lead I has 1 infinite"):
        read_ecg(tmp_path / cases_ecg._csv_with_inf(tmp_path, RNG), fs=500)
    signal = np.zeros((100, 12), np.float32)
    signal[5, 0] = np.nan
    np.save(tmp_path / "gap.npy", signal)
    assert np.isnan(read_ecg(tmp_path / "gap.npy", fs=500).lead("I")[5])


def test_npy_header_is_checked_before_numpy_allocates(tmp_path):
    name = cases_ecg._npy_absurd_shape(tmp_path, RNG)  # was a 4.4 TiB MemoryError
    with pytest.raises(ECGReadError, match=r"truncated: its header declares shape"):
        read_ecg(tmp_path / name, fs=500)


def test_npz_signal_header_is_checked(tmp_path: Path):
    np.savez(tmp_path / "r.npz", signal=np.zeros((100, 12), np.float32), fs=500.0)
    data = (tmp_path / "r.npz").read_bytes()
    (tmp_path / "r.npz").write_bytes(data.replace(b"(100, 12)", b"(900, 12)", 1))
    with pytest.raises(ECGReadError, match=r"'signal' array is truncated"):
        read_ecg(tmp_path / "r.npz")
