"""References inside step params, replaced by paths when a step runs.

The forms are ``${steps.NAME}`` (a step's folder), ``${steps.NAME.OUTPUT}`` (a named output),
``${run}`` (the run folder) and ``${cohort}`` (the manifest the steps read). A reference may be
a whole value or part of a string such as ``"${run}/extra"``; ``$${`` writes a literal ``${``.

Examples:
    >>> refs = find_refs({"model": "${steps.pretrain.model}", "x": ["${run}/a"]})
    >>> [(key, ref.step, ref.output) for key, ref in refs]
    [('model', 'pretrain', 'model'), ('x.0', None, None)]
    >>> substitute({"a": "${run}/x", "b": "$${run}"}, lambda ref: "/r")
    {'a': '/r/x', 'b': '${run}'}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PATTERN = re.compile(r"(\$?)\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Ref:
    """One parsed reference.

    Attributes:
        text: The reference as written (``${steps.a.model}``).
        root: ``steps``, ``run`` or ``cohort``.
        step: The referenced step (``root == "steps"``).
        output: The step's named output, or None for its folder.
        error: Why the reference is malformed, or None.
    """

    text: str
    root: str
    step: str | None = None
    output: str | None = None
    error: str | None = None


def parse_ref(inner: str) -> Ref:
    """Parse the text between ``${`` and ``}``.

    Examples:
        >>> parse_ref("steps.wsi").step, parse_ref("cohort").root
        ('wsi', 'cohort')
        >>> print(parse_ref("step.wsi").error)
        unknown reference '${step.wsi}': use ${steps.NAME}, ${steps.NAME.OUTPUT}, ${run} or
        ${cohort}
    """
    text = "${" + inner + "}"
    parts = inner.strip().split(".")
    if parts in (["run"], ["cohort"]):
        return Ref(text, parts[0])
    if parts[0] == "steps" and len(parts) in (2, 3) and all(_NAME.match(p) for p in parts[1:]):
        return Ref(text, "steps", parts[1], parts[2] if len(parts) == 3 else None)
    return Ref(
        text,
        parts[0],
        error=f"unknown reference {text!r}: use ${{steps.NAME}}, ${{steps.NAME.OUTPUT}}, "
        "${run} or ${cohort}",
    )


def _walk(value: Any, key: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            out += _walk(v, f"{key}.{k}" if key else str(k))
        return out
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            out += _walk(v, f"{key}.{i}" if key else str(i))
        return out
    return [(key, value)] if isinstance(value, str) else []


def find_refs(value: Any) -> list[tuple[str, Ref]]:
    """Every reference in a params structure, with its key path (``a.b.0``).

    Examples:
        >>> find_refs({"a": "plain", "b": "$${escaped}"})
        []
    """
    found = []
    for key, text in _walk(value, ""):
        for match in _PATTERN.finditer(text):
            if match.group(1) != "$":
                found.append((key, parse_ref(match.group(2))))
    return found


def substitute(value: Any, resolve: Callable[[Ref], str]) -> Any:
    """A copy of ``value`` with each reference replaced by ``resolve(ref)``.

    Examples:
        >>> substitute(["${steps.a}", 3], lambda ref: f"<{ref.step}>")
        ['<a>', 3]
    """
    if isinstance(value, dict):
        return {k: substitute(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, resolve) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "${" + match.group(2) + "}"
        return resolve(parse_ref(match.group(2)))

    return _PATTERN.sub(replace, value)


def valid_step_name(name: str) -> bool:
    """Step names: a letter or ``_`` first, then letters, digits, ``_`` and ``-``.

    Examples:
        >>> valid_step_name("ecg_embed"), valid_step_name("ecg.embed")
        (True, False)
    """
    return bool(_NAME.match(name))


__all__ = ["Ref", "find_refs", "parse_ref", "substitute", "valid_step_name"]
