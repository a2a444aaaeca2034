"""A whole training run from a :class:`~biomm.train.config.TrainConfig`: fit, evaluate, save.

Outputs in ``out``: ``model/`` (safetensors + JSON config that rebuilds the model),
``history.csv``, ``predictions.csv`` (test patients, availability, per-task predictions),
``metrics.csv`` (each task's metric with bootstrap CIs on all test patients and per
availability pattern) and ``summary.json``.

Examples:
    >>> primary_metric("binary"), primary_metric("survival_cox")
    ('auroc', 'c_index')
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from biomm.errors import ConfigError, InputError
from biomm.utils.atomic import atomic_write_table, atomic_write_text
from biomm.utils.lock import locks_output

_METRICS = {
    "binary": "auroc",
    "multiclass": "auroc",
    "multilabel": "auroc",
    "regression": "mae",
    "survival_cox": "c_index",
    "survival_discrete": "c_index",
}


def primary_metric(head: str) -> str:
    """The metric reported for a head (AUROC, C-index, MAE).

    Examples:
        >>> primary_metric("regression")
        'mae'
    """
    return _METRICS.get(head, "loss")


def _metric_fn(head: str) -> Callable[..., float]:
    from biomm.eval import auroc, harrell_c

    if head in ("binary", "multiclass", "multilabel"):
        return lambda y, s: float(auroc(y, s))
    if head.startswith("survival"):
        return lambda y, s: harrell_c(y[:, 0], y[:, 1], s)
    return lambda y, s: float(
        np.mean(
            np.abs(np.asarray(y, float).reshape(len(y), -1) - np.asarray(s).reshape(len(s), -1))
        )
    )


def _scores(head: str, prediction: dict[str, Any]) -> np.ndarray:
    if head == "binary":
        return np.asarray(prediction["probability"]).reshape(-1)
    if head in ("multiclass", "multilabel"):
        return np.asarray(prediction["probabilities"])
    if head.startswith("survival"):
        return np.asarray(prediction["risk"]).reshape(-1)
    return np.asarray(prediction["value"])


def prepare_heads(spec: dict[str, Any], train: Any) -> None:
    """Fit what heads need from the training split only (in place, recorded in the spec).

    Discrete-time survival heads get bin edges from the training event times; regression
    heads get the training targets' mean and standard deviation (they train on standardised
    values and predict in the target's units).

    Examples:
        >>> prepare_heads.__name__
        'prepare_heads'
    """
    from biomm.heads.regression import standardisation
    from biomm.heads.survival import time_bins

    for task, head in spec["heads"].items():
        if head["name"] == "regression" and "target_mean" not in head:
            known = train.target_masks[task]
            mean, std = standardisation(train.targets[task][known].astype(float))
            head["target_mean"], head["target_std"] = mean, std
        if head["name"] == "survival_discrete" and "edges" not in head:
            known = train.target_masks[task]
            values = train.targets[task][known]
            head["edges"] = time_bins(values[:, 0], values[:, 1], int(head.pop("n_bins", 10)))


def fit_cox_baselines(model: Any, train: Any) -> None:
    """Fit the Breslow baseline of every Cox head on the training set (for survival curves).

    Examples:
        >>> fit_cox_baselines.__name__
        'fit_cox_baselines'
    """
    from biomm.train.trainer import predict

    cox = [t for t, h in model.heads.items() if hasattr(h, "fit_baseline")]
    if not cox:
        return
    out = predict(model, train)
    for task in cox:
        known = train.target_masks[task]
        risk = np.asarray(out["outputs"][task]).reshape(-1)[known]
        values = train.targets[task][known]
        model.heads[task].fit_baseline(
            torch.from_numpy(risk), torch.from_numpy(values[:, 0]), torch.from_numpy(values[:, 1])
        )


def evaluate(
    model: Any,
    dataset: Any,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
    outputs: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions table and metrics per task and availability pattern.

    ``outputs``: a :func:`~biomm.train.trainer.predict` result to reuse (one pass over the data).

    Examples:
        >>> evaluate.__name__
        'evaluate'
    """
    from biomm.eval import by_availability
    from biomm.train.trainer import predict

    out = outputs if outputs is not None else predict(model, dataset)
    predictions = pd.DataFrame({"patient_id": out["patient_ids"]})
    for m, mask in out["present"].items():
        predictions[f"has_{m}"] = mask
    tables = []
    for task in model.heads:
        name = model.spec["heads"][task]["name"]
        scores = _scores(name, out["predictions"][task])
        if scores.ndim == 1:
            predictions[task] = scores
        else:
            for k in range(scores.shape[1]):
                predictions[f"{task}_{k}"] = scores[:, k]
        if task not in dataset.targets:
            continue
        known = dataset.target_masks[task]
        if not known.any():
            continue
        present = {m: mask[known] for m, mask in out["present"].items()}
        table = by_availability(
            _metric_fn(name),
            dataset.targets[task][known],
            scores[known],
            present=present,
            n=n_bootstrap,
            seed=seed,
            name=primary_metric(name),
        )
        table.insert(0, "task", task)
        tables.append(table)
    metrics = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return predictions, metrics


def trajectories(model: Any, dataset: Any, outputs: dict[str, Any] | None = None) -> pd.DataFrame:
    """MultiModN's interpretability output: every task's prediction after every step.

    ``outputs``: a :func:`~biomm.train.trainer.predict` result made with ``steps=True``.

    One row per patient and step (``initial`` then each modality in the fixed evaluation
    order), with ``applied`` False where the patient lacks that step's modality (the state,
    hence the prediction, is unchanged).

    Examples:
        >>> trajectories.__name__
        'trajectories'
    """
    from biomm.train.trainer import predict

    out = (
        outputs
        if outputs is not None and "steps" in outputs
        else predict(model, dataset, steps=True)
    )
    labels = ["initial", *model.fusion.modalities]
    rows = []
    for k, step in enumerate(out["steps"]):
        scores = {
            task: _scores(
                model.spec["heads"][task]["name"], model.heads[task].predict(torch.from_numpy(raw))
            )
            for task, raw in step.items()
        }
        for i, patient in enumerate(out["patient_ids"]):
            applied = k == 0 or bool(out["present"][labels[k]][i])
            row = {"patient_id": patient, "step": k, "modality": labels[k], "applied": applied}
            for task, values in scores.items():
                value = np.asarray(values[i])
                row[task] = float(value) if value.ndim == 0 else value.tolist()
            rows.append(row)
    return pd.DataFrame(rows)


def _finite(value: Any) -> Any:
    """NaN/inf → None, so summary.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def check_model_fits(model: Any, spec: dict[str, Any], source: Any = None) -> None:
    """Check that a given model takes the config's modalities and has its tasks' heads.

    Raises:
        ConfigError: Naming each modality or task the model lacks, or a size mismatch.

    Examples:
        >>> from biomm.train.model import build_model
        >>> spec = {"embed_dims": {"a": 4}, "fusion": {"name": "concat", "out_dim": 8},
        ...         "heads": {"y": {"name": "binary"}}}
        >>> check_model_fits(build_model(spec), {**spec, "embed_dims": {"b": 4}})
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: the model does not take modalities ['b'] (it takes ['a'])
    """
    taken = list(model.fusion.modalities)
    extra = sorted(set(spec["embed_dims"]) - set(taken))
    if extra:
        raise ConfigError(
            f"the model does not take modalities {extra} (it takes {taken})", path=source
        )
    for m, dim in spec["embed_dims"].items():
        if m not in (spec.get("encoders") or {}) and m not in model.encoders:
            expected = model.fusion.embed_dims[m]
            if int(dim) != int(expected):
                raise ConfigError(
                    f"modality {m!r}: embeddings of size {dim}, the model expects {expected}",
                    path=source,
                )
    missing = sorted(set(spec["heads"]) - set(model.heads))
    if missing:
        raise ConfigError(
            f"the model has no head for tasks {missing} (it has {sorted(model.heads)})",
            path=source,
        )


@locks_output("cfg", lambda cfg: cfg.out)  # one run per folder; a kill frees it
def run_training(
    cfg: Any,
    *,
    n_bootstrap: int = 200,
    progress: bool = True,
    model: Any = None,
    fine_tune: bool = True,
) -> dict[str, Any]:
    """Train, evaluate on the test split and write everything to ``cfg.out``.

    Args:
        cfg: A :class:`~biomm.train.config.TrainConfig`.
        n_bootstrap: Bootstrap resamples of the metrics' confidence intervals.
        progress: Print one line per epoch.
        model: A ready model (e.g. merged MM-Lego runs) instead of one built from the config;
            the config's modalities and tasks must fit it.
        fine_tune: With ``model``, train it with the config's settings (False: evaluate as is;
            Cox baselines are still fitted on the training split).

    A killed run is not resumed: a rerun trains from scratch (seeded, so it ends with the
    same outputs). ``summary.json`` is removed at the start and written last, so a folder
    without it never holds a finished run.

    Raises:
        InputError: When the training split is empty.
        OutputLockedError: When another run writes into ``cfg.out``.
    """
    from biomm.train.config import build_datasets
    from biomm.train.model import build_model
    from biomm.train.trainer import TrainSettings, fit, predict, save_model
    from biomm.utils.checkpoint import checkpoint_sha256

    (cfg.out / "summary.json").unlink(missing_ok=True)  # written last: marks a finished run
    datasets, spec = build_datasets(cfg)
    if not len(datasets["train"]):
        raise InputError(f"no patient in the {cfg.train_split!r} split", path=cfg.cohort)
    torch.manual_seed(cfg.training.seed)
    if model is None:
        prepare_heads(spec, datasets["train"])
        model = build_model(spec)
    else:
        check_model_fits(model, spec, cfg.cohort)
    settings = TrainSettings(
        **cfg.training.model_dump(),
        task_weights={t: s.weight for t, s in cfg.tasks.items()},
        progress=progress,
    )
    history = (
        fit(model, datasets["train"], datasets["val"] if len(datasets["val"]) else None, settings)
        if fine_tune
        else []
    )
    fit_cox_baselines(model, datasets["train"])
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    counts = {name: len(ds) for name, ds in datasets.items()}
    save_model(
        model,
        out / "model",
        extra={"config": json.loads(cfg.model_dump_json(by_alias=True)), "counts": counts},
    )
    atomic_write_table(pd.DataFrame(history), out / "history.csv")
    summary: dict[str, Any] = {
        "out": str(out),
        "counts": counts,
        "epochs": len(history),
        "model_weights_sha256": checkpoint_sha256(out / "model"),
    }
    test = datasets["test"]
    if len(test):
        sequential = hasattr(model.fusion, "trajectory")
        outputs = predict(model, test, steps=sequential)  # one pass over the test patients
        predictions, metrics = evaluate(
            model, test, n_bootstrap=n_bootstrap, seed=cfg.training.seed, outputs=outputs
        )
        atomic_write_table(predictions, out / "predictions.csv")
        atomic_write_table(metrics, out / "metrics.csv")
        summary["test"] = metrics[metrics["pattern"] == "all"].to_dict("records")
        if sequential:
            atomic_write_table(trajectories(model, test, outputs), out / "trajectories.csv")
    atomic_write_text(out / "summary.json", json.dumps(_finite(summary), indent=2, default=str))
    return summary
