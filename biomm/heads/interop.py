"""Survival interop: lifelines, scikit-survival and pycox conventions.

biomm's risk scores follow one convention: **higher = worse** (earlier events). lifelines'
``concordance_index`` expects the opposite (higher = longer survival), so
:func:`concordance_index` negates the risk before calling it. scikit-survival takes the
outcome as a numpy structured array (:func:`to_sksurv`, no import of sksurv needed); pycox's
``EvalSurv`` takes survival curves as a DataFrame with the time grid as index and one column
per sample (:func:`survival_frame`).

Examples:
    >>> import numpy as np
    >>> time = np.array([1.0, 2.0, 3.0, 4.0])
    >>> concordance_index(time, risk=-time, event=np.ones(4))  # shortest time, highest risk
    1.0
    >>> to_sksurv(time[:2], [1, 0])
    array([( True, 1.), (False, 2.)], dtype=[('event', '?'), ('time', '<f8')])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from biomm.errors import InputError

#: The dtype of scikit-survival's outcome arrays.
SKSURV_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])


def _array(values: Any, what: str, ndim: int = 1) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None
    if ndim == 1:
        out = out.reshape(-1)
    elif out.ndim != ndim:
        raise InputError(f"{what} must have {ndim} dimensions, got shape {list(out.shape)}")
    return out


def _events(event: Any, n: int) -> np.ndarray:
    if event is None:
        return np.ones(n, dtype=bool)
    e = _array(event, "event")
    if e.size != n:
        raise InputError(f"event has {e.size} values, time has {n}")
    if not np.isin(e, (0.0, 1.0)).all():
        raise InputError("event indicators must be 0 or 1 (or booleans)")
    return e == 1.0


def concordance_index(time: Any, risk: Any, event: Any = None) -> float:
    """Harrell's C-index of a risk score where higher = worse, via lifelines.

    The same as :func:`biomm.eval.survival.harrell_c` (lifelines with the risk negated:
    lifelines expects higher = longer survival), with survival-analysis argument order and an
    error instead of NaN when no pair is comparable.

    Args:
        time: ``[N]`` follow-up times.
        risk: ``[N]`` risk scores (higher = earlier event).
        event: ``[N]`` event indicators (default: every event observed).

    Returns:
        The C-index in ``[0, 1]`` (0.5 = random, 1 = perfect ranking).

    Raises:
        InputError: On mismatched lengths, non-finite values, or no comparable pair.

    Examples:
        >>> concordance_index([1.0, 2.0, 3.0], [0.1, 0.5, 0.9])  # risk rises with time: wrong
        0.0
    """
    from biomm.eval.survival import harrell_c

    t = _array(time, "time")
    r = _array(risk, "risk")
    if t.size != r.size:
        raise InputError(f"time ({t.size}) and risk ({r.size}) differ in length")
    if not (np.isfinite(t).all() and np.isfinite(r).all()):
        raise InputError("time and risk must be finite")
    value = harrell_c(t, _events(event, t.size), r)
    if not np.isfinite(value):
        raise InputError("no comparable pair of samples: the C-index is undefined")
    return value


def to_sksurv(time: Any, event: Any) -> np.ndarray:
    """A scikit-survival outcome: structured array with fields ``event`` (bool), ``time``.

    Args:
        time: ``[N]`` follow-up times.
        event: ``[N]`` event indicators.

    Raises:
        InputError: On mismatched lengths, non-finite times or non-binary events.

    Examples:
        >>> y = to_sksurv([5.0, 2.0], [True, False])
        >>> y["time"].tolist(), y["event"].tolist()
        ([5.0, 2.0], [True, False])
    """
    t = _array(time, "time")
    if not np.isfinite(t).all():
        raise InputError("time must be finite")
    out = np.empty(t.size, dtype=SKSURV_DTYPE)
    out["event"] = _events(event, t.size)
    out["time"] = t
    return out


def from_sksurv(outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(time, event)`` from a scikit-survival structured array (any two field names).

    The boolean field is the event, the other the time, whatever they are called.

    Raises:
        InputError: When the array does not have one boolean and one numeric field.

    Examples:
        >>> from_sksurv(to_sksurv([3.0], [1]))
        (array([3.]), array([ True]))
    """
    names = getattr(getattr(outcome, "dtype", None), "names", None)
    if not names or len(names) != 2:
        raise InputError("a scikit-survival outcome is a structured array with 2 fields")
    kinds = {name: outcome.dtype[name].kind for name in names}
    flags = [n for n, k in kinds.items() if k == "b"]
    numbers = [n for n, k in kinds.items() if k in "iuf"]
    if len(flags) != 1 or len(numbers) != 1:
        raise InputError(f"expected one boolean and one numeric field, got {kinds}")
    return outcome[numbers[0]].astype(np.float64), outcome[flags[0]].astype(bool)


def survival_frame(
    survival: Any, time_grid: Any, columns: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Survival curves as a pycox-style DataFrame: index = time grid, one column per sample.

    Args:
        survival: ``[N, T]`` survival probabilities (e.g. a head's ``predict()["survival"]``).
        time_grid: ``[T]`` non-decreasing times.
        columns: Column labels (e.g. patient ids; default ``0 … N-1``).

    Raises:
        InputError: On mismatched shapes or a decreasing grid.

    Examples:
        >>> frame = survival_frame([[1.0, 0.5], [0.9, 0.8]], [1.0, 2.0], columns=["p1", "p2"])
        >>> frame.index.name, list(frame.columns), float(frame.loc[2.0, "p1"])
        ('time', ['p1', 'p2'], 0.5)
    """
    s = _array(survival, "survival", ndim=2)
    grid = _array(time_grid, "time_grid")
    if s.shape[1] != grid.size:
        raise InputError(f"survival has {s.shape[1]} time points, time_grid {grid.size}")
    if not np.isfinite(grid).all() or (np.diff(grid) < 0).any():
        raise InputError("time_grid must be finite and non-decreasing")
    if columns is not None and len(columns) != s.shape[0]:
        raise InputError(f"{len(columns)} column labels for {s.shape[0]} samples")
    frame = pd.DataFrame(s.T, index=pd.Index(grid, name="time"), columns=columns)
    return frame
