"""EHR preprocessing: a fitted, saved recipe from a table to model-ready values and masks.

:class:`EHRPreprocessor` is fitted on the **training split only** and then applied unchanged to
every split, so no statistic of a validation or test patient reaches the model:

* **categorical** columns become integer codes ``1..k-1`` over the training categories (seen at
  least ``min_category_count`` times); code ``0`` means *unknown*: a category never seen in
  training (or too rare) maps to it at transform time;
* **continuous** columns are clipped at the training quantiles ``clip_quantiles`` and then
  standardised with the training mean and standard deviation (of the clipped values);
* **datetime** columns become years since ``datetime_reference`` (365.25-day years) and are
  then treated as continuous (clipped and standardised with training statistics);
* **identifier** columns, and columns without any training value, are dropped (listed in
  ``dropped_``).

A missing cell is never imputed: it becomes value 0 **and** ``observed`` False, and the model
decides what to do with it (:class:`biomm.encoders.tabular.TabularTransformer` hides it). A row
without any observed cell is kept (``observed`` all False) and listed in
:attr:`TabularBatch.empty_rows`; ``empty_rows="drop"`` or ``"error"`` change that.

Examples:
    >>> import pandas as pd
    >>> train = pd.DataFrame({"age": [50.0, 60.0, 70.0, None], "sex": ["F", "M", "F", "M"]})
    >>> prep = EHRPreprocessor(clip_quantiles=None).fit(train)
    >>> prep.columns_, prep.cardinalities
    (['age', 'sex'], [0, 3])
    >>> batch = prep.transform(pd.DataFrame({"age": [60.0, None], "sex": ["X", "F"]}))
    >>> batch.values.tolist(), batch.observed.tolist()
    ([[0.0, 0.0], [0.0, 1.0]], [[True, True], [False, True]])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biomm.cohort.tables import normalise_ids
from biomm.errors import ConfigError, TableError
from biomm.io.ehr.types import (
    check_column_names,
    check_types,
    infer_column_types,
    numeric_values,
)
from biomm.utils.atomic import atomic_write_text

#: ``DataFrame.attrs`` key naming the file a frame was read from (used in error messages).
SOURCE_ATTR = "biomm_source"
FORMAT = "biomm-ehr-preprocessor"
FORMAT_VERSION = 1
_SECONDS_PER_YEAR = 365.25 * 86400.0
_EMPTY_ROWS = ("keep", "drop", "error")


@dataclass(frozen=True, eq=False)
class TabularBatch:
    """Model-ready EHR rows.

    Attributes:
        values: float32 ``[N, C]``: categorical codes (``0`` = unknown), standardised numbers;
            0 where not observed.
        observed: bool ``[N, C]``: True where the cell had a value.
        columns: The ``C`` column names.
        ids: One id per row (the id column, else the frame's index as text).
        empty_rows: Positions of rows without any observed cell.

    Examples:
        >>> import numpy as np
        >>> b = TabularBatch(np.zeros((2, 1), np.float32), np.array([[True], [False]]), ["a"])
        >>> len(b), b.subset([1]).observed.tolist()
        (2, [[False]])
    """

    values: np.ndarray
    observed: np.ndarray
    columns: list[str]
    ids: list[str] = field(default_factory=list)
    empty_rows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def subset(self, rows: Sequence[int] | np.ndarray) -> TabularBatch:
        """The rows at the given positions (or a boolean mask), in that order."""
        index = np.asarray(rows)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(int)
        ids = [self.ids[i] for i in index] if self.ids else []
        empty = [k for k, i in enumerate(index) if not self.observed[i].any()]
        return TabularBatch(self.values[index], self.observed[index], self.columns, ids, empty)

    def tensors(self) -> tuple[Any, Any]:
        """``(values float32, observed bool)`` as torch tensors (for an encoder).

        Examples:
            >>> b = TabularBatch(np.ones((1, 2), np.float32), np.ones((1, 2), bool), ["a", "b"])
            >>> [t.dtype for t in b.tensors()]
            [torch.float32, torch.bool]
        """
        import torch

        return torch.from_numpy(self.values.copy()), torch.from_numpy(self.observed.copy())


def _category_key(value: object) -> str:
    """One text key per category: ``1``, ``1.0`` and ``"1"`` are the same category."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value).strip()


def _source(frame: pd.DataFrame, source: str | PathLike[str] | None) -> str | None:
    if source is not None:
        return str(source)
    value = frame.attrs.get(SOURCE_ATTR)
    return None if value is None else str(value)


def _rows_text(labels: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in list(labels)[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"[{shown}{more}]"


class EHRPreprocessor:
    """Fit-on-train preprocessing of EHR columns into values + observed masks.

    Args:
        types: Explicit ``column → kind`` entries; other columns are inferred with
            :func:`~biomm.io.ehr.types.infer_column_types` on the training table.
        clip_quantiles: ``(low, high)`` training quantiles continuous values are clipped to
            before standardising (``None``: no clipping).
        min_category_count: Categories seen fewer times in training map to code 0 (unknown).
        datetime_reference: Date that datetime columns are measured from, in years.
        id_column: Column (or index name) holding the patient id; never a feature.
        max_categories: Passed to the type inference.
        allow_missing_columns: At transform time, a fitted column absent from the table
            becomes all-unobserved instead of an error.
        allow_extra_columns: At transform time, columns never seen in training are ignored
            instead of an error.
        empty_rows: Rows without any observed cell: ``"keep"`` (listed in
            ``TabularBatch.empty_rows``), ``"drop"`` (removed, still listed by position in the
            input) or ``"error"``.

    Raises:
        ConfigError: On invalid parameters.

    Examples:
        >>> import pandas as pd
        >>> train = pd.DataFrame({"pid": ["a", "b", "c"], "bmi": [20.0, 25.0, 30.0]})
        >>> prep = EHRPreprocessor(id_column="pid", clip_quantiles=None).fit(train)
        >>> batch = prep.transform(train)
        >>> batch.ids, [round(v, 3) for v in batch.values[:, 0].tolist()]
        (['a', 'b', 'c'], [-1.225, 0.0, 1.225])
        >>> prep.inverse_transform(batch)["bmi"].round(4).tolist()
        [20.0, 25.0, 30.0]
    """

    def __init__(
        self,
        types: Mapping[str, str] | None = None,
        clip_quantiles: tuple[float, float] | None = (0.005, 0.995),
        min_category_count: int = 1,
        datetime_reference: str = "1970-01-01",
        *,
        id_column: str | None = None,
        max_categories: int = 20,
        allow_missing_columns: bool = False,
        allow_extra_columns: bool = False,
        empty_rows: str = "keep",
    ) -> None:
        try:
            self.types = check_types(types)
        except TableError as exc:
            raise ConfigError(exc.reason) from None
        if clip_quantiles is not None:
            lo, hi = (float(q) for q in clip_quantiles)
            if not 0.0 <= lo < hi <= 1.0:
                raise ConfigError(
                    f"clip_quantiles must satisfy 0 <= low < high <= 1, got {clip_quantiles}"
                )
            clip_quantiles = (lo, hi)
        if int(min_category_count) < 1:
            raise ConfigError(f"min_category_count must be >= 1, got {min_category_count}")
        try:
            pd.Timestamp(datetime_reference)
        except (TypeError, ValueError):
            raise ConfigError(f"datetime_reference is not a date: {datetime_reference!r}") from None
        if empty_rows not in _EMPTY_ROWS:
            raise ConfigError(f"empty_rows must be one of {_EMPTY_ROWS}, got {empty_rows!r}")
        self.clip_quantiles = clip_quantiles
        self.min_category_count = int(min_category_count)
        self.datetime_reference = str(datetime_reference)
        self.id_column = id_column
        self.max_categories = int(max_categories)
        self.allow_missing_columns = bool(allow_missing_columns)
        self.allow_extra_columns = bool(allow_extra_columns)
        self.empty_rows = empty_rows

    # ---- fitted state ---------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the fitted state."""
        return hasattr(self, "columns_")

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise TableError("the EHR preprocessor is not fitted: call fit(train_frame) first")

    @property
    def kinds(self) -> list[str]:
        """The kind of each output column (``categorical``, ``continuous``, ``datetime``)."""
        self._check_fitted()
        return [self.kinds_[c] for c in self.columns_]

    @property
    def cardinalities(self) -> list[int]:
        """Per output column: 0 for a number, ``k`` for a categorical with ``k`` codes.

        ``k`` counts the unknown code 0, so a column with training categories ``F``/``M`` has
        ``k = 3``. This is the ``cardinalities`` argument of the tabular encoder.
        """
        self._check_fitted()
        return [
            len(self.categories_[c]) + 1 if self.kinds_[c] == "categorical" else 0
            for c in self.columns_
        ]

    # ---- fit / transform --------------------------------------------------------------------

    def _features(self, frame: pd.DataFrame, source: str | None) -> tuple[pd.DataFrame, list[str]]:
        """Split a frame into feature columns and row ids."""
        if not isinstance(frame, pd.DataFrame):
            raise TableError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        check_column_names(frame, source=source)
        frame = frame.rename(columns=str)
        if self.id_column is not None and self.id_column in frame.columns:
            ids = normalise_ids(frame[self.id_column]).tolist()
            features = frame.drop(columns=[self.id_column])
        else:
            ids = [_category_key(v) for v in frame.index]
            features = frame
        return features, [str(i) for i in ids]

    def fit(
        self, frame: pd.DataFrame, *, source: str | PathLike[str] | None = None
    ) -> EHRPreprocessor:
        """Learn column kinds, categories and statistics from the **training** table.

        Args:
            frame: Training rows only.
            source: File name for error messages (default: the frame's ``attrs``).

        Returns:
            ``self``.

        Raises:
            TableError: On duplicated columns, no rows, an unusable value (text in a
                continuous column, an infinite number, an unparseable date), or when no usable
                column is left.

        Examples:
            >>> prep = EHRPreprocessor().fit(pd.DataFrame({"mrn": [f"x{i}" for i in range(30)]}))
            Traceback (most recent call last):
            ...
            biomm.errors.TableError: no usable EHR column: mrn (identifier)
        """
        src = _source(frame, source)
        features, _ = self._features(frame, src)
        if len(features) == 0:
            raise TableError("the training EHR table has no rows", path=src)
        kinds = infer_column_types(
            features,
            {k: v for k, v in self.types.items() if k != self.id_column},
            max_categories=self.max_categories,
            source=src,
        )
        dropped: dict[str, str] = {}
        categories: dict[str, list[str]] = {}
        stats: dict[str, dict[str, float | None]] = {}
        for col, kind in kinds.items():
            if kind == "identifier":
                dropped[col] = "identifier"
                continue
            series = features[col]
            if kind == "categorical":
                keys = [_category_key(v) for v in series[series.notna()].tolist()]
                if not keys:
                    dropped[col] = "no value in the training table"
                    continue
                counts = pd.Series(keys).value_counts()
                kept = counts[counts >= self.min_category_count].index
                categories[col] = sorted(str(k) for k in kept)
                continue
            x = self._numbers(col, kind, series, src)
            x = x[~np.isnan(x)]
            if x.size == 0:
                dropped[col] = "no value in the training table"
                continue
            stats[col] = self._fit_stats(x)
        columns = [c for c in kinds if c not in dropped]
        if not columns:
            detail = ", ".join(f"{c} ({r})" for c, r in dropped.items()) or "(no columns)"
            raise TableError(f"no usable EHR column: {detail}", path=src)
        self.input_columns_ = list(kinds)
        self.kinds_ = dict(kinds)
        self.columns_ = columns
        self.dropped_ = dropped
        self.categories_ = categories
        self.stats_ = stats
        self.n_train_ = len(features)
        return self

    def _fit_stats(self, x: np.ndarray) -> dict[str, float | None]:
        lower = upper = None
        if self.clip_quantiles is not None:
            lower, upper = (float(v) for v in np.quantile(x, self.clip_quantiles))
            x = np.clip(x, lower, upper)
        mean = float(x.mean())
        std = float(x.std())
        if not np.isfinite(std) or std < 1e-12:
            std = 1.0
        return {"lower": lower, "upper": upper, "mean": mean, "std": std}

    def _numbers(self, col: str, kind: str, series: pd.Series, source: str | None) -> np.ndarray:
        """A continuous or datetime column as float64 (NaN = missing), or a TableError."""
        if kind == "datetime":
            return self._years(col, series, source)
        numbers = numeric_values(series)
        if numbers is None:
            bad = series[
                series.notna() & pd.to_numeric(series.astype(object), errors="coerce").isna()
            ]
            if bad.empty:  # booleans or leading-zero codes in a column declared continuous
                bad = series[series.notna()]
            values = ", ".join(repr(v) for v in bad.head(3).tolist())
            raise TableError(
                f"column {col!r} is continuous but holds non-numeric value(s) {values} at "
                f"row(s) {_rows_text(bad.index.tolist())}",
                path=source,
            )
        x = numbers.to_numpy(dtype=np.float64)
        infinite = np.isinf(x)
        if infinite.any():
            rows = series.index[infinite].tolist()
            raise TableError(
                f"column {col!r} holds infinite value(s) at row(s) {_rows_text(rows)}",
                path=source,
            )
        return x

    def _years(self, col: str, series: pd.Series, source: str | None) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(series):
            stamps = series
        else:
            present = series.notna()
            stamps = pd.to_datetime(series.astype(object), errors="coerce", format="mixed")
            bad = present & stamps.isna()
            if bad.any():
                values = ", ".join(repr(v) for v in series[bad].head(3).tolist())
                raise TableError(
                    f"column {col!r} is a datetime column but holds value(s) {values} that are "
                    f"not dates, at row(s) {_rows_text(series.index[bad].tolist())}",
                    path=source,
                )
        stamps = pd.Series(stamps, index=series.index)
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        reference = pd.Timestamp(self.datetime_reference)
        seconds = (stamps - reference).dt.total_seconds()
        return seconds.to_numpy(dtype=np.float64) / _SECONDS_PER_YEAR

    def transform(
        self, frame: pd.DataFrame, *, source: str | PathLike[str] | None = None
    ) -> TabularBatch:
        """Apply the fitted recipe to any split.

        Args:
            frame: Rows to transform (the id column, if any, is used for ``ids``).
            source: File name for error messages (default: the frame's ``attrs``).

        Raises:
            TableError: On columns never seen in training (unless ``allow_extra_columns``),
                fitted columns absent from ``frame`` (unless ``allow_missing_columns``), a bad
                value in a continuous or datetime column, or rows without any observed cell
                when ``empty_rows="error"``.

        Examples:
            >>> prep = EHRPreprocessor().fit(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
            >>> prep.transform(pd.DataFrame({"a": [1.0], "c": [0.0]}))
            Traceback (most recent call last):
            ...
            biomm.errors.TableError: column(s) not seen when the preprocessor was fitted: ['c']; \
fitted column(s) absent from the table: ['b']
        """
        self._check_fitted()
        src = _source(frame, source)
        features, ids = self._features(frame, src)
        known = set(self.input_columns_)
        extra = [c for c in features.columns if c not in known]
        missing = [c for c in self.columns_ if c not in features.columns]
        problems = []
        if extra and not self.allow_extra_columns:
            problems.append(f"column(s) not seen when the preprocessor was fitted: {extra}")
        if missing and not self.allow_missing_columns:
            problems.append(f"fitted column(s) absent from the table: {missing}")
        if problems:
            raise TableError("; ".join(problems), path=src)
        n = len(features)
        values = np.zeros((n, len(self.columns_)), dtype=np.float32)
        observed = np.zeros((n, len(self.columns_)), dtype=bool)
        for j, col in enumerate(self.columns_):
            if col not in features.columns:
                continue
            series = features[col]
            kind = self.kinds_[col]
            if kind == "categorical":
                lookup = {key: code for code, key in enumerate(self.categories_[col], start=1)}
                present = series.notna().to_numpy()
                codes = [
                    lookup.get(_category_key(v), 0) if ok else 0
                    for v, ok in zip(series.tolist(), present, strict=True)
                ]
                values[:, j] = np.asarray(codes, dtype=np.float32)
                observed[:, j] = present
                continue
            x = self._numbers(col, kind, series, src)
            present = ~np.isnan(x)
            s = self.stats_[col]
            if s["lower"] is not None and s["upper"] is not None:
                x = np.clip(x, s["lower"], s["upper"])
            z = (x - float(s["mean"])) / float(s["std"])  # type: ignore[arg-type]
            values[:, j] = np.where(present, z, 0.0).astype(np.float32)
            observed[:, j] = present
        empty = np.flatnonzero(~observed.any(axis=1)).tolist() if len(self.columns_) else []
        if empty and self.empty_rows == "error":
            shown = _rows_text([ids[i] for i in empty])
            raise TableError(f"{len(empty)} row(s) have no EHR value at all: ids {shown}", path=src)
        if empty and self.empty_rows == "drop":
            keep = observed.any(axis=1)
            return TabularBatch(
                values[keep],
                observed[keep],
                list(self.columns_),
                [i for i, k in zip(ids, keep, strict=True) if k],
                empty,
            )
        return TabularBatch(values, observed, list(self.columns_), ids, empty)

    def fit_transform(self, frame: pd.DataFrame) -> TabularBatch:
        """:meth:`fit` then :meth:`transform` on the same (training) table."""
        return self.fit(frame).transform(frame)

    def inverse_transform(self, batch: TabularBatch) -> pd.DataFrame:
        """Back to table values: categories (``None`` for code 0), numbers, timestamps.

        Continuous values come back clipped (clipping is not invertible); unobserved cells
        are missing.

        Examples:
            >>> prep = EHRPreprocessor().fit(pd.DataFrame({"g": ["a", "b", "a"]}))
            >>> b = prep.transform(pd.DataFrame({"g": ["b", "zzz", None]}))
            >>> prep.inverse_transform(b)["g"].tolist()
            ['b', None, None]
        """
        self._check_fitted()
        if list(batch.columns) != list(self.columns_):
            raise TableError(f"batch columns {batch.columns} differ from {self.columns_}")
        out: dict[str, list[Any]] = {}
        reference = pd.Timestamp(self.datetime_reference)
        for j, col in enumerate(self.columns_):
            v = batch.values[:, j].astype(np.float64)
            ok = batch.observed[:, j]
            kind = self.kinds_[col]
            if kind == "categorical":
                cats = self.categories_[col]
                out[col] = [
                    cats[int(c) - 1] if o and 1 <= int(c) <= len(cats) else None
                    for c, o in zip(v, ok, strict=True)
                ]
                continue
            s = self.stats_[col]
            x = v * float(s["std"]) + float(s["mean"])  # type: ignore[arg-type]
            if kind == "datetime":
                out[col] = [
                    reference + pd.Timedelta(seconds=float(y) * _SECONDS_PER_YEAR) if o else pd.NaT
                    for y, o in zip(x, ok, strict=True)
                ]
            else:
                out[col] = np.where(ok, x, np.nan).tolist()
        return pd.DataFrame(out, index=pd.Index(batch.ids or range(len(batch)), name="id"))

    # ---- persistence ------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (plain JSON values)."""
        return {
            "types": dict(self.types),
            "clip_quantiles": None if self.clip_quantiles is None else list(self.clip_quantiles),
            "min_category_count": self.min_category_count,
            "datetime_reference": self.datetime_reference,
            "id_column": self.id_column,
            "max_categories": self.max_categories,
            "allow_missing_columns": self.allow_missing_columns,
            "allow_extra_columns": self.allow_extra_columns,
            "empty_rows": self.empty_rows,
        }

    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted state as plain JSON values.

        Examples:
            >>> prep = EHRPreprocessor().fit(pd.DataFrame({"a": [1.0, 2.0]}))
            >>> EHRPreprocessor.from_dict(prep.to_dict()).to_dict() == prep.to_dict()
            True
        """
        self._check_fitted()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "state": {
                "input_columns": list(self.input_columns_),
                "kinds": dict(self.kinds_),
                "columns": list(self.columns_),
                "dropped": dict(self.dropped_),
                "categories": {c: list(v) for c, v in self.categories_.items()},
                "stats": {c: dict(v) for c, v in self.stats_.items()},
                "n_train": int(self.n_train_),
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str | PathLike[str] | None = None
    ) -> EHRPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output.

        Raises:
            TableError: When the mapping is not a saved preprocessor (or is incomplete).
        """
        src = None if source is None else str(source)
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise TableError(f"not a saved EHR preprocessor (format is not {FORMAT!r})", path=src)
        if data.get("version") != FORMAT_VERSION:
            raise TableError(
                f"unsupported EHR preprocessor version {data.get('version')!r}", path=src
            )
        try:
            params = dict(data["params"])
            if params.get("clip_quantiles") is not None:
                params["clip_quantiles"] = tuple(params["clip_quantiles"])
            prep = cls(**params)
            state = data["state"]
            prep.input_columns_ = [str(c) for c in state["input_columns"]]
            prep.kinds_ = {str(k): str(v) for k, v in state["kinds"].items()}
            prep.columns_ = [str(c) for c in state["columns"]]
            prep.dropped_ = {str(k): str(v) for k, v in state["dropped"].items()}
            prep.categories_ = {str(k): [str(x) for x in v] for k, v in state["categories"].items()}
            prep.stats_ = {str(k): dict(v) for k, v in state["stats"].items()}
            prep.n_train_ = int(state["n_train"])
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise TableError(f"incomplete saved EHR preprocessor: {exc!r}", path=src) from None
        for col in prep.columns_:
            kind = prep.kinds_.get(col)
            if kind == "categorical" and col not in prep.categories_:
                raise TableError(f"saved preprocessor lacks categories of {col!r}", path=src)
            if kind in ("continuous", "datetime") and col not in prep.stats_:
                raise TableError(f"saved preprocessor lacks statistics of {col!r}", path=src)
        return prep

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys) of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of the fitted state: equal recipes, equal fingerprints.

        Examples:
            >>> a = EHRPreprocessor().fit(pd.DataFrame({"x": [1.0, 2.0]}))
            >>> b = EHRPreprocessor().fit(pd.DataFrame({"x": [1.0, 3.0]}))
            >>> len(a.fingerprint), a.fingerprint == b.fingerprint
            (64, False)
        """
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the fitted preprocessor as JSON, atomically; returns the path.

        Examples:
            >>> import tempfile, pathlib
            >>> prep = EHRPreprocessor().fit(pd.DataFrame({"x": [1.0, 2.0]}))
            >>> p = prep.save(pathlib.Path(tempfile.mkdtemp()) / "ehr.json")
            >>> EHRPreprocessor.load(p).fingerprint == prep.fingerprint
            True
        """
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | PathLike[str]) -> EHRPreprocessor:
        """Read a preprocessor written by :meth:`save`.

        Raises:
            TableError: Naming the file when it is missing, not JSON or not a preprocessor.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TableError("preprocessor file not found", path=path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TableError(f"cannot read preprocessor JSON: {exc}", path=path) from None
        return cls.from_dict(data, source=path)

    def __repr__(self) -> str:
        state = f"{len(self.columns_)} columns" if self.fitted else "not fitted"
        return f"EHRPreprocessor({state})"
