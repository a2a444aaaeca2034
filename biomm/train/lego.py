"""Merge separately trained MM-Lego runs into one multimodal model, without paired data.

Each run is a ``biomm train`` output trained with the ``lego_merge`` (or ``lego_fuse``) fusion,
usually on a single modality and possibly on its own cohort. :func:`merge_lego_runs` takes the
LegoBlock of every run (with the run's encoder, e.g. ABMIL over tile features), merges the task
heads the runs share (SLERP or linear) and returns one model:

* ``fusion="lego_merge"`` — the MM-Lego merge: each patient's present blocks merged in the
  frequency domain; usable with no training at all;
* ``fusion="lego_fuse"`` — the blocks stacked (``mode="stack"``) or interleaved (``weave``)
  on one shared latent, to be fine-tuned briefly on paired data.

The blocks must share their architecture arguments (``num_latents``, ``depth``, …): the merged
model is saved as a normal checkpoint (:func:`biomm.train.trainer.save_model`) and rebuilt from
one spec. Heads of a task must be of the same kind with the same fitted settings (survival
bins, regression scaling); Cox baselines are cleared and refit on training data when the merged
model is evaluated (:func:`biomm.train.run.run_training` with ``model=``).

Examples:
    >>> from biomm.train.lego import COMBINE_KEYS
    >>> "latent_merge" in COMBINE_KEYS
    True
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from biomm.errors import ConfigError, InputError

#: Fusion arguments that only concern how blocks are combined (free to differ between runs).
COMBINE_KEYS = ("latent_merge", "head_merge", "weights", "mode", "order", "blocks", "copy_blocks")
LEGO_FUSIONS = ("lego_merge", "lego_fuse")


def model_folder(run: str | PathLike[str]) -> Path:
    """The checkpoint folder of a run: ``RUN/model`` when given a ``biomm train`` output.

    Examples:
        >>> model_folder("runs/ecg").as_posix()
        'runs/ecg'
    """
    run = Path(run)
    return run / "model" if (run / "model" / "config.json").is_file() else run


def _architecture(spec: Mapping[str, Any]) -> dict[str, Any]:
    fusion = spec["fusion"]
    return {k: v for k, v in fusion.items() if k not in ("name", *COMBINE_KEYS)}


def _reset_cox_baseline(head: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``head`` with any Breslow baseline cleared (baselines differ in length)."""
    head = copy.deepcopy(head)
    for key in getattr(head, "_baseline_keys", ()):
        old = getattr(head, key)
        setattr(head, key, torch.zeros(old.shape if old.ndim == 0 else (0,), dtype=old.dtype))
    return head


def merge_lego_runs(
    runs: Sequence[str | PathLike[str]],
    *,
    fusion: str = "lego_merge",
    latent_merge: str = "mean",
    head_merge: str = "slerp",
    mode: str = "stack",
    weights: Mapping[str, float] | None = None,
) -> Any:
    """One :class:`~biomm.train.model.MultimodalModel` from the LegoBlocks of several runs.

    Args:
        runs: ``biomm train`` output folders (or their ``model/`` folders), each trained with
            a ``lego_merge``/``lego_fuse`` fusion; every modality may come from one run only.
        fusion: ``lego_merge`` (no training needed) or ``lego_fuse`` (fine-tune afterwards).
        latent_merge: ``mean``, ``sum`` or ``harmonic`` (``lego_merge`` only).
        head_merge: ``slerp`` or ``linear`` merge of the task heads (and of the block heads).
        mode: ``stack`` or ``weave`` (``lego_fuse`` only).
        weights: Optional modality → weight of its block in the latent and head merges (a
            task head takes the weight of its run's modalities, summed).

    Returns:
        The merged model (in eval mode); ``model.spec`` rebuilds it with
        :func:`biomm.train.model.build_model`, and ``model.spec["lego_runs"]`` records the
        source runs and which modalities and tasks each gave.

    Raises:
        ConfigError: When a run is not an MM-Lego run, two runs give the same modality, the
            block architectures differ, or a task's heads cannot be merged.
        InputError: When a run folder is not a biomm checkpoint.

    Examples:
        >>> merge_lego_runs([])
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: merging needs at least two runs (got 0)
    """
    from biomm.fusion.lego import LegoFuse, LegoMerge, merge_heads
    from biomm.train.model import MultimodalModel
    from biomm.train.trainer import load_model

    if len(runs) < 2:
        raise ConfigError(f"merging needs at least two runs (got {len(runs)})")
    if fusion not in LEGO_FUSIONS:
        raise ConfigError(f"fusion must be one of {LEGO_FUSIONS}, got {fusion!r}")
    loaded = []
    for run in runs:
        folder = model_folder(run)
        model, _ = load_model(folder)
        name = model.spec["fusion"]["name"]
        if name not in LEGO_FUSIONS:
            raise ConfigError(
                f"trained with the {name!r} fusion; only {'/'.join(LEGO_FUSIONS)} runs hold "
                "LegoBlocks that can be merged",
                path=folder,
            )
        loaded.append((folder, model))
    ref_folder, ref_model = loaded[0]
    ref_arch = _architecture(ref_model.spec)
    blocks: dict[str, Any] = {}
    encoders: dict[str, Any] = {}
    embed_dims: dict[str, int] = {}
    encoder_specs: dict[str, Any] = {}
    source_of: dict[str, Path] = {}
    provenance = []
    for folder, model in loaded:
        arch = _architecture(model.spec)
        if arch != ref_arch:
            differing = sorted(
                k for k in set(arch) | set(ref_arch) if arch.get(k) != ref_arch.get(k)
            )
            raise ConfigError(
                f"block architecture differs from {ref_folder} in {differing}: blocks must share "
                "their fusion arguments to be merged",
                path=folder,
            )
        for m, block in model.fusion.blocks.items():
            if m in blocks:
                raise ConfigError(
                    f"modality {m!r} comes from two runs ({source_of[m]} and {folder}); "
                    "give each modality once",
                    path=folder,
                )
            blocks[m], source_of[m] = block, folder
            embed_dims[m] = int(model.spec["embed_dims"][m])
            if m in model.encoders:
                encoders[m] = model.encoders[m]
                encoder_specs[m] = model.spec["encoders"][m]
        provenance.append(
            {
                "run": str(folder),
                "modalities": list(model.fusion.blocks),
                "tasks": list(model.heads),
            }
        )
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(blocks))
    if unknown:
        raise ConfigError(f"weights for modalities no run gives: {unknown}")
    heads, head_specs = _merge_task_heads(loaded, head_merge, weights, merge_heads)
    combine: dict[str, Any] = {"head_merge": head_merge}
    if weights:
        combine["weights"] = weights
    if fusion == "lego_merge":
        combine["latent_merge"] = latent_merge
        fused = LegoMerge.from_blocks(blocks, **combine)
    else:
        combine["mode"] = mode
        fused = LegoFuse.from_blocks(blocks, **combine)
    spec = {
        "embed_dims": embed_dims,
        "fusion": {"name": fusion, "out_dim": fused.out_dim, **ref_arch, **combine},
        "heads": head_specs,
        "lego_runs": provenance,
    }
    if encoder_specs:
        spec["encoders"] = encoder_specs
    merged = MultimodalModel(fused, heads, encoders, spec=spec)
    merged.eval()
    return merged


def _merge_task_heads(
    loaded: Sequence[tuple[Path, Any]],
    method: str,
    weights: Mapping[str, float],
    merge_heads: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge the heads of every task across the runs that have it."""
    by_task: dict[str, list[tuple[Path, Any, float]]] = {}
    specs: dict[str, Any] = {}
    for folder, model in loaded:
        run_weight = sum(float(weights.get(m, 1.0)) for m in model.fusion.blocks)
        for task, head in model.heads.items():
            spec = model.spec["heads"][task]
            if task in specs and _comparable(specs[task]) != _comparable(spec):
                raise ConfigError(
                    f"task {task!r}: head {json.dumps(spec, default=str)} differs from the "
                    f"other runs' {json.dumps(specs[task], default=str)} (same kind, bins and "
                    "scaling are needed to merge)",
                    path=folder,
                )
            specs.setdefault(task, spec)
            by_task.setdefault(task, []).append((folder, head, run_weight))
    heads = {}
    for task, entries in by_task.items():
        try:
            heads[task] = merge_heads(
                [_reset_cox_baseline(h) for _, h, _ in entries], method, [w for *_, w in entries]
            )
        except InputError as exc:
            raise ConfigError(f"task {task!r}: {exc.reason}", path=entries[-1][0]) from None
    return heads, specs


def _comparable(head_spec: Mapping[str, Any]) -> str:
    keys = sorted(head_spec)
    return json.dumps({k: head_spec[k] for k in keys}, sort_keys=True, default=str)


__all__ = ["COMBINE_KEYS", "LEGO_FUSIONS", "merge_lego_runs", "model_folder"]
