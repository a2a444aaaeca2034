"""Multimodal pretraining objectives for any number of modalities with missing data.

Every objective takes ``embeddings`` (modality → ``[B, D]``, the same ``D`` for all) and
``present`` (modality → ``[B]`` bool; a modality without a mask is present for every sample)
and returns a scalar loss. Rows of absent samples may hold anything, NaN included: they are
selected out before any arithmetic, so they change neither the loss nor any gradient. When
no sample can be used the loss is a zero that still back-propagates.

* :func:`pairwise_infonce`: the CLIP loss (symmetric InfoNCE) averaged over all modality
  pairs, each pair on the samples that have both.
* :func:`symile`: Symile (Saporta et al., NeurIPS 2024), a contrastive loss whose score is the
  multilinear inner product ``<a, b, c> = sum_d a_d b_d c_d`` of all modalities, with O(B)
  negatives per positive.
* :class:`Matryoshka`: wraps any of these and sums (or averages) it over nested embedding
  prefixes, so that stored embeddings can be truncated to any of those sizes.

Examples:
    >>> import torch
    >>> e = torch.eye(4)
    >>> p = torch.ones(4, dtype=torch.bool)
    >>> loss = pairwise_infonce({"ecg": e, "wsi": e}, {"ecg": p, "wsi": p}, temperature=0.05)
    >>> float(loss) < 1e-6
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from biomm.errors import InputError

__all__ = [
    "OBJECTIVES",
    "Matryoshka",
    "infonce",
    "multilinear_inner_product",
    "pairwise_infonce",
    "symile",
]

Temperature = float | torch.Tensor


def _masks(
    embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """``[B]`` bool masks for every embedded modality, with shape checks."""
    if not embeddings:
        raise InputError("no embeddings given")
    shapes = {m: tuple(x.shape) for m, x in embeddings.items()}
    if any(len(s) != 2 for s in shapes.values()):
        raise InputError(f"embeddings must be [B, D], got {shapes}")
    if len({s for s in shapes.values()}) != 1:
        raise InputError(f"embeddings must share one shape [B, D], got {shapes}")
    batch = next(iter(shapes.values()))[0]
    present = present or {}
    out = {}
    for m, x in embeddings.items():
        if m in present:
            mask = torch.as_tensor(present[m]).to(device=x.device, dtype=torch.bool).reshape(-1)
            if mask.shape[0] != batch:
                raise InputError(f"present[{m!r}] has {mask.shape[0]} rows, embeddings {batch}")
        else:
            mask = torch.ones(batch, dtype=torch.bool, device=x.device)
        out[m] = mask
    return out


def _zero(
    embeddings: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """A zero loss connected to the graph through the finite (present) rows only."""
    total = None
    for m, x in embeddings.items():
        term = x[masks[m]].sum() * 0.0
        total = term if total is None else total + term
    assert total is not None
    return total


def _temperature(temperature: Temperature) -> Temperature:
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise InputError("temperature must be a scalar")
        return temperature
    if not temperature > 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    return float(temperature)


def infonce(a: torch.Tensor, b: torch.Tensor, temperature: Temperature = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) loss of paired rows ``a[i] <-> b[i]``, ``[B, D]`` each.

    ``(CE(a b^T / temperature, I) + CE(b a^T / temperature, I)) / 2``; no normalisation here.

    Examples:
        >>> import torch
        >>> a = torch.eye(3) * 10
        >>> round(float(infonce(a, a, 1.0)), 6)
        0.0
    """
    temperature = _temperature(temperature)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def pairwise_infonce(
    embeddings: Mapping[str, torch.Tensor],
    present: Mapping[str, torch.Tensor] | None = None,
    temperature: Temperature = 0.07,
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """CLIP loss averaged over all modality pairs, each pair on its jointly present samples.

    Args:
        embeddings: Modality → ``[B, D]``.
        present: Modality → ``[B]`` bool (missing key: present everywhere).
        temperature: Softmax temperature (a float, or a learnable scalar tensor).
        normalize: L2-normalise each embedding first (cosine similarity, as in CLIP).

    Returns:
        The mean over pairs with at least two shared samples (a pair with one has no
        negative and is skipped); a graph-connected zero when no pair qualifies. For random
        embeddings it is about ``log(B)``; for identical, well-separated ones about 0.

    Raises:
        InputError: On shapes that differ or a non-positive temperature.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> e = {m: torch.randn(64, 256, generator=g) for m in ("a", "b", "c")}
        >>> loss = pairwise_infonce(e, temperature=1.0)
        >>> abs(float(loss) - torch.log(torch.tensor(64.0)).item()) < 0.1
        True
    """
    masks = _masks(embeddings, present)
    losses = []
    for m1, m2 in itertools.combinations(embeddings, 2):
        both = masks[m1] & masks[m2]
        if int(both.sum()) < 2:
            continue
        a, b = embeddings[m1][both], embeddings[m2][both]
        if normalize:
            a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        losses.append(infonce(a, b, temperature))
    if not losses:
        return _zero(embeddings, masks)
    return torch.stack(losses).mean()


def multilinear_inner_product(*vectors: torch.Tensor) -> torch.Tensor:
    """``sum_d prod_m v_m[..., d]``: the multilinear inner product of ``[..., D]`` tensors.

    With two vectors this is the dot product.

    Examples:
        >>> import torch
        >>> a, b, c = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([5.0, 6.0])
        >>> float(multilinear_inner_product(a, b, c))  # 1*3*5 + 2*4*6
        63.0
    """
    if not vectors:
        raise InputError("the multilinear inner product needs at least one vector")
    product = vectors[0]
    for v in vectors[1:]:
        product = product * v
    return product.sum(-1)


def symile(
    embeddings: Mapping[str, torch.Tensor],
    present: Mapping[str, torch.Tensor] | None = None,
    temperature: Temperature = 0.07,
    *,
    normalize: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Symile loss with O(B) negatives (Saporta et al., NeurIPS 2024).

    Uses the samples that have every modality in ``embeddings``. Each modality in turn is the
    anchor: for anchor ``x`` and the others ``y, z, ...``, the logit of row ``i`` and column
    ``j`` is ``<x_i, y_j, z_{s(j)}, ...> / temperature``, where the first non-anchor modality
    keeps the batch order and each further one is shuffled by its own random permutation
    ``s``; the diagonal is replaced by the positive ``<x_i, y_i, z_i, ...>``. The loss is the
    cross-entropy of the diagonal, averaged over anchors. This is the paper's O(N) scheme
    (negatives are products of rows of different samples; a shuffled row can rarely coincide
    with the positive), except that one non-anchor is left unshuffled: with two modalities
    Symile then **is** the CLIP loss (:func:`infonce`), exactly.

    Args:
        embeddings: Modality → ``[B, D]``; at least two modalities.
        present: Modality → ``[B]`` bool (missing key: present everywhere).
        temperature: Softmax temperature (a float, or a learnable scalar tensor; the paper
            learns ``exp(logit_scale) = 1 / temperature``).
        normalize: L2-normalise each embedding first. The reference implementation scores
            raw (LayerNorm-ed) encoder outputs, hence the default False.
        generator: Random generator of the permutations (default: torch's global one).

    Returns:
        The loss; a graph-connected zero with fewer than two complete samples.

    Raises:
        InputError: On fewer than two modalities, shapes that differ or a bad temperature.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> e = {m: torch.randn(8, 16, generator=g) for m in ("a", "b")}
        >>> torch.allclose(symile(e, temperature=0.5), infonce(e["a"], e["b"], 0.5))
        True
    """
    if len(embeddings) < 2:
        raise InputError(f"Symile needs at least two modalities, got {list(embeddings)}")
    masks = _masks(embeddings, present)
    complete = torch.stack(list(masks.values())).all(0)
    if int(complete.sum()) < 2:
        return _zero(embeddings, masks)
    temperature = _temperature(temperature)
    reps = [x[complete] for x in embeddings.values()]
    if normalize:
        reps = [F.normalize(r, dim=-1) for r in reps]
    batch = reps[0].shape[0]
    device = reps[0].device
    target = torch.arange(batch, device=device)
    eye = torch.eye(batch, dtype=torch.bool, device=device)
    positive = multilinear_inner_product(*reps)  # [B]
    losses = []
    for k, anchor in enumerate(reps):
        others = [r for j, r in enumerate(reps) if j != k]
        negatives = others[0]
        for r in others[1:]:
            perm = torch.randperm(batch, generator=generator).to(device)
            negatives = negatives * r[perm]
        logits = torch.where(eye, positive[:, None], anchor @ negatives.T) / temperature
        losses.append(F.cross_entropy(logits, target))
    return torch.stack(losses).mean()


class Matryoshka:
    """Sum (or mean) of a loss over nested embedding prefixes (Matryoshka representations).

    For each size ``d`` in ``dims`` the wrapped loss sees ``{m: e[:, :d]}`` (re-normalised to
    unit length when ``normalize``), so every prefix is trained to be a usable embedding on
    its own; stored embeddings can then be truncated to any of these sizes.

    Args:
        loss_fn: ``loss_fn(embeddings, present, *args, **kwargs) -> scalar``, e.g.
            :func:`pairwise_infonce` or :func:`symile`.
        dims: Increasing prefix sizes, e.g. ``(32, 64, 128, 256)``; all at most ``D``.
        weights: Optional weight per prefix (default 1).
        reduction: ``"sum"`` or ``"mean"`` (weighted mean) over prefixes.
        normalize: L2-normalise each prefix before the loss.

    Raises:
        InputError: On empty, non-increasing or non-positive ``dims``, weights of another
            length, an unknown reduction, or a prefix longer than the embeddings.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> e = {m: torch.randn(16, 64, generator=g) for m in ("a", "b")}
        >>> mat = Matryoshka(pairwise_infonce, dims=(16, 64))
        >>> total = mat(e, None, temperature=0.1)
        >>> parts = mat.per_dim(e, None, temperature=0.1)
        >>> torch.allclose(total, parts[16] + parts[64])
        True
    """

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        dims: Sequence[int] = (32, 64, 128, 256),
        *,
        weights: Sequence[float] | None = None,
        reduction: str = "sum",
        normalize: bool = True,
    ) -> None:
        dims = [int(d) for d in dims]
        if not dims or dims[0] <= 0 or any(b <= a for a, b in itertools.pairwise(dims)):
            raise InputError(f"dims must be positive and strictly increasing, got {dims}")
        if weights is not None and len(weights) != len(dims):
            raise InputError(f"{len(weights)} weights for {len(dims)} dims")
        if reduction not in ("sum", "mean"):
            raise InputError(f"unknown reduction {reduction!r}; use 'sum' or 'mean'")
        self.loss_fn = loss_fn
        self.dims = tuple(dims)
        self.weights = tuple(float(w) for w in weights) if weights is not None else None
        self.reduction = reduction
        self.normalize = normalize

    def _prefixes(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor] | None
    ) -> dict[int, dict[str, torch.Tensor]]:
        masks = _masks(embeddings, present)
        width = next(iter(embeddings.values())).shape[1]
        if self.dims[-1] > width:
            raise InputError(f"prefix size {self.dims[-1]} exceeds the embedding size {width}")
        # absent rows → 0 (torch.where: their NaN cannot leak into values or gradients)
        clean = {
            m: torch.where(masks[m][:, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            for m, x in embeddings.items()
        }
        out = {}
        for d in self.dims:
            prefix = {m: x[:, :d] for m, x in clean.items()}
            if self.normalize:
                prefix = {m: F.normalize(x, dim=-1) for m, x in prefix.items()}
            out[d] = prefix
        return out

    def per_dim(
        self,
        embeddings: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> dict[int, torch.Tensor]:
        """The unweighted loss of every prefix size."""
        masks = _masks(embeddings, present)
        return {
            d: self.loss_fn(prefix, masks, *args, **kwargs)
            for d, prefix in self._prefixes(embeddings, present).items()
        }

    def __call__(
        self,
        embeddings: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The weighted sum (or mean) of the loss over the prefix sizes."""
        parts = self.per_dim(embeddings, present, *args, **kwargs)
        weights = self.weights or (1.0,) * len(self.dims)
        total = sum(w * parts[d] for w, d in zip(weights, self.dims, strict=True))
        assert isinstance(total, torch.Tensor)
        if self.reduction == "mean":
            total = total / sum(weights)
        return total

    def __repr__(self) -> str:
        name = getattr(self.loss_fn, "__name__", type(self.loss_fn).__name__)
        return f"Matryoshka({name}, dims={self.dims}, reduction={self.reduction!r})"


#: Objectives by name, for configuration files: ``loss_fn(embeddings, present, temperature)``.
OBJECTIVES: dict[str, Callable[..., torch.Tensor]] = {
    "infonce": pairwise_infonce,
    "symile": symile,
}
