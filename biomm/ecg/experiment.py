"""A ready-to-run synthetic MERL experiment: cohort with splits, prompt set and CPU config.

``biomm ecg synth OUT`` writes:

- ``OUT/manifest.csv``: synthetic 12-lead WFDB records with free-text machine reports, one 0/1
  column per class and a patient-level ``split`` (train/val/test, stratified by class);
- ``OUT/classes.yaml``: the zero-shot prompt set — readable class names and clinical
  descriptions worded differently from every report phrase, with each class's label column;
- ``OUT/pretrain.yaml``: a reduced MERL configuration that trains on CPU in minutes (MERL
  recipe at 100 Hz, ResNet1d-18 at width 32, frozen all-MiniLM-L6-v2 reports).

Then ``biomm ecg pretrain --config OUT/pretrain.yaml`` and ``biomm ecg zeroshot --model
OUT/run/model --cohort OUT/manifest.csv --classes OUT/classes.yaml --split test --out
OUT/zeroshot`` reproduce the numbers in ``docs/ecg.md``.

Examples:
    >>> spec = synthetic_prompt_set()
    >>> spec["classes"][3]["name"], spec["classes"][3]["label"]
    ('atrial fibrillation', 'atrial_fibrillation')
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from biomm.registries import PROMPT_SETS

#: The MERL recipe (record-wise min–max, 10 s, 12 leads) at 100 Hz, for CPU experiments.
CPU_PROFILE: dict[str, Any] = {
    "name": "merl_100hz",
    "description": "MERL's recipe (10 s, 12 leads, record-wise min-max) at 100 Hz for CPU runs",
    "reference": "Liu et al., ICML 2024 (MERL), resampled to 100 Hz",
    "fs": 100.0,
    "duration_s": 10.0,
    "normalise": "minmax_record",
}

#: Prompt templates for the synthetic classes (class names are in ZEROSHOT_CLASSES).
TEMPLATES = ("{}", "ECG consistent with {}")


@PROMPT_SETS.register("synthetic_ecg")
def synthetic_prompt_set() -> dict[str, Any]:
    """Prompt set of the synthetic ECG classes (label columns named after the classes).

    Examples:
        >>> len(synthetic_prompt_set()["classes"]) >= 8
        True
    """
    from biomm.ecg.synthetic import ECG_CLASSES, ZEROSHOT_CLASSES

    return {
        "templates": list(TEMPLATES),
        "classes": [
            {
                "name": ZEROSHOT_CLASSES[cls]["name"],
                "label": cls,
                "descriptions": list(ZEROSHOT_CLASSES[cls]["descriptions"]),
            }
            for cls in ECG_CLASSES
        ],
    }


def pretrain_config(
    *, epochs: int = 30, batch_size: int = 64, width: int = 32, seed: int = 0
) -> dict[str, Any]:
    """The reduced CPU pretraining configuration (paths relative to the experiment folder).

    Examples:
        >>> pretrain_config(epochs=5)["ecg_encoder"]["name"]
        'resnet1d18'
    """
    return {
        "cohort": "manifest.csv",
        "out": "run",
        "profile": dict(CPU_PROFILE),
        "ecg_encoder": {"name": "resnet1d18", "kwargs": {"width": width}},
        "text": {"model": "minilm", "pooling": "mean", "max_length": 64},
        "proj_dim": 128,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "warmup_epochs": 1,
        "temperature": 0.07,
        "uma_weight": 1.0,
        "seed": seed,
    }


def write_synthetic_experiment(
    out: str | PathLike[str],
    n_patients: int = 600,
    *,
    seed: int = 0,
    fs: float = 500.0,
    duration_s: float = 10.0,
    epochs: int = 30,
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
) -> dict[str, Path]:
    """Write the synthetic cohort, its prompt set and a CPU pretraining config into ``out``.

    Returns:
        Paths of ``manifest``, ``classes`` and ``config``.

    Examples:
        >>> import tempfile
        >>> paths = write_synthetic_experiment(tempfile.mkdtemp(), 44, epochs=1)
        >>> sorted(paths)
        ['classes', 'config', 'manifest']
    """
    from biomm.cohort import Cohort
    from biomm.ecg.synthetic_cohort import make_ecg_cohort

    out = Path(out)
    make_ecg_cohort(out, n_patients, seed=seed, fs=fs, duration_s=duration_s)
    manifest = out / "manifest.csv"
    cohort = Cohort.from_file(manifest).split(ratios=ratios, stratify="label", seed=seed)
    cohort.save(manifest)
    classes = out / "classes.yaml"
    classes.write_text(
        "# Zero-shot prompt set of the synthetic ECG classes: names and descriptions are worded\n"
        "# differently from the training reports; `label` is the manifest's 0/1 column.\n"
        + yaml.safe_dump(synthetic_prompt_set(), sort_keys=False, width=100)
    )
    config = out / "pretrain.yaml"
    config.write_text(
        "# Reduced MERL pretraining for CPU: run `biomm ecg pretrain --config pretrain.yaml`\n"
        + yaml.safe_dump(pretrain_config(epochs=epochs, seed=seed), sort_keys=False)
    )
    return {"manifest": manifest, "classes": classes, "config": config}
