"""Safe models: pickle refused without the trust flag, malicious pickles never run, hashes.

Everything is local (tiny models written into ``tmp_path``); nothing needs the network.
"""

from __future__ import annotations

import io
import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from biomm.encoders import build_encoder
from biomm.encoders.base import load_state_dict
from biomm.errors import CheckpointError, InputError, UntrustedFileError
from biomm.utils.checkpoint import (
    CONFIG_FILE,
    HASH_KEY,
    WEIGHTS_FILE,
    load_checkpoint_folder,
    save_checkpoint_folder,
    sha256_file,
    weights_format,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead on a busy machine
    yield
    torch.set_num_threads(before)


ECG_KWARGS = {"in_leads": 2, "width": 4}


def _malicious_pickle(marker) -> bytes:
    """A pickle that, when unpickled, writes ``marker`` (via ``builtins.exec``)."""
    code = f"open({str(marker)!r}, 'w').write('pwned')".encode()
    return (
        b"\x80\x02cbuiltins\nexec\nq\x00X"
        + struct.pack("<I", len(code))
        + code
        + b"q\x01\x85q\x02Rq\x03."
    )


@pytest.fixture
def ecg_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_encoder("resnet1d18", **ECG_KWARGS).state_dict()


def test_pickle_weights_need_the_trust_flag(tmp_path, ecg_state):
    pt = tmp_path / "ecg.pt"
    torch.save(ecg_state, pt)
    with pytest.raises(UntrustedFileError, match=r"ecg\.pt: pickle-based .*trust_pickle"):
        build_encoder("resnet1d18", weights=str(pt), **ECG_KWARGS)
    trusted = build_encoder("resnet1d18", weights=str(pt), trust_pickle=True, **ECG_KWARGS)
    assert trusted.describe()["weights_sha256"] == sha256_file(pt)
    # the same tensors as safetensors load without the flag and give the same model
    st = tmp_path / "ecg.safetensors"
    save_file({k: v.contiguous() for k, v in ecg_state.items()}, str(st))
    safe = build_encoder("resnet1d18", weights=str(st), **ECG_KWARGS).eval()
    x = torch.randn(1, 2, 300)
    with torch.inference_mode():
        torch.testing.assert_close(safe(x), trusted.eval()(x))
    assert safe.describe()["weights_sha256"] == sha256_file(st)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".weights"])
def test_format_is_judged_by_bytes_not_name(tmp_path, ecg_state, suffix):
    path = tmp_path / f"w{suffix}"
    buffer = io.BytesIO()
    torch.save(ecg_state, buffer)
    path.write_bytes(buffer.getvalue())
    assert weights_format(path) == "torch-zip"
    with pytest.raises(UntrustedFileError, match=path.name):
        load_state_dict(path)
    path.write_bytes(pickle.dumps({"w": 1}, protocol=4))  # a bare pickle stream
    assert weights_format(path) == "pickle"
    with pytest.raises(UntrustedFileError):
        load_state_dict(path)


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "marker"
    payload = _malicious_pickle(marker)
    # the payload is real: plain unpickling runs it
    pickle.loads(payload)
    assert marker.read_text() == "pwned"
    marker.unlink()
    for name in ("pytorch_model.bin", "evil.pt", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(UntrustedFileError, match=name):
            load_state_dict(path)
        with pytest.raises(UntrustedFileError):
            build_encoder("resnet1d18", weights=str(path), **ECG_KWARGS)
        # even trusted, weights_only=True refuses to call builtins.exec
        with pytest.raises(CheckpointError, match=name):
            load_state_dict(path, trust_pickle=True)
        assert not marker.exists()


def test_checkpoint_records_and_verifies_the_weights_hash(tmp_path):
    from biomm.train.model import build_model
    from biomm.train.trainer import load_model, save_model

    torch.manual_seed(0)
    spec = {
        "embed_dims": {"a": 3},
        "fusion": {"name": "concat", "out_dim": 2, "hidden": 4},
        "heads": {"y": {"name": "binary"}},
    }
    folder = save_model(build_model(spec), tmp_path / "model")
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config[HASH_KEY] == sha256_file(folder / WEIGHTS_FILE)
    _, loaded = load_model(folder)
    assert loaded[HASH_KEY] == config[HASH_KEY]
    # a checkpoint without the field (older biomm) loads, with the hash computed
    del config[HASH_KEY]
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    assert load_model(folder)[1][HASH_KEY] == sha256_file(folder / WEIGHTS_FILE)
    # weights changed after saving: one byte of tensor data flipped
    save_model(build_model(spec), folder)
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-3] ^= 0x55
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"hash mismatch.*changed after saving"):
        load_model(folder)
    # still an InputError, so cohort commands treat it as bad input
    assert issubclass(CheckpointError, InputError)


def test_tabular_encoder_checkpoint_round_trip_and_tamper(tmp_path):
    from biomm.embed.ehr import load_tabular_encoder, save_tabular_encoder

    spec = {
        "name": "tabular_transformer",
        "cardinalities": [0, 3],
        "dim": 4,
        "depth": 1,
        "heads": 2,
    }
    encoder = build_encoder(spec["name"], **{k: v for k, v in spec.items() if k != "name"})
    folder = save_tabular_encoder(encoder, tmp_path / "enc", spec)
    loaded = load_tabular_encoder(folder)
    assert loaded.describe()["weights_sha256"] == sha256_file(folder / WEIGHTS_FILE)
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    state["norm.weight"][0] = float("nan")
    save_file(state, str(folder / WEIGHTS_FILE))  # hash now differs as well
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_tabular_encoder(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    del config[HASH_KEY]
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"'norm\.weight' holds 1 NaN/inf"):
        load_tabular_encoder(folder)


def test_save_checkpoint_folder_hash_is_of_the_final_file(tmp_path):
    folder = save_checkpoint_folder(tmp_path / "c", {"w": torch.arange(4.0)}, {"kind": "demo"})
    config, state = load_checkpoint_folder(folder, "demo")
    assert config[HASH_KEY] == sha256_file(folder / WEIGHTS_FILE)
    assert state["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def tiny_vit_bin(tmp_path_factory):
    """A local Hugging Face ViT folder whose only weights are ``pytorch_model.bin``."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = ViTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=16,
    )
    folder = tmp_path_factory.mktemp("vit_bin")
    model = ViTModel(cfg)
    model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_hf_folder_with_only_a_pickle_is_refused_unless_trusted(tiny_vit_bin):
    with pytest.raises(UntrustedFileError, match=r"pytorch_model\.bin: pickle-based"):
        build_encoder("hf_image", model=str(tiny_vit_bin))
    encoder = build_encoder("hf_image", model=str(tiny_vit_bin), trust_pickle=True)
    assert encoder.describe()["weights_sha256"] == sha256_file(tiny_vit_bin / "pytorch_model.bin")
    with torch.inference_mode():
        assert encoder(torch.zeros(1, 3, 32, 32)).shape == (1, 16)


def test_hf_hub_refusal_message_of_this_transformers_is_recognised(tiny_vit_bin):
    """Hub ids rely on transformers' own refusal under ``use_safetensors=True``."""
    from transformers import AutoModel

    from biomm.encoders.base import hf_load_error

    with pytest.raises(OSError) as info:
        AutoModel.from_pretrained(str(tiny_vit_bin), use_safetensors=True)
    error = hf_load_error(info.value, "org/model", "the model", trust_pickle=False)
    assert isinstance(error, UntrustedFileError) and "org/model" in str(error)
    assert type(hf_load_error(OSError("no such repo"), "x", "m", trust_pickle=False)) is (
        CheckpointError
    )


def test_trust_flag_reaches_encoders_from_cli_style_options(tmp_path, ecg_state):
    from biomm.embed.builders import build_item_embedder, embedder_options
    from biomm.pipeline.steps.wsi import WsiEmbedParams, _encoder_kwargs

    torch.manual_seed(0)
    state = build_encoder("resnet18").net.state_dict()  # torchvision layout
    pt = tmp_path / "r18.pth"
    torch.save(state, pt)
    with pytest.raises(UntrustedFileError):
        build_item_embedder("fundus", "resnet18", encoder_args={"weights": str(pt)})
    embedder = build_item_embedder(  # biomm embed --encoder-arg trust_pickle=true
        "fundus", "resnet18", encoder_args={"weights": str(pt), "trust_pickle": True}
    )
    assert embedder.describe()["encoder"]["weights_sha256"] == sha256_file(pt)
    assert "trust_pickle" in embedder_options("report")  # biomm embed -m report --set ...
    params = WsiEmbedParams(encoder="resnet18", weights=str(pt), trust_pickle=True)
    assert _encoder_kwargs(params) == {"weights": str(pt), "trust_pickle": True}
    assert "trust_pickle" not in _encoder_kwargs(WsiEmbedParams(weights=str(pt)))


def test_every_weight_loading_encoder_takes_the_trust_flag():
    import inspect

    from biomm.encoders import list_encoders
    from biomm.encoders.ecg import ResNet1dEncoder, ViT1dEncoder
    from biomm.registries import ENCODERS

    for name in list_encoders():
        factory = ENCODERS.get(name)
        if name.startswith("resnet1d"):  # registered through **kwargs builders
            factory = ResNet1dEncoder
        elif name.startswith("vit1d"):
            factory = ViT1dEncoder
        params = inspect.signature(factory).parameters
        if "weights" in params or "model" in params:
            assert "trust_pickle" in params, name
