"""Read a pipeline YAML, apply ``--set`` overrides and validate everything before a step runs.

A pipeline::

    name: demo
    cohort: cohort.csv            # relative paths resolve against this file's folder
    schema: schema.yaml
    split: {ratios: [0.6, 0.2, 0.2], stratify: high_risk, seed: 0}   # optional
    steps:                        # a mapping, in execution order
      validate: {uses: cohort.validate}
      wsi: {uses: wsi.embed, with: {mpp: 2.0, patch_size: 112}}
      train:
        uses: train
        with:
          modalities: {wsi: {bags: "${steps.wsi}"}}
          tasks: {high_risk: {head: binary, target: high_risk}}

Every problem is reported at once, each with its key path (``steps.train.with.fusion.name:
unknown fusion 'x'``), in one :class:`PipelineConfigError` naming the file.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.yaml"
    >>> _ = path.write_text("name: p\\nsteps:\\n  a: {uses: nope}\\n  b: {uses: report, "
    ...                     "with: {colour: red}}\\n")
    >>> load_pipeline(path)
    Traceback (most recent call last):
    ...
    biomm.pipeline.spec.PipelineConfigError: ...p.yaml: 2 problems:
      steps.a.uses: unknown pipeline step 'nope'; registered: ...
      steps.b.with.colour: not a param of report (params: train, title, with_cohort, n_bootstrap)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from biomm.errors import BiommError, ConfigError
from biomm.pipeline.refs import find_refs, valid_step_name
from biomm.pipeline.steps import StepKind, step_kind
from biomm.registry import Registry
from biomm.utils.config import read_yaml_mapping


class PipelineConfigError(ConfigError):
    """An invalid pipeline: every problem with its key path.

    Attributes:
        problems: ``(key path, message)`` pairs.
    """

    def __init__(
        self, problems: Sequence[tuple[str, str]], *, path: str | os.PathLike[str] | None = None
    ) -> None:
        self.problems = list(problems)
        lines = [f"{key}: {msg}" if key else msg for key, msg in self.problems]
        reason = (
            lines[0]
            if len(lines) == 1
            else f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)
        )
        super().__init__(reason, path=path)


class SplitSpec(BaseModel):
    """A patient-level train/val/test split made before the steps run (when the cohort has none).

    Attributes:
        ratios: Train, val and test fractions.
        stratify: Target to stratify by.
        seed: Random seed.
        overwrite: Replace a split column the cohort already has.
    """

    model_config = ConfigDict(extra="forbid")
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
    stratify: str | None = None
    seed: int = 0
    overwrite: bool = False


class StepSpec(BaseModel):
    """One entry of ``steps:``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("with_", "needs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return {} if info.field_name == "with_" else []
        if info.field_name == "needs" and isinstance(value, str):
            return [value]
        return value


class PipelineSpec(BaseModel):
    """The top level of a pipeline YAML."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    cohort: str | None = None
    schema_: str | None = Field(None, alias="schema")
    data_root: str | None = None
    split: SplitSpec | None = None
    steps: dict[str, StepSpec] = Field(min_length=1)


@dataclass
class PipelineStep:
    """A validated step.

    Attributes:
        name: Its name in ``steps:``.
        kind: Its :class:`~biomm.pipeline.steps.base.StepKind`.
        params: The ``with:`` mapping (relative paths resolved; references kept).
        raw: The ``with:`` mapping as written (after overrides): what enters the cache key.
        deps: Every step it waits for (explicit ``needs``, references, gates, ``after_all``).
        key_deps: The deps whose keys enter its cache key (gates do not).
        soft: It runs even when a dependency failed (a report).
    """

    name: str
    kind: StepKind
    params: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)
    key_deps: list[str] = field(default_factory=list)
    soft: bool = False


@dataclass
class Pipeline:
    """A validated pipeline, ready to run.

    Attributes:
        name: Its name (the default run folder is ``runs/NAME``).
        source: The YAML file, if it came from one.
        base: Folder that relative paths resolve against.
        cohort: The manifest (absolute), if any.
        schema: The schema YAML (absolute), if any.
        data_root: Folder for the manifest's relative paths, if given.
        split: The split to make before the steps, if any.
        steps: The steps, in execution order.
        data: The YAML mapping after overrides (recorded in the run folder).
        overrides: The ``--set`` assignments applied.
    """

    name: str
    source: Path | None
    base: Path
    cohort: Path | None
    schema: Path | None
    data_root: Path | None
    split: SplitSpec | None
    steps: dict[str, PipelineStep]
    data: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    description: str | None = None

    def dependents(self, names: Iterable[str]) -> set[str]:
        """``names`` and every step that depends on them, directly or not.

        Examples:
            >>> p = Pipeline("p", None, Path("."), None, None, None, None, {}, {})
            >>> p.dependents([])
            set()
        """
        found = set(names)
        for step in self.steps.values():  # in order: a dependency always comes first
            if any(d in found for d in step.deps):
                found.add(step.name)
        return found


# ---- overrides ------------------------------------------------------------------------------


def apply_overrides(
    data: dict[str, Any], assignments: Sequence[str], source: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Apply ``KEY.PATH=VALUE`` assignments (values read as YAML) to a copy of ``data``.

    Missing mapping keys are created; list items are addressed by index. A ``steps.NAME``
    that is not in the pipeline is an error (a typo would otherwise add a step).

    Raises:
        PipelineConfigError: Listing every unusable assignment.

    Examples:
        >>> data = {"steps": {"train": {"uses": "train", "with": {"training": {"epochs": 50}}}}}
        >>> out = apply_overrides(data, ["steps.train.with.training.epochs=5", "name=x"])
        >>> out["steps"]["train"]["with"]["training"]["epochs"], out["name"]
        (5, 'x')
        >>> apply_overrides(data, ["steps.trian.with.x=1"])
        Traceback (most recent call last):
        ...
        biomm.pipeline.spec.PipelineConfigError: --set steps.trian.with.x=1: no step 'trian' ...
    """
    import copy

    out = copy.deepcopy(data)
    problems = []
    for item in assignments:
        key, sep, raw = item.partition("=")
        parts = [p for p in key.strip().split(".")]
        if not sep or not all(parts):
            problems.append((f"--set {item}", "expected KEY.PATH=VALUE"))
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        steps = out.get("steps")
        if (
            parts[0] == "steps"
            and len(parts) > 1
            and isinstance(steps, dict)
            and parts[1] not in steps
        ):
            listing = ", ".join(map(str, steps))
            problems.append(
                (f"--set {item}", f"no step {parts[1]!r} in the pipeline (steps: {listing})")
            )
            continue
        error = _assign(out, parts, value)
        if error:
            problems.append((f"--set {item}", error))
    if problems:
        raise PipelineConfigError(problems, path=source)
    return out


def _assign(data: Any, parts: list[str], value: Any) -> str | None:
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if last:
                node[part] = value
                return None
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        elif isinstance(node, list):
            try:
                index = int(part)
                node[index]  # an IndexError names a missing item
            except (ValueError, IndexError):
                return f"{here}: {part!r} is not an index of a list of {len(node)}"
            if last:
                node[index] = value
                return None
            node = node[index]
        else:
            return f"{'.'.join(parts[:depth])} is a {type(node).__name__}, not a mapping"
    return None


# ---- validation -----------------------------------------------------------------------------


def _pydantic_problems(
    exc: ValidationError, prefix: str, model: type[BaseModel], label: str = ""
) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join([prefix, *loc]) if prefix else ".".join(loc)
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            what = f"not a param of {label}" if label else "not a pipeline key"
            problems.append(
                (
                    key,
                    f"{what} ({'params' if label else 'valid'}: {', '.join(valid)})"
                    if valid
                    else what,
                )
            )
        else:
            problems.append((key, err["msg"]))
    return problems


def _fields_at(model: Any, loc: list[str]) -> list[str]:
    """Field names of the (nested) model at ``loc``, best effort."""
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(part)
        if info is None:
            model = next(
                (a for a in get_args(model) if isinstance(a, type) and issubclass(a, BaseModel)),
                None,
            )
            continue
        model = _model_in(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):  # Optional[M], dict[str, M]
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _resolve_paths(model: BaseModel, raw: Any, base: Path, path_params: Sequence[str]) -> Any:
    """``raw`` with relative ``Path`` values and existing ``path_params`` files made absolute."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        if key not in out:
            continue
        value, given = getattr(model, name), out[key]
        if isinstance(value, Path) and isinstance(given, str) and "${" not in given:
            if not value.is_absolute():
                out[key] = str(base / value)
        elif isinstance(value, BaseModel):
            out[key] = _resolve_paths(value, given, base, ())
        elif isinstance(value, dict) and isinstance(given, dict):
            out[key] = {
                k: _resolve_paths(v, given.get(k), base, ())
                if isinstance(v, BaseModel)
                else given[k]
                for k, v in value.items()
                if k in given
            }
        elif name in path_params and isinstance(given, str) and "${" not in given:
            candidate = Path(os.path.expanduser(given))
            if not candidate.is_absolute() and (base / candidate).exists():
                out[key] = str(base / candidate)
    return out


def _without(raw: dict[str, Any], locs: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of ``raw`` without the keys at ``locs`` (pydantic error locations).

    Examples:
        >>> _without({"a": {"b": 1, "c": 2}, "d": 3}, [("a", "b"), ("d",), ("x", "y")])
        {'a': {'c': 2}}
    """
    import copy

    out = copy.deepcopy(raw)
    for loc in locs:
        node: Any = out
        for part in loc[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return out


def _step_kind_or_problem(
    name: str, uses: str, registry: Registry[Any] | None
) -> tuple[StepKind | None, tuple[str, str] | None]:
    try:
        return step_kind(uses, registry), None
    except BiommError as exc:
        return None, (f"steps.{name}.uses", str(exc))


def _step_deps(step: StepSpec) -> list[str]:
    """The steps ``step`` waits for as written: ``needs`` and ``${steps.X}`` references."""
    deps = list(step.needs)
    deps += [ref.step for _, ref in find_refs(step.with_) if ref.root == "steps" and ref.step]
    return deps


def _cycle(start: str, first: str, steps: dict[str, StepSpec]) -> list[str] | None:
    """The dependency path ``start → first → … → start`` when there is one, else None.

    Examples:
        >>> steps = {"a": StepSpec(uses="report", needs=["b"]),
        ...          "b": StepSpec(uses="report", needs=["a"])}
        >>> _cycle("a", "b", steps)
        ['a', 'b', 'a']
        >>> _cycle("a", "b", {**steps, "b": StepSpec(uses="report")}) is None
        True
    """
    stack: list[tuple[str, list[str]]] = [(first, [start, first])]
    visited: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name == start:
            return path
        if name in visited or name not in steps:
            continue
        visited.add(name)
        stack += [(dep, [*path, dep]) for dep in _step_deps(steps[name])]
    return None


def build_pipeline(
    data: dict[str, Any],
    *,
    base: str | os.PathLike[str],
    source: str | os.PathLike[str] | None = None,
    cohort: str | os.PathLike[str] | None = None,
    schema: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    registry: Registry[Any] | None = None,
) -> Pipeline:
    """Validate a pipeline mapping; ``cohort``/``schema``/``data_root`` override the YAML's.

    Raises:
        PipelineConfigError: Listing every problem with its key path.

    Examples:
        >>> p = build_pipeline({"name": "p", "steps": {"r": {"uses": "report"}}}, base=".")
        >>> list(p.steps), p.steps["r"].soft
        (['r'], True)
    """
    base = Path(base).absolute()
    problems: list[tuple[str, str]] = []
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineConfigError(_pydantic_problems(exc, "", PipelineSpec), path=source) from None

    def absolute(value: str | os.PathLike[str] | None, relative_to: Path) -> Path | None:
        if value is None:
            return None
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else relative_to / path

    cwd = Path.cwd()
    cohort_path = absolute(cohort, cwd) if cohort is not None else absolute(spec.cohort, base)
    schema_path = absolute(schema, cwd) if schema is not None else absolute(spec.schema_, base)
    root = absolute(data_root, cwd) if data_root is not None else absolute(spec.data_root, base)
    for key, path, want_dir in (
        ("cohort", cohort_path, False),
        ("schema", schema_path, False),
        ("data_root", root, True),
    ):
        if path is not None and not (path.is_dir() if want_dir else path.is_file()):
            problems.append((key, f"{'folder' if want_dir else 'file'} not found: {path}"))
    if spec.split is not None:
        from biomm.cohort.split import check_split_request

        try:
            check_split_request(None, spec.split.ratios)
        except BiommError as exc:
            problems.append(("split.ratios", exc.reason))

    steps: dict[str, PipelineStep] = {}
    order = list(spec.steps)
    gates: list[str] = []
    for index, (name, step) in enumerate(spec.steps.items()):
        where = f"steps.{name}"
        if not valid_step_name(name):
            problems.append(
                (where, "step names use letters, digits, '_' and '-' (no dots), first a letter")
            )
        kind, problem = _step_kind_or_problem(name, step.uses, registry)
        if problem:
            problems.append(problem)
        if (
            kind is not None
            and kind.needs_cohort
            and cohort_path is None
            and not any(k == "cohort" for k, _ in problems)
        ):
            problems.append(("cohort", f"step {name!r} needs a cohort: set `cohort:` or --cohort"))
        earlier = order[:index]
        deps: list[str] = []
        for need in step.needs:
            if need == name:
                problems.append((f"{where}.needs", "a step cannot need itself"))
            elif need not in spec.steps:
                problems.append((f"{where}.needs", f"unknown step {need!r}"))
            elif need not in earlier:
                cycle = _cycle(name, need, spec.steps)
                problems.append(
                    (
                        f"{where}.needs",
                        f"dependency cycle {' → '.join(cycle)}"
                        if cycle
                        else f"step {need!r} comes later; steps run in the order written",
                    )
                )
            else:
                deps.append(need)
        for key, ref in find_refs(step.with_):
            at = f"{where}.with.{key}"
            if ref.error:
                problems.append((at, ref.error))
            elif ref.root == "cohort" and cohort_path is None:
                problems.append((at, "${cohort} but the pipeline names no cohort"))
            elif ref.root == "steps":
                assert ref.step is not None
                if ref.step == name:
                    problems.append((at, f"{ref.text} refers to its own step"))
                elif ref.step not in spec.steps:
                    problems.append(
                        (at, f"{ref.text}: unknown step {ref.step!r} (steps: {', '.join(order)})")
                    )
                elif ref.step not in earlier and (cycle := _cycle(name, ref.step, spec.steps)):
                    problems.append((at, f"{ref.text}: dependency cycle {' → '.join(cycle)}"))
                elif ref.step not in earlier:
                    problems.append(
                        (
                            at,
                            f"{ref.text}: step {ref.step!r} comes later; steps run in the order "
                            f"written (a cycle, or move {ref.step!r} before {name!r})",
                        )
                    )
                else:
                    other = steps.get(ref.step)
                    if ref.output and other is not None and ref.output not in other.kind.outputs:
                        problems.append(
                            (
                                at,
                                f"{ref.text}: step {ref.step!r} ({other.kind.name}) has no output "
                                f"{ref.output!r}; outputs: {', '.join(other.kind.outputs)}",
                            )
                        )
                    if ref.step not in deps:
                        deps.append(ref.step)
        if kind is None:
            continue
        params = dict(step.with_)
        checked = params
        try:
            model = kind.params.model_validate(params)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, f"{where}.with", kind.params, kind.name)
            model = None
            # check the rest too: the offending keys fall back to their defaults
            checked = _without(params, [err["loc"] for err in exc.errors()])
        if model is not None:
            params = checked = _resolve_paths(model, params, base, kind.path_params)
        if kind.check is not None:
            try:
                partial = kind.params.model_validate(checked)
                problems += [(f"{where}.with.{k}", m) for k, m in kind.check(partial)]
            except (ValidationError, ImportError):  # required keys missing; module absent
                pass
        soft = kind.after_all and not step.needs
        if soft:
            deps = [d for d in earlier if d not in deps] + deps
        key_deps = [d for d in deps if d not in gates]
        deps = [*[g for g in gates if g not in deps], *deps]
        steps[name] = PipelineStep(name, kind, params, dict(step.with_), deps, key_deps, soft)
        if kind.gate:
            gates.append(name)
    if problems:
        raise PipelineConfigError(problems, path=source)
    return Pipeline(
        name=spec.name,
        source=Path(source) if source is not None else None,
        base=base,
        cohort=cohort_path,
        schema=schema_path,
        data_root=root,
        split=spec.split,
        steps=steps,
        data=data,
        overrides=list(overrides),
        description=spec.description,
    )


def load_pipeline(
    path: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    cohort: str | os.PathLike[str] | None = None,
    schema: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    registry: Registry[Any] | None = None,
) -> Pipeline:
    """Read, override and validate a pipeline YAML (nothing runs).

    Args:
        path: The pipeline YAML.
        overrides: ``KEY.PATH=VALUE`` assignments, applied before validation.
        cohort: Manifest replacing the YAML's ``cohort`` (relative to the working directory).
        schema: Schema replacing the YAML's ``schema``.
        data_root: Data root replacing the YAML's ``data_root``.
        registry: Step kinds (default :data:`~biomm.pipeline.steps.PIPELINE_STEPS`).

    The YAML is read strictly (:func:`biomm.utils.config.read_yaml_mapping`): duplicated
    keys, Python tags, alias bombs, binary or non-UTF-8 files are refused.

    Raises:
        ConfigError: When the file cannot be read; PipelineConfigError on invalid content
            (an empty file included).
    """
    path = Path(path)
    raw = read_yaml_mapping(path)
    if not raw:
        raise PipelineConfigError(
            [("", "the pipeline file is empty: it needs at least 'name' and 'steps'")], path=path
        )
    data = apply_overrides(raw, overrides, path)
    return build_pipeline(
        data,
        base=path.parent,
        source=path,
        cohort=cohort,
        schema=schema,
        data_root=data_root,
        overrides=overrides,
        registry=registry,
    )


__all__ = [
    "Pipeline",
    "PipelineConfigError",
    "PipelineSpec",
    "PipelineStep",
    "SplitSpec",
    "StepSpec",
    "apply_overrides",
    "build_pipeline",
    "load_pipeline",
]
