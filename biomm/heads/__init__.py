"""Task heads: classification, regression and survival, with masked losses."""
