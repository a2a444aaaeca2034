"""Tabular EHR models: masked-reconstruction pretraining and per-patient embeddings.

Examples:
    >>> from biomm.ehr import embed_ehr, pretrain_tabular
    >>> callable(embed_ehr) and callable(pretrain_tabular)
    True
"""

from biomm.ehr.embedding import EHREmbedding, embed_batch, embed_ehr, encoder_spec
from biomm.ehr.pretrain import (
    PretrainResult,
    TabularReconstruction,
    mask_cells,
    pretrain_tabular,
    reconstruction_accuracy_by_column,
)

__all__ = [
    "EHREmbedding",
    "PretrainResult",
    "TabularReconstruction",
    "embed_batch",
    "embed_ehr",
    "encoder_spec",
    "mask_cells",
    "pretrain_tabular",
    "reconstruction_accuracy_by_column",
]
