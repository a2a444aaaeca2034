from __future__ import annotations

import pytest

from biomm import Registry
from biomm.errors import RegistryError


def test_register_build_and_list():
    registry: Registry[dict] = Registry("encoder")

    @registry.register("tiny")
    def make_tiny(dim: int = 4) -> dict:
        return {"dim": dim}

    assert registry.build("tiny", dim=8) == {"dim": 8}
    assert registry.names() == ["tiny"] and "tiny" in registry and len(registry) == 1
    assert list(registry) == ["tiny"]


def test_duplicate_and_unknown_names():
    registry: Registry[object] = Registry("fusion")
    registry.add("concat", object)
    with pytest.raises(RegistryError, match="already registered"):
        registry.add("concat", object)
    with pytest.raises(RegistryError, match="did you mean 'concat'"):
        registry.get("concta")
    with pytest.raises(RegistryError, match="non-empty"):
        registry.register("  ")
    with pytest.raises(RegistryError, match="callable"):
        registry.add("x", 3)  # type: ignore[arg-type]
