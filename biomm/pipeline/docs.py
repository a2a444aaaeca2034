"""The step reference of ``docs/pipelines.md``, generated from the params models.

``python -m biomm.pipeline.docs docs/pipelines.md`` rewrites the part of the page between the
``<!-- step-reference:start -->`` and ``<!-- step-reference:end -->`` markers; a test checks
that the page is up to date.

Examples:
    >>> print(params_table("cohort.validate").splitlines()[3])
    | `strict` | bool | `false` | Warnings fail the step too. |
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from biomm.pipeline.steps import PIPELINE_STEPS, step_kind

START = "<!-- step-reference:start -->"
END = "<!-- step-reference:end -->"

#: Where the params that come from a library config are documented.
_CONFIG_DOCS = {
    "ecg.pretrain": "the keys of a `biomm ecg pretrain` config (docs/ecg.md), without `cohort`, "
    "`schema`, `data_root` and `out`",
    "train": "the keys of a `biomm train` config (docs/fusion.md), without `cohort`, `schema` "
    "and `out`, plus `bootstrap`",
}


def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """``name: text`` entries of the model's Google-style ``Attributes:`` section."""
    doc = model.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in doc.split("Attributes:", 1)[1].splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            out[current] = match.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
        elif current and not line.strip():
            current = None
    return out


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return f"`{json.dumps(value, default=str)}`"


def params_table(kind_name: str) -> str:
    """A Markdown table of one step kind's params: name, type, default, meaning.

    Examples:
        >>> "| `mpp` | float | `0.5` |" in params_table("wsi.embed")
        True
    """
    model = step_kind(kind_name).params
    docs = _attribute_docs(model)
    rows = ["| param | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        meaning = docs.get(name, info.description or "").replace("|", "\\|")
        meaning = meaning.replace("``", "`")
        rows.append(f"| `{key}` | {_type(info.annotation)} | {_default(info)} | {meaning} |")
    return "\n".join(rows)


def step_reference() -> str:
    """The Markdown reference of every registered step kind (summary, outputs, params).

    Examples:
        >>> "### `wsi.embed`" in step_reference()
        True
    """
    parts = []
    for name in PIPELINE_STEPS.names():
        kind = step_kind(name)
        outputs = ", ".join(
            f"`{k}` ({'the step folder' if v == '.' else v})" for k, v in kind.outputs.items()
        )
        if not isinstance(kind.reads, tuple):
            reads = "the files of its `modality`"
        elif "*" in kind.reads:
            reads = "the files of every modality"
        else:
            reads = ", ".join(f"the {m} files" for m in kind.reads) or "no cohort files"
        lines = [
            f"### `{name}`",
            "",
            kind.summary,
            "",
            f"- outputs: {outputs or 'none'}",
            f"- cache key: params, cohort, {reads}",
        ]
        if kind.gate:
            lines.append("- a gate: every later step waits for it; its key enters none of theirs")
        if kind.after_all:
            lines.append("- without `needs:` it follows every earlier step, even failed ones")
        if name in _CONFIG_DOCS:
            lines.append(f"- params: {_CONFIG_DOCS[name]}")
        parts.append("\n".join([*lines, "", params_table(name)]))
    return "\n\n".join(parts)


def update_page(path: str | Path) -> bool:
    """Rewrite the generated part of a docs page; True when it changed.

    Examples:
        >>> import tempfile
        >>> page = Path(tempfile.mkdtemp()) / "p.md"
        >>> _ = page.write_text(f"intro\\n{START}\\nold\\n{END}\\nend\\n")
        >>> update_page(page), update_page(page)
        (True, False)
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{step_reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover
    for page in sys.argv[1:]:
        print(f"{page}: {'updated' if update_page(page) else 'up to date'}")


__all__ = ["END", "START", "params_table", "step_reference", "update_page"]
