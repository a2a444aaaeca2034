"""One training path for every fusion and head: plain PyTorch, early stopping, checkpoints.

Plain PyTorch rather than Lightning: the loops are short, the same code runs under ``torchrun``
as the MERL pretraining does, and no extra framework is needed on hospital machines. Runs are
seeded; AMP (bf16) on CUDA; modality dropout (drop each present modality of a sample with
probability p, never all of them) teaches a model to cope with missing inputs.

Examples:
    >>> import numpy as np
    >>> from biomm.demo.multimodal import synthetic_multimodal
    >>> data = synthetic_multimodal(300, seed=0)
    >>> ds = EmbeddingDataset.from_synthetic(data)
    >>> len(ds), sorted(ds[0].modalities), sorted(ds[0].targets)
    (300, ['a', 'b', 'c', 'd'], ['label', 'survival'])
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from biomm._version import __version__
from biomm.data.sample import Batch, Sample, collate
from biomm.errors import CheckpointError, InputError
from biomm.utils.checkpoint import load_checkpoint_folder, save_checkpoint_folder

CHECKPOINT_KIND = "biomm-multimodal"


class EmbeddingDataset(Dataset):
    """Patients with per-modality embeddings and targets; absent values are absent keys.

    Args:
        patient_ids: One id per row.
        embeddings: Modality → ``[N, D]`` array.
        present: Modality → ``[N]`` bool (default: rows without NaN).
        targets: Task → ``[N]`` (class or value) or ``[N, 2]`` (time, event) array.
        target_masks: Task → ``[N]`` bool, True where known (default: not NaN).
        bags: Modality → per patient, the feature files (``biomm wsi embed`` HDF5) whose tiles
            form that patient's bag (several slides are concatenated; no file = absent). Read
            lazily, one patient at a time.
        signals: Modality → (ECG store folder, per-patient store row, -1 = absent): profiled
            signals read from the memory map for an ECG encoder trained end to end.
    """

    def __init__(
        self,
        patient_ids: Sequence[str],
        embeddings: Mapping[str, np.ndarray],
        present: Mapping[str, np.ndarray] | None = None,
        targets: Mapping[str, np.ndarray] | None = None,
        target_masks: Mapping[str, np.ndarray] | None = None,
        bags: Mapping[str, Sequence[Sequence[str]]] | None = None,
        signals: Mapping[str, tuple[str, np.ndarray]] | None = None,
    ) -> None:
        n = len(patient_ids)
        self.bags = {m: [list(files) for files in per] for m, per in (bags or {}).items()}
        self.signals = {
            m: (str(path), np.asarray(rows)) for m, (path, rows) in (signals or {}).items()
        }
        self._stores: dict[str, Any] = {}
        for m, per in self.bags.items():
            if len(per) != n:
                raise InputError(f"bag modality {m!r}: {len(per)} rows, expected {n}")
        self.patient_ids = list(patient_ids)
        self.embeddings = {m: np.asarray(x, np.float32) for m, x in embeddings.items()}
        for m, x in self.embeddings.items():
            if x.ndim != 2 or x.shape[0] != n:
                raise InputError(f"modality {m!r}: expected [{n}, D] embeddings, got {x.shape}")
        present = present or {}
        self.present = {
            m: np.asarray(present[m], bool) if m in present else np.isfinite(x).all(1)
            for m, x in self.embeddings.items()
        }
        self.targets = {t: np.asarray(v) for t, v in (targets or {}).items()}
        masks = target_masks or {}
        self.target_masks = {}
        for t, v in self.targets.items():
            if len(v) != n:
                raise InputError(f"target {t!r} has {len(v)} rows, expected {n}")
            known = np.isfinite(v.astype(float)).reshape(n, -1).all(1)
            self.target_masks[t] = np.asarray(masks[t], bool) & known if t in masks else known

    def __len__(self) -> int:
        return len(self.patient_ids)

    def __getitem__(self, k: int) -> Sample:
        modalities = {
            m: torch.from_numpy(x[k]) for m, x in self.embeddings.items() if self.present[m][k]
        }
        for m, per in self.bags.items():
            if per[k]:
                from biomm.wsi.bags import read_bag

                modalities[m] = torch.cat([read_bag(f).features for f in per[k]])
        for m, (path, rows) in self.signals.items():
            if rows[k] >= 0:
                if m not in self._stores:
                    from biomm.ecg.store import ECGStore

                    self._stores[m] = ECGStore(path)
                modalities[m] = torch.from_numpy(self._stores[m].get(int(rows[k]))[0])
        targets: dict[str, Any] = {}
        for t, v in self.targets.items():
            if self.target_masks[t][k]:
                value = v[k]
                targets[t] = tuple(float(u) for u in value) if np.ndim(value) else value.item()
        return Sample(self.patient_ids[k], modalities, targets)

    def subset(self, rows: Sequence[int] | np.ndarray) -> EmbeddingDataset:
        """The rows ``rows`` as a new dataset.

        Examples:
            >>> from biomm.demo.multimodal import synthetic_multimodal
            >>> len(EmbeddingDataset.from_synthetic(synthetic_multimodal(20)).subset([0, 3]))
            2
        """
        rows = np.asarray(rows)
        return EmbeddingDataset(
            [self.patient_ids[k] for k in rows],
            {m: x[rows] for m, x in self.embeddings.items()},
            {m: p[rows] for m, p in self.present.items()},
            {t: v[rows] for t, v in self.targets.items()},
            {t: v[rows] for t, v in self.target_masks.items()},
            {m: [per[k] for k in rows] for m, per in self.bags.items()},
            {m: (path, idx[rows]) for m, (path, idx) in self.signals.items()},
        )

    @classmethod
    def from_synthetic(cls, data: Any) -> EmbeddingDataset:
        """From :class:`biomm.demo.multimodal.MultimodalData` (targets ``label``, ``survival``).

        Examples:
            >>> EmbeddingDataset.from_synthetic.__name__
            'from_synthetic'
        """
        survival = np.stack([data.time, data.event.astype(np.float32)], 1)
        return cls(
            data.patient_ids,
            data.embeddings,
            data.present,
            {"label": data.labels, "survival": survival},
        )

    @property
    def embed_dims(self) -> dict[str, int]:
        """Modality → embedding size."""
        return {m: int(x.shape[1]) for m, x in self.embeddings.items()}


@dataclass
class TrainSettings:
    """Optimisation settings.

    Attributes:
        epochs: Maximum epochs.
        batch_size: Samples per step.
        lr: AdamW learning rate (cosine decay to 0).
        weight_decay: AdamW weight decay.
        patience: Early stopping: epochs without validation improvement (0 = off).
        modality_dropout: Per-sample probability of hiding each present modality in training
            (at least one modality always stays).
        task_weights: Loss weight per task (default 1).
        grad_clip: Gradient-norm clip (None = off).
        seed: Random seed (data order, dropout, initialisation).
        device: ``auto``, ``cpu``, ``cuda``…
        amp: ``auto`` (bf16 on CUDA), ``off``.
        progress: Print one line per epoch.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    modality_dropout: float = 0.0
    task_weights: dict[str, float] = field(default_factory=dict)
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    progress: bool = False


def drop_modalities(
    present: Mapping[str, torch.Tensor], p: float, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Hide each present modality of each sample with probability ``p``; keep at least one.

    Examples:
        >>> every = torch.ones(1000, dtype=torch.bool)
        >>> present = {"a": every, "b": every}
        >>> out = drop_modalities(present, 0.5, torch.Generator().manual_seed(0))
        >>> bool((out["a"] | out["b"]).all()), 0.3 < out["a"].float().mean().item() < 0.8
        (True, True)
    """
    if p <= 0 or not present:
        return dict(present)
    names = list(present)
    masks = torch.stack([present[m] for m in names], 1)
    drop = torch.rand(masks.shape, generator=generator) < p
    kept = masks & ~drop.to(masks.device)
    lost_all = masks.any(1) & ~kept.any(1)
    if lost_all.any():  # give back one random present modality
        scores = torch.rand(masks.shape, generator=generator).to(masks.device) * masks
        keep_one = torch.zeros_like(masks)
        keep_one[torch.arange(len(masks), device=masks.device), scores.argmax(1)] = True
        kept = torch.where(lost_all.unsqueeze(1), keep_one & masks, kept)
    return {m: kept[:, k] for k, m in enumerate(names)}


def _loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    collate_fn = partial(collate, variable_length=tuple(getattr(dataset, "bags", {})))
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn, generator=generator
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _inputs(model: Any, batch: Batch, device: torch.device) -> tuple[dict, dict]:
    batch = batch.to(device)
    embeddings = model.embed(batch.modalities, batch.token_masks, batch.present)
    present = {m: batch.present[m] for m in embeddings}
    return embeddings, present


def fit(
    model: Any,
    train: Dataset,
    val: Dataset | None = None,
    settings: TrainSettings | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place; with ``val``, keep the best epoch's weights (early stopping).

    Returns:
        The history: one dict per epoch (train/val losses per task, lr, seconds).
    """
    s = settings or TrainSettings()
    torch.manual_seed(s.seed)
    device = _device(s.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    steps = max(1, math.ceil(len(train) / s.batch_size)) * s.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * min(1.0, k / steps)))
    )
    amp = torch.bfloat16 if (s.amp != "off" and device.type == "cuda") else None
    generator = torch.Generator().manual_seed(s.seed)
    history: list[dict[str, float]] = []
    best, best_state, stale = math.inf, None, 0
    for epoch in range(s.epochs):
        started = time.perf_counter()
        model.train()
        losses = []
        for batch in _loader(train, s.batch_size, True, s.seed + epoch):
            embeddings, present = _inputs(model, batch, device)
            present = drop_modalities(present, s.modality_dropout, generator)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss, _ = model.loss(
                    embeddings, present, batch.targets, batch.target_masks, s.task_weights
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan}
        if val is not None and len(val):
            row.update({f"val_{k}": v for k, v in evaluate_loss(model, val, s).items()})
        row["lr"] = scheduler.get_last_lr()[0]
        row["seconds"] = round(time.perf_counter() - started, 3)
        history.append(row)
        if s.progress:
            print("  ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
        monitored = row.get("val_loss", row["train_loss"])
        if monitored < best - 1e-6:
            best, stale = monitored, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if val is not None and s.patience and stale >= s.patience:
                break
    if best_state is not None and val is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def evaluate_loss(
    model: Any, dataset: Dataset, settings: TrainSettings | None = None
) -> dict[str, float]:
    """Mean total and per-task loss over ``dataset`` (eval mode, no modality dropout).

    Examples:
        >>> evaluate_loss.__name__
        'evaluate_loss'
    """
    s = settings or TrainSettings()
    device = next(model.parameters()).device
    model.eval()
    totals: dict[str, list[float]] = {}
    for batch in _loader(dataset, s.batch_size, False, 0):
        embeddings, present = _inputs(model, batch, device)
        loss, per_task = model.loss(
            embeddings, present, batch.targets, batch.target_masks, s.task_weights
        )
        for k, v in {"loss": float(loss), **per_task}.items():
            totals.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in totals.items()}


@torch.no_grad()
def predict(
    model: Any, dataset: Dataset, batch_size: int = 256, steps: bool = False
) -> dict[str, Any]:
    """Raw outputs and ``predict`` results per task, with ids and presence masks.

    Args:
        model: A trained :class:`~biomm.train.model.MultimodalModel`.
        dataset: Samples to predict.
        batch_size: Samples per forward pass.
        steps: Also return per-step outputs (MultiModN trajectories) under ``"steps"``.

    Returns:
        ``{"patient_ids", "present": {m: bool [N]}, "outputs": {task: array}, "predictions":
        {task: {key: array}}, "steps": [{task: array}, ...]}``.
    """
    device = next(model.parameters()).device
    model.eval()
    ids: list[str] = []
    present: dict[str, list[np.ndarray]] = {m: [] for m in model.fusion.modalities}
    outputs: dict[str, list[torch.Tensor]] = {t: [] for t in model.heads}
    trajectory: list[dict[str, list[torch.Tensor]]] = []
    for batch in _loader(dataset, batch_size, False, 0):
        embeddings, mask = _inputs(model, batch, device)
        ids += batch.patient_ids
        for m in present:
            value = mask.get(m, torch.zeros(len(batch), dtype=torch.bool))
            present[m].append(value.cpu().numpy())
        for t, out in model(embeddings, mask).items():
            outputs[t].append(out.float().cpu())
        if steps:
            for k, step in enumerate(model.step_outputs(embeddings, mask)):
                if len(trajectory) <= k:
                    trajectory.append({t: [] for t in model.heads})
                for t, out in step.items():
                    trajectory[k][t].append(out.float().cpu())
    raw = {t: torch.cat(v) for t, v in outputs.items()}
    result: dict[str, Any] = {
        "patient_ids": ids,
        "present": {m: np.concatenate(v) for m, v in present.items()},
        "outputs": {t: v.numpy() for t, v in raw.items()},
        "predictions": {
            t: {k: _numpy(v) for k, v in model.heads[t].predict(raw[t]).items()} for t in raw
        },
    }
    if steps:
        result["steps"] = [
            {t: torch.cat(v).numpy() for t, v in step.items()} for step in trajectory
        ]
    return result


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


def save_model(
    model: Any, folder: str | PathLike[str], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (the model spec, settings, provenance).

    The config records the weights' SHA-256 (``weights_sha256``), checked by :func:`load_model`.

    Examples:
        >>> save_model.__name__
        'save_model'
    """
    config = {
        "kind": CHECKPOINT_KIND,
        "biomm_version": __version__,
        "model": model.spec,
        **dict(extra or {}),
    }
    return save_checkpoint_folder(folder, model.state_dict(), config, json_default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


def load_model(folder: str | PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model`.

    The returned config holds ``weights_sha256`` (verified when the checkpoint recorded it,
    computed otherwise).

    Raises:
        CheckpointError: When the folder is not a biomm multimodal checkpoint, the weights are
            damaged, changed since saving (hash mismatch), non-finite, or do not fit.

    Examples:
        >>> load_model.__name__
        'load_model'
    """
    from biomm.train.model import build_model

    folder = Path(folder)
    config, state = load_checkpoint_folder(folder, CHECKPOINT_KIND)
    if not isinstance(config.get("model"), dict):
        raise CheckpointError(
            "config.json has no model spec (`model` must be an object)", path=folder / "config.json"
        )
    try:
        model = build_model(config["model"])
    except CheckpointError:
        raise
    except (InputError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"config.json model spec cannot be built ({type(exc).__name__}: {exc})",
            path=folder / "config.json",
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights do not fit the model: {str(exc)[:300]}", path=folder / "model.safetensors"
        ) from None
    model.eval()
    return model, config
