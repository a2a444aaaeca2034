"""Prompt sets (YAML, knowledge codes, expanders) and zero-shot metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biomm.errors import ConfigError, InputError
from biomm.zeroshot.metrics import classification_metrics
from biomm.zeroshot.prompts import get_prompt_set


def expand_twice(name: str, descriptions: list[str]) -> list[str]:
    return [f"{name} (expanded)", f"{len(descriptions)} known"]


def test_yaml_prompt_set_with_knowledge_codes_and_expander(tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text(
        "templates: ['{}', 'ECG showing {}']\n"
        "knowledge: ptbxl_scp\n"
        f"expand: {__name__}:expand_twice\n"
        "classes:\n"
        "  - AFIB\n"
        "  - name: normal ECG\n"
        "    label: NORM\n"
        "    descriptions: [no abnormality]\n"
    )
    ps = get_prompt_set(path)
    from biomm.zeroshot.knowledge import load_knowledge

    afib = load_knowledge("ptbxl_scp")["AFIB"]
    assert ps.class_names == [afib.name, "normal ECG"]
    assert ps.label_columns == {afib.name: "AFIB", "normal ECG": "NORM"}
    knowledge = ps.descriptions("knowledge")
    prefixed = [f"{afib.name}: {d}" for d in afib.descriptions]
    assert knowledge[afib.name][: len(afib.descriptions)] == prefixed
    assert knowledge[afib.name][-2:] == [
        f"{afib.name}: {afib.name} (expanded)",
        f"{afib.name}: {len(afib.descriptions)} known",
    ]
    assert knowledge["normal ECG"][0] == "normal ECG: no abnormality"
    assert ps.descriptions("names") == {afib.name: [], "normal ECG": []}


def test_knowledge_prompts_change_the_class_embedding():
    ps = get_prompt_set({"classes": [{"name": "a", "descriptions": ["zzz"]}, "b"]})

    def encode(texts):
        return torch.tensor([[1.0, 0.0] if "zzz" not in t else [0.0, 1.0] for t in texts])

    names = ps.classifier(encode, "names").class_embeddings_[0]
    knowledge = ps.classifier(encode, "knowledge").class_embeddings_[0]
    assert not torch.allclose(names, knowledge)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"classes": []}, "at least one class"),
        ({"classes": ["a", "a"]}, "repeat"),
        ({"classes": ["a"], "templates": ["no placeholder"]}, "placeholder"),
        ({"classes": ["a"], "colour": 1}, "colour"),
        ({"classes": ["a"], "knowledge_template": "{name} only"}, "text"),
        ({"classes": ["a"], "knowledge_template": "{text} {other}"}, "only"),
    ],
)
def test_invalid_prompt_sets_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_prompt_set(spec)


def test_unknown_names_and_files(tmp_path):
    with pytest.raises(InputError, match="neither a prompt set file"):
        get_prompt_set("no_such_set")
    with pytest.raises(ConfigError, match="not found"):
        get_prompt_set(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="module:function"):
        get_prompt_set({"classes": ["a"], "expand": "nocolon"}).descriptions("knowledge")


def test_metrics_handle_unknown_labels_and_single_valued_classes():
    labels = np.array([[1, 0, 1], [0, np.nan, 1], [1, 1, 1], [0, 0, 1]], float)
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.9, 0.5], [0.6, 0.8, 0.5], [0.1, 0.3, 0.5]])
    m = classification_metrics(labels, scores, ["a", "b", "c"])
    assert m["per_class"]["a"]["auroc"] == 1.0
    assert m["per_class"]["b"]["n"] == 3 and m["per_class"]["b"]["auroc"] == 1.0  # NaN row skipped
    assert (
        np.isnan(m["per_class"]["c"]["auroc"]) and "one label value" in m["per_class"]["c"]["note"]
    )
    assert m["classes_scored"] == 2 and m["macro_auroc"] == 1.0
    wrong = classification_metrics(labels[:, :2], 1 - scores[:, :2], ["a", "b"])
    assert wrong["macro_auroc"] == 0.0
    with pytest.raises(InputError):
        classification_metrics(labels, scores[:, :2], ["a", "b", "c"])
