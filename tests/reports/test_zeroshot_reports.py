from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from biomm.errors import InputError
from biomm.zeroshot.reports import (
    AGGREGATES,
    NEGATIVE_TEMPLATES,
    POSITIVE_TEMPLATES,
    ReportZeroShot,
    as_text_encoder,
    report_sentences,
    score_reports,
)

FINDINGS = ["pleural effusion", "pneumothorax"]


def toy_encoder(texts):
    """Two axes: mentions of 'x', and negation."""
    return torch.tensor([[1.0 + 0.1 * t.count("x"), float("no " in t.lower())] for t in texts])


def test_aggregations_on_a_toy_encoder():
    zs = ReportZeroShot(
        toy_encoder, ["x"], positive_templates=["{}"], negative_templates=["no {}"], temperature=10
    )
    sentences = toy_encoder(["no x", "x", "x"])
    p = zs.probabilities(sentences)[:, 0]
    assert p[0] < 0.5 < p[1]
    got = {a: float(zs.aggregate(sentences, a, k=2)) for a in AGGREGATES}
    assert got["max"] == pytest.approx(float(p.max()))
    assert got["mean"] == pytest.approx(float(p.mean()))
    assert got["noisy_or"] == pytest.approx(1 - float(torch.prod(1 - p)), rel=1e-5)
    assert got["topk_mean"] == pytest.approx(float(p.sort().values[-2:].mean()))
    assert float(p.min()) <= got["attention"] <= float(p.max())


@pytest.mark.parametrize("level", ["sentence", "report"])
def test_negated_finding_scores_lower_than_stated_one(embedder, level):
    texts = pd.Series(
        [
            "FINDINGS: There is a large right pleural effusion. Heart size is normal.",
            "FINDINGS: No pleural effusion. Heart size is normal.",
            "   ",
        ],
        index=["pos", "neg", "empty"],
    )
    scores = score_reports(texts, FINDINGS, encoder=embedder, level=level)
    assert scores.shape == (3, 2) and scores.index.tolist() == ["pos", "neg", "empty"]
    assert scores.columns.tolist() == FINDINGS
    assert scores.loc["pos", "pleural effusion"] > scores.loc["neg", "pleural effusion"]
    assert scores.loc["pos", "pleural effusion"] > 0.5 > scores.loc["neg", "pleural effusion"]
    assert scores.loc["empty"].isna().all()
    assert ((scores.iloc[:2] >= 0) & (scores.iloc[:2] <= 1)).all().all()
    assert scores.attrs["level"] == level and scores.attrs["score"] == "probability"


def test_modes_ensembles_and_explanations(embedder):
    texts = ["Small left pleural effusion. No pneumothorax.", "Normal chest."]
    single = score_reports(
        texts,
        FINDINGS,
        encoder=embedder,
        positive_templates=POSITIVE_TEMPLATES[:1],
        negative_templates=NEGATIVE_TEMPLATES[:1],
    )
    two = {
        "positive_templates": POSITIVE_TEMPLATES[:2],
        "negative_templates": NEGATIVE_TEMPLATES[:2],
    }
    by_emb = score_reports(texts, FINDINGS, encoder=embedder, **two)
    by_prob = score_reports(texts, FINDINGS, encoder=embedder, ensemble="probability", **two)
    names = score_reports(texts, FINDINGS, encoder=embedder, prompts="names", aggregate="max")
    assert single.shape == by_prob.shape == names.shape == (2, 2)
    assert not np.allclose(single.to_numpy(), by_emb.to_numpy())
    assert not np.allclose(by_emb.to_numpy(), by_prob.to_numpy())
    assert names.attrs["score"] == "cosine similarity"
    assert names.loc[0, "pleural effusion"] > names.loc[1, "pleural effusion"]
    zs = ReportZeroShot(embedder, FINDINGS, **two)
    table = zs.explain(texts[0])
    assert table.index.tolist() == ["Small left pleural effusion.", "No pneumothorax."]
    assert table.loc["Small left pleural effusion.", "pleural effusion"] > 0.5
    assert table.loc["No pneumothorax.", "pneumothorax"] < 0.5


def test_prompt_sets_and_encoder_kinds(embedder):
    from biomm.zeroshot.prompts import PromptSet

    ps = PromptSet.model_validate(
        {"classes": [{"name": "pleural effusion", "descriptions": ["fluid in the pleural space"]}]}
    )
    zs = ReportZeroShot(embedder, ps)
    assert zs.findings == ["pleural effusion"]
    plain = ReportZeroShot(embedder, ["pleural effusion"])
    assert not torch.allclose(zs.positive_, plain.positive_)  # the description joined in
    assert torch.equal(zs.negative_, plain.negative_)
    from_encoder = ReportZeroShot(embedder.encoder, ["pleural effusion"])  # encode_text
    torch.testing.assert_close(from_encoder.positive_, plain.positive_, atol=1e-5, rtol=1e-4)


def test_invalid_requests():
    with pytest.raises(InputError, match="noisy_or"):
        ReportZeroShot(toy_encoder, ["x"], prompts="names").aggregate(
            toy_encoder(["x"]), "noisy_or"
        )
    with pytest.raises(InputError, match="as many"):
        ReportZeroShot(
            toy_encoder,
            ["x"],
            positive_templates=["{}", "a {}"],
            negative_templates=["no {}"],
            ensemble="probability",
        )
    zs = ReportZeroShot(toy_encoder, ["x"], positive_templates=["{}"], negative_templates=["no {}"])
    for kwargs in ({"level": "page"}, {"aggregate": "median"}):
        with pytest.raises(InputError):
            zs.score(["x"], **kwargs)
    with pytest.raises(InputError, match="dimensions"):
        zs.probabilities(torch.zeros(1, 5))
    with pytest.raises(InputError, match="prompts"):
        ReportZeroShot(toy_encoder, ["x"], prompts="both")
    with pytest.raises(InputError, match="cannot use"):
        as_text_encoder(42)


def test_sentences_skip_headers():
    assert report_sentences("IMPRESSION\n1. Effusion.\n2. No mass.") == [
        "1. Effusion.",
        "2. No mass.",
    ]
