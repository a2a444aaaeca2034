"""Pipelines shipped inside the package (``biomm demo`` runs ``demo.yaml``).

The files are byte-identical copies of the ones in the repository's ``pipelines/`` folder (a
test checks it), so an installed biomm has them too.

Examples:
    >>> builtin_pipeline("demo").name
    'demo.yaml'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from biomm.errors import ConfigError

#: Pipelines shipped with the package.
BUILTIN_PIPELINES = ("demo",)


def builtin_pipeline(name: str) -> Path:
    """Path of a pipeline YAML shipped with biomm.

    Raises:
        ConfigError: On an unknown name.

    Examples:
        >>> builtin_pipeline("demo").is_file()
        True
    """
    if name not in BUILTIN_PIPELINES:
        raise ConfigError(f"no built-in pipeline {name!r}; choose one of {BUILTIN_PIPELINES}")
    return Path(str(resources.files(__package__) / f"{name}.yaml"))


__all__ = ["BUILTIN_PIPELINES", "builtin_pipeline"]
