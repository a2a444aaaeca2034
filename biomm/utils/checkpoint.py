"""Checkpoint folders: ``config.json`` (what rebuilds the model) next to ``model.safetensors``.

Examples:
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / CONFIG_FILE).write_text(json.dumps({"kind": "demo", "model": {}}))
    >>> _ = (folder / WEIGHTS_FILE).write_bytes(b"")
    >>> read_checkpoint_config(folder, "demo")["model"]
    {}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from biomm.errors import InputError

#: The checkpoint's config file.
CONFIG_FILE = "config.json"
#: The checkpoint's weights file.
WEIGHTS_FILE = "model.safetensors"


def read_checkpoint_config(folder: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, checked to be of ``kind``.

    Args:
        folder: The checkpoint folder.
        kind: The ``kind`` value the config must hold (e.g. ``biomm-merl``).

    Raises:
        InputError: Naming the folder when ``config.json`` or ``model.safetensors`` is absent,
            or naming ``config.json`` when it is not JSON or its ``kind`` is not ``kind``.

    Examples:
        >>> import json, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> read_checkpoint_config(folder, "demo")
        Traceback (most recent call last):
        ...
        biomm.errors.InputError: ...: not a model checkpoint (needs config.json and ...)
        >>> _ = (folder / CONFIG_FILE).write_text(json.dumps({"kind": "other"}))
        >>> _ = (folder / WEIGHTS_FILE).write_bytes(b"")
        >>> read_checkpoint_config(folder, "demo")
        Traceback (most recent call last):
        ...
        biomm.errors.InputError: ...config.json: config.json is not a demo checkpoint
    """
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise InputError(
            f"not a model checkpoint (needs {CONFIG_FILE} and {WEIGHTS_FILE})", path=folder
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{CONFIG_FILE} is not valid JSON ({exc})", path=config_path) from None
    if not isinstance(config, dict) or config.get("kind") != kind:
        raise InputError(f"{CONFIG_FILE} is not a {kind} checkpoint", path=config_path)
    return config
