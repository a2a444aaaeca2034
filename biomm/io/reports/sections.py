"""Split a report into its sections (FINDINGS, IMPRESSION, FINAL DIAGNOSIS, …).

Header spellings map to canonical names (``"FINAL DIAGNOSES"`` → ``final_diagnosis``). A line
is a header under any of these conventions, in any letter case:

- ``FINDINGS:`` alone on its line, or ``Findings: text`` on the same line;
- ``IMPRESSION - text`` (``-``, ``–``, ``—`` or ``=`` instead of the colon);
- numbered or lettered: ``1. IMPRESSION``, ``2) Findings:``, ``A. Final diagnosis``;
- markdown: ``## Impression``, ``**Impression:** text``, ``__FINDINGS__``;
- a known header alone on its line without a colon (``IMPRESSION``, ``Gross description``).

Inside a line, an UPPER-CASE known header followed by a colon also starts a section
(``... heart normal. IMPRESSION: no acute disease``), so one-line reports split too.
Unknown headers (``LUNGS:``, ``HEART:`` inside FINDINGS) do not: they stay in their section.

Text before the first header is ``preamble``; a repeated section is concatenated (joined with
a newline); sections with no text are left out. Users extend or replace the spellings with a
mapping canonical name → spellings, in Python or YAML (:func:`load_headers`).

Examples:
    >>> split_sections("CXR PA/LAT\\nFINDINGS:\\nNo effusion.\\n\\nIMPRESSION - Normal.")
    {'preamble': 'CXR PA/LAT', 'findings': 'No effusion.', 'impression': 'Normal.'}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from biomm.errors import ConfigError

#: Canonical section name → header spellings (matched case-insensitively).
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "history": (
        "clinical history",
        "history",
        "clinical information",
        "clinical data",
        "clinical details",
        "clinical notes",
    ),
    "indication": (
        "indication",
        "indications",
        "clinical indication",
        "reason for exam",
        "reason for examination",
        "reason for study",
    ),
    "examination": ("examination", "exam", "study", "procedure"),
    "technique": ("technique", "protocol", "method"),
    "comparison": ("comparison", "comparisons", "prior studies", "prior study"),
    "specimen": ("specimen", "specimens", "specimen(s)", "specimens submitted", "source"),
    "gross": (
        "gross",
        "gross description",
        "gross examination",
        "macroscopic",
        "macroscopic description",
    ),
    "microscopic": (
        "microscopic",
        "microscopic description",
        "microscopic examination",
        "microscopy",
        "histology",
    ),
    "findings": ("findings", "finding", "report", "results"),
    "diagnosis": (
        "diagnosis",
        "diagnoses",
        "pathologic diagnosis",
        "pathological diagnosis",
        "histologic diagnosis",
    ),
    "final_diagnosis": (
        "final diagnosis",
        "final diagnoses",
        "final pathologic diagnosis",
        "final pathological diagnosis",
    ),
    "impression": ("impression", "impressions", "opinion"),
    "conclusion": ("conclusion", "conclusions", "summary"),
    "comment": ("comment", "comments", "note", "notes"),
    "recommendation": ("recommendation", "recommendations", "follow-up", "follow up"),
    "addendum": ("addendum",),
}
PREAMBLE = "preamble"
#: Sections :func:`select_section` prefers by default, most conclusive first.
DEFAULT_PREFER = ("impression", "final_diagnosis", "diagnosis", "conclusion", "findings")

_MARK = r"(?:\*\*|__)?"
_NUMBER = r"(?:(?:\d{1,2}|[A-Ha-h]|[IVX]{1,4})[.)]\s+)?"
_SEPARATOR = r"(?P<sep>:|[-–—=](?=[ \t]|$))?"


def _spelling_pattern(spelling: str) -> str:
    words = [re.escape(w) for w in spelling.strip().split()]
    return r"\s+".join(words)


@functools.lru_cache(maxsize=32)
def _compile(items: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Any, Any, dict[str, str]]:
    lookup: dict[str, str] = {}
    for name, spellings in items:
        for spelling in spellings:
            key = _key(spelling)
            if key in lookup and lookup[key] != name:
                raise ConfigError(
                    f"header {spelling!r} is given for both {lookup[key]!r} and {name!r}"
                )
            lookup[key] = name
    alternatives = "|".join(_spelling_pattern(s) for s in sorted(lookup, key=len, reverse=True))
    # every run of blanks before the name is matched by exactly one quantifier: adjacent
    # `[ \t]*` around an empty optional mark would backtrack polynomially on a long blank run
    line = re.compile(
        rf"^[ \t]*(?:\#{{1,6}}[ \t]*)?(?:(?:\*\*|__)[ \t]*)?{_NUMBER}{_MARK}"
        rf"(?P<name>{alternatives})(?![A-Za-z0-9(])[ \t]*{_MARK}[ \t]*{_SEPARATOR}[ \t]*{_MARK}"
        r"[ \t]*(?P<rest>.*)$",
        re.IGNORECASE,
    )
    upper = "|".join(_spelling_pattern(s.upper()) for s in sorted(lookup, key=len, reverse=True))
    inline = re.compile(rf"(?<=[.;!?])[ \t]+(?P<name>{upper})[ \t]*:")
    return line, inline, lookup


def _key(spelling: str) -> str:
    return " ".join(spelling.lower().split())


def _as_items(
    headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if headers is None:
        headers = DEFAULT_HEADERS
    elif isinstance(headers, (str, PathLike)):
        headers = load_headers(headers)
    items = []
    for name, spellings in headers.items():
        if isinstance(spellings, str):
            spellings = [spellings]
        cleaned = tuple(str(s) for s in spellings if str(s).strip())
        if not str(name).strip() or not cleaned:
            raise ConfigError(f"section {name!r} needs a name and at least one header spelling")
        items.append((str(name), cleaned))
    return tuple(items)


def merge_headers(
    user: Mapping[str, Sequence[str]],
    base: Mapping[str, Sequence[str]] = DEFAULT_HEADERS,
    *,
    mode: Literal["extend", "replace"] = "extend",
) -> dict[str, tuple[str, ...]]:
    """Add a user's spellings to ``base`` (``extend``), or use only the user's (``replace``).

    A spelling the user gives for another canonical name moves there.

    Examples:
        >>> h = merge_headers({"impression": ["assessment"], "addendum": ["late entry"]})
        >>> "assessment" in h["impression"], "addendum" in h["addendum"]
        (True, True)
        >>> merge_headers({"conclusion": ["opinion"]})["impression"][-1]
        'impressions'
    """
    if mode == "replace":
        return {str(k): tuple(v) for k, v in user.items()}
    if mode != "extend":
        raise ConfigError(f"mode must be 'extend' or 'replace', got {mode!r}")
    taken = {_key(s) for spellings in user.values() for s in spellings}
    out = {k: tuple(s for s in v if _key(s) not in taken) for k, v in base.items()}
    for name, spellings in user.items():
        out[str(name)] = (*out.get(str(name), ()), *(str(s) for s in spellings))
    return {k: v for k, v in out.items() if v}


def load_headers(
    path: str | PathLike[str], *, mode: Literal["extend", "replace"] = "extend"
) -> dict[str, tuple[str, ...]]:
    """Read header spellings from YAML (``impression: [assessment, opinion]``), merged.

    Raises:
        ConfigError: Naming the file and the problem.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "headers.yaml"
        >>> _ = p.write_text("impression: [assessment]\\n")
        >>> load_headers(p)["impression"][-1]
        'assessment'
    """
    from biomm.utils.config import read_yaml_file

    path = Path(path)
    if not path.exists():
        raise ConfigError("header file not found", path=path)
    data = read_yaml_file(path)  # strict: duplicated keys, tags, alias bombs are refused
    if not isinstance(data, dict) or not all(isinstance(v, (list, str)) for v in data.values()):
        raise ConfigError("expected a mapping: section name → list of header spellings", path=path)
    user = {str(k): [v] if isinstance(v, str) else [str(s) for s in v] for k, v in data.items()}
    try:
        return merge_headers(user, mode=mode)
    except ConfigError as exc:
        raise ConfigError(exc.reason, path=path) from None


def split_sections(
    text: str, headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None = None
) -> dict[str, str]:
    """Canonical section name → text, in order of first appearance.

    Args:
        text: The report.
        headers: Canonical name → spellings (None: :data:`DEFAULT_HEADERS`), or a YAML file
            read with :func:`load_headers`.

    Raises:
        ConfigError: On invalid header spellings.

    Examples:
        >>> split_sections("## Impression\\nBenign.\\n1. Comment: none")
        {'impression': 'Benign.', 'comment': 'none'}
        >>> split_sections("FINDINGS: clear. IMPRESSION: normal.")
        {'findings': 'clear.', 'impression': 'normal.'}
    """
    out: dict[str, str] = {}
    for name, body in _segments(text, headers):
        out[name] = f"{out[name]}\n{body}" if name in out else body
    return out


def is_header_line(
    line: str, headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None = None
) -> bool:
    """True when ``line`` starts a section (a known header, alone or followed by a separator).

    Examples:
        >>> is_header_line("IMPRESSION"), is_header_line("Impression of a mass")
        (True, False)
    """
    match = _compile(_as_items(headers))[0].match(line)
    return bool(match and (match["sep"] or not match["rest"].strip()))


def _segments(
    text: str, headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None
) -> list[tuple[str, str]]:
    """(canonical name, stripped non-empty text) per header, in order of appearance."""
    line_re, inline_re, lookup = _compile(_as_items(headers))
    parts: list[tuple[str, list[str]]] = [(PREAMBLE, [])]
    for line in text.replace("\r\n", "\n").split("\n"):
        match = line_re.match(line)
        if match and (match["sep"] or not match["rest"].strip()):
            parts.append((lookup[_key(match["name"])], [match["rest"]]))
        else:
            parts[-1][1].append(line)
    out = []
    for name, lines in parts:
        for sub_name, sub_body in _split_inline(name, "\n".join(lines), inline_re, lookup):
            if sub_body.strip():
                out.append((sub_name, sub_body.strip()))
    return out


def _split_inline(name: str, body: str, inline_re: Any, lookup: dict[str, str]) -> list:
    pieces, start = [], 0
    for match in inline_re.finditer(body):
        pieces.append((name, body[start : match.start()]))
        name, start = lookup[_key(match["name"])], match.end()
    pieces.append((name, body[start:]))
    return pieces


def choose_section(
    sections: Mapping[str, str], prefer: Sequence[str] = DEFAULT_PREFER
) -> str | None:
    """The first name in ``prefer`` with non-empty text in ``sections`` (None if none).

    Examples:
        >>> choose_section({"findings": "x", "impression": "y"}, ["impression", "findings"])
        'impression'
        >>> choose_section({"preamble": "x"}) is None
        True
    """
    for name in [prefer] if isinstance(prefer, str) else prefer:
        if sections.get(name, "").strip():
            return name
    return None


def select_section(
    report: Any,
    prefer: Sequence[str] = DEFAULT_PREFER,
    fallback: Literal["all", "none", "raise"] = "all",
    headers: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """The text of the most preferred section present.

    Args:
        report: A :class:`~biomm.io.reports.Report`, a text, or a sections dict.
        prefer: Canonical names in order of preference.
        fallback: When none is present: ``all`` (the whole text), ``none`` (None) or
            ``raise``.
        headers: Spellings used when ``report`` is a text.

    Raises:
        ReportReadError: With ``fallback="raise"`` when no preferred section has text.

    Examples:
        >>> select_section("FINDINGS: clear lungs.\\nIMPRESSION: normal.")
        'normal.'
        >>> select_section("Benign.", prefer=["impression"])
        'Benign.'
    """
    from biomm.errors import ReportReadError

    if fallback not in ("all", "none", "raise"):
        raise ConfigError(f"fallback must be 'all', 'none' or 'raise', got {fallback!r}")
    if isinstance(report, str):
        text, sections = report, split_sections(report, headers)
    elif isinstance(report, Mapping):
        text, sections = "\n\n".join(report.values()), report
    else:
        text, sections = report.text, report.sections
    name = choose_section(sections, prefer)
    if name is not None:
        return sections[name]
    if fallback == "all":
        return text
    if fallback == "raise":
        source = getattr(report, "source", None)
        raise ReportReadError(f"none of the sections {list(prefer)} is in the report", path=source)
    return None


def strip_headers(text: str, headers: Mapping[str, Sequence[str]] | None = None) -> str:
    """The report's section texts without their headers, in order, blank-line separated.

    Examples:
        >>> strip_headers("FINDINGS:\\nNo effusion.\\nIMPRESSION: Normal.")
        'No effusion.\\n\\nNormal.'
    """
    return "\n\n".join(body for _, body in _segments(text, headers))
