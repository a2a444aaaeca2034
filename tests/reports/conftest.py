"""Shared fixtures: the offline MiniLM loaded once per session (network never used)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    from biomm.reports.embedding import ReportEmbedder

    return ReportEmbedder("minilm", max_length=64)


@pytest.fixture(scope="session")
def long_report() -> str:
    """A report of several hundred tokens (well above a 64-token window)."""
    from biomm.reports.synthetic import make_reports

    texts = make_reports(6, kind="radiology", seed=3)["text"].tolist()
    return "\n\n".join(texts)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny batches run ~5x faster on one thread on a shared 2-core machine; restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
