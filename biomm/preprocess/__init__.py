"""Preprocessing: tissue masks and tiling for slides (ECG, retina, tabular and text follow)."""
