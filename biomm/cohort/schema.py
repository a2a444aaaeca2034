"""The cohort schema: which manifest columns hold ids, modality references, EHR and targets.

A schema is written in YAML (or built in Python) and validated with pydantic, so a typo in a key
is reported with its location. Without a schema, :func:`infer_schema` reads conventional column
names (see ``docs/manifest.md``).

Examples:
    >>> schema = CohortSchema.model_validate({
    ...     "modalities": {"wsi": {"column": "slide"}},
    ...     "targets": {"os": {"type": "survival", "time": "os_months", "event": "death"}},
    ... })
    >>> schema.targets["os"].columns_list()
    ['os_months', 'death']
"""

from __future__ import annotations

import difflib
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from biomm.errors import SchemaError
from biomm.utils.config import read_yaml_file

#: The modality reference columns a manifest may declare (EHR is declared separately).
MODALITIES: tuple[str, ...] = ("wsi", "ecg", "fundus", "oct", "report")
ModalityName = Literal["wsi", "ecg", "fundus", "oct", "report"]
TargetType = Literal["binary", "multiclass", "multilabel", "continuous", "survival"]
EHRColumnType = Literal["categorical", "continuous", "datetime", "identifier"]

# Conventional column names used when no schema is given (first match wins).
_ID_NAMES = ("patient_id", "case_id", "subject_id", "patient")
_MODALITY_NAMES: dict[str, tuple[str, ...]] = {
    "wsi": ("wsi", "wsi_path", "slide", "slide_path", "slides"),
    "ecg": ("ecg", "ecg_path", "ecg_file"),
    "fundus": ("fundus", "fundus_path", "fundus_image"),
    "oct": ("oct", "oct_path", "oct_volume"),
    "report": ("report", "report_text", "report_path"),
}
_SPLIT_NAMES = ("split",)
_FOLD_NAMES = ("fold", "strat_fold")
_TARGET_PREFIXES = ("target_", "label_")
_TARGET_NAMES = ("label", "target", "y")
_TRUE_TOKENS = {"yes", "true", "positive"}
_FALSE_TOKENS = {"no", "false", "negative"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModalitySpec(_Strict):
    """Where a modality's file references live in the manifest.

    Attributes:
        column: Manifest column holding the path (or, for ``report``, inline text or a path).
        separator: Separator for several references in one cell (e.g. several slides).
    """

    column: str
    separator: str = ";"


class TargetSpec(_Strict):
    """A prediction target and the columns it is read from.

    Attributes:
        type: ``binary``, ``multiclass``, ``multilabel``, ``continuous`` or ``survival``.
        column: The value column (all types but survival; multilabel may use ``columns``).
        columns: For multilabel targets stored as one 0/1 column per label.
        classes: Allowed class values (binary/multiclass/multilabel), in order; inferred if absent.
        time: Survival time column (non-negative).
        event: Survival event column (1 = event observed, 0 = censored).
        separator: For multilabel targets stored as one delimited cell (``"AF;LBBB"``).
    """

    type: TargetType
    column: str | None = None
    columns: list[str] | None = None
    classes: list[str | int] | None = None
    time: str | None = None
    event: str | None = None
    separator: str = ";"

    @field_validator("classes", mode="before")
    @classmethod
    def _bool_classes_as_words(cls, value: Any) -> Any:
        # YAML reads `no`/`yes`/`false`/`true` as booleans; keep them as words, never 0/1
        if isinstance(value, list):
            return [("true" if v else "false") if isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check_columns(self) -> TargetSpec:
        if self.type == "survival":
            if not (self.time and self.event):
                raise ValueError("a survival target needs both 'time' and 'event' columns")
            if self.column or self.columns:
                raise ValueError("a survival target takes 'time' and 'event', not 'column'")
        elif self.type == "multilabel":
            if bool(self.column) == bool(self.columns):
                raise ValueError("a multilabel target needs exactly one of 'column' or 'columns'")
        else:
            if not self.column:
                raise ValueError(f"a {self.type} target needs 'column'")
            if self.columns or self.time or self.event:
                raise ValueError(f"a {self.type} target takes only 'column' (and 'classes')")
        if self.type == "binary" and self.classes is not None and len(self.classes) != 2:
            raise ValueError(f"a binary target has exactly 2 classes, got {self.classes}")
        return self

    def columns_list(self) -> list[str]:
        """The manifest columns this target reads.

        Examples:
            >>> TargetSpec(type="binary", column="y").columns_list()
            ['y']
        """
        if self.type == "survival":
            return [str(self.time), str(self.event)]
        if self.columns:
            return list(self.columns)
        return [str(self.column)]


class EHRSpec(_Strict):
    """Tabular EHR features: columns of the manifest and/or a separate table.

    Attributes:
        columns: Feature columns (of the manifest, or of ``table`` when given).
        table: Path of a CSV/TSV/Parquet table joined on the patient id column.
        types: Optional per-column type (``categorical``, ``continuous``, ``datetime``,
            ``identifier``); missing entries are inferred later by the EHR preprocessor.
    """

    columns: list[str] = Field(default_factory=list)
    table: str | None = None
    types: dict[str, EHRColumnType] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_types(self) -> EHRSpec:
        unknown = sorted(set(self.types) - set(self.columns)) if self.columns else []
        if unknown:
            raise ValueError(f"'types' names columns not listed in 'columns': {unknown}")
        return self


class CohortSchema(_Strict):
    """Declares the columns of a cohort manifest.

    Attributes:
        patient_id: The patient identifier column (required in every manifest).
        sample_id: Optional sample identifier (several samples per patient).
        split: Optional column with ``train``/``val``/``test``.
        fold: Optional integer fold column (e.g. PTB-XL ``strat_fold``).
        modalities: Modality name → where its references live.
        ehr: Tabular EHR features, if any.
        targets: Target name → its type and columns.
    """

    patient_id: str = "patient_id"
    sample_id: str | None = None
    split: str | None = None
    fold: str | None = None
    modalities: dict[ModalityName, ModalitySpec] = Field(default_factory=dict)
    ehr: EHRSpec | None = None
    targets: dict[str, TargetSpec] = Field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> CohortSchema:
        """Load and validate a schema from a YAML file.

        The YAML is read strictly (:func:`biomm.utils.config.read_yaml_file`): a duplicated
        key, a Python tag, an alias bomb, binary or non-UTF-8 content are refused.

        Raises:
            SchemaError: Naming the file and the offending key.

        Examples:
            >>> import tempfile, os
            >>> d = tempfile.mkdtemp(); p = os.path.join(d, "s.yaml")
            >>> _ = open(p, "w").write("modalities:\\n  ecg: {column: ecg_file}\\n")
            >>> CohortSchema.from_yaml(p).modalities["ecg"].column
            'ecg_file'
        """
        path = Path(path)
        if not path.exists():
            raise SchemaError("schema file not found", path=path)
        data = read_yaml_file(path, error=SchemaError)
        return cls.from_dict(data or {}, source=path)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | PathLike[str] | None = None) -> CohortSchema:
        """Validate a schema given as a dictionary, with errors that name the key.

        Examples:
            >>> CohortSchema.from_dict({"modalities": {"xray": {"column": "x"}}})
            Traceback (most recent call last):
            ...
            biomm.errors.SchemaError: modalities.xray.[key]: Input should be ...
        """
        if not isinstance(data, dict):
            raise SchemaError(
                f"a schema is a mapping of keys, got {type(data).__name__}", path=source
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SchemaError(_format_validation_error(exc), path=source) from None

    def to_yaml(self) -> str:
        """Serialise to YAML (round-trips through :meth:`from_dict`).

        Examples:
            >>> s = CohortSchema(targets={"y": TargetSpec(type="binary", column="y")})
            >>> CohortSchema.from_dict(__import__("yaml").safe_load(s.to_yaml())) == s
            True
        """
        return yaml.safe_dump(self.model_dump(exclude_none=True), sort_keys=False)

    def declared_columns(self) -> dict[str, str]:
        """Every manifest column the schema names, mapped to its role.

        Examples:
            >>> CohortSchema(modalities={"ecg": ModalitySpec(column="e")}).declared_columns()
            {'patient_id': 'patient id', 'e': 'ecg reference'}
        """
        roles: dict[str, str] = {self.patient_id: "patient id"}
        if self.sample_id:
            roles[self.sample_id] = "sample id"
        if self.split:
            roles[self.split] = "split"
        if self.fold:
            roles[self.fold] = "fold"
        for name, spec in self.modalities.items():
            roles[spec.column] = f"{name} reference"
        if self.ehr and not self.ehr.table:
            for col in self.ehr.columns:
                roles[col] = "EHR feature"
        for name, target in self.targets.items():
            for col in target.columns_list():
                roles[col] = f"target {name!r}"
        return roles

    def text_columns(self) -> list[str]:
        """Columns that must stay text: ids, split, modality references, categorical/identifier EHR.

        (Any column whose values have leading zeros, like ``"0042"``, stays text as well.)

        Examples:
            >>> CohortSchema(split="split").text_columns()
            ['patient_id', 'split']
        """
        cols = [self.patient_id, self.sample_id, self.split]
        cols += [spec.column for spec in self.modalities.values()]
        if self.ehr is not None:
            cols += [
                c for c, kind in self.ehr.types.items() if kind in ("categorical", "identifier")
            ]
        return [c for c in dict.fromkeys(cols) if c]


def _format_validation_error(exc: ValidationError) -> str:
    known = sorted(
        {
            *CohortSchema.model_fields,
            *ModalitySpec.model_fields,
            *TargetSpec.model_fields,
            *EHRSpec.model_fields,
        }
    )
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden" and err["loc"]:
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            message = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def infer_schema(table: pd.DataFrame) -> CohortSchema:
    """Build a schema from conventional column names.

    Rules: the first of ``patient_id``/``case_id``/``subject_id``/``patient`` is the id;
    ``sample_id``, ``split`` and ``fold``/``strat_fold`` are recognised; modality columns by
    name (``wsi``/``slide``/``slide_path``, ``ecg``, ``fundus``, ``oct``, ``report``);
    ``NAME_time`` + ``NAME_event`` pairs are survival targets; ``label``/``target``/``y`` and
    columns prefixed ``target_``/``label_`` are targets typed from their values; every other
    column is an EHR feature, except columns that look like identifiers or PHI (names, dates
    of birth, record numbers, contact details: :func:`biomm.privacy.phi_columns`) or free
    text (``notes``, ``comment``…), which are left out with a warning.

    Examples:
        >>> df = pd.DataFrame({"patient_id": ["a", "b"], "slide": ["a.svs", "b.svs"],
        ...                    "os_time": [3.0, 5.0], "os_event": [1, 0], "age": [50, 61]})
        >>> s = infer_schema(df)
        >>> (s.modalities["wsi"].column, s.targets["os"].type, s.ehr.columns)
        ('slide', 'survival', ['age'])
        >>> infer_schema(df.assign(patient_name=["Ann Lee", "Bo Li"])).ehr.columns
        ['age']
    """
    cols = [str(c) for c in table.columns]
    used: set[str] = set()

    by_lower: dict[str, str] = {}
    for col in cols:
        by_lower.setdefault(col.strip().lower(), col)

    def first(names: tuple[str, ...]) -> str | None:
        for name in names:
            col = by_lower.get(name)
            if col is not None and col not in used:
                used.add(col)
                return col
        return None

    patient_id = first(_ID_NAMES) or "patient_id"
    used.add(patient_id)
    sample_id = first(("sample_id",))
    split = first(_SPLIT_NAMES)
    fold = first(_FOLD_NAMES)
    modalities = {}
    for modality, names in _MODALITY_NAMES.items():
        col = first(names)
        if col:
            modalities[modality] = ModalitySpec(column=col)

    targets: dict[str, TargetSpec] = {}
    for col in cols:
        low = col.lower()
        if low.endswith("_time") and col not in used:
            stem = col[: -len("_time")]
            event = by_lower.get(f"{stem.lower()}_event")
            if event is not None and event not in used:
                targets[stem] = TargetSpec(type="survival", time=col, event=event)
                used.update({col, event})
    time_col, event_col = by_lower.get("time"), by_lower.get("event")
    if time_col and event_col and not {time_col, event_col} & used:
        targets["survival"] = TargetSpec(type="survival", time=time_col, event=event_col)
        used.update({time_col, event_col})
    for col in cols:
        if col in used:
            continue
        name = None
        low = col.lower()
        if low in _TARGET_NAMES:
            name = col
        else:
            for prefix in _TARGET_PREFIXES:
                if low.startswith(prefix) and len(col) > len(prefix):
                    name = col[len(prefix) :]
        if name is not None:
            targets[name] = TargetSpec(type=infer_target_type(table[col]), column=col)
            used.add(col)

    leftover = [c for c in cols if c not in used]
    private = _private_columns(table.set_axis(cols, axis=1)[leftover]) if leftover else {}
    ehr_cols = [c for c in leftover if c not in private]
    ehr = EHRSpec(columns=ehr_cols) if ehr_cols else None
    return CohortSchema(
        patient_id=patient_id,
        sample_id=sample_id,
        split=split,
        fold=fold,
        modalities=modalities,
        ehr=ehr,
        targets=targets,
    )


def _private_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Columns never inferred as EHR features: names, dates of birth, record numbers, free text.

    A model feature made of patient names would carry them into saved preprocessors and
    reports. Declare such a column in a schema YAML to use it anyway.
    """
    import logging

    from biomm.privacy import free_text_column, phi_columns

    private = phi_columns(frame)
    private.update({c: "free text" for c in frame.columns if free_text_column(c)})
    if private:
        logging.getLogger("biomm.cohort").warning(
            "not used as EHR features (they look like identifiers or free text; declare them "
            "in a schema to override): %s",
            ", ".join(f"{c} ({why})" for c, why in private.items()),
        )
    return private


def infer_target_type(values: pd.Series) -> TargetType:
    """Guess a target type from its values: binary, multiclass or continuous.

    Two distinct values, or yes/no-style words mixed with stray values → binary (the
    validator then reports the strays); other strings → multiclass; whole numbers with at
    most 20 distinct values that repeat (fewer distinct values than half the rows) →
    multiclass; other numbers → continuous.

    Examples:
        >>> infer_target_type(pd.Series([0, 1, 1, None]))
        'binary'
        >>> infer_target_type(pd.Series(["LUAD", "LUSC", "normal"]))
        'multiclass'
        >>> infer_target_type(pd.Series(["yes", "no", "maybe"]))
        'binary'
        >>> infer_target_type(pd.Series([0.1, 2.5, 3.7]))
        'continuous'
        >>> infer_target_type(pd.Series([1, 2, 3, 3, 2, 1]))
        'multiclass'
    """
    non_null = values.dropna()
    distinct = non_null.unique()
    if len(distinct) <= 2:
        return "binary"
    tokens = {str(v).strip().lower() for v in distinct}
    if tokens & _TRUE_TOKENS and tokens & _FALSE_TOKENS:
        return "binary"  # yes/no plus stray values: binary, so the strays are reported
    numeric = pd.to_numeric(non_null, errors="coerce")
    if numeric.notna().all():
        is_integral = bool((numeric == numeric.round()).all())
        if is_integral and len(distinct) <= 20 and len(distinct) <= len(non_null) / 2:
            return "multiclass"
        return "continuous"
    return "multiclass"
