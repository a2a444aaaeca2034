"""Registered prompt sets for PTB-XL's label sets, built from the packaged knowledge file.

Each set names the class by its readable name, keeps the SCP-ECG code for knowledge prompts
and reads labels from the ``label_<code>`` columns written by
:func:`biomm.datasets.ptbxl.load_ptbxl`.

Examples:
    >>> from biomm.zeroshot.prompts import get_prompt_set
    >>> ps = get_prompt_set("ptbxl_superclass")
    >>> ps.class_names[:2], ps.label_columns["normal ECG"]
    (['normal ECG', 'conduction disturbance'], 'label_NORM')
"""

from __future__ import annotations

from typing import Any

from biomm.registries import PROMPT_SETS

#: Templates for PTB-XL classes.
TEMPLATES = ("{}", "ECG showing {}")
#: Registered name → knowledge category.
PTBXL_SETS = {
    "ptbxl_superclass": "superclass",
    "ptbxl_subclass": "subclass",
    "ptbxl_diagnostic": "diagnostic",
    "ptbxl_form": "form",
    "ptbxl_rhythm": "rhythm",
}


def ptbxl_prompt_set(category: str) -> dict[str, Any]:
    """The prompt set of one PTB-XL label set (``superclass``, ``rhythm``, …).

    Examples:
        >>> len(ptbxl_prompt_set("rhythm")["classes"])
        12
    """
    from biomm.zeroshot.knowledge import load_knowledge

    knowledge = load_knowledge("ptbxl_scp")
    return {
        "templates": list(TEMPLATES),
        "knowledge": "ptbxl_scp",
        "classes": [
            {"name": knowledge[code].name, "label": f"label_{code}", "code": code}
            for code in knowledge.codes(category)
        ],
    }


def _register(name: str, category: str) -> None:
    def build() -> dict[str, Any]:
        return ptbxl_prompt_set(category)

    build.__doc__ = (
        f"Prompt set of PTB-XL's {category} labels (see :func:`ptbxl_prompt_set`).\n\n"
        "Examples:\n    >>> from biomm.zeroshot.prompts import get_prompt_set\n"
        f"    >>> len(get_prompt_set({name!r}).class_names) > 1\n    True\n"
    )
    PROMPT_SETS.add(name, build)


for _name, _category in PTBXL_SETS.items():
    _register(_name, _category)
