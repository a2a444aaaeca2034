"""Build the demo cohort, validate it, look at availability, make folds and a batch.

Run: python examples/cohort_quickstart.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import biomm
from biomm.demo import DemoCohortSpec, make_demo_cohort


def main(out: Path) -> None:
    folder = make_demo_cohort(out, DemoCohortSpec(n_patients=30, slide_size=512))
    cohort = biomm.Cohort.from_file(folder / "cohort.csv", folder / "schema.yaml")
    print(cohort)
    print(cohort.validate())
    print(cohort.availability().patterns.head())

    folds = cohort.split(folds=5, stratify="high_risk", seed=0)
    print(folds.table.groupby("fold")["high_risk"].agg(["size", "mean"]))

    batch = biomm.collate(list(folds.samples())[:8])
    for modality, mask in batch.present.items():
        print(f"{modality:>7}: {mask.int().tolist()}")
    print("targets known:", {k: v.int().tolist() for k, v in batch.target_masks.items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("biomm-quickstart"))
