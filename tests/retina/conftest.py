"""Retina fixtures: skimage's real fundus photo and DICOM files written here with pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from biomm.encoders.base import Encoder, ImageInput

OPHTHALMIC_TOMOGRAPHY = "1.2.840.10008.5.1.4.1.1.77.1.5.4"
OPHTHALMIC_PHOTOGRAPHY_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"


@pytest.fixture(scope="session")
def retina_rgb() -> np.ndarray:
    """skimage.data.retina(): a real 1411 × 1411 colour fundus photo (CC0)."""
    from skimage.data import retina

    image = retina()
    image.flags.writeable = False
    return image


@pytest.fixture(scope="session")
def retina_small(retina_rgb: np.ndarray) -> np.ndarray:
    """The same photo at a quarter of the resolution (353 px), for fast tests."""
    from PIL import Image

    return np.asarray(Image.fromarray(retina_rgb).reduce(4))


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    sop_class: str = OPHTHALMIC_TOMOGRAPHY,
    shared_spacing: tuple[float, float, float] | None = None,
    top_spacing: tuple[float, float, float] | None = None,
    photometric: str | None = None,
    bits_stored: int | None = None,
    with_pixels: bool = True,
) -> Path:
    """A DICOM Part 10 file: [n, H, W] (multi-frame) or [H, W, 3] (single colour frame).

    ``shared_spacing`` = (slice thickness, row, column) in the Shared Functional Groups'
    Pixel Measures; ``top_spacing`` the same as top-level attributes.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OPT" if sop_class == OPHTHALMIC_TOMOGRAPHY else "OP"
    ds.PatientID = "anon"
    colour = pixels.ndim == 3 and pixels.shape[-1] == 3 and sop_class != OPHTHALMIC_TOMOGRAPHY
    if colour:
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = photometric or "RGB"
    else:
        frames = pixels if pixels.ndim == 3 else pixels[None]
        ds.NumberOfFrames = frames.shape[0]
        ds.Rows, ds.Columns = frames.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric or "MONOCHROME2"
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if shared_spacing is not None:
        measures = Dataset()
        measures.SliceThickness = shared_spacing[0]
        measures.PixelSpacing = [shared_spacing[1], shared_spacing[2]]
        group = Dataset()
        group.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([group])
    if top_spacing is not None:
        ds.SliceThickness = top_spacing[0]
        ds.PixelSpacing = [top_spacing[1], top_spacing[2]]
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


class TinyImageEncoder(Encoder):
    """A small, fast image encoder (16 px input, 8-d) for tests where weights do not matter."""

    name = "tiny_image"
    modality = "image"
    embed_dim = 8
    input = ImageInput(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.weights, self.weights_sha256 = "random-init", None
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))
