"""Fundus and OCT embedders end to end: files in, [B, D] float32 out, per-item info."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from biomm.errors import ConfigError, ImageReadError
from biomm.retina.embedding import FundusEmbedder, FundusItem, OCTEmbedder
from tests.retina.conftest import TinyImageEncoder, write_dicom


@pytest.fixture(scope="module")
def fundus_files(tmp_path_factory, retina_small):
    folder = tmp_path_factory.mktemp("fundus")
    Image.fromarray(retina_small).save(folder / "eye.png")
    Image.fromarray(retina_small[:, ::-1]).save(folder / "mirror.jpg", quality=95)
    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(folder / "black.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_fundus_embedder_with_efficientnet(fundus_files):
    embedder = FundusEmbedder("efficientnet_lite0", {"weights": None}, contrast="clahe")
    items = [embedder.load(fundus_files / name) for name in ("eye.png", "black.png")]
    assert items[0].pixels.shape == (224, 224, 3)  # the encoder's input size
    out = embedder.embed(items)
    assert out.shape == (2, 1280) and out.dtype == np.float32 and np.isfinite(out).all()
    info = [embedder.item_info(item) for item in items]
    assert info[0]["gradable"] is True and info[0]["fov_found"] is True
    assert info[0]["height"] == info[0]["width"] == 353
    assert info[1]["gradable"] is False and info[1]["fov_found"] is False
    assert "no field of view" in info[1]["quality_reasons"]
    description = embedder.describe()
    json.dumps(description)  # plain JSON: recorded with the embeddings
    assert description["encoder"]["encoder"] == "efficientnet_lite0"
    assert description["preprocessing"]["contrast"] == "clahe"
    assert embedder.embed([]).shape == (0, 1280)


def test_fundus_embedder_batches_and_threads_agree(fundus_files):
    embedder = FundusEmbedder(TinyImageEncoder(), size=96, batch_size=2, quality=False)
    names = ["eye.png", "mirror.jpg", "black.png"]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(embedder.load, [fundus_files / n for n in names]))
    items = [embedder.load(fundus_files / n) for n in names]
    for a, b in zip(items, threaded, strict=True):
        assert np.array_equal(a.pixels, b.pixels)
    together = embedder.embed(items)
    one_by_one = np.concatenate([embedder.embed([item]) for item in items])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-6)
    assert embedder.item_info(items[0])["gradable"] is None  # quality skipped


def test_fundus_embedder_errors(fundus_files, tmp_path):
    embedder = FundusEmbedder(TinyImageEncoder())
    with pytest.raises(ImageReadError, match=r"broken\.jpg"):
        embedder.load(fundus_files / "broken.jpg")
    with pytest.raises(ImageReadError, match="file not found"):
        embedder.load(tmp_path / "gone.png")
    with pytest.raises(ConfigError, match="contrast"):
        FundusEmbedder(TinyImageEncoder(), contrast="sharpen")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an image encoder"):
        FundusEmbedder("mil_mean", {"in_dim": 8})


def test_fundus_embedder_with_packaged_imagenet_weights(fundus_files, retina_rgb, tmp_path):
    """The offline ImageNet EfficientNet-Lite0 on skimage's real fundus photo."""
    Image.fromarray(retina_rgb).save(tmp_path / "full.jpg", quality=92)
    embedder = FundusEmbedder()  # efficientnet_lite0, weights="imagenet" (packaged, offline)
    sha = embedder.describe()["encoder"]["weights_sha256"]
    assert isinstance(sha, str) and len(sha) == 64
    items = [embedder.load(tmp_path / "full.jpg"), embedder.load(fundus_files / "mirror.jpg")]
    rng = np.random.default_rng(0)
    noise = FundusItem(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8), items[0].info, (1, 1))
    out = embedder.embed([*items, noise])
    assert np.isfinite(out).all() and (out[0] != 0).any()
    assert embedder.item_info(items[0])["gradable"] is True
    unit = out / np.linalg.norm(out, axis=1, keepdims=True)
    # a photo is closer to its own mirror image (other resolution, JPEG) than to noise
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.1


@pytest.fixture(scope="module")
def oct_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oct")
    rng = np.random.default_rng(1)
    np.save(folder / "a.npy", rng.random((12, 64, 40), np.float32) * 3000)
    write_dicom(
        folder / "b.dcm",
        rng.integers(0, 256, (5, 48, 32), dtype=np.uint8),
        shared_spacing=(0.12, 0.0039, 0.0117),
    )
    (folder / "c.e2e").write_bytes(b"CMDb" + bytes(100))
    return folder


def test_oct_embedder_with_efficientnet(oct_files):
    embedder = OCTEmbedder("efficientnet_lite0", {"weights": None}, n_bscans=2, size=32)
    item = embedder.load(oct_files / "b.dcm")
    assert item.bscans.shape == (2, 32, 32) and item.bscans.dtype == np.uint8
    out = embedder.embed([item])
    assert out.shape == (1, 1280) and out.dtype == np.float32 and np.isfinite(out).all()
    info = embedder.item_info(item)
    assert info == {
        "n_bscans": 2,
        "n_bscans_total": 5,
        "spacing_z_mm": 0.12,
        "spacing_y_mm": 0.0039,
        "spacing_x_mm": 0.0117,
        "format": "dicom",
    }
    description = embedder.describe()
    json.dumps(description)
    assert description["encoder"]["image_encoder"]["encoder"] == "efficientnet_lite0"
    assert description["preprocessing"]["n_bscans"] == 2


def test_oct_embedder_pads_volumes_of_different_lengths(oct_files):
    embedder = OCTEmbedder(TinyImageEncoder(), n_bscans=8, strategy="center", size=24, batch_size=3)
    items = [embedder.load(oct_files / "a.npy"), embedder.load(oct_files / "b.dcm")]
    assert [i.bscans.shape[0] for i in items] == [8, 5]
    assert items[0].meta["bscan_indices"] == list(range(2, 10))
    together = embedder.embed(items)
    alone = np.concatenate([embedder.embed([item]) for item in items])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    assert embedder.embed([]).shape == (0, 8)


def test_oct_embedder_errors(oct_files):
    embedder = OCTEmbedder(TinyImageEncoder(), n_bscans=2)
    with pytest.raises(ImageReadError, match=r"c\.e2e: Heidelberg .*oct-converter"):
        embedder.load(oct_files / "c.e2e")
    with pytest.raises(ConfigError, match="attention pooling is trained"):
        OCTEmbedder(TinyImageEncoder(), pooling="abmil")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_bscans"):
        OCTEmbedder(TinyImageEncoder(), n_bscans=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when there is no GPU")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        FundusEmbedder(TinyImageEncoder(), device="cuda")
