"""Fixtures of the pipeline tests: a tiny demo cohort (built once) and pipeline writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cohort with 8 patients and 512-px slides (cohort.csv, schema.yaml, files)."""
    return make_demo_cohort(
        tmp_path_factory.mktemp("pipeline") / "tiny", DemoCohortSpec(n_patients=8, slide_size=512)
    )


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as a pipeline YAML and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
