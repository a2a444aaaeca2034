"""Reading YAML configs into pydantic models, with errors that name the file.

The steps every ``from_yaml`` shares: read a YAML mapping, resolve relative paths against the
config's folder, validate, and turn a pydantic ``ValidationError`` into one
:class:`~biomm.errors.ConfigError` listing every offending key.

Examples:
    >>> import tempfile
    >>> class Run(BaseModel):
    ...     out: Path
    ...     epochs: int = 1
    >>> path = Path(tempfile.mkdtemp()) / "run.yaml"
    >>> _ = path.write_text("out: run\\nepochs: 3\\n")
    >>> data = resolve_paths(read_yaml_mapping(path), ("out",), path.parent)
    >>> cfg = validate_config(Run, data, path)
    >>> cfg.epochs, cfg.out == path.parent / "run"
    (3, True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from biomm.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file that must hold a mapping; an empty file gives ``{}``.

    Raises:
        ConfigError: Naming the file when it is missing, not valid YAML or not a mapping.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = path.write_text("epochs: 3\\n")
        >>> read_yaml_mapping(path)
        {'epochs': 3}
        >>> _ = path.write_text("- a\\n- b\\n")
        >>> read_yaml_mapping(path)
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: ...c.yaml: a config must be a mapping of keys to values
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError("config file not found", path=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", path=path)
    return data


def resolve_paths(
    data: Mapping[str, Any], keys: Iterable[str], base: str | os.PathLike[str]
) -> dict[str, Any]:
    """A copy of ``data`` whose relative paths under ``keys`` are joined to ``base``.

    Absent keys, ``None`` values and absolute paths are left as they are; resolved paths are
    returned as text (pydantic turns them into :class:`~pathlib.Path` when validating).

    Examples:
        >>> resolve_paths({"out": "run", "store": None, "cohort": "/d/c.csv"},
        ...     ("out", "store", "cohort", "schema"), "/cfg")
        {'out': '/cfg/run', 'store': None, 'cohort': '/d/c.csv'}
    """
    resolved = dict(data)
    for key in keys:
        value = resolved.get(key)
        if value is not None and not Path(str(value)).is_absolute():
            resolved[key] = str(Path(base) / str(value))
    return resolved


def validation_message(exc: Exception) -> str:
    """One line for an invalid config: ``loc: msg; loc: msg`` for a pydantic error.

    Any other exception gives its ``str``.

    Examples:
        >>> from pydantic import BaseModel
        >>> class Spec(BaseModel):
        ...     epochs: int
        ...     lr: float
        >>> try:
        ...     Spec.model_validate({"epochs": "many"})
        ... except ValidationError as exc:
        ...     print(validation_message(exc))
        epochs: Input should be a valid integer, unable to parse string as an integer; lr: Field
        required
        >>> validation_message(ValueError("bad value"))
        'bad value'
    """
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)


def validate_config(
    model_cls: type[ModelT], data: Any, path: str | os.PathLike[str] | None = None
) -> ModelT:
    """``model_cls.model_validate(data)``, with every problem in one ConfigError naming ``path``.

    Raises:
        ConfigError: Listing each invalid key as ``loc: msg``.

    Examples:
        >>> from pydantic import BaseModel
        >>> class Spec(BaseModel):
        ...     epochs: int = 1
        >>> validate_config(Spec, {"epochs": 2}).epochs
        2
        >>> validate_config(Spec, {"epochs": "x"}, "run.yaml")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: run.yaml: epochs: Input should be a valid integer, ...
    """
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc), path=path) from None
