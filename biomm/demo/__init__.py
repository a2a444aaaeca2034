"""The embedded demo: a synthetic multimodal cohort in real file formats."""

from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort

__all__ = ["DemoCohortSpec", "make_demo_cohort"]
