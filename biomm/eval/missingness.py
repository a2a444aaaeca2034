"""Simulate missing modalities (MCAR, MAR, MNAR) on top of the ones already missing.

:func:`simulate_missingness` takes per-modality presence masks and returns new masks with some
present modalities removed (never added). ``rate`` is the fraction of the samples *that have*
a modality which lose it; the number removed is exact (``round(rate * n_present)``), chosen by
the mechanism:

* ``"MCAR"``: uniformly at random.
* ``"MAR"``: with odds growing with an observed ``covariate`` (weighted sampling without
  replacement, weights ``exp(strength * z)`` with ``z`` the standardised covariate; a negative
  ``strength`` removes low values first).
* ``"MNAR"``: tied to the label: among samples whose label is ``target_class`` the fraction
  ``rate`` loses the modality, among the others the fraction ``other_rate`` (default 0). With
  ``target_class=1`` for training and ``target_class=0`` for testing this is MultiModN's MNAR
  shift experiment (:func:`mnar_shift`).

By default a sample never loses its last present modality (``allow_empty=False``); modalities
are processed in a random order and a removal that would empty a sample is not made, so the
realised rate can fall short when many samples have a single modality (a ``RuntimeWarning``
says so). Simulate train and test separately, each with its own mechanism and seed.

Examples:
    >>> import numpy as np
    >>> present = {"ecg": np.ones(10, bool), "wsi": np.ones(10, bool)}
    >>> out = simulate_missingness(present, "MCAR", 0.3, modalities=["wsi"], seed=0)
    >>> int(out["wsi"].sum()), int(out["ecg"].sum())
    (7, 10)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from biomm.errors import InputError
from biomm.eval.bootstrap import to_numpy

__all__ = ["MECHANISMS", "mnar_shift", "removal_rates", "simulate_missingness"]

Mechanism = Literal["MCAR", "MAR", "MNAR"]
MECHANISMS: tuple[str, ...] = ("MCAR", "MAR", "MNAR")


def _restore_type(original: Any, mask: np.ndarray) -> Any:
    if hasattr(original, "detach"):  # torch tensor in, torch tensor out (same device)
        import torch

        return torch.as_tensor(mask, dtype=torch.bool, device=original.device)
    return mask


def _weighted_choice(
    candidates: np.ndarray, k: int, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``k`` of ``candidates`` without replacement, P(pick) growing with ``weights``.

    Efraimidis–Spirakis: keep the ``k`` largest ``log(u) / w``.
    """
    if k <= 0 or candidates.size == 0:
        return candidates[:0]
    if k >= candidates.size:
        return candidates
    keys = np.log(rng.random(candidates.size)) / np.clip(weights, 1e-300, None)
    return candidates[np.argsort(-keys, kind="stable")[:k]]


def simulate_missingness(
    present: Mapping[str, Any],
    mechanism: Mechanism = "MCAR",
    rate: float | Mapping[str, float] = 0.3,
    *,
    modalities: Sequence[str] | None = None,
    labels: Any | None = None,
    covariate: Any | None = None,
    target_class: Any = 1,
    other_rate: float = 0.0,
    strength: float = 2.0,
    allow_empty: bool = False,
    seed: int | None = 0,
) -> dict[str, Any]:
    """New presence masks with additional, simulated missing modalities.

    Args:
        present: Modality → ``[N]`` bool mask (NumPy or torch); not modified.
        mechanism: ``"MCAR"``, ``"MAR"`` or ``"MNAR"`` (see the module docstring).
        rate: Fraction in [0, 1] of the samples having a modality that lose it; a mapping
            gives one rate per modality (and, without ``modalities``, the modalities to drop).
            For MNAR: the fraction within ``target_class``.
        modalities: Modalities that may be removed (default: the keys of a ``rate`` mapping,
            else all).
        labels: ``[N]`` labels (MNAR only); NaN / other values count as not ``target_class``.
        covariate: ``[N]`` observed covariate driving MAR removal (MAR only).
        target_class: MNAR: the label value whose samples lose modalities at ``rate``.
        other_rate: MNAR: the rate for all other samples.
        strength: MAR: log-odds weight per standard deviation of ``covariate``.
        allow_empty: Allow removing the last present modality of a sample.
        seed: Random seed.

    Returns:
        Modality → ``[N]`` bool mask, of the same type as the input; modalities not
        simulated are returned unchanged.

    Raises:
        InputError: On unknown mechanisms or modalities, rates outside [0, 1], masks and
            labels/covariates of different lengths, or a missing ``labels``/``covariate``.

    Examples:
        >>> import numpy as np
        >>> y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
        >>> present = {"ecg": np.ones(8, bool), "wsi": np.ones(8, bool)}
        >>> out = simulate_missingness(present, "MNAR", 0.5, modalities=["wsi"], labels=y)
        >>> int(out["wsi"][y == 1].sum()), int(out["wsi"][y == 0].sum())
        (2, 4)
    """
    if mechanism not in MECHANISMS:
        raise InputError(f"unknown mechanism {mechanism!r}; use one of {list(MECHANISMS)}")
    if not present:
        raise InputError("present is empty: give at least one modality mask")
    masks = {k: to_numpy(v).astype(bool).reshape(-1).copy() for k, v in present.items()}
    n = {len(m) for m in masks.values()}
    if len(n) != 1:
        raise InputError(
            "presence masks differ in length: "
            + ", ".join(f"{k}={len(v)}" for k, v in masks.items())
        )
    n_rows = n.pop()
    if modalities is None:
        modalities = list(rate) if isinstance(rate, Mapping) else list(masks)
    unknown = sorted(set(modalities) - set(masks))
    if unknown:
        raise InputError(f"unknown modalities {unknown}; present has {list(masks)}")
    rates = {m: float(rate[m] if isinstance(rate, Mapping) else rate) for m in modalities}
    if isinstance(rate, Mapping) and set(rate) - set(modalities):
        raise InputError(
            f"rate given for modalities not simulated: {sorted(set(rate) - set(modalities))}"
        )
    for m, r in [*rates.items(), ("other_rate", other_rate)]:
        if not 0.0 <= r <= 1.0:
            raise InputError(f"rate of {m!r} must be in [0, 1], got {r}")

    groups: list[tuple[np.ndarray, float | None]]  # (rows, rate override) per group
    weights = np.ones(n_rows)
    if mechanism == "MNAR":
        if labels is None:
            raise InputError("MNAR missingness needs labels")
        y = to_numpy(labels).reshape(-1)
        if len(y) != n_rows:
            raise InputError(f"labels has {len(y)} rows, the masks {n_rows}")
        positive = y == target_class
        groups = [(positive, None), (~positive, other_rate)]
    else:
        groups = [(np.ones(n_rows, dtype=bool), None)]
    if mechanism == "MAR":
        if covariate is None:
            raise InputError("MAR missingness needs a covariate")
        z = to_numpy(covariate).astype(float).reshape(-1)
        if len(z) != n_rows:
            raise InputError(f"covariate has {len(z)} rows, the masks {n_rows}")
        if not np.isfinite(z).all():
            raise InputError("covariate contains NaN or infinite values")
        sd = z.std()
        z = (z - z.mean()) / sd if sd > 0 else np.zeros_like(z)
        weights = np.exp(np.clip(strength * z, -50.0, 50.0))

    rng = np.random.default_rng(seed)
    order = [modalities[i] for i in rng.permutation(len(modalities))]
    shortfall: dict[str, int] = {}
    for m in order:
        for rows, override in groups:
            r = rates[m] if override is None else override
            has = masks[m] & rows
            k = round(r * int(has.sum()))
            if k == 0:
                continue
            if allow_empty:
                eligible = has
            else:
                others = np.zeros(n_rows, dtype=int)
                for other, mask in masks.items():
                    if other != m:
                        others += mask
                eligible = has & (others > 0)
            chosen = _weighted_choice(np.flatnonzero(eligible), k, weights[eligible], rng)
            masks[m][chosen] = False
            if len(chosen) < k:
                shortfall[m] = shortfall.get(m, 0) + k - len(chosen)
    if shortfall:
        warnings.warn(
            f"could not remove every requested modality without emptying samples: {shortfall} "
            "removals short (pass allow_empty=True to allow samples without modalities)",
            RuntimeWarning,
            stacklevel=2,
        )
    return {k: _restore_type(present[k], masks[k]) for k in present}


def removal_rates(
    before: Mapping[str, Any], after: Mapping[str, Any], *, within: Any | None = None
) -> dict[str, float]:
    """Fraction of the samples having each modality in ``before`` that lack it in ``after``.

    Args:
        before: Modality → ``[N]`` masks before simulation.
        after: Modality → ``[N]`` masks after simulation.
        within: Optional ``[N]`` bool mask restricting the count (e.g. ``labels == 1``).

    Examples:
        >>> removal_rates({"a": [True, True, False]}, {"a": [True, False, False]})
        {'a': 0.5}
    """
    out = {}
    for m in before:
        b = to_numpy(before[m]).astype(bool)
        a = to_numpy(after[m]).astype(bool)
        if within is not None:
            keep = to_numpy(within).astype(bool)
            a, b = a[keep], b[keep]
        out[m] = float((b & ~a).sum() / b.sum()) if b.any() else float("nan")
    return out


def mnar_shift(
    train_present: Mapping[str, Any],
    train_labels: Any,
    test_present: Mapping[str, Any],
    test_labels: Any,
    rate: float | Mapping[str, float],
    *,
    modalities: Sequence[str] | None = None,
    train_class: Any = 1,
    test_class: Any = 0,
    seed: int = 0,
    allow_empty: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """MultiModN's MNAR shift: modalities missing in one class at training, another at test.

    Training samples of ``train_class`` lose the modalities at ``rate``; test samples of
    ``test_class`` do. A model that learns "modality missing → ``train_class``" is then
    misled at test time. Different seeds are used for the two splits.

    Returns:
        ``(train_masks, test_masks)``.

    Examples:
        >>> import numpy as np
        >>> y = np.array([0, 1] * 10)
        >>> p = {"ecg": np.ones(20, bool), "wsi": np.ones(20, bool)}
        >>> tr, te = mnar_shift(p, y, p, y, 0.8, modalities=["wsi"])
        >>> int((~tr["wsi"] & (y == 1)).sum()), int((~te["wsi"] & (y == 0)).sum())
        (8, 8)
        >>> bool(tr["wsi"][y == 0].all() and te["wsi"][y == 1].all())
        True
    """
    train = simulate_missingness(
        train_present,
        "MNAR",
        rate,
        modalities=modalities,
        labels=train_labels,
        target_class=train_class,
        allow_empty=allow_empty,
        seed=seed,
    )
    test = simulate_missingness(
        test_present,
        "MNAR",
        rate,
        modalities=modalities,
        labels=test_labels,
        target_class=test_class,
        allow_empty=allow_empty,
        seed=seed + 1,
    )
    return train, test
