"""Bad model checkpoints and weights files.

A folder case is loaded with :func:`biomm.train.trainer.load_model` (a ``biomm train``
checkpoint: ``config.json`` + ``model.safetensors``); a single file with
:func:`biomm.encoders.base.load_state_dict` (an encoder's ``weights=``), without the trust flag.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader

#: A tiny model spec (concat fusion, one binary head): 6 tensors, about 200 bytes of weights.
SPEC = {
    "embed_dims": {"a": 3},
    "fusion": {"name": "concat", "out_dim": 2, "hidden": 4},
    "heads": {"y": {"name": "binary"}},
}
KIND = "biomm-multimodal"
FOLDER = "ckpt"


def _read(path: Path) -> None:
    if path.is_dir():
        from biomm.train.trainer import load_model

        load_model(path)
    else:
        from biomm.encoders.base import load_state_dict

        load_state_dict(path)


READER = Reader(
    "checkpoint",
    "biomm.train.trainer.load_model(folder) / biomm.encoders.base.load_state_dict(file)",
    _read,
)


def _state(rng: np.random.Generator, spec: dict | None = None) -> dict:
    """Tensors of the right shapes for ``spec``, filled from ``rng`` (deterministic)."""
    import torch

    from biomm.train.model import build_model

    shapes = {k: tuple(v.shape) for k, v in build_model(spec or SPEC).state_dict().items()}
    return {
        k: torch.from_numpy(rng.normal(0, 0.1, s).astype(np.float32)) for k, s in shapes.items()
    }


def _safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    return save(state)


def _checkpoint(
    folder: Path,
    rng: np.random.Generator,
    *,
    config: dict | None = None,
    weights: bytes | None = None,
    record_hash: bool = True,
) -> str:
    """Write a (by default valid) checkpoint folder; parts can be replaced."""
    import hashlib

    ckpt = folder / FOLDER
    ckpt.mkdir()
    data = _safetensors_bytes(_state(rng)) if weights is None else weights
    (ckpt / "model.safetensors").write_bytes(data)
    cfg = {"kind": KIND, "model": SPEC} if config is None else config
    if record_hash and isinstance(cfg, dict):
        cfg = {**cfg, "weights_sha256": hashlib.sha256(data).hexdigest()}
    (ckpt / "config.json").write_text(json.dumps(cfg, indent=2))
    return FOLDER


def _missing_config(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng)
    (folder / name / "config.json").unlink()
    return name


def _config_truncated(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng)
    path = folder / name / "config.json"
    path.write_bytes(path.read_bytes()[:40])
    return name


def _config_not_object(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng)
    (folder / name / "config.json").write_text('["biomm-multimodal", {"embed_dims": {}}]')
    return name


def _config_wrong_kind(folder: Path, rng: np.random.Generator) -> str:
    return _checkpoint(folder, rng, config={"kind": "biomm-merl", "model": SPEC})


def _config_duplicated_keys(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng)
    path = folder / name / "config.json"
    text = path.read_text()
    path.write_text(
        text.replace('"kind": "biomm-multimodal",', '"kind": "x", "kind": "biomm-multimodal",')
    )
    return name


def _config_non_utf8(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng, config={"kind": KIND, "model": SPEC, "note": "CAFE"})
    path = folder / name / "config.json"
    path.write_bytes(path.read_bytes().replace(b"CAFE", "CAF\u00c9".encode("latin-1")))
    return name


def _config_model_wrong_type(folder: Path, rng: np.random.Generator) -> str:
    return _checkpoint(folder, rng, config={"kind": KIND, "model": "concat + binary"})


def _weights_zero_length(folder: Path, rng: np.random.Generator) -> str:
    return _checkpoint(folder, rng, weights=b"")


def _weights_truncated(folder: Path, rng: np.random.Generator) -> str:
    data = _safetensors_bytes(_state(rng))
    return _checkpoint(folder, rng, weights=data[: len(data) // 2])


def _header_absurd_length(folder: Path, rng: np.random.Generator) -> str:
    data = _safetensors_bytes(_state(rng))
    return _checkpoint(folder, rng, weights=struct.pack("<Q", 1 << 60) + data[8:])


def _rewrite_header(data: bytes, change) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    change(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def _tensor_absurd_shape(folder: Path, rng: np.random.Generator) -> str:
    def change(header: dict) -> None:
        header["fusion.mlp.0.weight"]["shape"] = [10**12, 10**12]

    data = _rewrite_header(_safetensors_bytes(_state(rng)), change)
    return _checkpoint(folder, rng, weights=data)


def _offsets_past_eof(folder: Path, rng: np.random.Generator) -> str:
    def change(header: dict) -> None:
        entry = header["heads.y.layers.bias"]
        entry["data_offsets"] = [10**9, 10**9 + 4]

    data = _rewrite_header(_safetensors_bytes(_state(rng)), change)
    return _checkpoint(folder, rng, weights=data)


def _unknown_dtype(folder: Path, rng: np.random.Generator) -> str:
    def change(header: dict) -> None:
        header["heads.y.layers.bias"]["dtype"] = "F128"

    data = _rewrite_header(_safetensors_bytes(_state(rng)), change)
    return _checkpoint(folder, rng, weights=data)


def _header_not_json(folder: Path, rng: np.random.Generator) -> str:
    data = _safetensors_bytes(_state(rng))
    (n,) = struct.unpack("<Q", data[:8])
    garbage = b"{" + bytes(rng.integers(128, 256, n - 1, dtype=np.uint8))
    return _checkpoint(folder, rng, weights=data[:8] + garbage + data[8 + n :])


def _hash_mismatch(folder: Path, rng: np.random.Generator) -> str:
    name = _checkpoint(folder, rng)
    path = folder / name / "model.safetensors"
    other = _safetensors_bytes(_state(rng))  # same layout, other values
    assert len(other) == path.stat().st_size
    path.write_bytes(other)
    return name


def _nan_weights(folder: Path, rng: np.random.Generator) -> str:
    state = _state(rng)
    state["fusion.mlp.0.weight"][1, 2] = float("nan")
    state["heads.y.layers.bias"][0] = float("inf")
    return _checkpoint(folder, rng, weights=_safetensors_bytes(state))


def _shapes_misfit(folder: Path, rng: np.random.Generator) -> str:
    bigger = {**SPEC, "embed_dims": {"a": 5}}
    return _checkpoint(folder, rng, weights=_safetensors_bytes(_state(rng, bigger)))


def _pickle_pt(folder: Path, rng: np.random.Generator) -> str:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(_state(rng), buffer)
    (folder / "weights.pt").write_bytes(buffer.getvalue())
    return "weights.pt"


def _pickle_renamed(folder: Path, rng: np.random.Generator) -> str:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(_state(rng), buffer)
    (folder / "weights.safetensors").write_bytes(buffer.getvalue())
    return "weights.safetensors"


#: A hand-written pickle calling ``builtins.exec`` on load: if it ever ran, the worker would
#: exit with status 97 (seen by the test as a crash). No class of ours is involved.
_PAYLOAD = b"import os; os._exit(97)"
MALICIOUS_PICKLE = (
    b"\x80\x02cbuiltins\nexec\nq\x00X"
    + struct.pack("<I", len(_PAYLOAD))
    + _PAYLOAD
    + b"q\x01\x85q\x02Rq\x03."
)


def _malicious_pickle(folder: Path, rng: np.random.Generator) -> str:
    (folder / "pytorch_model.bin").write_bytes(MALICIOUS_PICKLE)
    return "pytorch_model.bin"


def _not_weights(folder: Path, rng: np.random.Generator) -> str:
    (folder / "weights.pt.gz").write_bytes(
        b"\x1f\x8b\x08\x00" + bytes(rng.integers(0, 256, 64, dtype=np.uint8))
    )
    return "weights.pt.gz"


CASES = [
    Case(
        "missing-config",
        "a checkpoint folder with model.safetensors but no config.json",
        "CheckpointError",
        r"not a model checkpoint.*config\.json",
        _missing_config,
        "missing",
    ),
    Case(
        "config-truncated",
        "config.json cut after 40 bytes",
        "CheckpointError",
        r"config\.json is not valid JSON",
        _config_truncated,
        "truncated",
    ),
    Case(
        "config-not-object",
        "config.json holds a JSON list, not an object",
        "CheckpointError",
        r"not a JSON object",
        _config_not_object,
        "wrong-types",
    ),
    Case(
        "config-wrong-kind",
        "config.json of an ECG (MERL) checkpoint given to load_model",
        "CheckpointError",
        r"not a biomm-multimodal checkpoint",
        _config_wrong_kind,
        "wrong-magic",
    ),
    Case(
        "config-duplicated-keys",
        'config.json with "kind" given twice',
        "CheckpointError",
        r"duplicated keys.*kind",
        _config_duplicated_keys,
        "duplicated-keys",
    ),
    Case(
        "config-non-utf8",
        "config.json with a Latin-1 byte in a string",
        "CheckpointError",
        r"not UTF-8",
        _config_non_utf8,
        "non-utf8",
    ),
    Case(
        "config-model-not-object",
        "config.json whose model spec is a string",
        "CheckpointError",
        r"no model spec",
        _config_model_wrong_type,
        "wrong-types",
    ),
    Case(
        "weights-zero-length",
        "model.safetensors of 0 bytes",
        "CheckpointError",
        r"empty \(0 bytes\)",
        _weights_zero_length,
        "zero-length",
    ),
    Case(
        "weights-truncated",
        "model.safetensors cut in half (tensor data missing)",
        "CheckpointError",
        r"past the end|truncated",
        _weights_truncated,
        "truncated",
    ),
    Case(
        "header-absurd-length",
        "safetensors length field claiming a 2**60-byte header",
        "CheckpointError",
        r"header claims \d+ bytes",
        _header_absurd_length,
        "absurd-dimensions",
    ),
    Case(
        "tensor-absurd-shape",
        "safetensors header giving a tensor shape [1e12, 1e12] (refused before allocating)",
        "CheckpointError",
        r"shape .* needs \d+ bytes but its data_offsets span",
        _tensor_absurd_shape,
        "absurd-dimensions",
    ),
    Case(
        "offsets-past-eof",
        "safetensors header pointing a tensor 1 GB past the end of the file",
        "CheckpointError",
        r"past the end of the data",
        _offsets_past_eof,
        "header-vs-data",
    ),
    Case(
        "unknown-dtype",
        "safetensors header with dtype F128",
        "CheckpointError",
        r"unknown dtype 'F128'",
        _unknown_dtype,
        "wrong-types",
    ),
    Case(
        "header-not-json",
        "safetensors header of random non-UTF-8 bytes",
        "CheckpointError",
        r"header is not valid JSON",
        _header_not_json,
        "non-utf8",
    ),
    Case(
        "hash-mismatch",
        "model.safetensors replaced after saving (SHA-256 differs from config.json)",
        "CheckpointError",
        r"hash mismatch.*changed after saving",
        _hash_mismatch,
        "other",
    ),
    Case(
        "nan-weights",
        "weights holding a NaN and an inf",
        "CheckpointError",
        r"NaN/inf",
        _nan_weights,
        "nan-inf",
    ),
    Case(
        "shapes-misfit",
        "weights of a model with 5 input features, config with 3",
        "CheckpointError",
        r"do not fit the model",
        _shapes_misfit,
        "header-vs-data",
    ),
    Case(
        "pickle-pt",
        "an encoder weights file saved with torch.save (.pt, a pickle)",
        "UntrustedFileError",
        r"pickle-based .*refused.*trust_pickle",
        _pickle_pt,
        "wrong-magic",
    ),
    Case(
        "pickle-renamed",
        "a torch.save pickle renamed to .safetensors",
        "UntrustedFileError",
        r"pickle-based .*refused",
        _pickle_renamed,
        "wrong-magic",
    ),
    Case(
        "malicious-pickle",
        "pytorch_model.bin whose pickle calls builtins.exec on load (never run)",
        "UntrustedFileError",
        r"pickle-based .*refused",
        _malicious_pickle,
        "other",
    ),
    Case(
        "not-weights",
        "a gzip stream named weights.pt.gz",
        "CheckpointError",
        r"not a safetensors file",
        _not_weights,
        "unsupported-compression",
    ),
]
