"""Task heads: classification, regression and survival, with masked losses.

Examples:
    >>> from biomm.registries import HEADS
    >>> sorted(HEADS.names())
    ['binary', 'multiclass', 'multilabel', 'regression', 'survival_cox', 'survival_discrete']
"""

from biomm.heads import classification as _classification  # noqa: F401  (registers heads)
from biomm.heads import regression as _regression  # noqa: F401
from biomm.heads import survival as _survival  # noqa: F401
from biomm.heads.base import Head, masked_mean
from biomm.heads.multitask import MultiTaskHeads

__all__ = ["Head", "MultiTaskHeads", "masked_mean"]
