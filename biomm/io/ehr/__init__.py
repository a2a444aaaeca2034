"""Tabular EHR tables: reading, column kinds and fit-on-train preprocessing.

Examples:
    >>> import pandas as pd
    >>> from biomm.io.ehr import EHRPreprocessor
    >>> train = pd.DataFrame({"age": [50.0, 70.0], "sex": ["F", "M"]})
    >>> EHRPreprocessor().fit(train).cardinalities
    [0, 3]
"""

from biomm.io.ehr.preprocess import EHRPreprocessor, TabularBatch
from biomm.io.ehr.reader import read_ehr_table
from biomm.io.ehr.types import COLUMN_KINDS, infer_column_type, infer_column_types

__all__ = [
    "COLUMN_KINDS",
    "EHRPreprocessor",
    "TabularBatch",
    "infer_column_type",
    "infer_column_types",
    "read_ehr_table",
]
