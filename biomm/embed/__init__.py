"""Cohort embedding for file-per-item modalities (fundus, OCT, reports) and the EHR table.

:func:`~biomm.embed.cohort.embed_cohort_items` runs any :class:`~biomm.embed.cohort.ItemEmbedder`
over a cohort's references, resumably, with a failures list; ``biomm embed`` is its CLI.

Examples:
    >>> from biomm.embed import EMBED_MODALITIES
    >>> EMBED_MODALITIES
    ('fundus', 'oct', 'report', 'ehr')
"""

from __future__ import annotations

from biomm.embed.cohort import (
    CohortItem,
    EmbedResult,
    ItemEmbedder,
    cohort_items,
    embed_cohort_items,
)

#: Modalities ``biomm embed`` handles (WSI and ECG have their own ``embed`` commands).
EMBED_MODALITIES = ("fundus", "oct", "report", "ehr")

__all__ = [
    "EMBED_MODALITIES",
    "CohortItem",
    "EmbedResult",
    "ItemEmbedder",
    "cohort_items",
    "embed_cohort_items",
]
