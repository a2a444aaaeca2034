"""A 12-lead ECG on paper: the standard 3×4 layout plus a lead II rhythm strip.

The grid follows ECG paper at 25 mm/s and 10 mm/mV: small squares of 0.04 s × 0.1 mV, large
squares of 0.2 s × 0.5 mV. Each of the four columns shows a quarter of the record (2.5 s of a
10 s ECG) of three leads (``I II III``, ``aVR aVL aVF``, ``V1 V2 V3``, ``V4 V5 V6``); the
bottom row is lead II over the whole record. Leads the record lacks are marked "absent",
never drawn as flat lines.

Only the signal is drawn: no identifier, path, age, sex or other metadata of the record.

Examples:
    >>> LAYOUT_3X4[0]
    ('I', 'aVR', 'V1', 'V4')
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MultipleLocator, NullFormatter

from biomm.errors import InputError
from biomm.report.plotting import new_figure

__all__ = ["LAYOUT_3X4", "ecg_figure"]

#: Rows of the standard 3×4 layout (each row: the lead of column 1..4).
LAYOUT_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))

_ROW_SPACING_MV = 3.0
_GRID_MAJOR = "#f2a2a2"
_GRID_MINOR = "#fbdcdc"


def _lead_rows(record: Any) -> dict[str, np.ndarray | None]:
    """Lead name → samples (None when absent) of a record with ``signal`` and ``lead_names``."""
    for attr in ("signal", "fs", "lead_names"):
        if not hasattr(record, attr):
            raise InputError(f"an ECG record needs .{attr} (see biomm.io.ecg.read_ecg)")
    signal = np.asarray(record.signal, dtype=float)
    names = list(record.lead_names)
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise InputError(f"ECG signal {signal.shape} does not fit {len(names)} lead names")
    present = np.asarray(getattr(record, "present", np.isfinite(signal).any(axis=1)), bool)
    return {
        name: signal[k] if present[k] and np.isfinite(signal[k]).any() else None
        for k, name in enumerate(names)
    }


def ecg_figure(
    record: Any,
    *,
    seconds: float | None = 10.0,
    title: str | None = None,
    rhythm_lead: str = "II",
) -> Figure:
    """Plot a 12-lead ECG in the standard 3×4 layout with a rhythm strip, on ECG paper.

    Args:
        record: An :class:`biomm.io.ecg.ECG` (from :func:`biomm.io.ecg.read_ecg`), or any
            object with ``signal`` (leads × samples, mV), ``fs``, ``lead_names`` and
            optionally ``present``.
        seconds: Length shown (the record's length when shorter; None: all of it).
        title: Title (default: sampling rate, length and paper scale).
        rhythm_lead: Lead of the bottom rhythm strip.

    Raises:
        InputError: On a record without signal, rate or lead names, or an empty signal.

    Examples:
        >>> from biomm.io.ecg import ECG
        >>> t = np.arange(2500) / 250
        >>> ecg = ECG.from_leads({"I": np.sin(t), "II": np.cos(t), "V1": np.sin(2 * t)}, fs=250)
        >>> fig = ecg_figure(ecg)
        >>> sorted(t.get_text() for t in fig.axes[0].texts if t.get_text() == "absent")[:1]
        ['absent']
        >>> len(fig.axes[0].get_lines())  # 7 leads in 3x4 cells (I, II, derived, V1) + rhythm
        8
    """
    leads = _lead_rows(record)
    fs = float(record.fs)
    n_samples = np.asarray(record.signal).shape[1]
    if fs <= 0 or n_samples == 0:
        raise InputError(f"an ECG needs samples and a positive rate (fs={fs}, {n_samples} samples)")
    duration = n_samples / fs
    shown = duration if seconds is None else min(float(seconds), duration)
    n_shown = max(1, round(shown * fs))
    column = shown / 4
    t_all = np.arange(n_shown) / fs
    fig, ax = new_figure(max(6.0, shown * 1.05 + 0.8), 5.8)
    line = {"color": "black", "lw": 0.7}
    for row, names in enumerate((*LAYOUT_3X4, (rhythm_lead,))):
        offset = -_ROW_SPACING_MV * row
        for col, name in enumerate(names):
            start = col * column
            end = shown if len(names) == 1 else start + column
            samples = leads.get(name)
            ax.text(start + 0.04, offset + 1.1, name, fontsize="small", fontweight="bold")
            if col:
                ax.vlines(start, offset - 0.6, offset + 0.6, color="black", lw=0.8)
            if samples is None:
                ax.text(
                    (start + end) / 2,
                    offset,
                    "absent",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="0.45",
                    style="italic",
                )
                continue
            k0, k1 = round(start * fs), min(n_shown, round(end * fs))
            ax.plot(t_all[k0:k1], samples[k0:k1] + offset, **line)
    ax.set_xlim(0, shown)
    ax.set_ylim(-_ROW_SPACING_MV * 3 - 1.8, 1.8)
    ax.set_aspect(0.4)  # 25 mm/s and 10 mm/mV: one mV is 0.4 times as long as one second
    ax.xaxis.set_major_locator(MultipleLocator(0.2))
    ax.xaxis.set_minor_locator(MultipleLocator(0.04))
    ax.yaxis.set_major_locator(MultipleLocator(0.5))
    ax.yaxis.set_minor_locator(MultipleLocator(0.1))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(NullFormatter())
    ax.tick_params(which="both", length=0)
    ax.grid(which="major", color=_GRID_MAJOR, lw=0.7)
    ax.grid(which="minor", color=_GRID_MINOR, lw=0.35)
    ax.set_axisbelow(True)
    for spine in ax.spines.values():
        spine.set_color(_GRID_MAJOR)
    n_present = sum(v is not None for v in leads.values())
    ax.set_title(
        title or f"{n_present}-lead ECG, {fs:g} Hz, {shown:.1f} s (25 mm/s, 10 mm/mV)",
        fontsize="medium",
    )
    return fig
