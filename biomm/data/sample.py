"""Samples and batches with missing modalities as absent keys and per-sample masks.

A :class:`Sample` never holds a placeholder for a missing modality or target: the key is simply
absent. :func:`collate` turns samples into a :class:`Batch` whose ``present`` masks say, per
modality and per sample, what is real. Fusion and heads mask per sample, never per batch.

Examples:
    >>> import torch
    >>> a = Sample("p1", {"ecg": torch.ones(4)}, {"y": 1})
    >>> b = Sample("p2", {"wsi": torch.ones(3, 4)}, {})
    >>> batch = collate([a, b])
    >>> batch.present["ecg"].tolist(), batch.present["wsi"].tolist()
    ([True, False], [False, True])
    >>> batch.target_masks["y"].tolist()
    [True, False]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from biomm.errors import InputError


@dataclass
class Sample:
    """One sample of one patient.

    Attributes:
        patient_id: The patient the sample belongs to.
        modalities: Modality name → data (tensor, array, path, text). Missing → absent key.
        targets: Target name → value (int class, float, multi-hot list, ``(time, event)``).
            Missing → absent key.
        meta: Anything else (manifest row, split, fold, file paths).
        sample_id: Optional sample id when a patient has several samples.
    """

    patient_id: str
    modalities: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    sample_id: str | None = None

    def __post_init__(self) -> None:
        for kind, mapping in (("modality", self.modalities), ("target", self.targets)):
            for key, value in mapping.items():
                if value is None or (
                    isinstance(value, float | np.floating) and math.isnan(float(value))
                ):
                    raise InputError(
                        f"patient {self.patient_id!r}: {kind} {key!r} is {value!r}; a missing "
                        f"{kind} must be an absent key, not a placeholder"
                    )


@dataclass
class Batch:
    """A collated batch.

    Attributes:
        patient_ids: Patient id per sample.
        sample_ids: Sample id per sample (None where not given).
        modalities: Modality → ``[B, ...]`` tensor (rows of absent samples are zeros), or a list
            with None for absent samples when the data are not tensors (paths, text). Only
            modalities present in at least one sample appear.
        present: Modality → ``[B]`` bool mask (True where the sample has the modality).
        token_masks: For variable-length modalities padded along their first axis
            (e.g. a bag of tile features ``[B, N_max, D]``): ``[B, N_max]`` bool, True = real.
        targets: Target → ``[B, ...]`` tensor; zeros where missing. Integers → int64; floats,
            multi-hot lists and ``(time, event)`` pairs → float32.
        target_masks: Target → ``[B]`` bool mask (True where the target is known).
        meta: Per-sample meta dictionaries.
    """

    patient_ids: list[str]
    sample_ids: list[str | None]
    modalities: dict[str, Any]
    present: dict[str, torch.Tensor]
    token_masks: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    target_masks: dict[str, torch.Tensor]
    meta: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.patient_ids)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move every tensor to ``device`` (lists of paths or text stay as they are).

        Examples:
            >>> b = collate([Sample("p", {"x": torch.zeros(2)})])
            >>> b.to("cpu").modalities["x"].device.type
            'cpu'
        """

        def move(mapping: dict[str, Any]) -> dict[str, Any]:
            return {
                k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
                for k, v in mapping.items()
            }

        return Batch(
            patient_ids=self.patient_ids,
            sample_ids=self.sample_ids,
            modalities=move(self.modalities),
            present=move(self.present),
            token_masks=move(self.token_masks),
            targets=move(self.targets),
            target_masks=move(self.target_masks),
            meta=self.meta,
        )


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, bool | int | float | np.integer | np.floating | np.bool_):
        return torch.as_tensor(value)
    return None


def _stack_modality(
    name: str, samples: Sequence[Sample], pad_value: float, as_sequence: bool
) -> tuple[Any, torch.Tensor | None]:
    """Stack one modality over samples; returns (data, token_mask or None)."""
    values = [s.modalities.get(name) for s in samples]
    tensors = [None if v is None else _as_tensor(v) for v in values]
    present_values = [(i, t) for i, t in enumerate(tensors) if values[i] is not None]
    if any(t is None for _, t in present_values):
        return values, None  # paths, text, lists: keep as a list with None for absent
    shapes = {tuple(t.shape) for _, t in present_values}  # type: ignore[union-attr]
    first = present_values[0][1]
    assert first is not None
    dtype = first.dtype
    for _, t in present_values[1:]:  # mixed int/float/bool inputs: the common type, no truncation
        dtype = torch.promote_types(dtype, t.dtype)  # type: ignore[union-attr]
    if as_sequence and any(len(s) == 0 for s in shapes):
        raise InputError(
            f"modality {name!r} is variable-length but some values are scalars (0-d); "
            "give each sample a [N, ...] tensor"
        )
    if len(shapes) == 1 and not as_sequence:
        out = torch.zeros((len(samples), *first.shape), dtype=dtype)
        for i, t in present_values:
            out[i] = t  # type: ignore[assignment]
        return out, None
    trailing = {s[1:] for s in shapes}
    if len(trailing) != 1 or any(len(s) == 0 for s in shapes):
        detail = ", ".join(
            f"{samples[i].patient_id}: {tuple(t.shape)}"  # type: ignore[union-attr]
            for i, t in present_values[:6]
        )
        raise InputError(
            f"modality {name!r}: tensors differ in shape beyond the first axis and cannot be "
            f"batched ({detail})"
        )
    longest = max(s[0] for s in shapes)
    out = torch.full((len(samples), longest, *next(iter(trailing))), pad_value, dtype=dtype)
    mask = torch.zeros((len(samples), longest), dtype=torch.bool)
    for i, t in present_values:
        assert t is not None
        out[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return out, mask


def _stack_target(name: str, samples: Sequence[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.tensor([name in s.targets for s in samples], dtype=torch.bool)
    known = [s.targets[name] for s in samples if name in s.targets]
    is_int = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in known) or all(
        isinstance(v, bool) for v in known
    )
    dtype = torch.int64 if is_int else torch.float32
    try:
        example = torch.as_tensor(known[0], dtype=dtype)
        out = torch.zeros((len(samples), *example.shape), dtype=dtype)
        for i, s in enumerate(samples):
            if name in s.targets:
                out[i] = torch.as_tensor(s.targets[name], dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"target {name!r} cannot be batched: {exc}") from None
    return out, mask


def collate(
    samples: Sequence[Sample],
    *,
    modalities: Sequence[str] | None = None,
    variable_length: Sequence[str] = (),
    pad_value: float = 0.0,
) -> Batch:
    """Collate samples into a :class:`Batch` with per-sample presence and target masks.

    Args:
        samples: The samples; each may have any subset of modalities and targets.
        modalities: Modalities to include in ``present`` even when no sample has them
            (default: every modality some sample has).
        variable_length: Modalities whose first axis is a sequence (tiles of a slide, tokens):
            always padded with a ``token_masks`` entry, even when all lengths agree. Other
            modalities are padded only when their first axes differ.
        pad_value: Fill for padded positions of variable-length modalities.

    Raises:
        InputError: When ``samples`` is empty or a modality/target cannot be stacked.

    Examples:
        >>> import torch
        >>> bags = [Sample("a", {"wsi": torch.ones(2, 8)}), Sample("b", {"wsi": torch.ones(5, 8)})]
        >>> b = collate(bags)
        >>> tuple(b.modalities["wsi"].shape), b.token_masks["wsi"].sum(1).tolist()
        ((2, 5, 8), [2, 5])
    """
    if len(samples) == 0:
        raise InputError("cannot collate an empty list of samples")
    names = list(dict.fromkeys(m for s in samples for m in s.modalities))
    requested = list(modalities) if modalities is not None else []
    present: dict[str, torch.Tensor] = {}
    data: dict[str, Any] = {}
    token_masks: dict[str, torch.Tensor] = {}
    for name in dict.fromkeys([*requested, *names]):
        present[name] = torch.tensor([name in s.modalities for s in samples], dtype=torch.bool)
        if name in names:
            data[name], mask = _stack_modality(
                name, samples, pad_value, as_sequence=name in variable_length
            )
            if mask is not None:
                token_masks[name] = mask
    targets: dict[str, torch.Tensor] = {}
    target_masks: dict[str, torch.Tensor] = {}
    for name in dict.fromkeys(t for s in samples for t in s.targets):
        targets[name], target_masks[name] = _stack_target(name, samples)
    return Batch(
        patient_ids=[s.patient_id for s in samples],
        sample_ids=[s.sample_id for s in samples],
        modalities=data,
        present=present,
        token_masks=token_masks,
        targets=targets,
        target_masks=target_masks,
        meta=[dict(s.meta) for s in samples],
    )
