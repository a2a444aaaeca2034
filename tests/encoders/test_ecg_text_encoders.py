"""ECG encoders (ResNet1d, ViT1d) and the Hugging Face text encoder beyond the contract."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from biomm.encoders import build_encoder
from biomm.encoders.ecg import ResNet1dEncoder
from biomm.encoders.text import HFTextEncoder
from biomm.errors import InputError


@pytest.mark.parametrize("name", ["resnet1d18", "vit1d_tiny"])
def test_ecg_encoder_weights_round_trip(tmp_path, name):
    kwargs = (
        {"in_leads": 1, "width": 8}
        if name.startswith("resnet")
        else {"in_leads": 1, "depth": 1, "patch": 10}
    )
    torch.manual_seed(0)
    source = build_encoder(name, **kwargs).eval()
    path = tmp_path / "w.safetensors"
    save_file(source.state_dict(), str(path))
    loaded = build_encoder(name, weights=str(path), **kwargs).eval()
    x = torch.randn(2, 1, 400)  # a lead-I-only model
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), source(x))
    assert loaded.describe()["in_leads"] == 1 and len(loaded.describe()["weights_sha256"]) == 64
    with pytest.raises(InputError, match="do not fit"):
        build_encoder(name, weights=str(path), **{**kwargs, "in_leads": 12})


def test_ecg_encoder_argument_errors():
    with pytest.raises(InputError, match="depth"):
        ResNet1dEncoder(depth=19)
    with pytest.raises(InputError, match="shorter than one patch"):
        build_encoder("vit1d_tiny", depth=1, patch=50)(torch.randn(1, 12, 20))
    with pytest.raises(InputError, match="presence mask"):
        build_encoder("resnet1d18", width=4)(
            torch.randn(1, 12, 200), torch.ones(1, 3, dtype=torch.bool)
        )


def test_text_encoder_pooling_frozen_and_projection():
    enc = HFTextEncoder("minilm", pooling="mean", proj_dim=8)
    assert all(not p.requires_grad for p in enc.lm.parameters())
    assert all(p.requires_grad for p in enc.proj.parameters())
    enc.train()
    assert not enc.lm.training  # a frozen model keeps dropout off
    out = enc(["normal sinus rhythm"])
    out.sum().backward()
    assert enc.proj.weight.grad is not None
    # mean pooling equals sentence-transformers' definition: masked mean over tokens
    tokens = enc.tokenizer(["normal sinus rhythm"], return_tensors="pt")
    hidden = enc.lm(**tokens).last_hidden_state
    torch.testing.assert_close(enc.encode_backbone(["normal sinus rhythm"]), hidden.mean(1))
    # related sentences are closer than unrelated ones with the pretrained model
    e = HFTextEncoder("minilm", pooling="mean").encode_text(
        ["atrial fibrillation", "irregular rhythm of the atria", "the weather is sunny"]
    )
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])
    with pytest.raises(InputError, match="pooling"):
        HFTextEncoder("minilm", pooling="max")
    with pytest.raises(InputError, match="cannot load the text model"):
        HFTextEncoder("/nonexistent/model/folder")
