"""MM-Lego (Hemker et al., ICLR 2025): LegoBlock, LegoMerge and LegoFuse for N modalities.

* :class:`~biomm.fusion.lego_block.LegoBlock` wraps any encoder's output (``[B, D]`` or
  ``[B, N, D]`` with a padding mask) in a latent bottleneck updated in the frequency domain,
  with its own head, so that each modality is trained on its own data.
* :class:`~biomm.fusion.lego_merge.LegoMerge` (``lego_merge``) merges N ≥ 2 trained blocks
  with no paired data: per-sample latent merge over the present modalities and SLERP/linear
  head merge.
* :class:`LegoFuse` (``lego_fuse``) builds a model from trained blocks that passes **one shared
  latent** through them — ``stack``: each block's full depth in turn; ``weave``: layer by layer,
  alternating the modalities at every layer — and is then fine-tuned briefly on paired data.
  A sample without a modality skips that block's updates
  (``latent ← m·update + (1 − m)·latent``, computed only on the present rows). The shared
  latent starts at the blocks' mean learned latent (a trainable parameter), and the head
  starts as the merged head of the blocks.

Importing this module registers ``lego_merge`` and ``lego_fuse`` in
:data:`~biomm.registries.FUSIONS`.

Examples:
    >>> import torch
    >>> blocks = {m: LegoBlock(d, latent_dim=8, head=1) for m, d in {"a": 3, "b": 5}.items()}
    >>> fuse = LegoFuse.from_blocks(blocks, mode="weave")
    >>> x = {"a": torch.randn(4, 3), "b": torch.randn(4, 5)}
    >>> present = {"a": torch.tensor([True, True, False, False]),
    ...            "b": torch.tensor([True, False, True, False])}
    >>> fuse.merged_head(fuse(x, present)).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from biomm.errors import InputError
from biomm.fusion.lego_block import (
    LegoBlock,
    from_frequency,
    packed_to_complex,
    to_frequency,
)
from biomm.fusion.lego_merge import (
    LegoFusion,
    LegoMerge,
    _rows,
    merge_heads,
    merge_latents,
    slerp,
    spherical_mean,
)
from biomm.registries import FUSIONS

__all__ = [
    "LegoBlock",
    "LegoFuse",
    "LegoFusion",
    "LegoMerge",
    "from_frequency",
    "merge_heads",
    "merge_latents",
    "packed_to_complex",
    "slerp",
    "spherical_mean",
    "to_frequency",
]

FUSE_MODES = ("stack", "weave")


@FUSIONS.register("lego_fuse")
class LegoFuse(LegoFusion):
    """MM-Lego fusion: one shared latent through the trained blocks, then brief fine-tuning.

    ``forward(embeddings, present, token_masks=None)`` returns the pooled final latent
    ``[B, out_dim]``; :meth:`steps` returns the pooled latent after every block (``stack``) or
    every layer round (``weave``). :attr:`merged_head` (trainable) starts as the blocks' merged
    heads.

    Args:
        embed_dims: Modality → input feature size.
        out_dim: Pooled size (= the blocks' ``latent_dim``).
        mode: ``stack`` or ``weave``.
        order: Order of the modalities (default: ``embed_dims`` order).
        **kwargs: :class:`~biomm.fusion.lego_merge.LegoFusion` arguments (``blocks``,
            ``head_merge``, ``weights``, block arguments for fresh blocks).

    Examples:
        >>> fusion = FUSIONS.build("lego_fuse", embed_dims={"a": 3, "b": 4}, out_dim=8)
        >>> x = {"a": torch.randn(2, 3), "b": torch.randn(2, 4)}
        >>> fusion(x, {"b": torch.tensor([True, False])}).shape
        torch.Size([2, 8])
        >>> len(fusion.steps(x, {}))
        2
    """

    name = "lego_fuse"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        *,
        mode: str = "stack",
        order: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if mode not in FUSE_MODES:
            raise InputError(f"unknown LegoFuse mode {mode!r}; choose one of {FUSE_MODES}")
        super().__init__(embed_dims, out_dim, **kwargs)
        self.mode = mode
        order = tuple(self.modalities if order is None else order)
        if sorted(order) != sorted(self.modalities):
            raise InputError(f"order {list(order)} must list each of {list(self.modalities)} once")
        self.order = order
        start = torch.stack([b.latent.detach() for b in self.blocks.values()]).mean(0)
        self.init_latent = nn.Parameter(start.clone())

    def _start(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.init_latent.unsqueeze(0).expand(batch, -1, -1).float()
        block = self.blocks[self.order[0]]
        return latent, (to_frequency(latent) if block.frequency_domain else latent)

    def steps(
        self,
        embeddings: Mapping[str, Any],
        present: Mapping[str, torch.Tensor],
        token_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Pooled shared latent after every block (stack) or every layer round (weave).

        Examples:
            >>> fusion = LegoFuse({"a": 2, "b": 3, "c": 4}, out_dim=4, mode="weave", depth=3)
            >>> len(fusion.steps({"a": torch.randn(1, 2)}, {}))
            3
        """
        masks = self.masks(embeddings, present)
        batch = len(next(iter(embeddings.values())))
        latent, freq = self._start(batch)
        outputs = []
        if self.mode == "stack":
            for m in self.order:
                if m in embeddings:
                    encoded = self._encode(m, embeddings[m], masks[m], token_masks, latent)
                    if encoded is not None:
                        latent, freq = self._update(m, encoded, latent, freq)
                outputs.append(LegoBlock.pool(freq))
            return outputs
        contexts = {}
        for m in self.order:
            index = masks[m].nonzero().squeeze(1)
            if m in embeddings and index.numel():
                token_mask = None if token_masks is None else token_masks.get(m)
                sub_mask = None if token_mask is None else token_mask.index_select(0, index)
                rows = _rows(embeddings[m], index)
                contexts[m] = (index, *self.blocks[m].tokens(rows, sub_mask))
        for j in range(max(b.depth for b in self.blocks.values())):
            for m in self.order:
                if m not in contexts or j >= self.blocks[m].depth:
                    continue
                index, context, cmask = contexts[m]
                sub = self.blocks[m].layer(j, latent.index_select(0, index), context, cmask)
                latent, freq = self._update(m, (index, sub), latent, freq)
            outputs.append(LegoBlock.pool(freq))
        return outputs

    def _update(
        self,
        modality: str,
        encoded: tuple[torch.Tensor, torch.Tensor],
        latent: torch.Tensor,
        freq: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a block's output into the present rows of the shared state."""
        index, sub = encoded
        sub = sub.float()
        freq = freq.index_copy(0, index, sub)
        latent = latent.index_copy(0, index, self.blocks[modality].to_latent(sub))
        return latent, freq

    def forward(
        self,
        embeddings: Mapping[str, Any],
        present: Mapping[str, torch.Tensor],
        token_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Pooled final shared latent ``[B, out_dim]``.

        Examples:
            >>> fusion = LegoFuse({"a": 2, "b": 3}, out_dim=4)
            >>> fusion({"a": torch.randn(3, 2)}, {}).shape
            torch.Size([3, 4])
        """
        return self.steps(embeddings, present, token_masks)[-1]
