"""Safe model files: checkpoint folders, safetensors checks, pickle refusal and weights hashes.

A biomm checkpoint is a folder with ``config.json`` (what rebuilds the model) next to
``model.safetensors`` (the tensors). :func:`save_checkpoint_folder` writes both atomically and
records the weights' SHA-256 in the config (``weights_sha256``); :func:`load_checkpoint_folder`
checks the config, verifies the hash, checks the safetensors header against the file before
anything is allocated, and refuses non-finite weights.

Single weights files (an encoder's ``weights=``) are read with :func:`read_weights_file`:
safetensors always; a pickle-based file (``.pt``/``.pth``/``.bin``/``.ckpt``/``.pkl``, told
apart by its bytes, not only its name) only with ``trust_pickle=True``, and even then with
``torch.load(weights_only=True)``. Unpickling can run code chosen by whoever wrote the file.

Examples:
    >>> import tempfile, torch
    >>> folder = save_checkpoint_folder(tempfile.mkdtemp(), {"w": torch.ones(2)}, {"kind": "demo"})
    >>> config, state = load_checkpoint_folder(folder, "demo")
    >>> len(config[HASH_KEY]), state["w"].tolist()
    (64, [1.0, 1.0])
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from biomm.errors import CheckpointError, UntrustedFileError

#: The checkpoint's config file.
CONFIG_FILE = "config.json"
#: The checkpoint's weights file.
WEIGHTS_FILE = "model.safetensors"
#: Config key holding the SHA-256 of ``model.safetensors``.
HASH_KEY = "weights_sha256"
#: File name endings of pickle-based weight files.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar")
#: Largest safetensors JSON header accepted (the format's own limit is 100 MB).
MAX_HEADER_BYTES = 100_000_000

_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in chunks.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_format(path: str | os.PathLike[str]) -> str:
    """What a weights file is, judged by its bytes (and, for pickles, also by its name).

    Returns ``safetensors``, ``pickle`` (a pickle stream, PyTorch's legacy format), ``torch-zip``
    (PyTorch's zip format, whose ``data.pkl`` is a pickle), ``empty`` or ``unknown``. A file
    named like a pickle (:data:`PICKLE_SUFFIXES`) that is none of the others counts as
    ``pickle``: old pickle protocols have no magic number.

    Examples:
        >>> import tempfile, pathlib, pickle
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.bin"
        >>> _ = p.write_bytes(pickle.dumps({"a": 1}, protocol=2))
        >>> weights_format(p)
        'pickle'
        >>> _ = p.write_bytes(b"")
        >>> weights_format(p)
        'empty'
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return "empty"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                if any(n.endswith(".pkl") for n in archive.namelist()):
                    return "torch-zip"
        except (zipfile.BadZipFile, OSError, ValueError):
            pass
        return "torch-zip" if path.suffix.lower() in PICKLE_SUFFIXES else "unknown"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if path.suffix.lower() == ".safetensors":
        return "safetensors"  # damaged: the header check says how
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return "pickle"
    return "unknown"


def refuse_pickle(path: str | os.PathLike[str], what: str = "weights file") -> UntrustedFileError:
    """The error for a pickle-based file loaded without the trust flag (to be raised).

    Examples:
        >>> print(refuse_pickle("w.pt").reason.split(";")[0])
        pickle-based weights file refused: unpickling can run code chosen by whoever wrote it
    """
    return UntrustedFileError(
        f"pickle-based {what} refused: unpickling can run code chosen by whoever wrote it; "
        'convert it once to safetensors where you trust it (python -c "import torch; '
        "from safetensors.torch import save_file; "
        "save_file(torch.load('IN.pt', weights_only=True), 'OUT.safetensors')\"), "
        "or pass trust_pickle=true (CLI: --encoder-arg trust_pickle=true, --set "
        "trust_pickle=true for reports, --trust-pickle for wsi embed) if you trust its source",
        path=path,
    )


def check_safetensors(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a safetensors file's header against its size; return the tensor entries.

    Reads only the header: sizes, offsets and shapes are checked before any tensor is
    allocated, so a header claiming absurd sizes is refused at no cost.

    Raises:
        CheckpointError: Naming the file when it is empty, truncated, its header is not JSON,
            or a tensor's dtype, shape or offsets do not fit the file.

    Examples:
        >>> import tempfile, pathlib, torch
        >>> from safetensors.torch import save_file
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> save_file({"w": torch.zeros(2, 3)}, str(p))
        >>> check_safetensors(p)["w"]["shape"]
        [2, 3]
        >>> _ = p.write_bytes(p.read_bytes()[:-4])
        >>> check_safetensors(p)
        Traceback (most recent call last):
        ...
        biomm.errors.CheckpointError: ...w.safetensors: tensor 'w': ... past the end ...
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError("weights file is empty (0 bytes)", path=path)
    if size < 8:
        raise CheckpointError(f"truncated safetensors file ({size} bytes, no header)", path=path)
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise CheckpointError(
                f"safetensors header claims {n} bytes but the file has {size - 8} after the "
                "length field (truncated or not a safetensors file)",
                path=path,
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise CheckpointError(f"safetensors header is not valid JSON ({exc})", path=path) from None
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object", path=path)
    data_size = size - 8 - n
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    for name, entry in entries.items():
        _check_entry(path, name, entry, data_size)
    return entries


def _check_entry(path: Path, name: str, entry: Any, data_size: int) -> None:
    if not isinstance(entry, dict):
        raise CheckpointError(f"tensor {name!r}: header entry is not an object", path=path)
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPE_BYTES:
        raise CheckpointError(f"tensor {name!r}: unknown dtype {dtype!r}", path=path)
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)) or not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and o >= 0 for o in offsets)
    ):
        raise CheckpointError(
            f"tensor {name!r}: shape {shape!r} / data_offsets {offsets!r} are not "
            "non-negative integers",
            path=path,
        )
    begin, end = offsets
    if begin > end or end > data_size:
        raise CheckpointError(
            f"tensor {name!r}: data_offsets [{begin}, {end}] lie past the end of the data "
            f"({data_size} bytes; truncated file?)",
            path=path,
        )
    needed = math.prod(shape) * _DTYPE_BYTES[dtype]
    if needed != end - begin:
        raise CheckpointError(
            f"tensor {name!r}: shape {shape} of {dtype} needs {needed} bytes but its "
            f"data_offsets span {end - begin}",
            path=path,
        )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"duplicated keys {duplicated}")
    return dict(pairs)


def check_finite(state: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Refuse weights holding NaN or infinity (they would give NaN embeddings for a cohort).

    Raises:
        CheckpointError: Naming the file and the first non-finite tensor.

    Examples:
        >>> check_finite({"w": torch.tensor([1.0, float("nan")])}, "w.safetensors")
        Traceback (most recent call last):
        ...
        biomm.errors.CheckpointError: w.safetensors: tensor 'w' holds 1 NaN/inf value(s) ...
    """
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise CheckpointError(
                    f"tensor {name!r} holds {bad} NaN/inf value(s) (corrupt or diverged weights)",
                    path=path,
                )


def read_safetensors(
    path: str | os.PathLike[str], *, device: str = "cpu", expected_sha256: str | None = None
) -> dict[str, torch.Tensor]:
    """Load a safetensors file after checking its header, its hash (if given) and finiteness.

    Raises:
        CheckpointError: Naming the file on any damage, a hash mismatch or NaN/inf weights.

    Examples:
        >>> import tempfile, pathlib
        >>> from safetensors.torch import save_file
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> save_file({"w": torch.ones(2)}, str(p))
        >>> read_safetensors(p)["w"].tolist()
        [1.0, 1.0]
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file not found", path=path)
    check_safetensors(path)
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise CheckpointError(
                f"weights hash mismatch: the file's SHA-256 is {actual[:16]}…, the config "
                f"records {str(expected_sha256)[:16]}… (weights were changed after saving, or "
                "the file is corrupt)",
                path=path,
            )
    try:
        state = load_file(str(path), device=device)
    except Exception as exc:  # safetensors raises its own error types on damaged files
        raise CheckpointError(
            f"cannot load safetensors weights ({type(exc).__name__}: {exc})", path=path
        ) from None
    check_finite(state, path)
    return state


def read_weights_file(
    path: str | os.PathLike[str], *, trust_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """A state dict from a weights file: safetensors, or a pickle only when trusted.

    Args:
        path: The weights file.
        trust_pickle: Allow a pickle-based file (read with ``torch.load(weights_only=True)``).

    Raises:
        UntrustedFileError: For a pickle-based file without ``trust_pickle``.
        CheckpointError: Naming the file when it is missing, damaged, holds no state dict
            or holds NaN/inf weights.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"w": torch.ones(1)}, p)
        >>> read_weights_file(p)
        Traceback (most recent call last):
        ...
        biomm.errors.UntrustedFileError: ...w.pt: pickle-based weights file refused: ...
        >>> read_weights_file(p, trust_pickle=True)["w"].tolist()
        [1.0]
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file not found", path=path)
    kind = weights_format(path)
    if kind == "empty":
        raise CheckpointError("weights file is empty (0 bytes)", path=path)
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "unknown" and not trust_pickle:
        raise CheckpointError(
            "not a safetensors file (nor a recognised PyTorch file); weights must be .safetensors",
            path=path,
        )
    if not trust_pickle:
        raise refuse_pickle(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged or non-tensor pickles raise many types
        raise CheckpointError(
            f"cannot load weights ({type(exc).__name__}: {str(exc)[:300]})", path=path
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"weights file holds a {type(state).__name__}, not a state dict of tensors",
            path=path,
        )
    check_finite(state, path)
    return state


def read_checkpoint_config(folder: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, checked to be of ``kind``.

    Args:
        folder: The checkpoint folder.
        kind: The ``kind`` value the config must hold (e.g. ``biomm-merl``).

    Raises:
        CheckpointError: Naming the folder when ``config.json`` or ``model.safetensors`` is
            absent, or naming ``config.json`` when it is not UTF-8 JSON, not an object, has
            duplicated keys, or its ``kind`` is not ``kind``.

    Examples:
        >>> import json, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> read_checkpoint_config(folder, "demo")
        Traceback (most recent call last):
        ...
        biomm.errors.CheckpointError: ...: not a model checkpoint (needs config.json and ...)
        >>> _ = (folder / CONFIG_FILE).write_text(json.dumps({"kind": "other"}))
        >>> _ = (folder / WEIGHTS_FILE).write_bytes(b"")
        >>> read_checkpoint_config(folder, "demo")
        Traceback (most recent call last):
        ...
        biomm.errors.CheckpointError: ...config.json: config.json is not a demo checkpoint ...
    """
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(
            f"not a model checkpoint (needs {CONFIG_FILE} and {WEIGHTS_FILE})", path=folder
        )
    try:
        config = json.loads(
            config_path.read_bytes().decode("utf-8"), object_pairs_hook=_unique_keys
        )
    except UnicodeDecodeError as exc:
        reason = f"{CONFIG_FILE} is not UTF-8 text ({exc})"
        raise CheckpointError(reason, path=config_path) from None
    except ValueError as exc:  # JSONDecodeError or duplicated keys
        reason = f"{CONFIG_FILE} is not valid JSON ({exc})"
        raise CheckpointError(reason, path=config_path) from None
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{CONFIG_FILE} is not a JSON object (got {type(config).__name__})", path=config_path
        )
    if config.get("kind") != kind:
        raise CheckpointError(
            f"{CONFIG_FILE} is not a {kind} checkpoint (kind {config.get('kind')!r})",
            path=config_path,
        )
    recorded = config.get(HASH_KEY)
    if recorded is not None and not (isinstance(recorded, str) and len(recorded) == 64):
        raise CheckpointError(
            f"{CONFIG_FILE}: {HASH_KEY} must be a 64-character hex string, got {recorded!r}",
            path=config_path,
        )
    return config


def save_checkpoint_folder(
    folder: str | os.PathLike[str],
    state: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    *,
    json_default: Callable[[Any], Any] = str,
) -> Path:
    """Write ``model.safetensors`` then ``config.json`` (with ``weights_sha256``), atomically.

    Args:
        folder: The checkpoint folder (created).
        state: Tensors to save (moved to CPU, made contiguous).
        config: The config; must hold ``kind``. ``weights_sha256`` is added.
        json_default: ``json.dumps`` fallback for values that are not JSON.

    Examples:
        >>> import tempfile
        >>> folder = save_checkpoint_folder(tempfile.mkdtemp(), {"w": torch.ones(1)},
        ...                                 {"kind": "demo"})
        >>> sorted(p.name for p in folder.iterdir())
        ['config.json', 'model.safetensors']
    """
    from safetensors.torch import save_file

    from biomm.utils.atomic import atomic_path, atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp))
        digest = sha256_file(tmp)
    full = {**dict(config), HASH_KEY: digest}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(full, indent=2, default=json_default))
    return folder


def load_checkpoint_folder(
    folder: str | os.PathLike[str], kind: str, *, device: str = "cpu"
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Config and tensors of a checkpoint folder, with the weights hash verified.

    A config without ``weights_sha256`` (older checkpoints) still loads; the returned config
    then holds the hash computed now, so outputs can record it either way.

    Raises:
        CheckpointError: On a bad config (see :func:`read_checkpoint_config`), a damaged
            weights file, a hash mismatch or NaN/inf weights.

    Examples:
        >>> import tempfile
        >>> folder = save_checkpoint_folder(tempfile.mkdtemp(), {"w": torch.ones(1)},
        ...                                 {"kind": "demo"})
        >>> _ = (folder / WEIGHTS_FILE).write_bytes((folder / WEIGHTS_FILE).read_bytes())
        >>> load_checkpoint_folder(folder, "demo")[1]["w"].tolist()
        [1.0]
    """
    folder = Path(folder)
    config = read_checkpoint_config(folder, kind)
    weights = folder / WEIGHTS_FILE
    recorded = config.get(HASH_KEY)
    state = read_safetensors(weights, device=device, expected_sha256=recorded)
    if recorded is None:
        config[HASH_KEY] = sha256_file(weights)
    return config, state


def checkpoint_sha256(folder: str | os.PathLike[str]) -> str:
    """The SHA-256 of a checkpoint folder's ``model.safetensors`` (for outputs' provenance).

    Examples:
        >>> import tempfile
        >>> folder = save_checkpoint_folder(tempfile.mkdtemp(), {"w": torch.ones(1)},
        ...                                 {"kind": "demo"})
        >>> checkpoint_sha256(folder) == json.loads((folder / CONFIG_FILE).read_text())[HASH_KEY]
        True
    """
    return sha256_file(Path(folder) / WEIGHTS_FILE)


__all__ = [
    "CONFIG_FILE",
    "HASH_KEY",
    "PICKLE_SUFFIXES",
    "WEIGHTS_FILE",
    "check_finite",
    "check_safetensors",
    "checkpoint_sha256",
    "load_checkpoint_folder",
    "read_checkpoint_config",
    "read_safetensors",
    "read_weights_file",
    "refuse_pickle",
    "save_checkpoint_folder",
    "sha256_file",
    "weights_format",
]
