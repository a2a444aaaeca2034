"""Self-supervised pretraining of the tabular encoder: masked-cell reconstruction (+ CLIP).

At every step a random ``mask_rate`` of the **observed** cells is hidden from the encoder
(they become unobserved: mask token, hidden from attention), and per-column heads predict
them from the encoder's token states: cross-entropy over a categorical column's codes, squared
error for a continuous (standardised) one. Cells that were never observed take no part. The
loss is the mean over hidden cells.

With ``contrastive=`` paired image embeddings ``[N, Di]`` (rows of NaN = no image), a
symmetric InfoNCE (CLIP) loss between a projection of the encoder's row embedding and a
projection of the image embedding is added (:func:`biomm.objectives.pairwise_infonce`), as in
TIP's tabular–image pretraining.

Examples:
    >>> import torch
    >>> from biomm.encoders.tabular import TabularTransformer
    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randint(0, 3, (64, 1), generator=g).float()
    >>> values = torch.cat([a, a, a * 0.5], dim=1)  # three copies of one signal
    >>> enc = TabularTransformer([3, 3, 0], dim=16, depth=1, heads=2)
    >>> result = pretrain_tabular(enc, (values, None), epochs=10, lr=3e-3, seed=0)
    >>> result.history[-1]["reconstruction"] < result.history[0]["reconstruction"]
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biomm.encoders.tabular import TabularTransformer
from biomm.errors import ConfigError, InputError
from biomm.objectives import pairwise_infonce


def mask_cells(
    observed: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pick observed cells to hide, each with probability ``rate``.

    Examples:
        >>> obs = torch.tensor([[True, False, True]])
        >>> hide = mask_cells(obs, 1.0)
        >>> hide.tolist()
        [[True, False, True]]
    """
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"mask_rate must be in [0, 1], got {rate}")
    draw = torch.rand(observed.shape, generator=generator).to(observed.device)
    return (draw < rate) & observed


class TabularReconstruction(nn.Module):
    """Per-column reconstruction heads on top of a :class:`TabularTransformer`.

    Args:
        encoder: The encoder being pretrained (its ``cardinalities`` give the heads).

    Examples:
        >>> enc = TabularTransformer([0, 4], dim=8, depth=1, heads=2)
        >>> rec = TabularReconstruction(enc)
        >>> v = torch.tensor([[0.3, 2.0], [1.0, 3.0]]); obs = torch.ones(2, 2, dtype=torch.bool)
        >>> parts = rec.loss(v, obs, hide=torch.tensor([[True, True], [False, True]]))
        >>> sorted(parts), int(parts["cells"])
        (['accuracy', 'categorical', 'cells', 'continuous', 'loss'], 3)
    """

    def __init__(self, encoder: TabularTransformer) -> None:
        super().__init__()
        if not isinstance(encoder, TabularTransformer):
            raise InputError(f"expected a TabularTransformer, got {type(encoder).__name__}")
        self.encoder = encoder
        self.heads = nn.ModuleList(nn.Linear(encoder.dim, max(k, 1)) for k in encoder.cardinalities)

    def predict(self, values: torch.Tensor, visible: torch.Tensor) -> list[torch.Tensor]:
        """Per column, logits ``[B, k]`` (categorical) or values ``[B]`` from visible cells."""
        tokens = self.encoder.forward_tokens(values, visible)
        out = []
        for j, (head, k) in enumerate(zip(self.heads, self.encoder.cardinalities, strict=True)):
            y = head(tokens[:, j])
            out.append(y if k > 0 else y[:, 0])
        return out

    def loss(
        self, values: torch.Tensor, observed: torch.Tensor | None, hide: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Reconstruction loss of the hidden cells (``hide`` & observed).

        Returns:
            ``loss`` (mean over hidden cells), ``categorical`` (mean cross-entropy),
            ``continuous`` (mean squared error), ``accuracy`` (of hidden categorical cells;
            NaN when none) and ``cells`` (number of hidden cells).
        """
        values = values.float()
        if observed is None:
            observed = torch.isfinite(values)
        observed = observed.bool()
        target_cells = hide.bool() & observed
        outputs = self.predict(values, observed & ~target_cells)
        clean = torch.where(observed, values, torch.zeros((), device=values.device))
        zero = sum(y.sum() for y in outputs) * 0.0  # keeps the graph when nothing is hidden
        ce_sum, se_sum, n_cat, n_num, correct = zero, zero, 0, 0, 0
        for j, (y, k) in enumerate(zip(outputs, self.encoder.cardinalities, strict=True)):
            rows = target_cells[:, j]
            n = int(rows.sum())
            if n == 0:
                continue
            if k > 0:
                target = clean[rows, j].round().long()
                ce_sum = ce_sum + F.cross_entropy(y[rows], target, reduction="sum")
                correct += int((y[rows].argmax(1) == target).sum())
                n_cat += n
            else:
                se_sum = se_sum + ((y[rows] - clean[rows, j]) ** 2).sum()
                n_num += n
        cells = n_cat + n_num
        nan = torch.tensor(float("nan"))
        return {
            "loss": (ce_sum + se_sum) / max(cells, 1),
            "categorical": (ce_sum / n_cat).detach() if n_cat else nan,
            "continuous": (se_sum / n_num).detach() if n_num else nan,
            "accuracy": torch.tensor(correct / n_cat) if n_cat else nan,
            "cells": torch.tensor(cells),
        }

    @torch.no_grad()
    def evaluate(
        self,
        values: torch.Tensor,
        observed: torch.Tensor | None = None,
        *,
        mask_rate: float = 0.3,
        seed: int = 0,
    ) -> dict[str, float]:
        """The loss parts on a fixed random mask (eval mode), as floats.

        Examples:
            >>> rec = TabularReconstruction(TabularTransformer([0, 3], dim=8, heads=2))
            >>> r = rec.evaluate(torch.tensor([[0.1, 1.0], [0.2, 2.0]]), mask_rate=1.0)
            >>> r["cells"]
            4.0
        """
        was_training = self.training
        self.eval()
        try:
            obs = torch.isfinite(values) if observed is None else observed.bool()
            hide = mask_cells(obs, mask_rate, torch.Generator().manual_seed(seed))
            parts = self.loss(values, obs, hide)
        finally:
            self.train(was_training)
        return {k: float(v) for k, v in parts.items()}


@dataclass
class PretrainResult:
    """What :func:`pretrain_tabular` returns.

    Attributes:
        history: One dict per epoch: ``epoch``, ``loss`` (training objective), ``reconstruction``
            and ``accuracy`` (on a fixed evaluation mask of the whole table, eval mode) and
            ``contrastive`` (NaN without image embeddings). Entry 0 is before training.
        reconstruction: The trained reconstruction heads (their ``encoder`` is the encoder).
        projections: The CLIP projections (``ehr``, ``image``) when contrastive was used.
        seed: The seed used.
        settings: The optimisation settings (epochs, mask rate, learning rate, ...).
    """

    history: list[dict[str, float]]
    reconstruction: TabularReconstruction
    projections: nn.ModuleDict | None = None
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


def _as_tensors(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(batch, "tensors"):
        values, observed = batch.tensors()
    else:
        values, observed = batch
    values = torch.as_tensor(np.asarray(values) if not torch.is_tensor(values) else values)
    values = values.float()
    observed = torch.isfinite(values) if observed is None else torch.as_tensor(observed).bool()
    if values.ndim != 2 or observed.shape != values.shape:
        raise InputError(
            f"values and observed must both be [N, C], got {list(values.shape)} and "
            f"{list(observed.shape)}"
        )
    return values, observed


def pretrain_tabular(
    encoder: TabularTransformer,
    batch: Any,
    *,
    epochs: int = 50,
    mask_rate: float = 0.3,
    lr: float = 1e-3,
    seed: int = 0,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    contrastive: Any | None = None,
    contrastive_weight: float = 1.0,
    temperature: float = 0.1,
    proj_dim: int = 32,
    reconstruction: TabularReconstruction | None = None,
) -> PretrainResult:
    """Pretrain ``encoder`` in place by masked-cell reconstruction (+ optional CLIP loss).

    Args:
        encoder: The tabular encoder (trained in place).
        batch: A :class:`~biomm.io.ehr.TabularBatch` or ``(values [N, C], observed [N, C] |
            None)`` of **training** rows.
        epochs: Passes over the rows.
        mask_rate: Fraction of observed cells hidden at each step.
        lr: AdamW learning rate.
        seed: Seeds head initialisation, masks, shuffling and dropout (global RNG restored).
        weight_decay: AdamW weight decay.
        batch_size: Rows per step.
        contrastive: Optional image embeddings ``[N, Di]`` paired with the rows (rows with a
            non-finite value have no image and take no part in the CLIP loss).
        contrastive_weight: Weight of the CLIP loss.
        temperature: CLIP temperature.
        proj_dim: Size of the CLIP projections.
        reconstruction: Heads to continue training (default: new ones).

    Returns:
        A :class:`PretrainResult` with the per-epoch history.

    Raises:
        InputError: On shapes that do not match the encoder or the image embeddings.
        ConfigError: On a bad ``mask_rate``, ``epochs`` or ``batch_size``.
    """
    values, observed = _as_tensors(batch)
    if values.shape[1] != encoder.n_columns:
        raise InputError(f"batch has {values.shape[1]} columns, encoder {encoder.n_columns}")
    if epochs < 0 or batch_size < 1:
        raise ConfigError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    if not 0.0 < mask_rate < 1.0:
        raise ConfigError(f"mask_rate must be in (0, 1), got {mask_rate}")
    device = next(encoder.parameters()).device
    values, observed = values.to(device), observed.to(device)
    n = values.shape[0]
    images = image_present = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = reconstruction or TabularReconstruction(encoder)
        module.to(device)
        params: list[nn.Parameter] = list(module.parameters())
        projections = None
        if contrastive is not None:
            images = torch.as_tensor(np.asarray(contrastive), dtype=torch.float32).to(device)
            if images.ndim != 2 or images.shape[0] != n:
                raise InputError(
                    f"contrastive image embeddings must be [{n}, Di], got {list(images.shape)}"
                )
            image_present = torch.isfinite(images).all(1)
            images = torch.where(image_present[:, None], images, torch.zeros((), device=device))
            projections = nn.ModuleDict(
                {
                    "ehr": nn.Linear(encoder.embed_dim, proj_dim),
                    "image": nn.Linear(images.shape[1], proj_dim),
                }
            ).to(device)
            params += list(projections.parameters())
        optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed)
        nan = float("nan")

        def record(epoch: int, loss: float, clip: float) -> dict[str, float]:
            ev = module.evaluate(values, observed, mask_rate=mask_rate, seed=seed + 7919)
            return {
                "epoch": float(epoch),
                "loss": loss,
                "reconstruction": ev["loss"],
                "accuracy": ev["accuracy"],
                "contrastive": clip,
            }

        history = [record(0, nan, nan)]
        for epoch in range(1, epochs + 1):
            module.train()
            order = torch.randperm(n, generator=generator).to(device)
            total, clip_total, steps = 0.0, 0.0, 0
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                v, o = values[rows], observed[rows]
                hide = mask_cells(o, mask_rate, generator)
                loss = module.loss(v, o, hide)["loss"]
                if projections is not None and images is not None and image_present is not None:
                    z = projections["ehr"](encoder(v, o & ~hide))
                    w = projections["image"](images[rows])
                    clip = pairwise_infonce(
                        {"ehr": z, "image": w},
                        {"image": image_present[rows]},
                        temperature=temperature,
                    )
                    loss = loss + contrastive_weight * clip
                    clip_total += float(clip.detach())
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
                steps += 1
            clip_mean = clip_total / steps if projections is not None else nan
            history.append(record(epoch, total / max(steps, 1), clip_mean))
    module.eval()
    settings = {
        "epochs": epochs,
        "mask_rate": mask_rate,
        "lr": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "contrastive": contrastive is not None,
    }
    return PretrainResult(history, module, projections, seed, settings)


def reconstruction_accuracy_by_column(
    module: TabularReconstruction,
    values: torch.Tensor,
    observed: torch.Tensor | None = None,
    *,
    columns: Sequence[int] | None = None,
) -> dict[int, float]:
    """Accuracy of reconstructing each categorical column when only it is hidden.

    Examples:
        >>> rec = TabularReconstruction(TabularTransformer([2, 0], dim=8, heads=2))
        >>> list(reconstruction_accuracy_by_column(rec, torch.tensor([[1.0, 0.5]])))
        [0]
    """
    values = values.float()
    observed = torch.isfinite(values) if observed is None else observed.bool()
    cards = module.encoder.cardinalities
    wanted = [j for j in (columns or range(len(cards))) if cards[j] > 0]
    out = {}
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for j in wanted:
            hide = torch.zeros_like(observed)
            hide[:, j] = observed[:, j]
            rows = hide[:, j]
            if not rows.any():
                out[j] = float("nan")
                continue
            logits = module.predict(values, observed & ~hide)[j]
            target = torch.where(observed, values, torch.zeros(())).round().long()[:, j]
            out[j] = float((logits[rows].argmax(1) == target[rows]).float().mean())
    module.train(was_training)
    return out
