"""MONAI encoders: local weights (MONAI and torchvision layouts), no downloads; OCT pooling."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from biomm.encoders import build_encoder
from biomm.errors import InputError
from biomm.retina.oct_encoder import OCTVolumeEncoder
from tests.retina.conftest import TinyImageEncoder


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an encoder tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def _torchvision_key(key: str) -> str:
    """MONAI DenseNet key → the old torchvision layout (``denselayer1.norm.1.weight``)."""
    for kind in ("norm", "relu", "conv"):
        for i in ("1", "2"):
            key = key.replace(f".layers.{kind}{i}.", f".{kind}.{i}.")
    return key


def test_densenet_loads_monai_and_torchvision_layouts(tmp_path):
    from monai.networks.nets import DenseNet121

    torch.manual_seed(0)
    source = DenseNet121(spatial_dims=2, in_channels=3, out_channels=5).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        features = source.class_layers[:-1](source.features(x))
    monai_file = tmp_path / "monai.pt"
    torch.save(source.state_dict(), monai_file)
    tv_state = {_torchvision_key(k): v for k, v in source.state_dict().items()}
    tv_state = {k: v for k, v in tv_state.items() if not k.startswith("class_layers")}
    tv_state["classifier.weight"] = torch.zeros(1000, 1024)
    assert any(".norm.1." in k for k in tv_state)
    tv_file = tmp_path / "tv.safetensors"
    save_file(tv_state, str(tv_file))
    for path in (monai_file, tv_file):
        encoder = build_encoder("monai_densenet121", weights=str(path), size=32, trust_pickle=True)
        with torch.inference_mode():
            torch.testing.assert_close(encoder(x), features)
        assert len(encoder.describe()["weights_sha256"]) == 64


def test_monai_resnet_weights_depth_and_arguments(tmp_path):
    from monai.networks.nets import resnet34

    torch.manual_seed(0)
    source = resnet34(spatial_dims=2, n_input_channels=3, num_classes=3, conv1_t_stride=2).eval()
    path = tmp_path / "r34.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    encoder = build_encoder(
        "monai_resnet", depth=34, weights=str(path), conv1_t_stride=2, trust_pickle=True
    )
    assert encoder.name == "monai_resnet34" and encoder.embed_dim == 512
    assert encoder.describe()["monai_kwargs"] == {"conv1_t_stride": 2}
    x = torch.randn(1, 3, 32, 32)
    source.fc = torch.nn.Identity()
    with torch.inference_mode():
        torch.testing.assert_close(encoder(x), source(x))
    with pytest.raises(InputError, match="do not fit monai_resnet18"):
        build_encoder("monai_resnet", depth=18, weights=str(path), trust_pickle=True)
    with pytest.raises(InputError, match="depth must be one of"):
        build_encoder("monai_resnet", depth=19)
    with pytest.raises(InputError, match=r"sets .*num_classes"):
        build_encoder("monai_resnet", num_classes=3)
    with pytest.raises(InputError, match="weights file not found"):
        build_encoder("monai_densenet121", weights=str(tmp_path / "missing.pt"))


@pytest.fixture(scope="module")
def tiny():
    return TinyImageEncoder()


def test_oct_volume_encoder_ignores_padding_and_means_bscans(tiny):
    encoder = OCTVolumeEncoder(tiny, "mean", chunk_size=3)
    torch.manual_seed(0)
    volumes = torch.randint(0, 255, (2, 4, 32, 32), dtype=torch.uint8)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    with torch.inference_mode():
        out = encoder(volumes, mask)
        alone = encoder(volumes[1:, :2])
        per_bscan = encoder.encode_bscans(volumes[0])
        garbage = volumes.clone()
        garbage[1, 2:] = 255
        torch.testing.assert_close(encoder(garbage, mask), out)
    torch.testing.assert_close(out[1:], alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out[0], per_bscan.mean(0), atol=1e-5, rtol=1e-4)
    assert encoder.describe()["image_encoder"]["encoder"] == "tiny_image"
    assert encoder.embed_dim == 8 and encoder.name == "oct:tiny_image+mean"


def test_oct_volume_encoder_attention_and_bad_arguments(tiny):
    encoder = OCTVolumeEncoder(tiny, "abmil", pool_kwargs={"hidden_dim": 4})
    features = torch.randn(1, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]])
    z, attention = encoder.pool_features(features, mask)
    assert z.shape == (1, 8) and (attention[0, 3:] == 0).all()
    with pytest.raises(InputError, match="pooling"):
        OCTVolumeEncoder(tiny, "median")
    with pytest.raises(InputError, match="not an image encoder"):
        OCTVolumeEncoder("mil_mean", encoder_kwargs={"in_dim": 4})
    with pytest.raises(InputError, match="uint8"):
        encoder.encode_bscans(torch.zeros(2, 8, 8))
