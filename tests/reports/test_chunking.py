"""Long-text chunking in HFTextEncoder (the default truncation stays unchanged)."""

from __future__ import annotations

import copy
import inspect
import itertools

import pytest
import torch
import torch.nn.functional as F

from biomm.encoders.text import HFTextEncoder
from biomm.errors import InputError


@pytest.fixture(scope="module")
def chunker():
    return HFTextEncoder("minilm", pooling="mean", max_length=64, long_text="chunk")


@pytest.fixture(scope="module")
def truncator(chunker):
    twin = copy.copy(chunker)  # the same loaded model with the default long-text setting
    twin.long_text = "truncate"
    return twin


def test_long_report_is_chunked_not_truncated(chunker, truncator, long_report):
    assert inspect.signature(HFTextEncoder).parameters["long_text"].default == "truncate"
    assert chunker.count_tokens(long_report) > 4 * chunker.window
    with torch.inference_mode():
        chunked = chunker.encode_backbone([long_report])
        truncated = truncator.encode_backbone([long_report])
        tail_changed = truncator.encode_backbone([long_report + " Large right pneumothorax."])
    torch.testing.assert_close(tail_changed, truncated)  # truncation ignores the tail
    assert float(F.cosine_similarity(chunked, truncated)) < 0.99
    counts = chunker.encode_long_texts([long_report], return_counts=True)[1]
    assert counts == [len(chunker.chunk_ranges(long_report))] and counts[0] > 4


def test_short_text_gives_the_truncation_result(chunker, truncator):
    texts = ["No pleural effusion.", "Sinus rhythm, rate 72."]
    with torch.inference_mode():
        torch.testing.assert_close(chunker.encode_backbone(texts), truncator.encode_backbone(texts))


def test_independent_of_batch_composition(chunker, long_report):
    other = "Benign breast tissue. " * 40
    with torch.inference_mode():
        alone = chunker.encode_backbone([long_report])
        mixed = chunker.encode_backbone(["Small effusion.", other, long_report])
        short_alone = chunker.encode_backbone(["Small effusion."])
    torch.testing.assert_close(mixed[2:], alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mixed[:1], short_alone, atol=1e-5, rtol=1e-4)


def test_chunks_cover_the_text_and_follow_sentences(chunker, long_report):
    ranges = chunker.chunk_ranges(long_report)
    n = chunker.count_tokens(long_report)
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    for (a, b), (c, _) in itertools.pairwise(ranges):
        assert b == c and 0 < b - a <= chunker.window  # no gap, no overlap, within the window
    pieces = chunker.chunk_text(long_report)
    assert len(pieces) == len(ranges)
    aligned = sum(p[:1].isupper() or p[:1].isdigit() or p[:1] in "#*_" for p in pieces)
    assert aligned >= 0.8 * len(pieces)  # most chunks start at a sentence or header


def test_pooling_choices_and_overlap(chunker, long_report):
    with torch.inference_mode():
        mean = chunker.encode_long_texts([long_report], pooling="mean")
        top = chunker.encode_long_texts([long_report], pooling="max")
        weighted = chunker.encode_long_texts([long_report], pooling="weighted_mean")
    assert bool((top >= mean - 1e-6).all())
    assert not torch.allclose(weighted, mean)
    overlapping = copy.copy(chunker)
    overlapping.chunk_stride = 31
    ranges = overlapping.chunk_ranges(long_report)
    assert len(ranges) > len(chunker.chunk_ranges(long_report))
    assert any(c < b for (_, b), (c, _) in itertools.pairwise(ranges))
    assert overlapping.describe()["chunk_stride"] == 31
    with pytest.raises(InputError, match="chunk pooling"):
        chunker.encode_long_texts(["x"], pooling="median")


def test_invalid_settings():
    with pytest.raises(InputError, match="long_text"):
        HFTextEncoder("minilm", long_text="summarise")
    with pytest.raises(InputError, match="chunk_pooling"):
        HFTextEncoder("minilm", chunk_pooling="median")
    with pytest.raises(InputError, match="chunk_stride"):
        HFTextEncoder("minilm", max_length=16, chunk_stride=100)
