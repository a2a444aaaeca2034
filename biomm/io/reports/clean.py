"""Clean report text and split it into sentences, keeping de-identification placeholders intact.

:func:`clean_text` applies, in order: line endings → ``\\n``; Unicode NFKC (full-width forms,
ligatures, non-breaking spaces → plain characters); control characters dropped, tabs → spaces;
**boilerplate lines removed** (signatures, dictation lines, page markers: regular expressions
matched case-insensitively at the start of a line, configurable); runs of spaces collapsed,
trailing spaces removed, three or more newlines → one blank line.

De-identification placeholders (:data:`PLACEHOLDER_PATTERNS`: MIMIC ``[**Name**]`` and
``___``, Presidio-style ``<PERSON>``, ``[REDACTED]``-style brackets, IU X-ray ``XXXX``) are
masked before any step and put back unchanged after it, so neither cleaning nor sentence
splitting alters or breaks them.

:func:`split_sentences` splits at ``.``/``!``/``?`` followed by white space, and at line
breaks that end a sentence, start a list item or surround a blank line; a hard-wrapped line
that continues a sentence is joined to it. It does not split after abbreviations
(``Dr.``, ``e.g.``, ``approx.``, initials), inside decimals (``2.5 cm``) or after list
numbers (``1. Effusion``).

Examples:
    >>> clean_text("Small  effusion.\\nElectronically signed by: Dr. [**Name**]\\n")
    'Small effusion.'
    >>> split_sentences("1. Mass of 2.5 cm, e.g. in segment IV. 2. Seen by Dr. ___ today.")
    ['1. Mass of 2.5 cm, e.g. in segment IV.', '2. Seen by Dr. ___ today.']
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence

from biomm.io.reports.sections import is_header_line

#: De-identification placeholders that cleaning and sentence splitting leave unchanged.
PLACEHOLDER_PATTERNS: tuple[str, ...] = (
    r"\[\*\*.*?\*\*\]",  # MIMIC-III: [**Known lastname 123**], [**2101-10-10**]
    r"_{2,}",  # MIMIC-IV / MIMIC-CXR: ___
    r"<[A-Z][A-Z0-9_]*>",  # Presidio / i2b2 style: <PERSON>, <DATE_TIME>
    r"\[(?:[A-Z][A-Z0-9 _-]*)\]",  # [REDACTED], [NAME], [DATE]
    r"\bX{2,}\b",  # IU X-ray (Open-i): XXXX
)

#: Lines removed by :func:`clean_text` (regular expressions, matched at the line start,
#: case-insensitively).
DEFAULT_BOILERPLATE: tuple[str, ...] = (
    r"electronically signed\b",
    r"e-?signed\b",
    r"(?:dictated|transcribed|signed|reviewed|verified|approved|reported|read) by\b",
    r"(?:dictated|transcribed|signed)(?: on)?\s*:",
    r"(?:this|the above) report (?:was|has been|is) (?:electronically )?(?:signed|verified)",
    r"i have (?:personally )?reviewed (?:the|these) (?:images|slides)",
    r"i,? the (?:teaching )?(?:physician|pathologist|radiologist)",
    r"(?:-+\s*)?page \d+(?: of \d+)?\s*(?:-+)?\s*$",
    r"\**\s*end of (?:the )?report\s*\**\s*$",
    r"(?:final|preliminary|wet read) report\s*$",
)

_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "vs", "approx", "appt", "cf", "dept"}
    | {"diag", "e.g", "eg", "i.e", "ie", "fig", "figs", "hx", "incl", "pt", "pts", "resp", "vol"}
)
#: Abbreviations that also end sentences: no split only when a lower-case word (or, for
#: ``No.``, a number) follows.
_AMBIGUOUS = frozenset({"etc", "al", "no"})
_SENTINEL = "\ue000{}\ue001"
_SENTINEL_RE = re.compile("\ue000(\\d+)\ue001")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[a-zA-Z][.)]|[-*•‣●▪])\s+")
#: Matched with ``pos``/``endpos`` (anchored at ``pos`` by ``match``; ``$`` at ``endpos``).
_LIST_MARKER_ONLY = re.compile(r"\s*(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]$")
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s)")


def _placeholder_re(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def mask_placeholders(
    text: str, patterns: Sequence[str] = PLACEHOLDER_PATTERNS
) -> tuple[str, list[str]]:
    """Replace placeholders by private-use sentinels; returns the text and the originals.

    Examples:
        >>> masked, found = mask_placeholders("Seen by [**Dr. X**] and ___.")
        >>> found, unmask_placeholders(masked, found)
        (['[**Dr. X**]', '___'], 'Seen by [**Dr. X**] and ___.')
    """
    found: list[str] = []

    def keep(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return _SENTINEL.format(len(found) - 1)

    return _placeholder_re(tuple(patterns)).sub(keep, text), found


def unmask_placeholders(text: str, found: Sequence[str]) -> str:
    """Put back the placeholders :func:`mask_placeholders` took out.

    Examples:
        >>> unmask_placeholders(*mask_placeholders("<PERSON> said"))
        '<PERSON> said'
    """
    return _SENTINEL_RE.sub(lambda m: found[int(m.group(1))], text)


def clean_text(
    text: str,
    *,
    boilerplate: Sequence[str] = DEFAULT_BOILERPLATE,
    placeholders: Sequence[str] = PLACEHOLDER_PATTERNS,
    nfkc: bool = True,
) -> str:
    """Normalise a report's characters and white space and drop boilerplate lines.

    Args:
        text: The report (or one section).
        boilerplate: Regular expressions; a line whose start matches one is removed. Pass
            ``(*DEFAULT_BOILERPLATE, r"my pattern")`` to add, ``()`` to keep every line.
        placeholders: Patterns kept verbatim (see :data:`PLACEHOLDER_PATTERNS`).
        nfkc: Apply Unicode NFKC normalisation.

    Examples:
        >>> clean_text("Ｌｕｎｇｓ\\tclear.\\r\\n\\n\\n\\nPage 1 of 2\\nIMPRESSION: <PERSON> ok")
        'Lungs clear.\\n\\nIMPRESSION: <PERSON> ok'
    """
    masked, found = mask_placeholders(text.replace("\r\n", "\n").replace("\r", "\n"), placeholders)
    if nfkc:
        masked = unicodedata.normalize("NFKC", masked)
    masked = masked.replace("\t", " ")
    masked = "".join(
        ch
        for ch in masked
        if ch == "\n" or not unicodedata.category(ch).startswith("C") or ch in "\ue000\ue001"
    )
    drop = (
        re.compile("|".join(f"(?:{p})" for p in boilerplate), re.IGNORECASE)
        if boilerplate
        else None
    )
    lines = []
    for line in masked.split("\n"):
        line = re.sub(r" {2,}", " ", line).strip()
        if drop is not None and drop.match(unmask_placeholders(line, found)):
            continue
        lines.append(line)
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return unmask_placeholders(cleaned, found)


def sentence_spans(
    text: str, placeholders: Sequence[str] = PLACEHOLDER_PATTERNS
) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text`` (stripped, in order).

    Examples:
        >>> t = "No effusion. Heart normal."
        >>> [t[a:b] for a, b in sentence_spans(t)]
        ['No effusion.', 'Heart normal.']
    """
    # mask with same-length stand-ins so that offsets stay valid
    pattern = _placeholder_re(tuple(placeholders))
    masked = pattern.sub(lambda m: "\ue000" * len(m.group(0)), text)
    cuts = {0, len(text)}
    lines = masked.split("\n")
    offset = 0
    for k, line in enumerate(lines):
        next_line = lines[k + 1] if k + 1 < len(lines) else ""
        end = offset + len(line)
        if (
            not line.strip()
            or not next_line.strip()
            or _LIST_ITEM.match(next_line)
            or is_header_line(line)
            or is_header_line(next_line)
            or line.rstrip().endswith((".", "!", "?", ":", ";"))
        ):
            cuts.add(end)
        last_cut = 0  # the latest cut inside this line, relative to its start
        for match in _BOUNDARY.finditer(line):
            if _breaks(line, match.start(), last_cut):
                cuts.add(offset + match.end())
                last_cut = match.end()
        offset = end + 1
    spans = []
    bounds = sorted(cuts)
    for start, stop in itertools.pairwise(bounds):
        piece = text[start:stop]
        if not any(ch.isalnum() or ch == "\ue000" for ch in masked[start:stop]):
            continue  # punctuation only (a placeholder alone is kept)
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + len(piece.rstrip())))
    return spans


def _breaks(line: str, dot: int, last_cut: int) -> bool:
    """Whether the punctuation at ``line[dot]`` ends a sentence (``last_cut``: the latest cut).

    Work is proportional to the word before ``dot`` (not to the line): a report written as one
    long line of many sentences stays linear.
    """
    if line[dot] != ".":
        return True
    start = dot
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    token = line[start:dot]
    bare = token.lstrip("([\"'").lower()
    if bare in _ABBREVIATIONS:
        return False
    if bare in _AMBIGUOUS:
        following = line[dot + 1 :].lstrip()[:1]
        return not (following.isdigit() if bare == "no" else following.islower())
    if re.fullmatch(r"[A-Z]", token):  # an initial: J. Smith
        return False
    return not _LIST_MARKER_ONLY.match(line, last_cut, dot + 1)  # no slice of the line


def split_sentences(text: str, placeholders: Sequence[str] = PLACEHOLDER_PATTERNS) -> list[str]:
    """The sentences of ``text``; wrapped lines are joined with a space.

    Examples:
        >>> split_sentences("FINDINGS:\\nThe lungs are\\nclear. No effusion.\\n- Heart normal")
        ['FINDINGS:', 'The lungs are clear.', 'No effusion.', '- Heart normal']
    """
    return [_join_lines(text[start:end]) for start, end in sentence_spans(text, placeholders)]


def _join_lines(piece: str) -> str:
    """Each run of blanks holding a line break becomes one space, in linear time.

    (``re.sub(r"\\s*\\n\\s*", " ", ...)`` is quadratic on a long run of spaces without one.)

    Examples:
        >>> _join_lines("lungs are  \\n \\n  clear\\nnow")
        'lungs are clear now'
    """
    if "\n" not in piece:
        return piece
    collapsed = re.sub(r"\n\s*", "\n", piece)  # a match can only start at a line break
    return " ".join(line.rstrip() for line in collapsed.split("\n"))
