"""Clinical knowledge descriptions of class codes, for knowledge-enhanced zero-shot prompts.

A knowledge file is a versioned YAML mapping of class codes to a readable ``name``, a
``category`` (one or a list) and two to four short ``descriptions`` of the findings that
characterise the class. MERL (Liu et al., ICML 2024) embeds such descriptions next to the class
names at test time (its CKEPE prompts); :func:`biomm.zeroshot.build_class_embeddings` takes
them as ``descriptions=``.

Packaged files: ``ptbxl_scp`` (the 71 PTB-XL SCP-ECG statements, plus the PTB-XL superclasses
and subclasses that are not statement codes).

Examples:
    >>> kb = load_knowledge("ptbxl_scp")
    >>> kb.names(["AFIB", "NORM"])
    ['atrial fibrillation', 'normal ECG']
    >>> kb.descriptions(["AFIB"])["AFIB"][0]
    'irregularly irregular rhythm without distinct P waves'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from biomm.errors import InputError

#: Categories an entry may have.
CATEGORIES: tuple[str, ...] = ("diagnostic", "form", "rhythm", "superclass", "subclass")
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class KnowledgeEntry:
    """What is known about one class code.

    Attributes:
        name: Readable class name.
        category: The first (main) category.
        descriptions: Short descriptions of the characteristic findings.
        categories: Every category of the code (e.g. ``diagnostic`` and ``form``).

    Examples:
        >>> load_knowledge()["NDT"].categories
        ('diagnostic', 'form')
    """

    name: str
    category: str
    descriptions: tuple[str, ...]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Knowledge:
    """A loaded knowledge file.

    Attributes:
        version: The file's ``version``.
        source: Where the codes and categories come from.
        licence: The licence note of the texts.
        entries: Code → :class:`KnowledgeEntry`, in file order.
        path: The file it was read from.

    Examples:
        >>> kb = load_knowledge()
        >>> len(kb.codes("rhythm")), "SR" in kb
        (12, True)
    """

    version: str
    source: str
    licence: str
    entries: dict[str, KnowledgeEntry]
    path: str = ""

    def __contains__(self, code: object) -> bool:
        return code in self.entries

    def __getitem__(self, code: str) -> KnowledgeEntry:
        return self.entries[self._check([code])[0]]

    def __len__(self) -> int:
        return len(self.entries)

    def codes(self, category: str | None = None) -> list[str]:
        """The codes, in file order; only those having ``category`` when given.

        Examples:
            >>> load_knowledge().codes("superclass")
            ['NORM', 'CD', 'HYP', 'MI', 'STTC']
        """
        if category is not None and category not in CATEGORIES:
            raise InputError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        return [
            code
            for code, entry in self.entries.items()
            if category is None or category in entry.categories
        ]

    def names(self, codes: Iterable[str]) -> list[str]:
        """The readable names of ``codes``, in order.

        Raises:
            InputError: For an unknown code, with close matches.

        Examples:
            >>> load_knowledge().names(["STACH", "LAO/LAE"])
            ['sinus tachycardia', 'left atrial overload or enlargement']
        """
        return [self.entries[code].name for code in self._check(codes)]

    def descriptions(self, codes: Iterable[str], *, by_name: bool = False) -> dict[str, list[str]]:
        """The descriptions of ``codes``, keyed by code (or by readable name).

        Key by name when the zero-shot class names are the readable names.

        Raises:
            InputError: For an unknown code, with close matches.

        Examples:
            >>> d = load_knowledge().descriptions(["SBRAD"], by_name=True)
            >>> list(d)
            ['sinus bradycardia']
        """
        out: dict[str, list[str]] = {}
        for code in self._check(codes):
            entry = self.entries[code]
            out[entry.name if by_name else code] = list(entry.descriptions)
        return out

    def _check(self, codes: Iterable[str]) -> list[str]:
        if isinstance(codes, str):
            codes = [codes]
        codes = list(codes)
        unknown = [c for c in codes if c not in self.entries]
        if unknown:
            hints = []
            for code in unknown:
                close = _close_matches(str(code), list(self.entries))
                hints.append(
                    f"{code!r} (did you mean {', '.join(close)}?)" if close else repr(code)
                )
            raise InputError(f"unknown code(s): {'; '.join(hints)}", path=self.path or None)
        return codes


def available_knowledge() -> list[str]:
    """Names of the packaged knowledge files.

    Examples:
        >>> "ptbxl_scp" in available_knowledge()
        True
    """
    folder = resources.files(__name__)
    return sorted(
        item.name.rsplit(".", 1)[0]
        for item in folder.iterdir()
        if item.name.endswith(_SUFFIXES) and item.is_file()
    )


def load_knowledge(name_or_path: str | PathLike[str] = "ptbxl_scp") -> Knowledge:
    """Load and validate a packaged knowledge file by name, or any knowledge YAML by path.

    Validation: top-level ``version``, ``source``, ``licence`` and a non-empty ``entries``
    mapping; every entry has a non-empty ``name``, known categories and at least one
    non-empty description.

    Raises:
        InputError: Naming the file: unknown name, unreadable or invalid YAML, or an invalid
            entry (naming the code).

    Examples:
        >>> load_knowledge("ptbxl_scp").version
        '1.0'
        >>> load_knowledge("ptbxl")
        Traceback (most recent call last):
        ...
        biomm.errors.InputError: ptbxl: no packaged knowledge file of that name; ...
    """
    text_name = str(name_or_path)
    is_path = isinstance(name_or_path, PathLike) or text_name.endswith(_SUFFIXES)
    is_path = is_path or "/" in text_name or "\\" in text_name
    if is_path:
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("knowledge file not found", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read knowledge file: {exc}", path=path) from None
        where = str(path)
    else:
        known = available_knowledge()
        if text_name not in known:
            raise InputError(
                f"no packaged knowledge file of that name; available: {', '.join(known)}",
                path=text_name,
            )
        resource = resources.files(__name__).joinpath(f"{text_name}.yaml")
        text = resource.read_text(encoding="utf-8")
        where = str(resource)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path=where) from None
    return _parse(data, where)


def _parse(data: Any, where: str) -> Knowledge:
    if not isinstance(data, Mapping):
        raise InputError("a knowledge file is a mapping with 'version' and 'entries'", path=where)
    for key in ("version", "source", "licence"):
        value = data.get(key)
        if value is None or not str(value).strip():
            raise InputError(f"top-level {key!r} is missing or empty", path=where)
    raw = data.get("entries")
    if not isinstance(raw, Mapping) or not raw:
        raise InputError("'entries' must be a non-empty mapping of code → entry", path=where)
    entries: dict[str, KnowledgeEntry] = {}
    for code, body in raw.items():
        entries[str(code)] = _parse_entry(str(code), body, where)
    return Knowledge(
        version=str(data["version"]),
        source=" ".join(str(data["source"]).split()),
        licence=" ".join(str(data["licence"]).split()),
        entries=entries,
        path=where,
    )


def _parse_entry(code: str, body: Any, where: str) -> KnowledgeEntry:
    def fail(reason: str) -> InputError:
        return InputError(f"entry {code!r}: {reason}", path=where)

    if not isinstance(body, Mapping):
        raise fail("must be a mapping with 'name', 'category' and 'descriptions'")
    unknown_keys = sorted(set(body) - {"name", "category", "descriptions"})
    if unknown_keys:
        raise fail(f"unknown key(s) {unknown_keys}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("'name' must be a non-empty text")
    category = body.get("category")
    categories = [category] if isinstance(category, str) else category
    if not isinstance(categories, list) or not categories:
        raise fail(f"'category' must be one of {CATEGORIES} or a list of them")
    bad = [c for c in categories if c not in CATEGORIES]
    if bad:
        raise fail(f"unknown category {bad}; expected {CATEGORIES}")
    descriptions = body.get("descriptions")
    if not isinstance(descriptions, list) or not descriptions:
        raise fail("needs at least one description")
    if not all(isinstance(d, str) and d.strip() for d in descriptions):
        raise fail("every description must be a non-empty text")
    return KnowledgeEntry(
        name=name.strip(),
        category=categories[0],
        descriptions=tuple(" ".join(d.split()) for d in descriptions),
        categories=tuple(dict.fromkeys(categories)),
    )


def _close_matches(code: str, known: list[str]) -> list[str]:
    by_upper = {k.upper(): k for k in known}
    close = [by_upper[m] for m in difflib.get_close_matches(code.upper(), list(by_upper), n=3)]
    return close
