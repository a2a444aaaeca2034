"""Contract over every registered encoder: modality, size, output shape, provenance."""

from __future__ import annotations

import pytest
import torch

from biomm.encoders import build_encoder, list_encoders


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory) -> str:
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=16,
    )
    folder = tmp_path_factory.mktemp("vit")
    ViTModel(cfg).save_pretrained(folder)
    return str(folder)


def _kwargs(name: str, tiny_vit: str, tiny_clip_folder) -> dict:
    table = {
        "efficientnet_lite0": {"weights": None},
        "hf_image": {"model": tiny_vit},
        "hf_clip": {"model": str(tiny_clip_folder)},
        "abmil": {"in_dim": 16, "hidden_dim": 8},
        "mil_mean": {"in_dim": 16},
        "mil_max": {"in_dim": 16},
        "resnet18": {"weights": None},
        "resnet50": {"weights": None},
        "monai_densenet121": {"weights": None, "size": 64},
        "monai_resnet": {"depth": 18, "weights": None, "size": 64},
        "resnet1d18": {"in_leads": 12, "width": 8},
        "resnet1d34": {"in_leads": 12, "width": 8},
        "resnet1d50": {"in_leads": 12, "width": 8},
        "vit1d_tiny": {"in_leads": 12, "patch": 25, "depth": 2},
        "vit1d_small": {"in_leads": 12, "patch": 25, "depth": 1},
        "vit1d_base": {"in_leads": 12, "patch": 25, "depth": 1},
        "hf_text": {"model": "minilm", "pooling": "mean", "proj_dim": 16},
        "tabular_transformer": {"cardinalities": [0, 3, 0, 5], "dim": 16, "depth": 1, "heads": 2},
    }
    assert name in table, f"encoder {name!r} has no entry in the contract test: add one"
    return table[name]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    from tests.zeroshot.conftest import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.mark.parametrize("name", list_encoders())
def test_encoder_contract(name, tiny_vit, tiny_clip_folder):
    encoder = build_encoder(name, **_kwargs(name, tiny_vit, tiny_clip_folder))
    assert isinstance(encoder, torch.nn.Module)
    assert encoder.embed_dim > 0
    info = encoder.describe()
    assert info["encoder"].startswith(name)
    assert info["modality"] in {"image", "wsi", "ecg", "text", "tabular"}
    with torch.inference_mode():
        if encoder.modality == "ecg":
            encoder.eval()
            x = torch.randn(2, 12, 1000)
            present = torch.ones(2, 12, dtype=torch.bool)
            present[1, 6:] = False
            out = encoder(x, present)
            # an absent lead's values never matter, and any length works
            x_changed = x.clone()
            x_changed[1, 6:] = float("nan")
            torch.testing.assert_close(encoder(x_changed, present), out)
            assert encoder(torch.randn(1, 12, 1370)).shape == (1, encoder.embed_dim)
        elif encoder.modality == "text":
            out = encoder(["sinus rhythm", "atrial fibrillation with rapid ventricular response"])
            single = encoder(["sinus rhythm"])
            torch.testing.assert_close(single, out[:1], atol=1e-5, rtol=1e-4)  # padding-free
        elif encoder.modality == "tabular":
            encoder.eval()
            n_cols = len(encoder.cardinalities)
            cards = torch.tensor(encoder.cardinalities).clamp_min(1)
            x = torch.where(
                torch.tensor(encoder.cardinalities) > 0,
                torch.randint(0, 100, (2, n_cols)) % cards,
                torch.randn(2, n_cols),
            ).float()
            observed = torch.ones(2, n_cols, dtype=torch.bool)
            observed[1, ::2] = False
            out = encoder(x, observed)
            # an unobserved cell's value never matters
            x_changed = x.clone()
            x_changed[1, ::2] = float("nan")
            torch.testing.assert_close(encoder(x_changed, observed), out)
        elif encoder.modality == "image":
            assert encoder.input is not None
            tiles = torch.randint(0, 255, (2, 40, 40, 3), dtype=torch.uint8)
            out = encoder(encoder.preprocess(tiles))
        else:
            bag = torch.randn(2, 5, 16)
            mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
            out, attention = encoder(bag, mask)
            if attention is not None:
                assert attention.shape == (2, 5) and (attention[1, 2:] == 0).all()
            # padded tiles never change the result
            solo, _ = encoder(bag[1:2, :2], mask[1:2, :2])
            torch.testing.assert_close(out[1:2], solo)
    assert out.shape == (2, encoder.embed_dim)
    assert torch.isfinite(out).all()


def test_resnet_loads_torchvision_layout_weights(tmp_path):
    from safetensors.torch import save_file

    from biomm.encoders.resnet import ResNetTrunk
    from biomm.errors import InputError

    torch.manual_seed(0)
    source = ResNetTrunk(18)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}  # DataParallel prefix
    state["fc.weight"] = torch.zeros(1000, 512)  # the classifier is ignored
    path = tmp_path / "resnet18.safetensors"
    save_file(state, str(path))
    encoder = build_encoder("resnet18", weights=str(path))
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(encoder(x), source.eval()(x))
    assert len(encoder.describe()["weights_sha256"]) == 64
    with pytest.raises(InputError, match="do not fit resnet50"):
        build_encoder("resnet50", weights=str(path))
