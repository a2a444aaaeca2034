"""A transformer over EHR table cells that never sees the values of unobserved cells.

TIP-style tokenisation (Du et al., "TIP: Tabular-Image Pre-training for Multimodal
Classification with Incomplete Data", ECCV 2024): one token per column —

* a categorical cell is looked up in **one** embedding table, each column owning its own rows
  (per-column offsets; code 0 of every column means *unknown category*);
* a continuous cell goes through one shared ``Linear(1, dim)``;
* a learned column embedding is added to every token (so columns are told apart);
* an **unobserved** cell's token is replaced by a learned mask token (plus its column
  embedding), **and** the attention hides it as a key: no token ever attends to it. The
  outputs therefore do not depend on what an unobserved cell holds (NaN included), and the
  masked tokens are still queries, so their outputs can reconstruct the hidden values
  (:mod:`biomm.ehr.pretrain`).

A CLS token (always visible) summarises the row: a row with every cell unobserved gives a CLS
that attends only to itself — a defined, finite embedding. ``skip=True`` adds a linear path
(``Σ_observed w_col · x`` for numbers, a per-code vector for categories) to the CLS output,
so that a linear head on top contains the classic linear model.

Inputs are what :class:`biomm.io.ehr.EHRPreprocessor` produces: ``values`` float ``[B, C]``
(categorical codes as whole numbers, standardised numbers) and ``observed`` bool ``[B, C]``.

Examples:
    >>> import torch
    >>> enc = TabularTransformer(cardinalities=[0, 3, 0], dim=16, depth=1, heads=2)
    >>> values = torch.tensor([[0.5, 2.0, -1.0], [0.0, 1.0, float("nan")]])
    >>> observed = torch.tensor([[True, True, True], [True, True, False]])
    >>> enc.eval()(values, observed).shape, enc.forward_tokens(values, observed).shape
    (torch.Size([2, 16]), torch.Size([2, 3, 16]))
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm.encoders.base import Encoder, load_weights_into
from biomm.errors import InputError
from biomm.registries import ENCODERS


class MaskedSelfAttentionBlock(nn.Module):
    """Pre-norm transformer block whose keys are restricted by a ``[B, T]`` boolean mask.

    Args:
        dim: Token size.
        heads: Attention heads (``dim`` must be divisible by it).
        dropout: Dropout on attention weights and on both residual branches.
        mlp_ratio: Hidden size of the feed-forward part, in multiples of ``dim``.

    Examples:
        >>> block = MaskedSelfAttentionBlock(8, 2).eval()
        >>> x = torch.randn(1, 3, 8); keep = torch.tensor([[True, True, False]])
        >>> y = block(x, keep)
        >>> x2 = x.clone(); x2[0, 2] = 99.0  # a hidden key changes only its own output
        >>> torch.allclose(block(x2, keep)[:, :2], y[:, :2])
        True
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, mlp_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise InputError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.dropout = float(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_ratio * dim, dim),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, T, D]``; ``keep`` ``[B, T]`` True where a token may be attended to."""
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=keep[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + self.drop(self.out(y.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


@ENCODERS.register("tabular_transformer")
class TabularTransformer(Encoder):
    """Transformer over table cells (TIP-style), robust to unobserved cells.

    Args:
        cardinalities: Per column, 0 for a number or ``k`` for a categorical with codes
            ``0..k-1`` (``EHRPreprocessor.cardinalities``).
        dim: Token size.
        depth: Transformer blocks.
        heads: Attention heads.
        dropout: Dropout inside the blocks.
        out_dim: Optional linear projection of the CLS output (``embed_dim``); default
            ``dim``.
        skip: Add a linear path over the observed cells to the CLS output.
        columns: Column names, recorded for provenance (and checked against ``C``).
        preprocessor_fingerprint: The fitted preprocessor's fingerprint, for provenance.
        weights: Optional local weight file (safetensors; a PyTorch pickle only with
            ``trust_pickle``) of this layout.
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).

    Examples:
        >>> from biomm.encoders import build_encoder
        >>> enc = build_encoder("tabular_transformer", cardinalities=[0, 4], dim=8, depth=1,
        ...                     heads=2, out_dim=6).eval()
        >>> values = torch.tensor([[1.0, 3.0], [123.0, 1.0]])
        >>> out = enc(values, torch.tensor([[True, True], [False, True]]))
        >>> other = values.clone(); other[1, 0] = -5.0  # an unobserved value does not matter
        >>> out.shape, torch.equal(enc(other, torch.tensor([[True, True], [False, True]])), out)
        (torch.Size([2, 6]), True)
    """

    name = "tabular_transformer"
    modality = "tabular"

    def __init__(
        self,
        cardinalities: Sequence[int],
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        dropout: float = 0.1,
        out_dim: int | None = None,
        skip: bool = False,
        columns: Sequence[str] | None = None,
        preprocessor_fingerprint: str | None = None,
        weights: str | PathLike[str] | None = None,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        cards = [int(k) for k in cardinalities]
        if not cards or any(k < 0 for k in cards):
            raise InputError(
                f"cardinalities must be a non-empty list of counts >= 0, got {list(cardinalities)}"
            )
        if dim < 1 or depth < 0 or heads < 1 or dim % heads:
            raise InputError(f"dim {dim} must be positive and divisible by heads {heads}")
        if columns is not None and len(columns) != len(cards):
            raise InputError(f"{len(columns)} column names for {len(cards)} cardinalities")
        self.cardinalities = cards
        self.columns = None if columns is None else [str(c) for c in columns]
        self.preprocessor_fingerprint = preprocessor_fingerprint
        self.dim, self.depth, self.heads, self.skip = int(dim), int(depth), int(heads), bool(skip)
        self.dropout_rate = float(dropout)
        n = len(cards)
        cat = [j for j, k in enumerate(cards) if k > 0]
        num = [j for j, k in enumerate(cards) if k == 0]
        offsets, total = [], 0
        for j in cat:
            offsets.append(total)
            total += cards[j]
        self.register_buffer("cat_index", torch.tensor(cat, dtype=torch.long), persistent=False)
        self.register_buffer("num_index", torch.tensor(num, dtype=torch.long), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.register_buffer(
            "cat_sizes", torch.tensor([cards[j] for j in cat], dtype=torch.long), persistent=False
        )
        # tokens are built as [numbers..., categories...]; this permutation restores C order
        order = torch.argsort(torch.tensor(num + cat, dtype=torch.long))
        self.register_buffer("order", order, persistent=False)
        self.category_embed = nn.Embedding(max(total, 1), dim)
        self.number_embed = nn.Linear(1, dim)
        self.column_embed = nn.Parameter(torch.zeros(n, dim))
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.cls_token = nn.Parameter(torch.zeros(dim))
        for p in (self.column_embed, self.mask_token, self.cls_token):
            nn.init.trunc_normal_(p, std=0.02)
        nn.init.trunc_normal_(self.category_embed.weight, std=0.02)
        self.blocks = nn.ModuleList(
            [MaskedSelfAttentionBlock(dim, heads, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        if self.skip:
            self.skip_number = nn.Parameter(torch.zeros(n, dim))
            self.skip_category = nn.Embedding(max(total, 1), dim)
            nn.init.zeros_(self.skip_category.weight)
        self.proj: nn.Module = nn.Identity() if out_dim is None else nn.Linear(dim, int(out_dim))
        self.embed_dim = int(out_dim) if out_dim is not None else int(dim)
        self.weights = "random-init"
        if weights is not None:
            self.weights_sha256 = load_weights_into(
                self,
                weights,
                name=self.name,
                ignore_prefix="reconstruction.",
                trust_pickle=trust_pickle,
            )
            self.weights = str(weights)

    @property
    def n_columns(self) -> int:
        """Number of input columns ``C``."""
        return len(self.cardinalities)

    def _inputs(
        self, values: torch.Tensor, observed: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Checked ``(clean values, observed, category rows)``; unobserved values → 0."""
        if values.ndim != 2 or values.shape[1] != self.n_columns:
            raise InputError(
                f"tabular values must be [B, {self.n_columns}], got {list(values.shape)}"
            )
        values = values.float()
        if observed is None:
            observed = torch.isfinite(values)
        observed = observed.to(device=values.device, dtype=torch.bool)
        if observed.shape != values.shape:
            raise InputError(
                f"observed mask {list(observed.shape)} does not match values {list(values.shape)}"
            )
        clean = torch.where(observed, values, torch.zeros((), device=values.device))
        if not torch.isfinite(clean).all():
            raise InputError("an observed tabular cell holds NaN or an infinite value")
        codes = clean[:, self.cat_index]
        seen = observed[:, self.cat_index]
        sizes = self.cat_sizes.unsqueeze(0)
        bad = seen & ((codes != codes.round()) | (codes < 0) | (codes >= sizes))
        if bad.any():
            col = int(self.cat_index[bad.any(0).nonzero()[0, 0]])
            name = self.columns[col] if self.columns else f"#{col}"
            raise InputError(
                f"categorical column {name} holds codes outside 0..{self.cardinalities[col] - 1}"
            )
        rows = torch.where(seen, codes.round().long(), torch.zeros_like(codes, dtype=torch.long))
        return clean, observed, rows + self.offsets.unsqueeze(0)

    def forward_features(
        self, values: torch.Tensor, observed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """All token states ``[B, 1 + C, dim]`` (CLS first), after the final norm.

        Args:
            values: ``[B, C]`` float (unobserved cells may hold anything, NaN included).
            observed: ``[B, C]`` bool, True where a cell is observed (default: finite cells).

        Raises:
            InputError: On a wrong shape, a non-finite observed value or a categorical code
                out of range.
        """
        clean, observed, rows = self._inputs(values, observed)
        b = clean.shape[0]
        numbers = self.number_embed(clean[:, self.num_index].unsqueeze(-1))
        categories = self.category_embed(rows)
        tokens = torch.cat([numbers, categories], dim=1)[:, self.order]
        tokens = torch.where(observed.unsqueeze(-1), tokens, self.mask_token.to(tokens.dtype))
        tokens = tokens + self.column_embed
        sequence = torch.cat([self.cls_token.expand(b, 1, -1), tokens], dim=1)
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=clean.device), observed], 1)
        for block in self.blocks:
            sequence = block(sequence, keep)
        return self.norm(sequence)

    def forward_tokens(
        self, values: torch.Tensor, observed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-column token states ``[B, C, dim]`` (for masked-cell reconstruction).

        Examples:
            >>> enc = TabularTransformer([2, 0], dim=8, depth=1, heads=2)
            >>> enc.forward_tokens(torch.zeros(3, 2)).shape
            torch.Size([3, 2, 8])
        """
        return self.forward_features(values, observed)[:, 1:]

    def linear_skip(
        self, values: torch.Tensor, observed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The linear path ``[B, dim]`` over observed cells (zeros when ``skip`` is off).

        Examples:
            >>> TabularTransformer([0], dim=4, heads=2).linear_skip(torch.ones(1, 1)).tolist()
            [[0.0, 0.0, 0.0, 0.0]]
        """
        clean, observed, rows = self._inputs(values, observed)
        if not self.skip:
            return clean.new_zeros(clean.shape[0], self.dim)
        weight = observed.to(clean.dtype)
        numbers = clean[:, self.num_index] * weight[:, self.num_index]
        out = numbers @ self.skip_number[self.num_index]
        categories = self.skip_category(rows) * weight[:, self.cat_index].unsqueeze(-1)
        return out + categories.sum(1)

    def forward(self, values: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """Rows ``[B, C]`` (+ observed mask) → embeddings ``[B, embed_dim]`` (the CLS output)."""
        cls = self.forward_features(values, observed)[:, 0]
        if self.skip:
            cls = cls + self.linear_skip(values, observed)
        return self.proj(cls)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder (plain JSON values).

        Examples:
            >>> TabularTransformer([0, 3], dim=8, heads=2).config()["cardinalities"]
            [0, 3]
        """
        out_dim = None if isinstance(self.proj, nn.Identity) else self.embed_dim
        return {
            "cardinalities": list(self.cardinalities),
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "dropout": self.dropout_rate,
            "out_dim": out_dim,
            "skip": self.skip,
            "columns": self.columns,
            "preprocessor_fingerprint": self.preprocessor_fingerprint,
        }

    def describe(self) -> dict[str, Any]:
        """Provenance including the columns, their cardinalities and the preprocessor."""
        info = super().describe()
        info.update(
            {
                "cardinalities": list(self.cardinalities),
                "columns": self.columns,
                "preprocessor_fingerprint": self.preprocessor_fingerprint,
                "dim": self.dim,
                "depth": self.depth,
                "skip": self.skip,
            }
        )
        return info
