"""Zero-shot ECG classification with a pretrained ECG–text checkpoint and a prompt set.

Scores are softmax(temperature × cosine similarity) over the prompt set's classes. When the
manifest holds label columns for the classes, per-class AUROC, average precision, best F1 and
macro AUROC are computed for each prompt mode (``knowledge`` and ``names``), so the effect of
clinical knowledge in prompts is measured on every run.

Examples:
    >>> zeroshot_cohort.__name__  # see docs/ecg.md and tests/ecg for runs
    'zeroshot_cohort'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from biomm.utils.atomic import atomic_write_table, atomic_write_text


def zeroshot_cohort(
    checkpoint: str | PathLike[str],
    cohort: Any,
    prompt_set: Any,
    out: str | PathLike[str],
    *,
    split: str | None = None,
    modes: Sequence[str] = ("knowledge", "names"),
    expander: Any = None,
    temperature: float = 100.0,
    store: str | PathLike[str] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Classify a cohort's ECGs zero-shot and write scores, prompts and metrics to ``out``.

    Args:
        checkpoint: A MERL checkpoint folder (``biomm ecg pretrain`` output ``model/``).
        cohort: A :class:`~biomm.cohort.Cohort` with an ``ecg`` column.
        prompt_set: A :class:`~biomm.zeroshot.prompts.PromptSet`, registered name or YAML path.
        out: Output folder: ``scores.csv`` (first mode), ``scores_<mode>.csv``,
            ``metrics.json``, ``prompts.json``, ``failures.csv``.
        split: Only manifest rows of this split.
        modes: Prompt modes to run; the first one's scores are ``scores.csv``.
        expander: Optional callable(name, descriptions) → more descriptions (e.g. an LLM).
        temperature: Logit scale on cosine similarities.
        store: Array store folder (default ``out/store``).
        batch_size: Records per forward pass.
        device: Torch device for the model.
        workers: Processes converting records into the store.
        progress: Show progress bars.

    Returns:
        The metrics dict that is also written to ``metrics.json``.
    """
    from biomm.ecg.merl import load_checkpoint
    from biomm.utils.lock import output_lock
    from biomm.zeroshot.prompts import get_prompt_set

    out = Path(out)
    prompts = get_prompt_set(prompt_set)  # invalid prompts or checkpoints: nothing is written
    model, config = load_checkpoint(checkpoint)
    with output_lock(out):  # one run per folder; a killed run's lock dies with it
        (out / "metrics.json").unlink(missing_ok=True)  # written last: marks a finished run
        return _zeroshot(
            model,
            config,
            cohort,
            prompts,
            out,
            split,
            modes,
            expander,
            temperature,
            store,
            batch_size,
            device,
            workers,
            progress,
            checkpoint,
        )


def _zeroshot(
    model: Any,
    config: dict[str, Any],
    cohort: Any,
    prompts: Any,
    out: Path,
    split: str | None,
    modes: Sequence[str],
    expander: Any,
    temperature: float,
    store: str | PathLike[str] | None,
    batch_size: int,
    device: str,
    workers: int,
    progress: bool,
    checkpoint: str | PathLike[str],
) -> dict[str, Any]:
    from biomm.ecg.inference import embed_cohort, label_matrix
    from biomm.zeroshot.classifier import ZeroShotClassifier
    from biomm.zeroshot.metrics import classification_metrics

    result = embed_cohort(
        model,
        config,
        cohort,
        store or out / "store",
        split=split,
        batch_size=batch_size,
        device=device,
        workers=workers,
        progress=progress,
    )
    columns = [prompts.label_columns.get(name) for name in prompts.class_names]
    missing = [c for c in columns if c is not None and c not in cohort.table]
    columns = [None if c in missing else c for c in columns]  # scored without metrics
    has_labels = any(c is not None for c in columns)
    labels = label_matrix(cohort, result.index["row"].astype(int).tolist(), columns)
    embeddings = torch.from_numpy(result.embeddings)
    summary: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "classes": prompts.class_names,
        "records": len(result.index),
        "failed_records": len(result.failures),
        "split": split,
        "missing_label_columns": missing,
        "modes": {},
    }
    used_prompts: dict[str, Any] = {}
    for k, mode in enumerate(modes):
        # descriptions once per mode: an expander (e.g. an LLM) is not called twice
        descriptions = prompts.descriptions(mode, expander)  # type: ignore[arg-type]
        clf = ZeroShotClassifier(
            model.encode_text,
            prompts.class_names,
            prompts.templates,
            descriptions,
            temperature=temperature,
        )
        proba = clf.predict_proba(embeddings).numpy()
        frame = result.index.copy()
        for j, name in enumerate(prompts.class_names):
            frame[name] = proba[:, j]
        frame["predicted"] = [prompts.class_names[j] for j in proba.argmax(1)]
        atomic_write_table(frame, out / f"scores_{mode}.csv")
        if k == 0:
            atomic_write_table(frame, out / "scores.csv")
        used_prompts[mode] = {
            name: [t.format(name) for t in prompts.templates] + descriptions[name]
            for name in prompts.class_names
        }
        entry: dict[str, Any] = {
            "prompts_per_class": {n: len(v) for n, v in used_prompts[mode].items()}
        }
        if has_labels:
            entry.update(classification_metrics(labels, proba, prompts.class_names))
        summary["modes"][mode] = entry
    atomic_write_table(
        pd.DataFrame(result.failures, columns=["record_id", "patient_id", "source", "error"]),
        out / "failures.csv",
    )
    atomic_write_text(out / "prompts.json", json.dumps(used_prompts, indent=2))
    atomic_write_text(out / "metrics.json", json.dumps(_finite(summary), indent=2))
    return summary


def _finite(value: Any) -> Any:
    """NaN → None so metrics.json stays valid JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
