"""One generic name → factory registry, used for encoders, fusions, heads and prompt sets.

Examples:
    >>> from biomm.registry import Registry
    >>> fusions = Registry("fusion")
    >>> @fusions.register("concat")
    ... def make_concat(dim: int = 8) -> dict:
    ...     return {"kind": "concat", "dim": dim}
    >>> fusions.build("concat", dim=4)
    {'kind': 'concat', 'dim': 4}
    >>> fusions.names()
    ['concat']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from biomm.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to factories (classes or functions) of one kind of object.

    Names are case-sensitive, unique and have no aliases: one name per concept.

    Args:
        kind: What the registry holds, used in messages (``"encoder"``, ``"fusion"``, …).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory under ``name``.

        Args:
            name: The unique name users pass to :meth:`build`.

        Returns:
            A decorator that returns the factory unchanged.

        Raises:
            RegistryError: If ``name`` is empty or already registered.

        Examples:
            >>> heads = Registry("head")
            >>> @heads.register("linear")
            ... class Linear:
            ...     pass
            >>> "linear" in heads
            True
        """
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory)
            return factory

        return decorator

    def add(self, name: str, factory: Callable[..., T]) -> None:
        """Register ``factory`` under ``name`` without a decorator.

        Examples:
            >>> r = Registry("prompt set")
            >>> r.add("basic", dict)
            >>> r.get("basic") is dict
            True
        """
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._factories:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered "
                f"(by {_describe(self._factories[name])})"
            )
        if not callable(factory):
            raise RegistryError(f"{self.kind} {name!r}: factory must be callable, got {factory!r}")
        self._factories[name] = factory

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered under ``name``.

        Raises:
            RegistryError: Naming the unknown name, the close matches and every known name.

        Examples:
            >>> r = Registry("encoder")
            >>> r.get("nope")
            Traceback (most recent call last):
            ...
            biomm.errors.RegistryError: unknown encoder 'nope'; registered: (none)
        """
        try:
            return self._factories[name]
        except KeyError:
            known = sorted(self._factories)
            close = difflib.get_close_matches(str(name), known, n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            listing = ", ".join(known) if known else "(none)"
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint}; registered: {listing}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> T:
        """Create the object registered under ``name`` with keyword arguments.

        Examples:
            >>> r = Registry("thing")
            >>> r.add("pair", lambda a=1, b=2: (a, b))
            >>> r.build("pair", b=5)
            (1, 5)
        """
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Sorted list of registered names.

        Examples:
            >>> Registry("x").names()
            []
        """
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._factories)

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, names={self.names()})"


def _describe(factory: Callable[..., Any]) -> str:
    module = getattr(factory, "__module__", "?")
    qualname = getattr(factory, "__qualname__", repr(factory))
    return f"{module}.{qualname}"
