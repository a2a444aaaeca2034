"""MERL pretraining on a cohort with ``ecg`` and ``report`` columns.

One process by default (CPU or one GPU); under ``torchrun`` (``WORLD_SIZE`` > 1) the same code
runs data-parallel with PyTorch DDP, gathering embeddings so that every process sees the global
batch's negatives. No experiment tracker is needed: a ``history.csv`` and a log are written.

Steps: the cohort's ECGs go through the input profile into an array store (resumable, reused by
later runs), reports are embedded once by the frozen language model, then AdamW with linear
warm-up and cosine decay trains the ECG encoder and both projections. The checkpoint with the
lowest validation loss is kept (``model/``), plus the last one (``last/``).

Examples:
    >>> cfg = PretrainConfig(cohort="cohort.csv", out="runs/merl", epochs=2)
    >>> cfg.ecg_encoder.name, cfg.profile
    ('resnet1d18', 'merl')
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader, Dataset

from biomm.errors import InputError
from biomm.utils.config import read_yaml_mapping, resolve_paths, validate_config

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
"""Sub-folder of ``out`` holding the state a killed run resumes from."""
SUMMARY_FILE = "summary.json"
"""Written last: its presence marks a finished run."""


class EncoderSpec(BaseModel):
    """A registered encoder and its arguments."""

    model_config = ConfigDict(extra="forbid")
    name: str = "resnet1d18"
    kwargs: dict[str, Any] = Field(default_factory=dict)


class TextSpec(BaseModel):
    """The text model (local folder, hub id or ``minilm``) and how it pools tokens."""

    model_config = ConfigDict(extra="forbid")
    model: str = "minilm"
    pooling: Literal["cls", "mean", "pooler"] = "mean"
    max_length: int = 128
    batch_size: int = Field(64, ge=2)


class PretrainConfig(BaseModel):
    """Everything a MERL pretraining run needs; written with the checkpoint.

    Load from YAML with :meth:`from_yaml`; unknown keys are errors (typos never pass silently).
    """

    model_config = ConfigDict(extra="forbid")
    cohort: Path
    out: Path
    schema_file: Path | None = Field(None, alias="schema")
    data_root: Path | None = None
    store: Path | None = None
    profile: str | dict[str, Any] = "merl"
    ecg_encoder: EncoderSpec = Field(default_factory=EncoderSpec)
    text: TextSpec = Field(default_factory=TextSpec)
    freeze_text: bool = True
    proj_dim: int = Field(256, ge=1)
    temperature: float = Field(0.07, gt=0, lt=10)
    learn_temperature: bool = False
    uma_weight: float = 1.0
    uma_dropout: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(10, ge=1)
    batch_size: int = 64
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: float = 1.0
    grad_clip: float | None = 1.0
    train_split: str = "train"
    val_split: str = "val"
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    workers: int = 0
    convert_workers: int = 1
    progress: bool = True

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], **overrides: Any) -> PretrainConfig:
        """Read a YAML config; relative paths resolve against the config's folder.

        Raises:
            ConfigError: Naming the file and the offending keys.

        Examples:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
            >>> _ = p.write_text("cohort: m.csv\\nout: run\\nepochs: 3\\n")
            >>> cfg = PretrainConfig.from_yaml(p)
            >>> cfg.epochs, cfg.cohort == p.parent / "m.csv"
            (3, True)
        """
        path = Path(path)
        data = read_yaml_mapping(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        data = resolve_paths(data, ("cohort", "out", "schema", "data_root", "store"), path.parent)
        return validate_config(cls, data, path)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices).

    Examples:
        >>> seed_everything(0); a = torch.rand(1); seed_everything(0)
        >>> bool(torch.rand(1) == a)
        True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` → the local CUDA device when there is one (``LOCAL_RANK`` aware), else CPU.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 on CUDA when ``auto`` (fp16 when bf16 is unsupported), none on CPU.

    Examples:
        >>> autocast_dtype("auto", torch.device("cpu")) is None
        True
    """
    if amp == "off" or device.type != "cuda":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


class PairedECGText(Dataset):
    """Store rows paired with indices into a table of cached text features."""

    def __init__(self, store: Any, rows: np.ndarray, text_index: np.ndarray) -> None:
        self.store, self.rows, self.text_index = store, rows, text_index

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        signal, present = self.store.get(int(self.rows[k]))
        return torch.from_numpy(signal), torch.from_numpy(present), int(self.text_index[k])


def cosine_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0.

    Examples:
        >>> f = cosine_schedule(10, 2)
        >>> [round(f(s), 2) for s in (0, 1, 2, 10)]
        [0.5, 1.0, 1.0, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _split_rows(
    cohort: Any, store: Any, cfg: PretrainConfig, reports: list[str | None]
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Store rows for training and validation (converted, with a report)."""
    index = store.index
    usable = store.ok & np.array([bool(r and r.strip()) for r in reports])
    counts = {
        "records": len(index),
        "failed_conversion": int((~store.ok).sum()),
        "without_report": int((store.ok & ~usable).sum()),
    }
    split_col = cohort.schema.split
    if split_col and split_col in cohort.table:
        split = cohort.table[split_col].astype(str).str.strip().str.lower()
        row_split = split.iloc[index["row"].astype(int)].to_numpy()
        train = usable & (row_split == cfg.train_split)
        val = usable & (row_split == cfg.val_split)
    else:  # patient-level random validation fraction
        rng = np.random.default_rng(cfg.seed)
        patients = index["patient_id"].fillna(index["record_id"]).astype(str)
        unique = patients.unique()
        n_val = round(cfg.val_fraction * len(unique))
        val_patients = set(rng.choice(unique, size=n_val, replace=False)) if n_val else set()
        is_val = patients.isin(val_patients).to_numpy()
        train, val = usable & ~is_val, usable & is_val
    counts.update(train=int(train.sum()), val=int(val.sum()))
    return np.flatnonzero(train), np.flatnonzero(val), counts


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the gradients of every rank (reduce-scatter).

    Every rank computes the contrastive loss over the global batch, so a rank's embeddings get
    gradient from all ranks' losses; DDP then averages parameter gradients as usual.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        world = torch.distributed.get_world_size()
        out = tensor.new_empty((world * tensor.shape[0], *tensor.shape[1:]))
        gather = getattr(torch.distributed, "all_gather_single", None)  # torch ≥ 2.13 name
        (gather or torch.distributed.all_gather_into_tensor)(out, tensor.contiguous())
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        world = torch.distributed.get_world_size()
        mine = grad.new_empty((grad.shape[0] // world, *grad.shape[1:]))
        scatter = getattr(torch.distributed, "reduce_scatter_single", None)  # torch ≥ 2.13 name
        (scatter or torch.distributed.reduce_scatter_tensor)(mine, grad.contiguous())
        return mine


class _Distributed:
    """The torchrun/DDP context (inactive in a single process)."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.active = self.world > 1
        if self.active and not torch.distributed.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
            if device.type == "cuda":
                torch.cuda.set_device(device)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        return _GatherWithGrad.apply(tensor)

    def mean(self, value: float) -> float:
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def close(self) -> None:
        if self.active and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Run MERL pretraining; returns a summary (paths, counts, final losses).

    Raises:
        InputError: When the cohort lacks ECG or report columns or too few records remain.
        OutputLockedError: When another run writes into ``cfg.out``.

    A killed run resumes from its last finished epoch (``out/train_state``: weights,
    optimizer, scheduler and RNG states) when rerun with the same config, and ends with the
    same weights as an uninterrupted run; ``summary.json`` is written last.
    """
    from biomm.utils.lock import output_lock

    with output_lock(cfg.out):  # one run per folder; a killed run's lock dies with it
        return _pretrain(cfg)


def _pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    from biomm.cohort import Cohort
    from biomm.ecg.merl import MERLModel, save_checkpoint
    from biomm.ecg.profiles import get_profile
    from biomm.ecg.store import ECGStore, cohort_sources, convert_ecgs
    from biomm.utils.atomic import atomic_write_table, atomic_write_text
    from biomm.utils.train_state import load_train_state, peek_train_state, save_train_state

    started = time.perf_counter()
    (cfg.out / SUMMARY_FILE).unlink(missing_ok=True)  # present only once a run has finished
    device = resolve_device(cfg.device)
    dist = _Distributed(device)
    seed_everything(cfg.seed + dist.rank)
    cohort = Cohort.from_file(cfg.cohort, cfg.schema_file, data_root=cfg.data_root)
    for modality in ("ecg", "report"):
        if modality not in cohort.modalities:
            raise InputError(f"pretraining needs a {modality!r} column", path=cfg.cohort)
    profile = get_profile(cfg.profile)
    store_dir = cfg.store or cfg.out / "store"
    if dist.main:
        convert_ecgs(
            cohort_sources(cohort),
            store_dir,
            profile,
            workers=cfg.convert_workers,
            progress=cfg.progress,
        )
    if dist.active:
        torch.distributed.barrier()
    store = ECGStore(store_dir)
    if store.meta["fingerprint"] != profile.fingerprint():
        raise InputError("the ECG store was built with another profile", path=store_dir)
    reports = _reports(cohort, store)
    train_rows, val_rows, counts = _split_rows(cohort, store, cfg, reports)
    if len(train_rows) < 2:
        raise InputError(
            f"too few training records with an ECG and a report ({counts})", path=cfg.cohort
        )
    model = MERLModel(
        cfg.ecg_encoder.model_dump()
        | {"kwargs": {"in_leads": len(profile.leads), **cfg.ecg_encoder.kwargs}},
        cfg.text.model_dump(),
        proj_dim=cfg.proj_dim,
        temperature=cfg.temperature,
        learn_temperature=cfg.learn_temperature,
        uma_dropout=cfg.uma_dropout,
        uma_weight=cfg.uma_weight,
        freeze_text=cfg.freeze_text,
    ).to(device)
    texts, text_index = np.unique(
        np.array([r or "" for r in reports], dtype=object), return_inverse=True
    )
    cached = None
    if cfg.freeze_text:
        with torch.inference_mode():
            cached = model.text_features(list(texts)).float().cpu()
    loaders = {
        name: DataLoader(
            PairedECGText(store, rows, text_index[rows]),
            batch_size=cfg.batch_size,
            shuffle=name == "train" and not dist.active,
            sampler=_sampler(rows, dist, cfg.seed) if name == "train" and dist.active else None,
            drop_last=name == "train" and len(rows) // dist.world > cfg.batch_size,
            num_workers=cfg.workers,
            pin_memory=device.type == "cuda",
        )
        for name, rows in (("train", train_rows), ("val", val_rows))
        if len(rows) >= 2
    }
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(loaders["train"]))
    total = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_schedule(total, int(cfg.warmup_epochs * steps_per_epoch))
    )
    net: Any = model
    if dist.active:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    amp_dtype = autocast_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    def text_batch(idx: torch.Tensor) -> torch.Tensor:
        if cached is not None:
            return cached[idx].to(device, non_blocking=True)
        return model.text_features([texts[int(i)] for i in idx])

    def run_batch(batch: Any, train: bool) -> dict[str, float]:
        signal, present, idx = batch
        signal = signal.to(device, non_blocking=True)
        present = present.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            losses = net(signal, present, text_batch(idx), dist.gather if dist.active else None)
        if train:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["loss"]).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    history: list[dict[str, Any]] = []
    best = math.inf
    cfg.out.mkdir(parents=True, exist_ok=True)
    extra = {"config": json.loads(cfg.model_dump_json(by_alias=True)), "counts": counts}
    first = 0
    resume_key = _resume_key(extra)
    state_dir = cfg.out / STATE_DIR
    if dist.active:  # each rank has its own RNG stream: multi-process runs restart cleanly
        shutil.rmtree(state_dir, ignore_errors=True)
    elif (peek_train_state(state_dir) or {}).get("resume_key") == resume_key:
        restored = load_train_state(state_dir, optimizer, scheduler=scheduler, scaler=scaler)
        if restored is not None:
            weights, saved = restored
            model.load_state_dict(weights, strict=False)
            first, history, best = saved["epoch"], saved["history"], saved["best"]
            log.info("resuming %s after epoch %d", cfg.out, first)
    for epoch in range(first, cfg.epochs):
        if dist.active and loaders["train"].sampler is not None:
            loaders["train"].sampler.set_epoch(epoch)
        model.train()
        train_stats = _mean(run_batch(b, True) for b in loaders["train"])
        row = {"epoch": epoch + 1, **{f"train_{k}": dist.mean(v) for k, v in train_stats.items()}}
        if "val" in loaders:
            model.eval()
            with torch.no_grad():
                val_stats = _mean(run_batch(b, False) for b in loaders["val"])
            row.update({f"val_{k}": dist.mean(v) for k, v in val_stats.items()})
        row["lr"] = scheduler.get_last_lr()[0]
        history.append(row)
        if dist.main:
            monitored = row.get("val_cma", row["train_loss"])
            log.info("epoch %d: %s", epoch + 1, row)
            if cfg.progress:
                print(_format_row(row), flush=True)
            if monitored < best:
                best = monitored
                save_checkpoint(
                    model,
                    cfg.out / "model",
                    profile=profile.to_dict(),
                    extra=extra | {"epoch": epoch + 1},
                )
            atomic_write_table(pd.DataFrame(history), cfg.out / "history.csv")
            if not dist.active:  # last: what a killed run resumes from
                save_train_state(
                    state_dir,
                    model.trainable_state_dict(),
                    optimizer,
                    scheduler=scheduler,
                    scaler=scaler,
                    extra={
                        "epoch": epoch + 1,
                        "history": history,
                        "best": best,
                        "resume_key": resume_key,
                    },
                )
    if dist.main:
        save_checkpoint(
            model, cfg.out / "last", profile=profile.to_dict(), extra=extra | {"epoch": cfg.epochs}
        )
    dist.close()
    summary = {
        "out": str(cfg.out),
        "checkpoint": str(cfg.out / "model"),
        "counts": counts,
        "history": history,
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(device),
        "world_size": dist.world,
        "rank": dist.rank,
        "resumed_after_epoch": first,
    }
    if dist.main:
        atomic_write_text(cfg.out / SUMMARY_FILE, json.dumps(summary, indent=2, default=str))
    return summary


def _resume_key(extra: dict[str, Any]) -> str:
    """What must match for a saved state to be resumed: the config (less display options)."""
    config = {k: v for k, v in extra["config"].items() if k not in ("progress",)}
    text = json.dumps({"config": config, "counts": extra["counts"]}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _sampler(rows: np.ndarray, dist: _Distributed, seed: int) -> Any:
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(
        range(len(rows)), num_replicas=dist.world, rank=dist.rank, seed=seed, drop_last=True
    )


def _reports(cohort: Any, store: Any) -> list[str | None]:
    out: list[str | None] = []
    for row in store.index["row"]:
        try:
            out.append(cohort.report_text(int(row)))
        except InputError as exc:
            log.warning("report skipped: %s", exc)
            out.append(None)
    return out


def _mean(items: Any) -> dict[str, float]:
    rows = list(items)
    if not rows:
        return {}
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _format_row(row: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
