"""LegoMerge: combine N ≥ 2 independently trained LegoBlocks without paired training data.

Each block encodes its own modality into a frequency-domain latent ``[B, L, d]``
(:class:`~biomm.fusion.lego_block.LegoBlock`). For every sample, :func:`merge_latents`
combines the latents of the modalities **that sample has** (absent modalities take no part):

* ``sum`` and ``mean`` — linear, so identical in the frequency and the original domain; the
  parameter-free layer norm of :meth:`LegoBlock.pool` rescales a sum;
* ``harmonic`` — on the complex spectrum (:func:`packed_to_complex`): the weighted harmonic
  mean of the magnitudes and the weighted circular mean of the phases. The reference code
  (github.com/konst-int-i/mm-lego, ``LegoMerge``) does this for two blocks with the arithmetic
  mean of the two phase angles; the circular mean (the angle of the sum of unit phasors) is the
  same whenever the two phases are less than π apart, is unaffected by the ±π wrap-around, and
  extends to any number of blocks.

A sample with one modality therefore gets exactly that block's latent (for every method), and
a sample with none gets the (frequency-domain) mean of the blocks' learned initial latents.

The blocks' task heads are merged into one :attr:`LegoMerge.merged_head` by
:func:`merge_heads`: ``linear`` (weighted average of every tensor) or ``slerp``. SLERP
interpolates each parameter tensor, flattened, along the great circle between the two
directions and linearly between the two norms; for N heads it is generalised to the weighted
spherical (Karcher/Fréchet) mean of the directions (:func:`spherical_mean`, the fixed-point
iteration of Buss & Fillmore 2001), which is order-independent and equals ``slerp(a, b, t)``
for two heads with weights ``(1 - t, t)``. Weight and bias are interpolated separately (as in
the reference code), so a small bias does not get drowned by a large weight matrix.

Examples:
    >>> import torch
    >>> from biomm.fusion.lego_block import LegoBlock
    >>> blocks = {"ecg": LegoBlock(4, latent_dim=8, head=1),
    ...           "ehr": LegoBlock(6, latent_dim=8, head=1)}
    >>> merged = LegoMerge.from_blocks(blocks, latent_merge="harmonic", head_merge="slerp")
    >>> x = {"ecg": torch.randn(3, 4), "ehr": torch.randn(3, 6)}
    >>> present = {"ecg": torch.tensor([True, True, False]),
    ...            "ehr": torch.tensor([True, False, True])}
    >>> z = merged(x, present)
    >>> z.shape, merged.merged_head(z).shape
    (torch.Size([3, 8]), torch.Size([3, 1]))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from biomm.errors import InputError
from biomm.fusion.base import Fusion
from biomm.fusion.lego_block import (
    LegoBlock,
    check_compatible,
    complex_to_packed,
    packed_to_complex,
    to_frequency,
)
from biomm.registries import FUSIONS

LATENT_MERGES = ("sum", "mean", "harmonic")
HEAD_MERGES = ("slerp", "linear")
_EPS = 1e-12


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical linear interpolation between two tensors (flattened), norms interpolated linearly.

    The direction moves along the great circle from ``a/|a|`` to ``b/|b|``; the norm is
    ``(1 - t)|a| + t|b|``. Falls back to linear interpolation when a tensor is (near) zero or
    the directions are (near) parallel.

    Examples:
        >>> e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
        >>> mid = slerp(e1, e2, 0.5)
        >>> mid, round(float(mid.norm()), 6)
        (tensor([0.7071, 0.7071]), 1.0)
        >>> torch.equal(slerp(e1, e1, 0.3), e1)
        True
    """
    if a.shape != b.shape:
        raise InputError(f"slerp needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    t = float(t)
    fa, fb = a.detach().double().flatten(), b.detach().double().flatten()
    na, nb = fa.norm(), fb.norm()
    if na < 1e-12 or nb < 1e-12:
        return ((1 - t) * a.detach().double() + t * b.detach().double()).to(a.dtype)
    ua, ub = fa / na, fb / nb
    cos = torch.clamp(ua @ ub, -1.0, 1.0)
    theta = torch.arccos(cos)
    if float(theta) < 1e-6:
        direction = (1 - t) * ua + t * ub
        direction = direction / direction.norm()
    else:
        direction = (torch.sin((1 - t) * theta) * ua + torch.sin(t * theta) * ub) / torch.sin(theta)
    return ((((1 - t) * na + t * nb) * direction).reshape(a.shape)).to(a.dtype)


def spherical_mean(
    tensors: Sequence[torch.Tensor],
    weights: Sequence[float] | None = None,
    *,
    iterations: int = 100,
    tol: float = 1e-10,
) -> torch.Tensor:
    """Weighted spherical (Karcher) mean of the flattened tensors' directions × mean norm.

    The direction minimises the weighted sum of squared great-circle distances to the unit
    directions (fixed-point iteration in the tangent space, started at the normalised weighted
    sum); the norm is the weighted mean of the norms. For two tensors and weights
    ``(1 - t, t)`` it equals :func:`slerp`. Falls back to the weighted linear average when a
    tensor is (near) zero or the directions cancel out.

    Args:
        tensors: Tensors of one shape.
        weights: Non-negative weights (default equal); normalised to sum to 1.
        iterations: Maximum fixed-point iterations.
        tol: Stop when the tangent step is shorter than this.

    Examples:
        >>> e = torch.eye(3)
        >>> m = spherical_mean([e[0], e[1], e[2]])
        >>> torch.allclose(m, torch.full((3,), 3 ** -0.5), atol=1e-6)
        True
        >>> a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
        >>> torch.allclose(spherical_mean([a, b], [0.7, 0.3]), slerp(a, b, 0.3), atol=1e-6)
        True
    """
    w = _normalised_weights(weights, len(tensors))
    shape = tensors[0].shape
    if any(t.shape != shape for t in tensors):
        raise InputError(
            f"spherical_mean needs equal shapes, got {[tuple(t.shape) for t in tensors]}"
        )
    flat = torch.stack([t.detach().double().flatten() for t in tensors])
    weights_t = torch.tensor(w, dtype=torch.float64, device=flat.device)
    linear = (weights_t[:, None] * flat).sum(0)
    norms = flat.norm(dim=1)
    if bool((norms < 1e-12).any()):
        return linear.reshape(shape).to(tensors[0].dtype)
    units = flat / norms[:, None]
    mu = (weights_t[:, None] * units).sum(0)
    if float(mu.norm()) < 1e-9:
        return linear.reshape(shape).to(tensors[0].dtype)
    mu = mu / mu.norm()
    for _ in range(iterations):
        cos = torch.clamp(units @ mu, -1.0, 1.0)
        theta = torch.arccos(cos)
        tangent = units - cos[:, None] * mu
        tnorm = tangent.norm(dim=1).clamp_min(1e-300)
        logs = torch.where((theta > 1e-12)[:, None], theta[:, None] * tangent / tnorm[:, None], 0.0)
        step = (weights_t[:, None] * logs).sum(0)
        size = step.norm()
        if float(size) < tol:
            break
        mu = torch.cos(size) * mu + torch.sin(size) * step / size
        mu = mu / mu.norm()
    return ((weights_t @ norms) * mu).reshape(shape).to(tensors[0].dtype)


def _normalised_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if n == 0:
        raise InputError("nothing to merge")
    if weights is None:
        return [1.0 / n] * n
    w = [float(x) for x in weights]
    if len(w) != n:
        raise InputError(f"{len(w)} weights for {n} items")
    if any(x < 0 or not math.isfinite(x) for x in w) or sum(w) <= 0:
        raise InputError(f"weights must be non-negative, finite and not all zero, got {w}")
    total = sum(w)
    return [x / total for x in w]


def merge_heads(
    heads: Sequence[nn.Module],
    method: str = "slerp",
    weights: Sequence[float] | None = None,
) -> nn.Module:
    """One head whose parameters merge those of ``heads`` (same architecture, N ≥ 1).

    ``slerp`` uses :func:`spherical_mean` per parameter tensor; ``linear`` the weighted average.
    Floating-point buffers are averaged linearly; other buffers are copied from the first head.
    The heads are not modified.

    Raises:
        InputError: On an unknown method or heads of different classes, names or shapes.

    Examples:
        >>> a, b = nn.Linear(3, 1), nn.Linear(3, 1)
        >>> merged = merge_heads([a, b], "linear")
        >>> torch.allclose(merged.weight, (a.weight + b.weight) / 2)
        True
        >>> same = merge_heads([a, a], "slerp")
        >>> torch.allclose(same.weight, a.weight) and torch.allclose(same.bias, a.bias)
        True
    """
    if method not in HEAD_MERGES:
        raise InputError(f"unknown head merge {method!r}; choose one of {HEAD_MERGES}")
    if not heads:
        raise InputError("no heads to merge")
    w = _normalised_weights(weights, len(heads))
    kinds = {type(h) for h in heads}
    if len(kinds) != 1:
        raise InputError(
            f"heads of different classes cannot be merged: {sorted(k.__name__ for k in kinds)}"
        )
    states = [h.state_dict() for h in heads]
    ref = states[0]
    for i, state in enumerate(states[1:], start=1):
        if list(state) != list(ref) or any(state[k].shape != ref[k].shape for k in ref):
            raise InputError(f"head {i} does not have the architecture of head 0")
    params = {name for name, _ in heads[0].named_parameters()}
    merged_state = {}
    for key, value in ref.items():
        values = [s[key] for s in states]
        if not value.is_floating_point():
            merged_state[key] = value.clone()
        elif method == "slerp" and key in params:
            merged_state[key] = spherical_mean(values, w)
        else:
            stacked = torch.stack([v.detach().double() for v in values])
            merged_state[key] = (
                (
                    torch.tensor(w, dtype=torch.float64, device=value.device).view(
                        -1, *[1] * value.ndim
                    )
                    * stacked
                )
                .sum(0)
                .to(value.dtype)
            )
    merged = copy.deepcopy(heads[0])
    merged.load_state_dict(merged_state)
    return merged


def merge_latents(
    latents: torch.Tensor,
    mask: torch.Tensor,
    method: str = "mean",
    weights: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Merge frequency-domain latents ``[B, M, L, d]`` per sample over present blocks ``[B, M]``.

    Rows of absent blocks are ignored (they may hold anything finite or not). A sample with no
    present block gets zeros (callers substitute a prior).

    Args:
        latents: Packed frequency-domain latents of M blocks.
        mask: ``[B, M]`` bool, True where the sample has the block's modality.
        method: ``sum``, ``mean`` or ``harmonic`` (see the module notes).
        weights: Optional non-negative per-block weights ``[M]`` (default equal).

    Examples:
        >>> lat = torch.stack([torch.ones(1, 2, 1), 3 * torch.ones(1, 2, 1)], dim=1)
        >>> both, first = torch.tensor([[True, True]]), torch.tensor([[True, False]])
        >>> merge_latents(lat, both, "mean").flatten().tolist()
        [2.0, 2.0]
        >>> merge_latents(lat, first, "sum").flatten().tolist()
        [1.0, 1.0]
        >>> [round(v, 4) for v in merge_latents(lat, both, "harmonic").flatten().tolist()]
        [1.5, 1.5]
    """
    if method not in LATENT_MERGES:
        raise InputError(f"unknown latent merge {method!r}; choose one of {LATENT_MERGES}")
    if latents.ndim != 4 or tuple(mask.shape) != tuple(latents.shape[:2]):
        raise InputError(
            f"latents must be [B, M, L, d] with a [B, M] mask, got {tuple(latents.shape)} "
            f"and {tuple(mask.shape)}"
        )
    m = latents.shape[1]
    if weights is None:
        w = torch.ones(m, dtype=latents.dtype, device=latents.device)
    else:
        w = torch.as_tensor(weights, dtype=latents.dtype, device=latents.device)
        if w.shape != (m,) or bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
            raise InputError(f"need {m} non-negative finite weights, got {w.tolist()}")
    mask = mask.to(device=latents.device, dtype=torch.bool)
    latents = torch.where(mask[:, :, None, None], latents, torch.zeros_like(latents))
    latents = torch.nan_to_num(latents)
    wm = (w[None, :] * mask.to(latents.dtype))[:, :, None, None]  # [B, M, 1, 1]
    if method == "sum":
        return (wm * latents).sum(1)
    total = wm.sum(1).clamp_min(_EPS)
    if method == "mean":
        return (wm * latents).sum(1) / total
    n = latents.shape[-2]
    # absent rows get weight 0; ones (not zeros) keep |z| differentiable there
    safe = torch.where(mask[:, :, None, None], latents, torch.ones_like(latents))
    safe = safe if safe.dtype == torch.float64 else safe.float()
    spectrum = packed_to_complex(safe)  # [B, M, K, d]
    magnitude = spectrum.abs()
    wmf = wm.to(safe.dtype)
    harmonic = total.to(safe.dtype) / (wmf / (magnitude + _EPS)).sum(1).clamp_min(_EPS)
    harmonic = torch.where(wmf.sum(1) > 0, harmonic, torch.zeros_like(harmonic))
    unit = spectrum / (magnitude + _EPS)
    resultant = (wmf * unit).sum(1)
    size = resultant.abs()
    phase = torch.where(size > 1e-9, resultant / size.clamp_min(1e-9), torch.ones_like(resultant))
    return complex_to_packed(harmonic * phase, n).to(latents.dtype)


def _rows(x: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of a tensor or a list (raw inputs of encoder blocks)."""
    if isinstance(x, torch.Tensor):
        return x.index_select(0, index.to(x.device))
    return [x[int(i)] for i in index.tolist()]


class LegoFusion(Fusion):
    """Shared machinery of LegoMerge and LegoFuse: one LegoBlock per modality.

    Args:
        embed_dims: Modality → input feature size (each block's ``in_dim``).
        out_dim: Pooled size = every block's ``latent_dim``.
        blocks: Trained blocks per modality; None builds fresh ones from ``block_kwargs``
            (e.g. for a registry contract test or training from scratch).
        copy_blocks: Deep-copy the given blocks (the originals stay untouched by fine-tuning).
        head_merge: ``slerp`` or ``linear`` merge of the blocks' heads into ``merged_head``.
        weights: Optional modality → non-negative weight for the latent and head merges.
        **block_kwargs: :class:`LegoBlock` arguments for fresh blocks (``head=int`` gives every
            block an ``nn.Linear`` head).

    Examples:
        >>> LegoFusion({"a": 3, "b": 5}, out_dim=8, num_latents=4).blocks["b"].in_dim
        5
    """

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        *,
        blocks: Mapping[str, LegoBlock] | None = None,
        copy_blocks: bool = True,
        head_merge: str = "slerp",
        weights: Mapping[str, float] | None = None,
        **block_kwargs: Any,
    ) -> None:
        super().__init__(embed_dims, out_dim)
        if blocks is None:
            blocks = {
                m: LegoBlock(d, latent_dim=self.out_dim, name=m, **block_kwargs)
                for m, d in self.embed_dims.items()
            }
        elif block_kwargs:
            raise InputError(f"block arguments {sorted(block_kwargs)} given with trained blocks")
        elif copy_blocks:
            blocks = {m: copy.deepcopy(b) for m, b in blocks.items()}
        if set(blocks) != set(self.modalities):
            raise InputError(
                f"blocks for {sorted(blocks)}, but modalities are {sorted(self.modalities)}"
            )
        for m, block in blocks.items():
            if not isinstance(block, LegoBlock):
                raise InputError(
                    f"modality {m!r}: expected a LegoBlock, got {type(block).__name__}"
                )
            if block.in_dim != self.embed_dims[m]:
                raise InputError(
                    f"modality {m!r}: block in_dim {block.in_dim}, embed_dim {self.embed_dims[m]}"
                )
        self.blocks = nn.ModuleDict({m: blocks[m] for m in self.modalities})
        num_latents, latent_dim = check_compatible(list(self.blocks.values()))
        if latent_dim != self.out_dim:
            raise InputError(f"blocks have latent_dim {latent_dim}, but out_dim is {self.out_dim}")
        self.num_latents = num_latents
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.modalities))
        if unknown:
            raise InputError(f"weights for unknown modalities {unknown}")
        self.weights = [float(weights.get(m, 1.0)) for m in self.modalities]
        _normalised_weights(self.weights, len(self.weights))
        heads = [b.head for b in self.blocks.values()]
        if head_merge not in HEAD_MERGES:
            raise InputError(f"unknown head merge {head_merge!r}; choose one of {HEAD_MERGES}")
        self.head_merge = head_merge
        self.merged_head: nn.Module | None = (
            merge_heads(heads, head_merge, self.weights)
            if all(h is not None for h in heads)
            else None
        )

    @classmethod
    def from_blocks(cls, blocks: Mapping[str, LegoBlock], **kwargs: Any) -> LegoFusion:
        """Build from trained blocks; ``embed_dims`` and ``out_dim`` are read off the blocks.

        Examples:
            >>> blocks = {"a": LegoBlock(3, latent_dim=4), "b": LegoBlock(2, latent_dim=4)}
            >>> fusion = LegoFusion.from_blocks(blocks)
            >>> fusion.embed_dims, fusion.out_dim
            ({'a': 3, 'b': 2}, 4)
        """
        if not blocks:
            raise InputError("from_blocks needs at least one LegoBlock")
        _, latent_dim = check_compatible(list(blocks.values()))
        embed_dims = {m: b.in_dim for m, b in blocks.items()}
        return cls(embed_dims, latent_dim, blocks=blocks, **kwargs)

    def masks(
        self, embeddings: Mapping[str, Any], present: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """``[B]`` mask per modality; feature sizes are checked only for blocks without encoder.

        Raises:
            InputError: On unknown modalities, unequal batch sizes, wrong sizes or masks.

        Examples:
            >>> f = LegoFusion({"a": 2, "b": 3}, out_dim=4, num_latents=2)
            >>> m = f.masks({"a": torch.zeros(2, 2)}, {})
            >>> m["a"].tolist(), m["b"].tolist()
            ([True, True], [False, False])
        """
        if not embeddings:
            raise InputError("no modality given: the batch size is unknown")
        unknown = sorted(set(embeddings) - set(self.modalities))
        if unknown:
            raise InputError(f"unknown modalities {unknown}; this fusion takes {self.modalities}")
        sizes = {len(x) for x in embeddings.values()}
        if len(sizes) != 1:
            raise InputError(f"modalities have different batch sizes: {sorted(sizes)}")
        batch = sizes.pop()
        device = self.blocks[self.modalities[0]].latent.device
        out = {}
        for m in self.modalities:
            if m not in embeddings:
                out[m] = torch.zeros(batch, dtype=torch.bool, device=device)
                continue
            x = embeddings[m]
            if self.blocks[m].encoder is None and x.shape[-1] != self.embed_dims[m]:
                raise InputError(
                    f"modality {m!r}: embedding size {x.shape[-1]}, expected {self.embed_dims[m]}"
                )
            mask = present.get(m)
            if mask is None:
                mask = torch.ones(batch, dtype=torch.bool, device=device)
            elif tuple(mask.shape) != (batch,):
                raise InputError(
                    f"modality {m!r}: present mask shape {tuple(mask.shape)}, expected {(batch,)}"
                )
            out[m] = mask.to(device=device, dtype=torch.bool)
        return out

    def _encode(
        self,
        modality: str,
        x: Any,
        mask: torch.Tensor,
        token_masks: Mapping[str, torch.Tensor] | None,
        latent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Block output for the present rows only: ``(row indices, [n, L, d])``, or None."""
        index = mask.nonzero().squeeze(1)
        if index.numel() == 0:
            return None
        token_mask = None if token_masks is None else token_masks.get(modality)
        sub_mask = None if token_mask is None else _rows(token_mask, index)
        sub_latent = None if latent is None else latent.index_select(0, index)
        return index, self.blocks[modality].encode(_rows(x, index), sub_mask, sub_latent)

    def prior_frequency(self) -> torch.Tensor:
        """Frequency-domain mean of the blocks' learned latents ``[L, d]`` (no-modality prior).

        Examples:
            >>> LegoFusion({"a": 2}, out_dim=4, num_latents=3).prior_frequency().shape
            torch.Size([3, 4])
        """
        mean = torch.stack([b.latent for b in self.blocks.values()]).mean(0)
        return to_frequency(mean) if self.blocks[self.modalities[0]].frequency_domain else mean


@FUSIONS.register("lego_merge")
class LegoMerge(LegoFusion):
    """MM-Lego merge: per-sample merge of the present blocks' frequency-domain latents.

    ``forward(embeddings, present, token_masks=None)`` returns the pooled merged
    representation ``[B, out_dim]``; apply :attr:`merged_head` (the blocks' heads merged by
    SLERP or linearly) to it, or any other head. Nothing here needs paired multimodal data.

    Args:
        embed_dims: Modality → input feature size.
        out_dim: Pooled size (= the blocks' ``latent_dim``).
        latent_merge: ``sum``, ``mean`` (default) or ``harmonic``.
        **kwargs: :class:`LegoFusion` arguments (``blocks``, ``head_merge``, ``weights``,
            block arguments for fresh blocks).

    Examples:
        >>> fusion = FUSIONS.build("lego_merge", embed_dims={"a": 3, "b": 4}, out_dim=8)
        >>> x = {"a": torch.randn(2, 3), "b": torch.full((2, 4), float("nan"))}
        >>> out = fusion(x, {"a": torch.tensor([True, True]), "b": torch.tensor([False, False])})
        >>> out.shape, bool(out.isfinite().all())
        (torch.Size([2, 8]), True)
    """

    name = "lego_merge"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        *,
        latent_merge: str = "mean",
        **kwargs: Any,
    ) -> None:
        if latent_merge not in LATENT_MERGES:
            raise InputError(
                f"unknown latent merge {latent_merge!r}; choose one of {LATENT_MERGES}"
            )
        super().__init__(embed_dims, out_dim, **kwargs)
        self.latent_merge = latent_merge

    def merged_latent(
        self,
        embeddings: Mapping[str, Any],
        present: Mapping[str, torch.Tensor],
        token_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The merged frequency-domain latent ``[B, L, d]`` (before pooling).

        Examples:
            >>> fusion = LegoMerge({"a": 3}, out_dim=4, num_latents=5)
            >>> fusion.merged_latent({"a": torch.randn(2, 3)}, {}).shape
            torch.Size([2, 5, 4])
        """
        masks = self.masks(embeddings, present)
        batch = len(next(iter(embeddings.values())))
        prior = self.prior_frequency().float()
        latents = []
        for m in self.modalities:
            full = prior.new_zeros(batch, self.num_latents, self.out_dim)
            if m in embeddings:
                encoded = self._encode(m, embeddings[m], masks[m], token_masks)
                if encoded is not None:
                    index, sub = encoded
                    full = full.index_copy(0, index, sub.float())
            latents.append(full)
        mask = torch.stack([masks[m] for m in self.modalities], dim=1)
        merged = merge_latents(torch.stack(latents, 1), mask, self.latent_merge, self.weights)
        none = ~mask.any(dim=1)
        return torch.where(none[:, None, None], prior.expand_as(merged), merged)

    def forward(
        self,
        embeddings: Mapping[str, Any],
        present: Mapping[str, torch.Tensor],
        token_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Pooled merged representation ``[B, out_dim]``.

        Examples:
            >>> fusion = LegoMerge({"a": 3, "b": 2}, out_dim=4)
            >>> fusion({"a": torch.randn(2, 3)}, {"a": torch.tensor([True, False])}).shape
            torch.Size([2, 4])
        """
        return LegoBlock.pool(self.merged_latent(embeddings, present, token_masks))
