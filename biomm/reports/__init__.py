"""Report embeddings, the embedding cache and a labelled synthetic report generator.

Reading, sections and cleaning live in :mod:`biomm.io.reports`; zero-shot labelling of
reports in :mod:`biomm.zeroshot.reports`.

Examples:
    >>> from biomm.reports import make_reports
    >>> make_reports(2, seed=0).shape[0]
    2
"""

from biomm.reports.cache import EmbeddingCache
from biomm.reports.embedding import ReportEmbedder
from biomm.reports.synthetic import make_reports

__all__ = ["EmbeddingCache", "ReportEmbedder", "make_reports"]
