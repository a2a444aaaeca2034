from __future__ import annotations

import numpy as np
import pytest

from biomm.errors import ConfigError, ReportReadError
from biomm.reports.embedding import ReportEmbedder

REPORT = (
    "EXAMINATION: Chest PA/LAT.\nFINDINGS:\nSmall left pleural effusion.\n"
    "IMPRESSION: Effusion.\nElectronically signed by: Dr. ___ on [**2150-01-01**]"
)


def test_load_reads_selects_and_cleans(tmp_path, embedder):
    (tmp_path / "r.txt").write_bytes(REPORT.encode("utf-16"))
    text = embedder.load("r.txt", base_dir=tmp_path)
    assert text.startswith("EXAMINATION") and "signed" not in text
    assert embedder.item_info(text)["section"] == "all"
    picky = ReportEmbedder(section=["impression", "findings"])
    picky._encoder = embedder.encoder  # share the loaded model
    assert picky.load(REPORT) == "Effusion."
    assert picky.item_info("Effusion.")["section"] == "impression"
    assert picky.load("No headers here.") == "No headers here."
    assert picky.item_info("No headers here.")["section"] == "all"
    assert picky.item_info("never loaded")["section"] is None
    with pytest.raises(ReportReadError, match="nothing is left"):
        picky.load("Dictated by: ___\nPage 1 of 1")
    (tmp_path / "b.txt").write_bytes(b"%PDF-1.5")
    with pytest.raises(ReportReadError, match=r"b\.txt"):
        embedder.load("b.txt", base_dir=tmp_path)


def test_embed_shapes_norms_and_info(embedder, long_report):
    out = embedder.embed(["No effusion.", long_report])
    assert out.shape == (2, embedder.embed_dim) == (2, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    info = embedder.item_info(long_report)
    assert info["n_chunks"] > 1 and info["n_tokens"] > 62 and not info["truncated"]
    assert info["n_chars"] == len(long_report)
    described = embedder.describe()
    assert described["long_text"] == "chunk" and len(described["weights_sha256"]) == 64
    assert described["embed_dim"] == 384 and described["modality"] == "report"


def test_truncate_mode_reports_truncation(embedder, long_report):
    trunc = ReportEmbedder(long_text="truncate", max_length=64)
    trunc._encoder = embedder.encoder  # same window; item_info follows the embedder's mode
    info = trunc.item_info(long_report)
    assert info["truncated"] and info["n_chunks"] == 1
    assert not trunc.item_info("Short.")["truncated"]


def test_cache_second_call_does_not_run_the_model(tmp_path, long_report):
    cached = ReportEmbedder(max_length=64, cache_dir=tmp_path / "cache")
    forward_calls = []
    cached.encoder.lm.register_forward_hook(lambda *args: forward_calls.append(1))
    texts = ["No effusion.", long_report, "No effusion."]
    first = cached.embed(texts)
    assert forward_calls and len(cached.cache) == 2
    n_calls = len(forward_calls)
    second = cached.embed(texts[::-1])
    assert len(forward_calls) == n_calls  # all from the cache
    np.testing.assert_array_equal(second, first[::-1])
    fresh = ReportEmbedder(max_length=64, cache_dir=tmp_path / "cache")  # another process
    fresh._encoder = cached.encoder
    np.testing.assert_array_equal(fresh.embed([long_report]), first[1:2])
    assert len(forward_calls) == n_calls


def test_invalid_settings():
    with pytest.raises(ConfigError, match="long_text"):
        ReportEmbedder(long_text="summarise")
    with pytest.raises(ConfigError, match="pooling"):
        ReportEmbedder(pooling="max")
