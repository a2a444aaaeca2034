"""One self-contained HTML report from sections of figures, tables and notes.

:func:`build_report` writes ``report.html`` — CSS inline, every figure embedded as a base64
PNG, no script and no external URL, so it opens offline and can be mailed or archived as one
file — and every figure as a PNG under ``figures/``.

Privacy: patient identifiers appear only with ``show_ids=True`` or, pseudonymised, with a
``pseudonymise_ids`` salt (:func:`biomm.privacy.pseudonym`); otherwise patients are
``patient 1``, ``patient 2``… Identifier columns of tables (``patient_id``, ``sample_id``,
``record_id``, ``mrn``) are relabelled the same way; columns that may hold names, dates of
birth, addresses, phone numbers, e-mail addresses or free text — by name (``name``, ``dob``,
``report``, ``text``…) or by their values (:func:`biomm.privacy.phi_columns`) — are left out;
and any identifier the report has relabelled is replaced wherever else it occurs in a table
cell, caption or note.

Examples:
    >>> import tempfile, pandas as pd
    >>> from biomm.report.plotting import new_figure
    >>> fig, ax = new_figure(3, 2)
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> table = pd.DataFrame({"patient_id": ["P17"], "auroc": [0.8]})
    >>> section = Section("Results", figures={"A line": fig}, tables={"Scores": table})
    >>> path = build_report([section], tempfile.mkdtemp(), title="Demo")
    >>> html = path.read_text()
    >>> "P17" in html, "patient 1" in html, html.count('src="data:image/png;base64,')
    (False, True, 1)
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.privacy import check_salt, free_text_column, id_pattern, phi_columns, phi_kind, pseudonym
from biomm.report.plotting import png_bytes
from biomm.utils.atomic import atomic_path, atomic_write_text

__all__ = [
    "ID_COLUMNS",
    "IdLabeller",
    "Section",
    "build_report",
    "sensitive_column",
    "table_html",
]

#: Table columns holding identifiers: relabelled (see :class:`IdLabeller`).
ID_COLUMNS = ("patient_id", "sample_id", "record_id", "mrn", "subject_id", "study_id")

#: A section figure: a Figure, or a callable that draws one given the report's id labeller.
FigureLike = Figure | Callable[["IdLabeller"], Figure]


def sensitive_column(name: str) -> bool:
    """Whether a column name suggests PHI (names, dates of birth…) or free text (left out).

    See :func:`biomm.privacy.phi_kind` and :func:`biomm.privacy.free_text_column`.

    Examples:
        >>> [sensitive_column(c) for c in ("patient_name", "DateOfBirth", "auroc", "report_text")]
        [True, True, False, True]
    """
    return phi_kind(name) is not None or free_text_column(name)


class IdLabeller:
    """How patient identifiers appear in a report.

    Args:
        show_ids: Show identifiers as they are.
        salt: Pseudonymise: :func:`biomm.privacy.pseudonym` (``id-`` + 16 hex digits of
            HMAC-SHA256 keyed by the salt; stable across reports made with the same salt; keep
            the salt secret). Takes precedence over ``show_ids``.

    Raises:
        ConfigError: On an empty or short salt (see :func:`biomm.privacy.check_salt`).

    Otherwise identifiers become ``patient 1``, ``patient 2``… in order of first use.

    Examples:
        >>> label = IdLabeller()
        >>> label("P9"), label("P3"), label("P9")
        ('patient 1', 'patient 2', 'patient 1')
        >>> from biomm.privacy import pseudonym
        >>> IdLabeller(salt="a-long-secret")("P9") == pseudonym("P9", "a-long-secret")
        True
        >>> IdLabeller(show_ids=True)("P9")
        'P9'
    """

    def __init__(self, *, show_ids: bool = False, salt: str | None = None) -> None:
        if salt is not None:
            check_salt(salt)
        self.show_ids = show_ids
        self.salt = salt
        self._labels: dict[str, str] = {}

    @property
    def mode(self) -> str:
        """``"pseudonymised"``, ``"shown"`` or ``"hidden"``."""
        if self.salt is not None:
            return "pseudonymised"
        return "shown" if self.show_ids else "hidden"

    @property
    def seen(self) -> dict[str, str]:
        """Identifier → label of every identifier labelled so far."""
        return dict(self._labels)

    def __call__(self, pid: Any) -> str:
        """The label of identifier ``pid`` (the same label every time)."""
        key = str(pid)
        if key not in self._labels:
            if self.salt is not None:
                self._labels[key] = pseudonym(key, self.salt)
            elif self.show_ids:
                self._labels[key] = key
            else:
                self._labels[key] = f"patient {len(self._labels) + 1}"
        return self._labels[key]

    def scrub(self, text: str) -> str:
        """Replace every identifier labelled so far in ``text`` by its label.

        Identifiers match as whole words (:func:`biomm.privacy.id_pattern`); identifiers
        shorter than 3 characters are left alone (they would match ordinary words).

        Examples:
            >>> label = IdLabeller()
            >>> _ = label("P12")
            >>> label.scrub("P12 and P123")
            'patient 1 and P123'
        """
        keys = [k for k in self._labels if len(k) >= 3]
        if self.mode == "shown" or not keys or not text:
            return text
        pattern = id_pattern(keys)
        assert pattern is not None
        return pattern.sub(lambda m: self._labels[m.group(0)], text)


@dataclass
class Section:
    """A titled part of a report.

    Attributes:
        title: Heading.
        figures: Caption → figure. A value may also be a callable taking the report's
            :class:`IdLabeller` and returning the figure (for figures that label patients).
        tables: Caption → DataFrame (cells are escaped; see the module docstring for the
            privacy rules applied to columns).
        notes: Paragraphs of plain text (escaped).

    Examples:
        >>> Section("Cohort", notes=["120 patients"]).is_empty()
        False
    """

    title: str
    figures: dict[str, FigureLike] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when the section has nothing to show."""
        return not (self.figures or self.tables or self.notes)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _private_table(frame: pd.DataFrame, labeller: IdLabeller) -> tuple[pd.DataFrame, list[str]]:
    """Sensitive columns dropped, identifier columns relabelled (identifiers get labels)."""
    frame = frame.copy()
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    ids = {str(c) for c in frame.columns if str(c).lower() in ID_COLUMNS}
    by_value = set(phi_columns(frame.drop(columns=list(ids)))) if len(frame.columns) else set()
    dropped = [
        str(c)
        for c in frame.columns
        if str(c) not in ids and (sensitive_column(str(c)) or str(c) in by_value)
    ]
    frame = frame.drop(columns=dropped)
    for column in frame.columns:
        if str(column).lower() in ID_COLUMNS:
            frame[column] = [labeller(v) if pd.notna(v) else v for v in frame[column]]
    return frame, dropped


def _escaped_html(frame: pd.DataFrame, labeller: IdLabeller) -> str:
    frame = frame.copy()
    frame.columns = [labeller.scrub(str(c)) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = [labeller.scrub(v) if isinstance(v, str) else v for v in frame[column]]
    return frame.to_html(
        index=False,
        escape=True,
        na_rep="–",
        border=0,
        classes="report-table",
        float_format=_format_value,
    )


def table_html(frame: pd.DataFrame, labeller: IdLabeller | None = None) -> tuple[str, list[str]]:
    """A DataFrame as an escaped HTML table, with the report's privacy rules applied.

    Returns:
        The ``<table>`` markup and the names of the columns left out.

    Examples:
        >>> html, dropped = table_html(pd.DataFrame({"x": ["<script>"], "dob": ["1950-01-01"]}))
        >>> "&lt;script&gt;" in html, "1950" in html, dropped
        (True, False, ['dob'])
    """
    labeller = labeller or IdLabeller()
    frame, dropped = _private_table(frame, labeller)
    return _escaped_html(frame, labeller), dropped


def _scrub_figure(figure: Figure, labeller: IdLabeller) -> None:
    """Replace labelled identifiers in a figure's texts and tick labels (in place)."""
    from matplotlib.text import Text

    if labeller.mode == "shown" or not labeller.seen:
        return
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            old = [t.get_text() for t in axis.get_ticklabels()]  # formats the current ticks
            new = [labeller.scrub(t) for t in old]
            if new != old:  # freeze the scrubbed labels at the current tick positions
                axis.set_ticks(axis.get_ticklocs(), new)
    for text in figure.findobj(Text):
        old_text = text.get_text()
        new_text = labeller.scrub(old_text)
        if new_text != old_text:
            text.set_text(new_text)


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "figure"


def _privacy_text(labeller: IdLabeller) -> str:
    return {
        "hidden": "Patient identifiers are not shown; example patients are numbered.",
        "pseudonymised": "Patient identifiers are pseudonymised (keyed HMAC-SHA256).",
        "shown": "Patient identifiers are shown.",
    }[labeller.mode]


def _template() -> Any:
    from importlib.resources import files

    from jinja2 import Environment, select_autoescape

    source = files("biomm.report").joinpath("templates", "report.html.j2").read_text("utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(source)


def build_report(
    sections: Iterable[Section | None],
    out_dir: str | PathLike[str],
    *,
    title: str = "biomm report",
    pseudonymise_ids: str | None = None,
    show_ids: bool = False,
    dpi: int = 110,
) -> Path:
    """Write ``report.html`` and ``figures/*.png`` into ``out_dir``.

    Args:
        sections: The sections, in order; None and empty sections are skipped (so builders
            that return None for absent inputs can be passed straight in).
        out_dir: Output folder (created). PNGs of an earlier report in ``figures/`` are
            replaced.
        title: Report title.
        pseudonymise_ids: A secret salt: identifiers become pseudonyms
            (:func:`biomm.privacy.pseudonym`).
        show_ids: Show identifiers as they are (ignored with ``pseudonymise_ids``).
        dpi: Resolution of the figures.

    Returns:
        The path of ``report.html``.

    Raises:
        InputError: On a section that is not a :class:`Section`, a figure that is not a
            matplotlib figure, or a table that is not a DataFrame.

    Examples:
        >>> import tempfile
        >>> out = build_report([Section("Notes", notes=["<b>bold?</b>"])], tempfile.mkdtemp())
        >>> "&lt;b&gt;bold?&lt;/b&gt;" in out.read_text()
        True
    """
    from biomm import __version__

    out = Path(out_dir)
    figures_dir = out / "figures"
    labeller = IdLabeller(show_ids=show_ids, salt=pseudonymise_ids)
    kept = [s for s in sections if s is not None]
    for s in kept:
        if not isinstance(s, Section):
            raise InputError(f"a report section must be a Section, got {type(s).__name__}")
    kept = [s for s in kept if not s.is_empty()]
    # pass 1: draw deferred figures and relabel identifier columns (identifiers get labels)
    drawn: list[list[tuple[str, Figure]]] = []
    tables: list[list[tuple[str, pd.DataFrame, list[str]]]] = []
    for section in kept:
        figures = []
        for caption, item in section.figures.items():
            figure = item(labeller) if callable(item) and not isinstance(item, Figure) else item
            if not isinstance(figure, Figure):
                raise InputError(
                    f"section {section.title!r}, figure {caption!r}: expected a matplotlib "
                    f"Figure, got {type(figure).__name__}"
                )
            figures.append((caption, figure))
        drawn.append(figures)
        frames = []
        for caption, frame in section.tables.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(
                    f"section {section.title!r}, table {caption!r}: expected a DataFrame, "
                    f"got {type(frame).__name__}"
                )
            frames.append((caption, *_private_table(frame, labeller)))
        tables.append(frames)
    # pass 2: every identifier labelled anywhere is replaced everywhere, then rendered
    from markupsafe import Markup

    written: set[Path] = set()
    rendered = []
    for number, section in enumerate(kept, start=1):
        notes = [labeller.scrub(str(n)) for n in section.notes]
        figures = []
        for k, (caption, figure) in enumerate(drawn[number - 1], start=1):
            _scrub_figure(figure, labeller)
            data = png_bytes(figure, dpi=dpi)
            path = figures_dir / f"{number:02d}-{k:02d}-{_slug(caption)}.png"
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
            written.add(path)
            width, height = _png_size(data)
            figures.append(
                {
                    "caption": labeller.scrub(caption),
                    "data": base64.b64encode(data).decode("ascii"),
                    "width": width,
                    "height": height,
                }
            )
        rendered_tables = []
        for caption, frame, dropped in tables[number - 1]:
            html = _escaped_html(frame, labeller)  # escaped by pandas
            rendered_tables.append({"caption": labeller.scrub(caption), "html": Markup(html)})
            if dropped:
                notes.append(
                    f"Table '{labeller.scrub(caption)}': columns left out for privacy (may "
                    f"hold names, dates of birth, contact details or free text): "
                    f"{', '.join(dropped)}"
                )
        rendered.append(
            {
                "title": labeller.scrub(section.title),
                "anchor": f"section-{number}",
                "figures": figures,
                "tables": rendered_tables,
                "notes": notes,
            }
        )
    if figures_dir.is_dir():
        for stale in figures_dir.glob("*.png"):
            if stale not in written:
                stale.unlink()
    html = _template().render(
        title=labeller.scrub(title),
        version=__version__,
        generated=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip(),
        privacy=_privacy_text(labeller),
        sections=rendered,
    )
    return atomic_write_text(out / "report.html", html)
