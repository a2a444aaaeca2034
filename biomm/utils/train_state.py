"""Resumable training state: weights, optimizer, scheduler, scaler and RNG, without pickle.

A training loop calls :func:`save_train_state` at the end of every epoch and
:func:`load_train_state` at start: a run killed at any moment resumes from its last finished
epoch and ends with the same weights, bit for bit on the same machine, as a run never killed.
Tensors go to ``state.safetensors``, everything else to ``state.json``, written last and
holding the SHA-256 of the tensors: a pair torn by a kill (new tensors, old JSON) is detected
and ignored, so the run restarts from the previous consistent state or from scratch.

Examples:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.AdamW(net.parameters(), lr=0.1)
    >>> net(torch.ones(1, 2)).sum().backward(); opt.step()
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = save_train_state(folder, net.state_dict(), opt, extra={"epoch": 1})
    >>> after = torch.rand(1)
    >>> net2 = torch.nn.Linear(2, 1); opt2 = torch.optim.AdamW(net2.parameters(), lr=0.1)
    >>> weights, extra = load_train_state(folder, opt2)
    >>> extra["epoch"], bool(torch.rand(1) == after)  # the RNG continues where it was saved
    (1, True)
"""

from __future__ import annotations

import json
import random
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomm.utils.atomic import atomic_path, atomic_write_text
from biomm.utils.checkpoint import sha256_file

TENSORS_FILE = "state.safetensors"
META_FILE = "state.json"
KIND = "biomm-train-state"


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The global random states (torch CPU/CUDA, NumPy, Python) as tensors and JSON.

    Examples:
        >>> tensors, meta = rng_state()
        >>> sorted(tensors)[:2], meta["numpy"][0]
        (['rng.numpy', 'rng.torch'], 'MT19937')
    """
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors = {
        "rng.torch": torch.get_rng_state(),
        "rng.numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
    }
    if torch.cuda.is_available():
        for k, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{k}"] = state
    version, internal, gauss_next = random.getstate()
    meta = {
        "numpy": [name, int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured.

    Examples:
        >>> saved = rng_state(); a = torch.rand(1); set_rng_state(*saved)
        >>> bool(torch.rand(1) == a)
        True
    """
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k[9:]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k].to(torch.uint8) for k in cuda])
    name, pos, has_gauss, gauss = meta["numpy"]
    keys = tensors["rng.numpy"].numpy().astype(np.uint32)
    np.random.set_state((name, keys, pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_train_state(
    folder: str | PathLike[str],
    model_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: Any = None,
    scaler: Any = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the state to resume training from (see the module docs); returns ``folder``.

    Args:
        folder: Where ``state.safetensors`` and ``state.json`` go (created).
        model_state: The weights to restore (e.g. ``model.state_dict()``).
        optimizer: Its state (moments, step counts) and parameter groups are saved.
        scheduler: A learning-rate scheduler, if any.
        scaler: A ``torch.amp.GradScaler``, if any.
        extra: JSON-ready values (epoch, history, best score, the run's config).

    Examples:
        >>> save_train_state.__name__  # see the module example
        'save_train_state'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng_tensors, rng_meta = rng_state()
    opt_tensors, opt_meta = _split_optimizer(optimizer.state_dict())
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    tensors |= opt_tensors | rng_tensors
    from safetensors.torch import save_file

    with atomic_path(folder / TENSORS_FILE) as tmp:
        save_file(tensors, str(tmp))
    meta = {
        "kind": KIND,
        "tensors_sha256": sha256_file(folder / TENSORS_FILE),
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_meta,
        "extra": dict(extra or {}),
    }
    atomic_write_text(folder / META_FILE, json.dumps(meta, default=float))
    return folder


def load_train_state(
    folder: str | PathLike[str],
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: Any = None,
    scaler: Any = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Restore optimizer, scheduler, scaler and RNG; return ``(model_state, extra)``.

    Returns None (nothing restored) when there is no complete, consistent state in
    ``folder``; the caller then starts from scratch.

    Examples:
        >>> import tempfile
        >>> net = torch.nn.Linear(1, 1)
        >>> load_train_state(tempfile.mkdtemp(), torch.optim.SGD(net.parameters(), lr=1))
    """
    folder = Path(folder)
    meta_path, tensors_path = folder / META_FILE, folder / TENSORS_FILE
    if not (meta_path.is_file() and tensors_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if meta.get("kind") != KIND or meta.get("tensors_sha256") != sha256_file(tensors_path):
        return None  # torn by a kill between the two renames
    from safetensors.torch import load_file

    tensors = load_file(str(tensors_path))
    optimizer.load_state_dict(_join_optimizer(tensors, meta["optimizer"]))
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    set_rng_state(tensors, meta["rng"])
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    return model_state, meta["extra"]


def peek_train_state(folder: str | PathLike[str]) -> dict[str, Any] | None:
    """The ``extra`` values of a saved state, without restoring anything (None if absent).

    Examples:
        >>> import tempfile
        >>> peek_train_state(tempfile.mkdtemp()) is None
        True
    """
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("extra") if meta.get("kind") == KIND else None


__all__ = [
    "load_train_state",
    "peek_train_state",
    "rng_state",
    "save_train_state",
    "set_rng_state",
]
