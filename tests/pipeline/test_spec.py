"""Pipeline YAML validation: every problem reported at once, each named by its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from biomm.errors import ConfigError
from biomm.pipeline import PipelineConfigError, apply_overrides, build_pipeline, load_pipeline
from tests.pipeline.conftest import write_yaml

TRAIN = {
    "uses": "train",
    "with": {
        "modalities": {"wsi": {"bags": "${steps.wsi}"}},
        "tasks": {"high_risk": {"head": "binary", "target": "high_risk"}},
    },
}


def _pipeline(cohort: Path, **steps: dict) -> dict:
    return {
        "name": "t",
        "cohort": str(cohort / "cohort.csv"),
        "schema": str(cohort / "schema.yaml"),
        "steps": steps,
    }


def _problems(path: Path, **kwargs) -> dict[str, str]:
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(path, **kwargs)
    assert str(path) in str(info.value)  # the message names the file
    out: dict[str, str] = {}
    for key, message in info.value.problems:
        out[key] = f"{out[key]}; {message}" if key in out else message
    return out


def test_several_problems_each_at_its_key(tmp_path, tiny_cohort):
    data = _pipeline(
        tiny_cohort,
        validate={"uses": "cohort.validate", "with": {"probe": False}},
        wsi={"uses": "wsi.embedd"},
        train={
            **TRAIN,
            "with": {
                **TRAIN["with"],
                "fusion": {"name": "multimodm"},
                "training": {"epochs": 0},
            },
        },
    )
    problems = _problems(write_yaml(tmp_path / "p.yaml", data))
    assert "valid" in problems["steps.validate.with.probe"]
    assert "probe_files" in problems["steps.validate.with.probe"]  # lists the real params
    assert "did you mean 'wsi.embed'" in problems["steps.wsi.uses"]
    assert "unknown fusion 'multimodm'" in problems["steps.train.with.fusion.name"]
    assert "greater than or equal to 1" in problems["steps.train.with.training.epochs"]


def test_references_to_unknown_later_or_own_steps(tmp_path, tiny_cohort):
    data = _pipeline(
        tiny_cohort,
        embed={
            "uses": "ecg.embed",
            "with": {"model": "${steps.pretrain.model}", "store": "${steps.embed}"},
            "needs": ["nowhere"],
        },
        pretrain={"uses": "ecg.pretrain", "with": {"store": "${steps.convert.store}"}},
        convert={"uses": "ecg.convert"},
        zs={"uses": "ecg.zeroshot", "with": {"model": "${steps.pretrain.modell}", "classes": "x"}},
        report={"uses": "report", "with": {"with_cohort": "${stepz.a}"}},
    )
    problems = _problems(write_yaml(tmp_path / "p.yaml", data))
    assert "comes later" in problems["steps.embed.with.model"]  # a cycle cannot be written
    assert "its own step" in problems["steps.embed.with.store"]
    assert "unknown step 'nowhere'" in problems["steps.embed.needs"]
    assert "comes later" in problems["steps.pretrain.with.store"]
    assert "has no output 'modell'" in problems["steps.zs.with.model"]
    assert "neither a prompt set file nor a registered" in problems["steps.zs.with.classes"]
    assert "unknown reference" in problems["steps.report.with.with_cohort"]


def test_top_level_problems(tmp_path, tiny_cohort):
    data = {
        "name": "bad name!",
        "cohort": "missing.csv",
        "split": {"ratios": [0.5, 0.5, 0.5]},
        "extra": 1,
        "steps": {"v": {"uses": "cohort.validate"}},
    }
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(write_yaml(tmp_path / "p.yaml", data))
    keys = {k for k, _ in info.value.problems}
    assert {"name", "extra"} <= keys  # schema errors come first, together
    data.pop("extra")
    data["name"] = "ok"
    problems = _problems(write_yaml(tmp_path / "p.yaml", data))
    assert "file not found" in problems["cohort"] and "missing.csv" in problems["cohort"]
    assert "sum" in problems["split.ratios"] or "summing" in problems["split.ratios"]
    no_cohort = {"name": "x", "steps": {"v": {"uses": "cohort.validate"}}}
    assert "needs a cohort" in _problems(write_yaml(tmp_path / "n.yaml", no_cohort))["cohort"]


def test_overrides_apply_before_validation(tmp_path, tiny_cohort):
    data = _pipeline(
        tiny_cohort,
        wsi={"uses": "wsi.embed", "with": {"mpp": 2.0}},
        train={**TRAIN, "with": {**TRAIN["with"], "training": {"epochs": 0}}},
    )
    path = write_yaml(tmp_path / "p.yaml", data)
    _problems(path)  # epochs: 0 is invalid ...
    pipeline = load_pipeline(  # ... and --set fixes it before validation
        path, overrides=["steps.train.with.training.epochs=3", "steps.wsi.with.mpp=1.0"]
    )
    assert pipeline.steps["train"].params["training"]["epochs"] == 3
    assert pipeline.steps["wsi"].params["mpp"] == 1.0
    assert pipeline.overrides == ["steps.train.with.training.epochs=3", "steps.wsi.with.mpp=1.0"]
    problems = _problems(path, overrides=["steps.train.with.training.epochs=many"])
    assert "valid integer" in problems["steps.train.with.training.epochs"]
    with pytest.raises(PipelineConfigError, match="no step 'trian'"):
        load_pipeline(path, overrides=["steps.trian.with.x=1"])
    with pytest.raises(PipelineConfigError, match=r"KEY\.PATH=VALUE"):
        load_pipeline(path, overrides=["steps.train.with.bootstrap"])


def test_override_lists_and_new_keys():
    data = {"steps": {"a": {"uses": "x", "with": {"modes": ["names", "knowledge"]}}}}
    out = apply_overrides(data, ["steps.a.with.modes.1=names", "steps.a.with.new.deep=[1, 2]"])
    assert out["steps"]["a"]["with"] == {"modes": ["names", "names"], "new": {"deep": [1, 2]}}
    assert data["steps"]["a"]["with"] == {"modes": ["names", "knowledge"]}  # input untouched
    with pytest.raises(PipelineConfigError, match="not an index"):
        apply_overrides(data, ["steps.a.with.modes.5=x"])


def test_relative_paths_resolve_against_the_yaml(tmp_path, tiny_cohort):
    (tmp_path / "prompts.yaml").write_text("classes: [a, b]\n")
    data = {
        "name": "t",
        "cohort": "data/cohort.csv",
        "steps": {
            "zs": {"uses": "ecg.zeroshot", "with": {"model": "model", "classes": "prompts.yaml"}},
        },
    }
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cohort.csv").write_text("patient_id,ecg\np1,e.hea\n")
    pipeline = load_pipeline(write_yaml(tmp_path / "p.yaml", data))
    params = pipeline.steps["zs"].params
    assert pipeline.cohort == tmp_path / "data" / "cohort.csv"
    assert params["model"] == str(tmp_path / "model")
    assert params["classes"] == str(tmp_path / "prompts.yaml")
    other = load_pipeline(tmp_path / "p.yaml", cohort=tiny_cohort / "cohort.csv")
    assert other.cohort == tiny_cohort / "cohort.csv"  # --cohort wins


def test_dependencies_gates_and_reports(tiny_cohort):
    pipeline = build_pipeline(
        _pipeline(
            tiny_cohort,
            validate={"uses": "cohort.validate"},
            wsi={"uses": "wsi.embed"},
            ecg={"uses": "ecg.convert"},
            train=TRAIN,
            report={"uses": "report"},
        ),
        base=".",
    )
    steps = pipeline.steps
    assert steps["wsi"].deps == ["validate"] and steps["wsi"].key_deps == []  # a gate only
    assert steps["train"].deps == ["validate", "wsi"] and steps["train"].key_deps == ["wsi"]
    assert steps["report"].soft and set(steps["report"].key_deps) == {"wsi", "ecg", "train"}
    assert pipeline.dependents(["wsi"]) == {"wsi", "train", "report"}


def test_unreadable_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_pipeline(path)


# ---- strict YAML (bad-input corpus regressions) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: a\nname: b\nsteps: {r: {uses: report}}\n", r"duplicated key 'name' on line 2"),
        (
            "name: a\nsteps:\n  r: {uses: report}\n  r: {uses: report}\n",
            r"duplicated key 'r' on line 4 \(first on line 3\)",
        ),
        ("name: !!python/object/apply:os.system [ls]\nsteps: {}\n", r"tag '!!python/object"),
        ("name: a\nsteps: &s {r: {uses: report, with: *s}}\n", "recursive alias"),
        ("name: " + "[" * 500 + "]" * 500 + "\n", r"nested more than \d+ levels"),
        ("name: a\nsteps:\n\tr: {uses: report}\n", "tab character"),
    ],
)
def test_yaml_is_read_strictly(tmp_path, text, match):
    path = write_text(tmp_path / "p.yaml", text)
    with pytest.raises(ConfigError, match=match) as info:
        load_pipeline(path)
    assert str(path) in str(info.value)


def test_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    lines = ["a0: &a0 [x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)
    ]
    path = write_text(tmp_path / "p.yaml", "\n".join(lines) + "\nname: a\n")
    with pytest.raises(ConfigError, match="aliases expand the document"):
        load_pipeline(path)


def test_merge_keys_and_shared_anchors_still_work(tmp_path):
    text = (
        "name: a\n"
        "base: &base {uses: report}\n"
        "steps:\n  r1: {<<: *base, description: one}\n  r2: {<<: *base, uses: report}\n"
    )
    from biomm.utils.config import load_yaml

    data = load_yaml(text)
    assert data["steps"]["r1"] == {"uses": "report", "description": "one"}
    assert data["steps"]["r2"] == {"uses": "report"}  # an explicit key overrides a merged one


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"%PDF-1.7\n\xe2\xe3", "binary content: a PDF document"),
        ("name: a".encode("utf-16-le"), r"NUL byte at offset 1 \(UTF-16"),
        ("description: Über\n".encode("latin-1"), "not UTF-8 text: invalid byte 0xdc at byte 13"),
        (b"\xff\xfe" + "name: a".encode("utf-16-le")[:-1], "ends inside a UTF-16 character"),
    ],
)
def test_binary_and_undecodable_files_are_config_errors(tmp_path, data, match):
    path = tmp_path / "p.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=match):
        load_pipeline(path)


def test_utf16_with_byte_order_mark_is_read(tmp_path, tiny_cohort):
    path = tmp_path / "p.yaml"
    text = f"name: u\ncohort: {tiny_cohort / 'cohort.csv'}\nsteps: {{r: {{uses: report}}}}\n"
    path.write_bytes(text.encode("utf-16"))
    assert load_pipeline(path).name == "u"


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n"])
def test_empty_pipeline_file(tmp_path, text):
    path = write_text(tmp_path / "p.yaml", text)
    with pytest.raises(PipelineConfigError, match="the pipeline file is empty"):
        load_pipeline(path)


def test_a_dependency_cycle_is_named(tmp_path):
    data = {
        "name": "c",
        "steps": {
            "a": {"uses": "report", "needs": ["c"]},
            "b": {"uses": "report", "needs": ["a"]},
            "c": {"uses": "report", "needs": ["b"]},
        },
    }
    problems = _problems(write_yaml(tmp_path / "p.yaml", data))
    assert problems["steps.a.needs"] == "dependency cycle a → c → b → a"
    data["steps"]["c"]["needs"] = []  # no cycle: only the order is wrong
    problems = _problems(write_yaml(tmp_path / "p.yaml", data))
    assert "comes later" in problems["steps.a.needs"]


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
