"""Patient-level splits: k-fold or train/val/test, stratified, seeded, leak-free.

All rows of a patient always land in the same split, because assignment is made per patient
and then broadcast to the rows. Stratification uses one label per patient (its most frequent
target value; survival targets stratify by event, continuous ones by quartile); strata too
small to spread are pooled.

Examples:
    >>> import pandas as pd
    >>> from biomm import Cohort
    >>> df = pd.DataFrame({"patient_id": [f"p{i}" for i in range(20)], "label": [0, 1] * 10})
    >>> out = Cohort(df).split(ratios=(0.6, 0.2, 0.2), stratify="label", seed=1)
    >>> out.table["split"].value_counts().to_dict()
    {'train': 12, 'val': 4, 'test': 4}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from biomm.cohort.validate import _check_splits, normalise_split
from biomm.errors import SplitError

if TYPE_CHECKING:
    from biomm.cohort.manifest import Cohort

_MISSING = "__missing__"
_POOLED = "__pooled__"


def patient_strata(cohort: Cohort, target: str | None) -> pd.Series:
    """One stratification label per patient (index: patient id).

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> df = pd.DataFrame({"patient_id": ["a", "a", "b"], "sample_id": ["1", "2", "3"],
        ...                    "label": [1, 1, 0]})
        >>> patient_strata(Cohort(df), "label").to_dict()
        {'a': '1', 'b': '0'}
    """
    pid = cohort.schema.patient_id
    patients = cohort.patient_ids
    if target is None:
        return pd.Series("all", index=pd.Index(patients, name=pid))
    if target not in cohort.schema.targets:
        raise SplitError(
            f"cannot stratify by {target!r}: not a declared target ({cohort.target_names})",
            path=cohort.source,
        )
    spec = cohort.schema.targets[target]
    values = cohort.parse_target(target).values
    if spec.type == "survival":
        labels = [None if v is None else str(v[1]) for v in values]
    elif spec.type == "continuous":
        numbers = pd.Series([np.nan if v is None else v for v in values], dtype=float)
        n_bins = min(4, max(1, numbers.nunique()))
        bins = pd.qcut(numbers, q=n_bins, labels=False, duplicates="drop")
        labels = [None if pd.isna(b) else f"q{int(b)}" for b in bins]
    elif spec.type == "multilabel":
        labels = [None if v is None else "".join(map(str, v)) for v in values]
    else:
        labels = [None if v is None else str(v) for v in values]
    frame = pd.DataFrame({"pid": cohort.table[pid].astype(str), "label": labels})
    frame = frame[frame["pid"].isin(set(patients))]
    per_patient = frame.groupby("pid", sort=False)["label"].agg(
        lambda s: s.dropna().mode().iloc[0] if s.notna().any() else _MISSING
    )
    return per_patient.reindex(patients).rename_axis(pid)


def _pool_rare(labels: pd.Series, minimum: int) -> pd.Series:
    counts = labels.value_counts()
    rare = counts.index[counts < minimum]
    pooled = labels.where(~labels.isin(rare), _POOLED)
    if (pooled == _POOLED).sum() < minimum:  # a pooled stratum still too small: no strata
        pooled = pooled.where(pooled != _POOLED, counts.index[0])
    return pooled


def assign_folds(strata: pd.Series, folds: int, seed: int) -> pd.Series:
    """Assign each patient (index of ``strata``) a fold in ``1..folds``, stratified.

    Examples:
        >>> s = pd.Series(["a"] * 6 + ["b"] * 3, index=[f"p{i}" for i in range(9)])
        >>> assign_folds(s, 3, seed=0).value_counts().sort_index().tolist()
        [3, 3, 3]
    """
    from sklearn.model_selection import StratifiedKFold

    check_split_request(folds, None)
    if len(strata) < folds:
        raise SplitError(f"cannot make {folds} folds from {len(strata)} patient(s)")
    labels = _pool_rare(strata, folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = pd.Series(0, index=strata.index, dtype=int)
    for k, (_, test_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels.to_numpy())):
        out.iloc[test_idx] = k + 1
    return out


def assign_splits(strata: pd.Series, ratios: Sequence[float], seed: int) -> pd.Series:
    """Assign each patient ``train``/``val``/``test`` with the given ratios, stratified.

    A ratio of 0 drops that split (``(0.8, 0, 0.2)`` gives train/test).

    Examples:
        >>> s = pd.Series([0, 1] * 10, index=[f"p{i}" for i in range(20)]).astype(str)
        >>> assign_splits(s, (0.5, 0.25, 0.25), seed=0).value_counts().sort_index().to_dict()
        {'test': 5, 'train': 10, 'val': 5}
    """
    from sklearn.model_selection import train_test_split

    check_split_request(None, ratios)
    ratios = tuple(float(r) for r in ratios)
    n = len(strata)
    wanted = [round(r * n) for r in ratios[1:]]
    wanted = [max(1, w) if r > 0 else 0 for w, r in zip(wanted, ratios[1:], strict=True)]
    if n - sum(wanted) < 1:
        raise SplitError(f"cannot split {n} patient(s) with ratios {ratios}")
    out = pd.Series("train", index=strata.index, dtype=object)
    remaining = strata
    for name, size in zip(("test", "val"), (wanted[1], wanted[0]), strict=True):
        if size == 0:
            continue
        labels = _pool_rare(remaining, 2)
        stratify = labels.to_numpy() if labels.nunique() > 1 else None
        try:
            rest, held = train_test_split(
                remaining.index.to_numpy(), test_size=size, random_state=seed, stratify=stratify
            )
        except ValueError:  # a stratum cannot cover the split size: fall back to random
            rest, held = train_test_split(
                remaining.index.to_numpy(), test_size=size, random_state=seed
            )
        out.loc[held] = name
        remaining = remaining.loc[rest]
    return out


def check_split_request(folds: int | None, ratios: Sequence[float] | None) -> None:
    """Check split arguments before any data is looked at.

    Raises:
        SplitError: Unless exactly one of ``folds`` (an integer ≥ 2) and ``ratios`` (three
            non-negative fractions summing to 1, train > 0) is given.

    Examples:
        >>> check_split_request(5, None)
        >>> check_split_request(2.5, None)
        Traceback (most recent call last):
        ...
        biomm.errors.SplitError: folds must be an integer of at least 2, got 2.5
    """
    if (folds is None) == (ratios is None):
        raise SplitError("give exactly one of folds=K or ratios=(train, val, test)")
    if folds is not None and (
        isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2
    ):
        raise SplitError(f"folds must be an integer of at least 2, got {folds}")
    if ratios is not None:
        values = tuple(float(r) for r in ratios)
        if len(values) != 3 or any(r < 0 for r in values) or not np.isclose(sum(values), 1.0):
            raise SplitError(
                f"ratios must be three non-negative numbers summing to 1, got {values}"
            )
        if values[0] == 0:
            raise SplitError("the train ratio must be positive")


def split_cohort(
    cohort: Cohort,
    *,
    folds: int | None = None,
    ratios: Sequence[float] | None = None,
    stratify: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Cohort:
    """Return a copy of ``cohort`` with a patient-level ``fold`` or ``split`` column.

    Give ``folds`` for k-fold (column ``fold``, values 1..k) or ``ratios`` for train/val/test
    (column ``split``). An existing split/fold column is honoured: without ``overwrite`` the
    cohort comes back unchanged, after checking that no patient is in two splits.

    Args:
        cohort: The cohort.
        folds: Number of folds (≥ 2).
        ratios: ``(train, val, test)`` fractions summing to 1.
        stratify: Target name to stratify by (None: unstratified).
        seed: Random seed; the same seed gives the same assignment.
        overwrite: Replace an existing split/fold column.

    Raises:
        SplitError: On impossible requests or a leaking existing split.

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> df = pd.DataFrame({"patient_id": ["a", "a", "b", "c"], "sample_id": list("1234")})
        >>> out = Cohort(df).split(folds=3, seed=0)
        >>> int(out.table.groupby("patient_id")["fold"].nunique().max())
        1
    """
    check_split_request(folds, ratios)
    schema = cohort.schema
    column = schema.fold if folds is not None else schema.split
    existing = column is not None and column in cohort.table and cohort.table[column].notna().any()
    if existing and not overwrite:
        assert column is not None
        unassigned = sorted(
            set(cohort.table.loc[cohort.table[column].isna(), schema.patient_id].dropna())
        )
        if unassigned:
            raise SplitError(
                f"existing {column!r} column leaves {len(unassigned)} patient(s) without a "
                f"value (e.g. {unassigned[0]!r}); fill it or pass overwrite=True",
                path=cohort.source,
            )
        bad = [p for p in _check_splits(cohort) if p.column == column]
        if bad:
            raise SplitError(
                f"existing {column!r} column cannot be kept ({len(bad)} problem(s); first: "
                f"{bad[0]}); fix it or pass overwrite=True",
                path=cohort.source,
            )
        return cohort
    strata = patient_strata(cohort, stratify)
    if folds is not None:
        assignment = assign_folds(strata, folds, seed)
        column = column or "fold"
        update = {"fold": column}
    else:
        assert ratios is not None
        assignment = assign_splits(strata, ratios, seed)
        column = column or "split"
        update = {"split": column}
    table = cohort.table.copy()
    assigned = table[schema.patient_id].map(assignment)
    table[column] = assigned.astype("Int64") if folds is not None else assigned
    return cohort.with_table(table, schema.model_copy(update=update))


def iter_folds(cohort: Cohort) -> Iterator[tuple[int, list[str], list[str]]]:
    """Yield ``(fold, train_patient_ids, held_out_patient_ids)`` for each fold of a k-fold cohort.

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": list("abcd"), "fold": [1, 2, 1, 2]}))
        >>> [(k, held) for k, _, held in iter_folds(c)]
        [(1, ['a', 'c']), (2, ['b', 'd'])]
    """
    col = cohort.schema.fold
    if not col or col not in cohort.table:
        raise SplitError(
            "the cohort has no fold column; call split(folds=K) first", path=cohort.source
        )
    pid = cohort.schema.patient_id
    pairs = cohort.table[[pid, col]].dropna().astype({pid: str})
    for fold in sorted(pairs[col].astype(int).unique()):
        held = pairs.loc[pairs[col].astype(int) == fold, pid]
        train = pairs.loc[pairs[col].astype(int) != fold, pid]
        yield int(fold), list(dict.fromkeys(train)), list(dict.fromkeys(held))


def splits_from_folds(
    cohort: Cohort, *, val_folds: Sequence[int], test_folds: Sequence[int]
) -> Cohort:
    """Turn a fold column into a train/val/test ``split`` column (PTB-XL: val 9, test 10).

    Examples:
        >>> import pandas as pd
        >>> from biomm import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": list("abc"), "strat_fold": [1, 9, 10]}))
        >>> splits_from_folds(c, val_folds=[9], test_folds=[10]).table["split"].tolist()
        ['train', 'val', 'test']
    """
    col = cohort.schema.fold
    if not col or col not in cohort.table:
        raise SplitError("the cohort has no fold column", path=cohort.source)
    overlap = set(val_folds) & set(test_folds)
    if overlap:
        raise SplitError(f"folds {sorted(overlap)} are both validation and test folds")
    folds = pd.to_numeric(cohort.table[col], errors="coerce")
    split = np.where(
        folds.isin(list(test_folds)), "test", np.where(folds.isin(list(val_folds)), "val", "train")
    )
    table = cohort.table.copy()
    name = cohort.schema.split or "split"
    table[name] = pd.Series(split, index=table.index).where(folds.notna(), None)
    return cohort.with_table(table, cohort.schema.model_copy(update={"split": name}))


__all__ = [
    "assign_folds",
    "assign_splits",
    "check_split_request",
    "iter_folds",
    "normalise_split",
    "patient_strata",
    "split_cohort",
    "splits_from_folds",
]
