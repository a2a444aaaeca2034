"""Fusion of per-modality embeddings with per-sample missingness."""
