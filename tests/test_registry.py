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


def test_project_registries_are_distinct_and_named():
    from biomm.registries import ALL_REGISTRIES

    assert len({id(r) for r in ALL_REGISTRIES.values()}) == len(ALL_REGISTRIES)
    for kind, registry in ALL_REGISTRIES.items():
        assert registry.kind == kind


def test_every_registered_factory_is_documented():
    """Contract over every registered implementation (grows as encoders, fusions land)."""
    import biomm.ecg.experiment
    import biomm.encoders
    import biomm.io.wsi
    import biomm.pipeline.steps  # noqa: F401  (registers the pipeline step kinds)
    from biomm.registries import ALL_REGISTRIES

    for registry in ALL_REGISTRIES.values():
        for name in registry.names():
            factory = registry.get(name)
            assert callable(factory)
            assert (factory.__doc__ or "").strip(), f"{registry.kind} {name!r} has no docstring"
            assert "Examples:" in factory.__doc__, f"{registry.kind} {name!r} lacks an example"


def test_every_registered_prompt_set_is_valid():
    """Contract over the prompt-set registry: each builds a valid set with prompts per class."""
    from biomm.registries import PROMPT_SETS
    from biomm.zeroshot.prompts import get_prompt_set

    assert PROMPT_SETS.names(), "no prompt set registered"
    for name in PROMPT_SETS.names():
        prompts = get_prompt_set(name)
        described = prompts.descriptions("knowledge")
        assert len(prompts.class_names) >= 2
        assert all(described[c] for c in prompts.class_names), f"{name}: a class lacks knowledge"
