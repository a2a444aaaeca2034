"""Guarded imports of optional dependencies that fail only when used, naming the extra.

Examples:
    >>> from biomm.utils.optional import optional_import
    >>> mod, ok = optional_import("json")
    >>> ok
    True
    >>> dask, ok = optional_import("surely_not_a_module_xyz", extra="distributed")
    >>> ok
    False
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from biomm.errors import MissingDependencyError


class _MissingModule:
    """Stand-in for a module that failed to import; raises on first attribute access."""

    def __init__(self, name: str, hint: str, cause: BaseException) -> None:
        self._name = name
        self._hint = hint
        self._cause = cause

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise MissingDependencyError(
            f"optional dependency {self._name!r} is required for this feature but could not be "
            f"imported ({self._cause}); install it with: {self._hint}"
        ) from self._cause

    def __bool__(self) -> bool:
        return False


def optional_import(
    module: str, *, extra: str | None = None, package: str | None = None
) -> tuple[ModuleType | Any, bool]:
    """Import ``module`` if possible; otherwise return a stand-in that raises when used.

    Args:
        module: Dotted module name, e.g. ``"dask.distributed"``.
        extra: The ``biomm`` extra that provides it, used in the install hint.
        package: The PyPI package name when it differs from the module name.

    Returns:
        ``(module_or_stand_in, available)``.

    Examples:
        >>> mod, ok = optional_import("not_installed_pkg", package="not-installed-pkg")
        >>> mod.anything
        Traceback (most recent call last):
        ...
        biomm.errors.MissingDependencyError: optional dependency 'not_installed_pkg' ...
    """
    try:
        return importlib.import_module(module), True
    except ImportError as exc:
        hint = f"pip install 'biomm[{extra}]'" if extra else f"pip install {package or module}"
        return _MissingModule(module, hint, exc), False
