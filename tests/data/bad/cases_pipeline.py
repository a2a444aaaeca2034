"""Bad pipeline YAML files (read with :func:`biomm.pipeline.spec.load_pipeline`).

``load_pipeline`` reads, overrides and validates a pipeline without running a step, which is
what ``biomm run`` does first. Each case folder holds the pipeline (``pipeline.yaml``) and a
small valid manifest (``cohort.csv``) it can name.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np

from tests.data.bad.cases_ehr import pdf_bytes
from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.pipeline.spec import load_pipeline

    load_pipeline(path)


READER = Reader("pipeline", "biomm.pipeline.spec.load_pipeline(path)", _read)

#: Nine levels of nine aliases each: 9^9 (about 4 * 10^8) leaves once expanded.
BILLION_LAUGHS = "".join(
    [
        "l0: &l0 [lol]\n",
        *(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)),
    ]
)


def _cohort(folder: Path, rng: np.random.Generator) -> None:
    rows = [
        f"P{i + 1:03d},{rng.choice(['Benign.', 'Carcinoma.'])},{int(rng.integers(0, 2))}"
        for i in range(8)
    ]
    text = "patient_id,report,label\n" + "\n".join(rows) + "\n"
    (folder / "cohort.csv").write_text(text, encoding="utf-8")


def valid_pipeline(rng: np.random.Generator) -> str:
    """A small valid pipeline naming ``cohort.csv``."""
    seed = int(rng.integers(0, 100))
    return (
        "name: demo\n"
        "cohort: cohort.csv\n"
        f"split: {{ratios: [0.6, 0.2, 0.2], stratify: label, seed: {seed}}}\n"
        "steps:\n"
        "  validate: {uses: cohort.validate}\n"
        "  summary: {uses: report}\n"
    )


def _write(folder: Path, rng: np.random.Generator, data: bytes | str) -> str:
    _cohort(folder, rng)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    (folder / "pipeline.yaml").write_bytes(raw)
    return "pipeline.yaml"


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, b"")


def _comments_only(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, "# TODO: write the pipeline\n\n# steps:\n")


def _truncated(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng) + '  train: {uses: train, with: {tasks: {y: {head: "bin'
    return _write(folder, rng, text)


def _pdf_as_yaml(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, pdf_bytes())


def _utf16_no_bom(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, valid_pipeline(rng).encode("utf-16-le"))


def _utf16_with_bom_truncated(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, codecs.BOM_UTF16_LE + valid_pipeline(rng).encode("utf-16-le")[:-1])


def _latin1(folder: Path, rng: np.random.Generator) -> str:
    text = "description: Überlebenszeit-Analyse (Kohorte München)\n" + valid_pipeline(rng)
    return _write(folder, rng, text.encode("latin-1"))


def _duplicated_step(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng) + "  validate: {uses: cohort.validate, with: {probe_files: false}}\n"
    return _write(folder, rng, text)


def _duplicated_top_level(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, valid_pipeline(rng) + "cohort: other_cohort.csv\n")


def _python_tag(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace(
        "name: demo\n", "name: !!python/object/apply:os.system ['touch /tmp/pwned']\n"
    )
    return _write(folder, rng, text)


def _billion_laughs(folder: Path, rng: np.random.Generator) -> str:
    text = BILLION_LAUGHS + valid_pipeline(rng).replace(
        "{uses: report}", "{uses: report, description: *l9}"
    )
    return _write(folder, rng, text)


def _recursive_alias(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace(
        "{uses: report}", "{uses: report, with: &loop {title: t, extra: *loop}}"
    )
    return _write(folder, rng, text)


def _deep_nesting(folder: Path, rng: np.random.Generator) -> str:
    depth = 5_000
    text = valid_pipeline(rng).replace(
        "{uses: report}", "{uses: report, with: {title: " + "[" * depth + "]" * depth + "}}"
    )
    return _write(folder, rng, text)


def _unknown_step_kind(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng) + "  embed_wsi: {uses: wsi.embedd}\n"
    return _write(folder, rng, text)


def _cyclic_needs(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace(
        "validate: {uses: cohort.validate}", "validate: {uses: cohort.validate, needs: summary}"
    )
    text = text.replace("summary: {uses: report}", "summary: {uses: report, needs: validate}")
    return _write(folder, rng, text)


def _wrong_types(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace("seed: ", "seed: forty-")
    return _write(folder, rng, text)


def _nan_ratio(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace("ratios: [0.6, 0.2, 0.2]", "ratios: [.nan, 0.2, 0.2]")
    return _write(folder, rng, text)


def _inf_ratio(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace("ratios: [0.6, 0.2, 0.2]", "ratios: [.inf, -.inf, 0.2]")
    return _write(folder, rng, text)


def _missing_cohort(folder: Path, rng: np.random.Generator) -> str:
    text = valid_pipeline(rng).replace("cohort: cohort.csv", "cohort: data/cohort_v2.csv")
    return _write(folder, rng, text)


def _top_level_list(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, "- uses: cohort.validate\n- uses: report\n")


def _tab_indentation(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, valid_pipeline(rng).replace("  validate:", "\tvalidate:"))


def _unknown_key(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, rng, valid_pipeline(rng).replace("steps:", "stpes:"))


CASES = [
    Case(
        "zero-length",
        "a pipeline YAML of 0 bytes",
        "PipelineConfigError",
        r"the pipeline file is empty",
        _zero_length,
        "zero-length",
    ),
    Case(
        "comments-only",
        "a pipeline YAML holding only comments",
        "PipelineConfigError",
        r"the pipeline file is empty",
        _comments_only,
        "missing",
    ),
    Case(
        "truncated",
        "the file ends inside a quoted value of a flow mapping",
        "ConfigError",
        r"invalid YAML: .*unexpected end of stream \(line \d+",
        _truncated,
        "truncated",
    ),
    Case(
        "pdf-as-yaml",
        "a PDF document named .yaml",
        "ConfigError",
        r"binary content: a PDF document",
        _pdf_as_yaml,
        "wrong-magic",
    ),
    Case(
        "utf16-without-bom",
        "a UTF-16-LE pipeline without a byte-order mark",
        "ConfigError",
        r"NUL byte at offset 1 \(UTF-16",
        _utf16_no_bom,
        "non-utf8",
    ),
    Case(
        "utf16-bom-truncated",
        "a UTF-16 pipeline (with byte-order mark) missing its last byte",
        "ConfigError",
        r"not UTF-16 text: the file ends inside a UTF-16 character",
        _utf16_with_bom_truncated,
        "truncated",
    ),
    Case(
        "latin1-bytes",
        "a Latin-1 description (Ü, ü) in a YAML read as UTF-8",
        "ConfigError",
        r"not UTF-8 text: invalid byte 0xdc at byte \d+",
        _latin1,
        "non-utf8",
    ),
    Case(
        "duplicated-step",
        "step 'validate' defined twice (YAML would keep the last one silently)",
        "ConfigError",
        r"duplicated key 'validate' on line \d+ \(first on line \d+\)",
        _duplicated_step,
        "duplicated-keys",
    ),
    Case(
        "duplicated-top-level-key",
        "'cohort:' given twice at the top level",
        "ConfigError",
        r"duplicated key 'cohort' on line \d+",
        _duplicated_top_level,
        "duplicated-keys",
    ),
    Case(
        "python-object-tag",
        "a !!python/object/apply tag that would run a shell command",
        "ConfigError",
        r"tag '!!python/object/apply:os\.system' .*is not plain YAML",
        _python_tag,
        "other",
    ),
    Case(
        "billion-laughs",
        "nested aliases that expand to 9^9 nodes",
        "ConfigError",
        r"aliases expand the document to more than \d+ nodes",
        _billion_laughs,
        "absurd-dimensions",
    ),
    Case(
        "recursive-alias",
        "an alias that refers to the mapping it is inside",
        "ConfigError",
        r"recursive alias: a collection contains itself",
        _recursive_alias,
        "other",
    ),
    Case(
        "deep-nesting",
        "a value nested 5 000 lists deep",
        "ConfigError",
        r"nested more than \d+ levels deep",
        _deep_nesting,
        "absurd-dimensions",
    ),
    Case(
        "unknown-step-kind",
        "a step that uses 'wsi.embedd' (a typo)",
        "PipelineConfigError",
        r"steps\.embed_wsi\.uses: unknown pipeline step 'wsi\.embedd'",
        _unknown_step_kind,
        "other",
    ),
    Case(
        "cyclic-needs",
        "two steps that need each other",
        "PipelineConfigError",
        r"dependency cycle validate → summary → validate",
        _cyclic_needs,
        "header-vs-data",
    ),
    Case(
        "seed-not-integer",
        "split seed written as 'forty-…'",
        "PipelineConfigError",
        r"split\.seed: .*valid integer",
        _wrong_types,
        "wrong-types",
    ),
    Case(
        "nan-ratio",
        "a split ratio of .nan",
        "PipelineConfigError",
        r"split\.ratios: .*got \(nan",
        _nan_ratio,
        "nan-inf",
    ),
    Case(
        "inf-ratios",
        "split ratios of .inf and -.inf",
        "PipelineConfigError",
        r"split\.ratios: .*got \(inf, -inf",
        _inf_ratio,
        "nan-inf",
    ),
    Case(
        "cohort-not-found",
        "the pipeline names a manifest that does not exist",
        "PipelineConfigError",
        r"cohort: file not found: ",
        _missing_cohort,
        "missing",
    ),
    Case(
        "top-level-list",
        "a list of steps instead of a mapping",
        "ConfigError",
        r"a config must be a mapping",
        _top_level_list,
        "wrong-types",
    ),
    Case(
        "tab-indentation",
        "a step indented with a tab character",
        "ConfigError",
        r"a tab character: YAML indents with spaces only",
        _tab_indentation,
        "other",
    ),
    Case(
        "misspelt-key",
        "'stpes:' instead of 'steps:'",
        "PipelineConfigError",
        r"stpes: not a pipeline key",
        _unknown_key,
        "other",
    ),
]
