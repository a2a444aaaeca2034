"""Runner semantics on toy steps (fast): failures, skips, kills and resumes, forcing, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from biomm.errors import ConfigError, InputError
from biomm.pipeline import StepKind, StepResult, build_pipeline, plan_pipeline, run_pipeline
from biomm.pipeline.steps import PIPELINE_STEPS
from biomm.registry import Registry

CALLS: list[str] = []


class ToyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = "x"
    fail: bool = False
    interrupt: bool = False
    bad_items: int = 0
    source: str | None = None


def run_toy(params: ToyParams, ctx) -> StepResult:
    CALLS.append(ctx.name)
    partial = ctx.out / "partial.txt"
    if params.interrupt and not partial.exists():
        partial.write_text("half done")
        raise KeyboardInterrupt  # a kill in the middle of the step
    if params.fail:
        raise InputError("this step cannot work", path="somewhere.csv")
    text = params.text + (Path(params.source).read_text() if params.source else "")
    (ctx.out / "out.txt").write_text(text)
    failures = None
    if params.bad_items:
        failures = ctx.out / "failures.csv"
        rows = "".join(f"item{k},P{k},unreadable\n" for k in range(params.bad_items))
        failures.write_text("record_id,patient_id,reason\n" + rows)
    return StepResult(done=3, failed=params.bad_items, failures=failures, metrics={"n": 3})


@pytest.fixture
def registry() -> Registry:
    toy = Registry("pipeline step")
    toy.add(
        "toy",
        lambda: StepKind(
            "toy", ToyParams, run_toy, outputs={"text": "out.txt"}, needs_cohort=False
        ),
    )
    toy.add("report", PIPELINE_STEPS.get("report"))
    return toy


def _pipeline(registry: Registry, steps: dict, tmp_path: Path):
    return build_pipeline({"name": "toy", "steps": steps}, base=tmp_path, registry=registry)


def _statuses(summary) -> dict[str, str]:
    return {s.step: s.status for s in summary.steps}


def test_failed_step_skips_dependents_not_independent_steps(registry, tmp_path):
    steps = {
        "a": {"uses": "toy", "with": {"fail": True}},
        "b": {"uses": "toy", "with": {"source": "${steps.a.text}"}},
        "c": {"uses": "toy", "needs": ["b"]},
        "d": {"uses": "toy"},
    }
    lines: list[str] = []
    summary = run_pipeline(
        _pipeline(registry, steps, tmp_path), tmp_path / "run", echo=lines.append
    )
    assert _statuses(summary) == {"a": "failed", "b": "skipped", "c": "skipped", "d": "ran"}
    assert "this step cannot work" in summary.steps[0].error
    assert "needs a" in summary.steps[1].error and "needs b" in summary.steps[2].error
    assert summary.exit_code() == 1
    assert any("FAILED" in line for line in lines)
    state = json.loads((tmp_path / "run/steps/a/step.json").read_text())
    assert state["status"] == "failed"
    assert not (tmp_path / "run/steps/b").exists()  # a skipped step writes nothing
    written = json.loads((tmp_path / "run/summary.json").read_text())
    assert written["failed_steps"] == ["a"] and written["skipped_steps"] == ["b", "c"]


def test_killed_step_leaves_no_state_and_resumes(registry, tmp_path):
    pipeline = _pipeline(
        registry,
        {"first": {"uses": "toy"}, "second": {"uses": "toy", "with": {"interrupt": True}}},
        tmp_path,
    )
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(pipeline, run, echo=lambda line: None)
    assert (run / "steps/second/partial.txt").exists()
    assert not (run / "steps/second/step.json").exists()
    written = json.loads((run / "summary.json").read_text())
    assert [s["status"] for s in written["steps"]] == ["ran", "interrupted"]
    CALLS.clear()
    summary = run_pipeline(pipeline, run, echo=lambda line: None)
    assert _statuses(summary) == {"first": "cached", "second": "ran"}
    assert CALLS == ["second"]
    assert (run / "steps/second/partial.txt").exists()  # same key: resumed, not cleared


def test_items_failures_are_counted_listed_and_pseudonymised(registry, tmp_path):
    pipeline = _pipeline(registry, {"a": {"uses": "toy", "with": {"bad_items": 2}}}, tmp_path)
    summary = run_pipeline(
        pipeline, tmp_path / "run", echo=lambda line: None, pseudonymise="sea-salt-1"
    )
    assert summary.items_failed == 2
    assert summary.exit_code() == 1 and summary.exit_code(allow_failures=True) == 0
    failures = (tmp_path / "run/failures.csv").read_text()
    assert failures.splitlines()[0] == "step,item,patient_id,reason"
    assert "item0" in failures and "P0" not in failures and "id-" in failures


def test_force_and_changed_params_rerun_downstream(registry, tmp_path):
    steps = {
        "a": {"uses": "toy", "with": {"text": "1"}},
        "b": {"uses": "toy", "with": {"source": "${steps.a.text}"}},
        "c": {"uses": "toy"},
        "report": {"uses": "report", "with": {"with_cohort": False}},
    }
    run = tmp_path / "run"
    pipeline = _pipeline(registry, steps, tmp_path)
    run_pipeline(pipeline, run, echo=lambda line: None)
    (run / "steps/c/stale.txt").write_text("from an older run")
    CALLS.clear()
    summary = run_pipeline(pipeline, run, force=["a"], echo=lambda line: None)
    assert CALLS == ["a", "b"] and _statuses(summary)["c"] == "cached"
    assert (run / "steps/c/stale.txt").exists()
    steps["a"]["with"]["text"] = "2"
    CALLS.clear()
    summary = run_pipeline(_pipeline(registry, steps, tmp_path), run, echo=lambda line: None)
    assert CALLS == ["a", "b"]
    assert (run / "steps/b/out.txt").read_text() == "x2"
    plan = plan_pipeline(_pipeline(registry, steps, tmp_path), run, force=["b"])
    assert [row["action"] for row in plan] == ["cached", "forced", "cached", "forced"]
    with pytest.raises(ConfigError, match="no such step"):
        run_pipeline(pipeline, run, force=["nope"], echo=lambda line: None)


def test_report_step_without_biomm_report_fails_clearly(registry, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "biomm.report", None)  # importing it raises ImportError
    pipeline = _pipeline(
        registry, {"a": {"uses": "toy", "with": {"fail": True}}, "r": {"uses": "report"}}, tmp_path
    )
    summary = run_pipeline(pipeline, tmp_path / "run", echo=lambda line: None)
    assert _statuses(summary) == {"a": "failed", "r": "failed"}  # a report runs after failures
    assert "biomm.report" in summary.steps[1].error


def test_report_without_a_train_step_shows_the_pipeline(registry, tmp_path):
    pytest.importorskip("biomm.report")
    steps = {
        "a": {"uses": "toy", "with": {"bad_items": 1}},
        "b": {"uses": "toy", "with": {"fail": True}},
    }
    steps["r"] = {"uses": "report", "with": {"title": "Toy run"}}
    pipeline = _pipeline(registry, steps, tmp_path)
    summary = run_pipeline(pipeline, tmp_path / "run", echo=lambda line: None)
    assert _statuses(summary) == {"a": "ran", "b": "failed", "r": "ran"}
    html = Path(summary.steps[2].outputs["html"]).read_text()
    assert "Toy run" in html and "Pipeline steps" in html
    assert "this step cannot work" in html and "1 item failure(s)" in html


def test_a_report_step_reruns_when_pseudonymisation_changes(registry, tmp_path):
    from biomm.pipeline.runner import plan_pipeline

    pipeline = _pipeline(registry, {"a": {"uses": "toy"}, "r": {"uses": "report"}}, tmp_path)
    keys = {}
    for salt in (None, "sea-salt-1", "sea-salt-2"):
        plan = plan_pipeline(pipeline, tmp_path / "run", pseudonymise=salt)
        keys[salt] = {row["step"]: row["key"] for row in plan}
    assert keys[None]["a"] == keys["sea-salt-1"]["a"] == keys["sea-salt-2"]["a"]
    assert len({keys[s]["r"] for s in keys}) == 3  # the report is redone with each setting
