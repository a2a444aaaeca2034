"""MultiModN prediction trajectories: each task's prediction after every modality step.

A ``biomm train`` run with the ``multimodn`` fusion writes ``trajectories.csv``: one row per
patient and step (``initial``, then each modality in order) with ``applied`` False where the
patient lacks that step's modality (its prediction is then unchanged). The figure draws a
few example patients; an open marker with a cross shows a skipped (absent) modality.

Patients are labelled ``patient 1``, ``patient 2``… unless labels are given: identifiers
appear only where the caller puts them.

Examples:
    >>> import pandas as pd
    >>> steps = pd.DataFrame({"patient_id": ["a", "a", "b", "b"], "step": [0, 1, 0, 1],
    ...                       "modality": ["initial", "ecg"] * 2,
    ...                       "applied": [True, True, True, False], "y": [0.5, 0.8, 0.5, 0.5]})
    >>> example_patients(steps, 2)
    ['b', 'a']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.report.plotting import PALETTE, new_figure

__all__ = ["example_patients", "trajectory_figure", "trajectory_tasks"]

_REQUIRED = ("patient_id", "step", "modality", "applied")


def _check(steps: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in steps]
    if missing:
        raise InputError(f"the trajectories table lacks columns {missing}")


def trajectory_tasks(steps: pd.DataFrame) -> list[str]:
    """Tasks with a numeric (scalar) prediction per step.

    Examples:
        >>> trajectory_tasks(pd.DataFrame({"patient_id": ["a"], "step": [0],
        ...     "modality": ["initial"], "applied": [True], "y": [0.3], "z": ["[0.1, 0.9]"]}))
        ['y']
    """
    _check(steps)
    return [
        str(c)
        for c in steps.columns
        if c not in _REQUIRED and pd.api.types.is_numeric_dtype(steps[c].dtype)
    ]


def example_patients(steps: pd.DataFrame, n: int = 4) -> list[str]:
    """Up to ``n`` patients that show the trajectories well.

    One patient per availability pattern first (patients with skipped steps before complete
    ones, so that both kinds of markers appear), then the next patients in table order.

    Examples:
        >>> steps = pd.DataFrame({"patient_id": ["a", "b"], "step": [0, 0],
        ...     "modality": ["initial"] * 2, "applied": [True, True]})
        >>> example_patients(steps, 5)
        ['a', 'b']
    """
    _check(steps)
    if n <= 0:
        return []
    ids = steps["patient_id"].astype(str)
    pattern = (
        steps.assign(_id=ids)
        .groupby("_id", sort=False)["applied"]
        .apply(lambda a: tuple(bool(v) for v in a))
    )
    order = sorted(
        range(len(pattern)), key=lambda k: (all(pattern.iloc[k]), k)
    )  # incomplete patterns first, then table order
    chosen: list[str] = []
    seen: set[tuple[bool, ...]] = set()
    for k in order:
        if pattern.iloc[k] not in seen:
            seen.add(pattern.iloc[k])
            chosen.append(str(pattern.index[k]))
    for pid in pattern.index:
        if len(chosen) >= n:
            break
        if pid not in chosen:
            chosen.append(str(pid))
    return chosen[:n]


def _labeller(
    labels: Mapping[str, str] | Callable[[str], str] | None, patients: Sequence[str]
) -> Callable[[str], str]:
    if callable(labels):
        return labels
    if labels is not None:
        mapping = dict(labels)
        return lambda pid: mapping.get(pid, pid)
    numbers = {pid: k + 1 for k, pid in enumerate(patients)}
    return lambda pid: f"patient {numbers[pid]}"


def trajectory_figure(
    steps: pd.DataFrame,
    task: str | None = None,
    *,
    patients: Sequence[str] | None = None,
    n: int = 4,
    labels: Mapping[str, str] | Callable[[str], str] | None = None,
    title: str | None = None,
) -> Figure:
    """Prediction of one task after each MultiModN step, for a few patients.

    Args:
        steps: A ``trajectories.csv`` table (see :func:`biomm.train.run.trajectories`).
        task: The task column (default: the first numeric one).
        patients: Patient ids to draw (default: :func:`example_patients`).
        n: Number of example patients when ``patients`` is None.
        labels: Legend label per patient id (a mapping or a callable); default
            ``patient 1``, ``patient 2``… (no identifier is shown).
        title: Title.

    Raises:
        InputError: On missing columns, an unknown task or unknown patients.

    Examples:
        >>> steps = pd.DataFrame({"patient_id": ["a", "a", "b", "b"], "step": [0, 1, 0, 1],
        ...     "modality": ["initial", "ecg"] * 2, "applied": [True, True, True, False],
        ...     "y": [0.5, 0.8, 0.5, 0.5]})
        >>> ax = trajectory_figure(steps).axes[0]
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['patient 1', 'patient 2', 'modality absent (skipped)']
    """
    tasks = trajectory_tasks(steps)
    task = task or (tasks[0] if tasks else None)
    if task is None or task not in tasks:
        raise InputError(f"task {task!r} has no numeric predictions; tasks: {tasks}")
    ids = steps["patient_id"].astype(str)
    chosen = [str(p) for p in patients] if patients is not None else example_patients(steps, n)
    unknown = sorted(set(chosen) - set(ids))
    if unknown:
        raise InputError(f"{len(unknown)} patient(s) not in the trajectories table")
    if not chosen:
        raise InputError("no patient to draw")
    label_of = _labeller(labels, chosen)
    order = steps.drop_duplicates("step").sort_values("step")
    fig, ax = new_figure(max(4.5, 1.1 * len(order) + 2.5), 3.8)
    for k, pid in enumerate(chosen):
        rows = steps[ids == pid].sort_values("step")
        x = rows["step"].to_numpy(dtype=int)
        y = rows[task].to_numpy(dtype=float)
        applied = rows["applied"].astype(bool).to_numpy()
        colour = PALETTE[k % len(PALETTE)]
        ax.plot(x, y, "-", color=colour, lw=1.6, label=label_of(pid))
        ax.plot(x[applied], y[applied], "o", color=colour, ms=6)
        if (~applied).any():
            ax.plot(x[~applied], y[~applied], "X", mfc="white", mec=colour, ms=8, mew=1.2)
    ax.plot([], [], "X", mfc="white", mec="0.3", ms=8, label="modality absent (skipped)")
    ax.set_xticks(order["step"].to_numpy(dtype=int), order["modality"].astype(str).tolist())
    ax.set_xlabel("step (modality added)")
    ax.set_ylabel(f"prediction: {task}")
    ax.set_title(title or f"MultiModN trajectories — {task}")
    ax.legend(fontsize="small", loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return fig
