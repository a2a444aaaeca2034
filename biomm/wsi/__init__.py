"""Whole-slide workflows over cohorts: tiling jobs (feature extraction and MIL follow)."""
