"""Prompt sets: class names × templates, plus knowledge-enhanced descriptions per class.

A prompt set is data (YAML or a registered name), shared by every modality::

    templates: ["{}", "ECG showing {}"]
    knowledge: ptbxl_scp          # optional packaged or local knowledge file
    expand: mypackage.llm:expand  # optional callable(name, descriptions) -> more descriptions
    classes:
      - name: atrial fibrillation
        label: AFIB               # manifest column with 0/1 labels (optional)
        code: AFIB                # knowledge entry (optional)
        descriptions: ["irregular rhythm without P waves"]
      - SBRAD                     # a bare code (with knowledge) or class name

Two prompt modes: ``names`` uses only the templates filled with class names; ``knowledge``
adds the class's descriptions, its knowledge-file entries and the expander's output (the
CKEPE idea from MERL: clinical knowledge at test time), each written through
``knowledge_template`` (default ``"{name}: {text}"``, so the class name stays in every
knowledge prompt; ``"{text}"`` uses the descriptions alone).

Examples:
    >>> spec = {"classes": ["normal", {"name": "af", "descriptions": ["x"]}]}
    >>> ps = PromptSet.model_validate(spec)
    >>> ps.class_names, ps.descriptions("knowledge")
    (['normal', 'af'], {'normal': [], 'af': ['af: x']})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from biomm.errors import ConfigError, InputError
from biomm.registries import PROMPT_SETS
from biomm.utils.config import validation_message
from biomm.zeroshot.classifier import TextEncoderFn, ZeroShotClassifier

PromptMode = Literal["names", "knowledge"]
Expander = Callable[[str, list[str]], Sequence[str]]


class ClassPrompt(BaseModel):
    """One class: its name, optional label column, knowledge code and descriptions."""

    model_config = ConfigDict(extra="forbid")
    name: str
    label: str | None = None
    code: str | None = None
    descriptions: list[str] = Field(default_factory=list)


class PromptSet(BaseModel):
    """Classes, templates and knowledge for zero-shot classification.

    Examples:
        >>> PromptSet(classes=[ClassPrompt(name="a")]).templates
        ['{}']
    """

    model_config = ConfigDict(extra="forbid")
    templates: list[str] = Field(default_factory=lambda: ["{}"])
    knowledge_template: str = "{name}: {text}"
    knowledge: str | None = None
    expand: str | None = None
    classes: list[ClassPrompt]

    @field_validator("classes", mode="before")
    @classmethod
    def _bare_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("knowledge_template")
    @classmethod
    def _knowledge_placeholder(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError(f"knowledge_template needs a '{{text}}' placeholder: {value!r}")
        try:
            value.format(name="", text="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"knowledge_template {value!r}: only {{name}} and {{text}}") from exc
        return value

    @field_validator("templates")
    @classmethod
    def _placeholders(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if "{}" not in t]
        if bad or not value:
            raise ValueError(f"every template needs a '{{}}' for the class name: {bad or value}")
        for template in value:
            try:
                template.format("x")
            except (IndexError, KeyError, ValueError) as exc:
                raise ValueError(
                    f"template {template!r} must have exactly one '{{}}' and no other fields "
                    f"({type(exc).__name__}: {exc})"
                ) from None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> PromptSet:
        names = [c.name for c in self.classes]
        if not names:
            raise ValueError("a prompt set needs at least one class")
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"class names repeat: {repeated}")
        return self

    @property
    def class_names(self) -> list[str]:
        """Class names in output order."""
        return [c.name for c in self.classes]

    @property
    def label_columns(self) -> dict[str, str]:
        """Class name → manifest label column (classes without one are left out)."""
        return {c.name: c.label for c in self.classes if c.label}

    def descriptions(
        self, mode: PromptMode = "knowledge", expander: Expander | None = None
    ) -> dict[str, list[str]]:
        """Extra texts per class for ``mode`` (empty lists in ``names`` mode).

        Raises:
            InputError: When a class's knowledge code is unknown.

        Examples:
            >>> ps = PromptSet(classes=[ClassPrompt(name="a", descriptions=["d"])],
            ...                knowledge_template="{text}")
            >>> ps.descriptions("names"), ps.descriptions("knowledge", lambda n, d: [n + "!"])
            ({'a': []}, {'a': ['d', 'a!']})
        """
        if mode == "names":
            return {c.name: [] for c in self.classes}
        knowledge = _load_knowledge(self.knowledge) if self.knowledge else None
        expander = expander or (load_callable(self.expand) if self.expand else None)
        out = {}
        for c in self.classes:
            texts = list(c.descriptions)
            if knowledge is not None and c.code:
                texts += list(knowledge.descriptions([c.code])[c.code])
            if expander is not None:
                texts += [str(t) for t in expander(c.name, list(texts))]
            texts = [t.strip() for t in texts if t and t.strip()]
            texts = [self.knowledge_template.format(name=c.name, text=t) for t in texts]
            out[c.name] = list(dict.fromkeys(texts))
        return out

    def classifier(
        self,
        encode_text: TextEncoderFn,
        mode: PromptMode = "knowledge",
        *,
        expander: Expander | None = None,
        temperature: float = 100.0,
    ) -> ZeroShotClassifier:
        """A :class:`ZeroShotClassifier` for this prompt set and mode.

        Examples:
            >>> import torch
            >>> enc = lambda texts: torch.tensor([[1.0, float("b" in t)] for t in texts])
            >>> ps = PromptSet(classes=[ClassPrompt(name="a"), ClassPrompt(name="b")])
            >>> ps.classifier(enc, "names").predict(torch.tensor([[0.0, 1.0]]))
            ['b']
        """
        return ZeroShotClassifier(
            encode_text,
            self.class_names,
            self.templates,
            self.descriptions(mode, expander),
            temperature=temperature,
        )

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> PromptSet:
        """Read a prompt set from YAML.

        Raises:
            ConfigError: Naming the file and the problem.

        Examples:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.yaml"
            >>> _ = p.write_text("classes: [normal, abnormal]\\n")
            >>> PromptSet.from_yaml(p).class_names
            ['normal', 'abnormal']
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError("prompt set file not found", path=path) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", path=path) from None
        if isinstance(data, list):
            data = {"classes": data}
        try:
            return _resolve_codes(cls.model_validate(data))
        except (ValidationError, ValueError) as exc:
            raise ConfigError(validation_message(exc), path=path) from None


def _resolve_codes(ps: PromptSet) -> PromptSet:
    """Bare class entries that are knowledge codes get the code and the readable name."""
    if not ps.knowledge:
        return ps
    knowledge = _load_knowledge(ps.knowledge)
    classes = []
    for c in ps.classes:
        if c.code is None and c.name in knowledge.entries and not c.descriptions:
            entry = knowledge.entries[c.name]
            c = ClassPrompt(name=entry.name, label=c.label or c.name, code=c.name)
        classes.append(c)
    return ps.model_copy(update={"classes": classes})


def _load_knowledge(spec: str) -> Any:
    from biomm.zeroshot.knowledge import load_knowledge

    return load_knowledge(spec)


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function``.

    Raises:
        ConfigError: When the module or attribute cannot be imported.

    Examples:
        >>> load_callable("os.path:basename")("/a/b")
        'b'
    """
    module, sep, attr = spec.partition(":")
    if not sep:
        raise ConfigError(f"expected 'module:function', got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {spec!r}: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"{spec!r} is not callable")
    return fn


def _register_builtin_prompt_sets() -> None:
    """Import the modules that register prompt sets (kept lazy: they import modality code)."""
    import biomm.ecg.experiment
    import biomm.zeroshot.prompt_sets  # noqa: F401


def get_prompt_set(spec: str | PathLike[str] | dict[str, Any] | PromptSet) -> PromptSet:
    """A prompt set from a registered name, a YAML file, a dict or a :class:`PromptSet`.

    Raises:
        ConfigError: On an invalid file or dict; RegistryError on an unknown name.

    Examples:
        >>> get_prompt_set({"classes": ["x", "y"]}).class_names
        ['x', 'y']
    """
    if isinstance(spec, PromptSet):
        return spec
    if isinstance(spec, dict):
        try:
            return _resolve_codes(PromptSet.model_validate(spec))
        except (ValidationError, ValueError) as exc:
            raise ConfigError(validation_message(exc)) from None
    _register_builtin_prompt_sets()
    text = str(spec)
    if Path(text).suffix.lower() in (".yaml", ".yml", ".json") or Path(text).is_file():
        return PromptSet.from_yaml(text)
    if text not in PROMPT_SETS:
        raise InputError(
            f"{text!r} is neither a prompt set file nor a registered prompt set "
            f"({', '.join(PROMPT_SETS.names()) or 'none registered'})"
        )
    return get_prompt_set(PROMPT_SETS.build(text))
