"""MM-Lego's LegoBlock: any encoder's output → a latent bottleneck updated in the frequency domain.

A :class:`LegoBlock` (Hemker et al., "Multimodal Lego", ICLR 2025) turns the output of any
unimodal encoder — a ``[B, D]`` embedding or a ``[B, N, D]`` token sequence such as tile
features, with a ``[B, N]`` padding mask — into a fixed-shape latent array ``[B, L, d]``. A
learned latent array is refined over ``depth`` layers; in every layer the latent is moved to the
frequency domain with a discrete Fourier transform over the latent axis, updated there by
cross-attention to the input tokens, a feed-forward layer and ``self_layers`` self-attention
layers, and moved back (except after the last layer: the block's output stays in the frequency
domain, where the latents of different blocks are merged).

**Frequency representation.** The latent is real, so its spectrum along the latent axis is
Hermitian and ``L`` real numbers per feature describe it completely. :func:`to_frequency`
packs the orthonormal real FFT (``torch.fft.rfft(..., norm="ortho")``) into exactly ``L`` real
rows — the DC bin, the real parts of the other bins, the Nyquist bin (even ``L``), then their
imaginary parts — scaled so that the map is orthogonal (norms are preserved), and
:func:`from_frequency` inverts it exactly. Packing keeps every real and imaginary component
that the inverse transform uses (the reference code keeps only the real part for the update
and re-attaches the imaginary part afterwards); :func:`packed_to_complex` gives the complex
spectrum for merges that need magnitudes and phases.

**Pooled representation.** :meth:`LegoBlock.pool` averages the frequency-domain latent over
its rows and applies a layer norm without parameters, so it is the same function for every
block: a merged latent can be pooled exactly like a single block's latent, and a sum of ``N``
latents is rescaled automatically. The block's task head (``nn.Linear`` or a
:class:`biomm.heads.base.Head`) reads this ``[B, latent_dim]`` vector, so each block can be
trained on its own modality.

**Shared initialisation.** Every part of a block whose shape does not depend on the input size
(latent array, attention and feed-forward layers, head) is initialised from a private random
generator seeded with ``shared_seed`` (default 0), so blocks of different modalities start from
the same point in latent and head space. Weight-space merging is known to work best from a
common initialisation (model soups, linear mode connectivity); pass ``shared_seed=None`` to draw
from the global generator instead.

Examples:
    >>> import torch
    >>> block = LegoBlock(6, latent_dim=8, num_latents=4, head=1)
    >>> z = block(torch.randn(3, 6))
    >>> z.shape, block.head(z).shape
    (torch.Size([3, 8]), torch.Size([3, 1]))
    >>> tiles = LegoBlock(5, latent_dim=8, num_latents=4)
    >>> mask = torch.tensor([[True, True, False], [True, False, False]])
    >>> tiles(torch.randn(2, 3, 5), token_mask=mask).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm.errors import InputError

_SQRT2 = math.sqrt(2.0)


def _pair_count(n: int) -> int:
    """Number of frequency bins with both a real and an imaginary part for length ``n``."""
    return (n - 1) // 2


def complex_to_packed(spectrum: torch.Tensor, n: int) -> torch.Tensor:
    """Pack a one-sided complex spectrum ``[..., n // 2 + 1, d]`` into ``[..., n, d]`` reals.

    Rows: DC, ``√2·Re`` of bins ``1..(n-1)//2``, Nyquist (even ``n``), then ``√2·Im`` of the
    same bins. The imaginary parts of DC and Nyquist are dropped (zero for a real signal).

    Args:
        spectrum: Complex one-sided spectrum along axis ``-2``.
        n: Length of the real signal it came from.

    Returns:
        Real tensor with ``n`` rows along axis ``-2``.

    Examples:
        >>> spec = torch.fft.rfft(torch.arange(4.0).view(4, 1), dim=-2, norm="ortho")
        >>> complex_to_packed(spec, 4).squeeze(-1)
        tensor([ 3.0000, -1.4142, -1.0000,  1.4142])
    """
    if spectrum.shape[-2] != n // 2 + 1:
        raise InputError(
            f"a spectrum of a length-{n} signal has {n // 2 + 1} bins, got {spectrum.shape[-2]}"
        )
    pairs = _pair_count(n)
    parts = [spectrum[..., :1, :].real, spectrum[..., 1 : 1 + pairs, :].real * _SQRT2]
    if n % 2 == 0:
        parts.append(spectrum[..., n // 2 : n // 2 + 1, :].real)
    parts.append(spectrum[..., 1 : 1 + pairs, :].imag * _SQRT2)
    return torch.cat(parts, dim=-2)


def packed_to_complex(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`complex_to_packed`: ``[..., n, d]`` reals → ``[..., n // 2 + 1, d]``.

    Examples:
        >>> x = torch.randn(5, 3)
        >>> spec = torch.fft.rfft(x, dim=-2, norm="ortho")
        >>> torch.allclose(packed_to_complex(complex_to_packed(spec, 5)), spec, atol=1e-6)
        True
    """
    n = packed.shape[-2]
    pairs = _pair_count(n)
    dc = packed[..., :1, :]
    real_parts = [dc, packed[..., 1 : 1 + pairs, :] / _SQRT2]
    imag_parts = [torch.zeros_like(dc), packed[..., n - pairs :, :] / _SQRT2]
    if n % 2 == 0:
        real_parts.append(packed[..., 1 + pairs : 2 + pairs, :])
        imag_parts.append(torch.zeros_like(dc))
    return torch.complex(torch.cat(real_parts, dim=-2), torch.cat(imag_parts, dim=-2))


def _fft_dtype(x: torch.Tensor) -> torch.Tensor:
    """Float32 for half-precision inputs (FFTs in half precision are not generally supported)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def to_frequency(latent: torch.Tensor) -> torch.Tensor:
    """Orthonormal real DFT of ``latent`` ``[..., L, d]`` over the latent axis, packed (``L`` rows).

    Half-precision inputs are transformed in float32 (FFTs in half precision are not generally
    supported); the result has the input's dtype.

    Examples:
        >>> x = torch.randn(2, 6, 3)
        >>> f = to_frequency(x)
        >>> f.shape, torch.allclose(f.norm(), x.norm(), atol=1e-5)
        (torch.Size([2, 6, 3]), True)
        >>> to_frequency(torch.ones(4, 1)).squeeze(-1)  # a constant is pure DC
        tensor([2., 0., 0., 0.])
    """
    if latent.ndim < 2:
        raise InputError(f"a latent needs shape [..., L, d], got {tuple(latent.shape)}")
    n = latent.shape[-2]
    spectrum = torch.fft.rfft(_fft_dtype(latent), dim=-2, norm="ortho")
    return complex_to_packed(spectrum, n).to(latent.dtype)


def from_frequency(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_frequency` (exact up to rounding).

    Examples:
        >>> x = torch.randn(2, 7, 3)
        >>> torch.allclose(from_frequency(to_frequency(x)), x, atol=1e-5)
        True
    """
    if packed.ndim < 2:
        raise InputError(f"a latent needs shape [..., L, d], got {tuple(packed.shape)}")
    n = packed.shape[-2]
    spectrum = packed_to_complex(_fft_dtype(packed))
    return torch.fft.irfft(spectrum, n=n, dim=-2, norm="ortho").to(packed.dtype)


class _Attention(nn.Module):
    """Pre-norm multi-head attention; cross-attention when a context is given."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.dropout = dropout
        self.norm_q = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention update of ``x`` ``[B, L, d]`` (no residual); ``mask`` ``[B, N]`` True = key."""
        q_in = self.norm_q(x)
        kv_in = q_in if context is None else self.norm_context(context)
        q = self.to_q(q_in)
        k, v = self.to_kv(kv_in).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.to_out(out.transpose(1, 2).flatten(-2))


class _FeedForward(nn.Module):
    """Pre-norm two-layer GELU MLP (no residual)."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, mult * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mult * dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The update of ``x``."""
        return self.net(x)


class _LegoLayer(nn.Module):
    """One LegoBlock layer: cross-attention + FF, then ``self_layers`` × (self-attention + FF)."""

    def __init__(
        self, dim: int, heads: int, head_dim: int, self_layers: int, mult: int, dropout: float
    ) -> None:
        super().__init__()
        self.cross = _Attention(dim, heads, head_dim, dropout)
        self.cross_ff = _FeedForward(dim, mult, dropout)
        self.self_attn = nn.ModuleList(
            [_Attention(dim, heads, head_dim, dropout) for _ in range(self_layers)]
        )
        self.self_ff = nn.ModuleList([_FeedForward(dim, mult, dropout) for _ in range(self_layers)])

    def forward(
        self, latent: torch.Tensor, context: torch.Tensor, mask: torch.Tensor, empty: torch.Tensor
    ) -> torch.Tensor:
        """Residual updates of ``latent``; ``empty`` rows (no input token) skip cross-attention."""
        update = self.cross(latent, context, mask)
        latent = latent + torch.where(empty[:, None, None], torch.zeros_like(update), update)
        latent = latent + self.cross_ff(latent)
        for attn, ff in zip(self.self_attn, self.self_ff, strict=True):
            latent = latent + attn(latent)
            latent = latent + ff(latent)
        return latent


def _positive(name: str, value: int) -> int:
    if int(value) != value or int(value) <= 0:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class LegoBlock(nn.Module):
    """Wrap an encoder's output in a frequency-domain latent bottleneck with its own task head.

    Args:
        in_dim: Feature size of the input (the encoder's output when ``encoder`` is given).
        latent_dim: Size ``d`` of every latent row; also the pooled output size (``out_dim``).
        num_latents: Number ``L`` of latent rows.
        depth: Number of layers (each: cross-attention in the frequency domain + FF + self
            layers).
        self_layers: Self-attention layers per layer.
        num_heads: Attention heads.
        head_dim: Size of each attention head (default ``max(8, latent_dim // num_heads)``).
        tokens_per_input: Each input vector is projected to this many latent-sized tokens, so
            that cross-attention is not degenerate for a single ``[B, D]`` embedding.
        ff_mult: Hidden size of the feed-forward layers, in multiples of ``latent_dim``.
        dropout: Dropout in attention and feed-forward layers.
        frequency_domain: False updates the latent in the original domain (an ablation).
        encoder: Optional module applied to raw inputs first; anything that returns ``[B, D]``
            or ``[B, N, D]`` with ``D == in_dim`` (its last layer does not matter).
        head: Task head on the pooled representation: an ``int`` (number of outputs of a new
            ``nn.Linear``), any module reading ``[B, latent_dim]`` (e.g. a biomm head), or None.
        shared_seed: Seed for the shape-independent parameters (see the module notes), or None.
        name: Optional label (e.g. the modality).

    Examples:
        >>> block = LegoBlock(4, latent_dim=8, num_latents=6, depth=1, head=2)
        >>> freq = block.encode(torch.randn(5, 4))
        >>> freq.shape, block.pool(freq).shape, block.out_dim
        (torch.Size([5, 6, 8]), torch.Size([5, 8]), 8)
        >>> torch.equal(LegoBlock(4).latent, LegoBlock(9).latent)  # shared initialisation
        True
    """

    def __init__(
        self,
        in_dim: int,
        *,
        latent_dim: int = 32,
        num_latents: int = 8,
        depth: int = 2,
        self_layers: int = 1,
        num_heads: int = 4,
        head_dim: int | None = None,
        tokens_per_input: int = 4,
        ff_mult: int = 2,
        dropout: float = 0.0,
        frequency_domain: bool = True,
        encoder: nn.Module | None = None,
        head: nn.Module | int | None = None,
        shared_seed: int | None = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.in_dim = _positive("in_dim", in_dim)
        self.latent_dim = _positive("latent_dim", latent_dim)
        self.num_latents = _positive("num_latents", num_latents)
        self.depth = _positive("depth", depth)
        self.tokens_per_input = _positive("tokens_per_input", tokens_per_input)
        if int(self_layers) != self_layers or self_layers < 0:
            raise InputError(f"self_layers must be a non-negative integer, got {self_layers!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout}")
        heads = _positive("num_heads", num_heads)
        head_dim = _positive("head_dim", head_dim or max(8, self.latent_dim // heads))
        self.frequency_domain = bool(frequency_domain)
        self.name = name
        self.encoder = encoder
        with torch.random.fork_rng(devices=[], enabled=shared_seed is not None):
            if shared_seed is not None:
                torch.manual_seed(int(shared_seed))
            self.latent = nn.Parameter(torch.randn(self.num_latents, self.latent_dim) * 0.5)
            self.layers = nn.ModuleList(
                [
                    _LegoLayer(self.latent_dim, heads, head_dim, int(self_layers), ff_mult, dropout)
                    for _ in range(self.depth)
                ]
            )
            self.head = self._make_head(head)
        self.input_proj = nn.Linear(self.in_dim, self.tokens_per_input * self.latent_dim)

    def _make_head(self, head: nn.Module | int | None) -> nn.Module | None:
        if head is None or isinstance(head, nn.Module):
            in_dim = getattr(head, "in_dim", None) or getattr(head, "in_features", None)
            if in_dim is not None and int(in_dim) != self.latent_dim:
                raise InputError(
                    f"the head reads {in_dim} features but the block's pooled size is "
                    f"{self.latent_dim}"
                )
            return head
        return nn.Linear(self.latent_dim, _positive("head outputs", head))

    @property
    def out_dim(self) -> int:
        """Size of the pooled representation (``latent_dim``).

        Examples:
            >>> LegoBlock(3, latent_dim=12).out_dim
            12
        """
        return self.latent_dim

    @classmethod
    def wrap(cls, encoder: nn.Module, example: Any, **kwargs: Any) -> LegoBlock:
        """Build a block around ``encoder``, reading ``in_dim`` off its output for ``example``.

        The encoder runs once in eval mode without gradients; its training mode is restored.

        Examples:
            >>> enc = nn.Sequential(nn.Conv1d(1, 3, 5), nn.AdaptiveAvgPool1d(1), nn.Flatten())
            >>> block = LegoBlock.wrap(enc, torch.randn(2, 1, 50), latent_dim=8)
            >>> block.in_dim, block(torch.randn(4, 1, 50)).shape
            (3, torch.Size([4, 8]))
        """
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                out = encoder(example)
        finally:
            encoder.train(was_training)
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 3):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(f"the encoder must return [B, D] or [B, N, D], got {shape}")
        return cls(int(out.shape[-1]), encoder=encoder, **kwargs)

    def tokens(
        self, x: Any, token_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input tokens ``[B, N·T, latent_dim]`` and their mask ``[B, N·T]`` (True = real).

        Runs the encoder (if any), zeroes padded tokens (NaN included) and projects every input
        vector to ``tokens_per_input`` latent-sized tokens.

        Raises:
            InputError: On a wrong rank, feature size or mask shape.

        Examples:
            >>> block = LegoBlock(3, latent_dim=4, tokens_per_input=2)
            >>> ctx, mask = block.tokens(torch.randn(5, 3))
            >>> ctx.shape, mask.shape
            (torch.Size([5, 2, 4]), torch.Size([5, 2]))
        """
        if self.encoder is not None:
            x = self.encoder(x)
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"{self._label()}: input must be [B, D] or [B, N, D], got {shape}")
        if x.shape[-1] != self.in_dim:
            raise InputError(
                f"{self._label()}: input feature size {x.shape[-1]}, expected {self.in_dim}"
            )
        if x.ndim == 2:
            x = x.unsqueeze(1)
        batch, n = x.shape[:2]
        if token_mask is None:
            token_mask = torch.ones(batch, n, dtype=torch.bool, device=x.device)
        elif tuple(token_mask.shape) != (batch, n):
            raise InputError(
                f"{self._label()}: token mask shape {tuple(token_mask.shape)}, "
                f"expected {(batch, n)}"
            )
        token_mask = token_mask.to(device=x.device, dtype=torch.bool)
        x = torch.nan_to_num(torch.where(token_mask.unsqueeze(-1), x, torch.zeros_like(x)))
        context = self.input_proj(x).reshape(batch, n * self.tokens_per_input, self.latent_dim)
        return context, token_mask.repeat_interleave(self.tokens_per_input, dim=1)

    def initial_latent(self, batch: int) -> torch.Tensor:
        """The learned latent array expanded to ``[batch, L, d]``.

        Examples:
            >>> LegoBlock(2, latent_dim=4, num_latents=3).initial_latent(5).shape
            torch.Size([5, 3, 4])
        """
        return self.latent.unsqueeze(0).expand(batch, -1, -1)

    def layer(
        self, index: int, latent: torch.Tensor, context: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Apply layer ``index`` to a latent ``[B, L, d]``; returns the frequency-domain latent.

        ``context`` and ``mask`` come from :meth:`tokens`. Samples without any real token keep
        the latent unchanged by the cross-attention step.

        Examples:
            >>> block = LegoBlock(3, latent_dim=4, num_latents=5)
            >>> ctx, mask = block.tokens(torch.randn(2, 3))
            >>> block.layer(0, block.initial_latent(2), ctx, mask).shape
            torch.Size([2, 5, 4])
        """
        if latent.shape[-2:] != (self.num_latents, self.latent_dim):
            raise InputError(
                f"{self._label()}: latent shape {tuple(latent.shape[-2:])}, "
                f"expected {(self.num_latents, self.latent_dim)}"
            )
        empty = ~mask.any(dim=1)
        safe_mask = mask | empty[:, None]  # an all-masked row would make attention NaN
        freq = to_frequency(latent) if self.frequency_domain else latent
        return self.layers[index](freq, context, safe_mask, empty)

    def to_latent(self, freq: torch.Tensor) -> torch.Tensor:
        """Back from the frequency domain (identity when ``frequency_domain`` is False).

        Examples:
            >>> block = LegoBlock(2, latent_dim=4, num_latents=3)
            >>> torch.allclose(block.to_latent(to_frequency(block.latent)), block.latent)
            True
        """
        return from_frequency(freq) if self.frequency_domain else freq

    def encode(
        self,
        x: Any,
        token_mask: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The block's frequency-domain latent ``[B, L, d]`` for input ``x``.

        Args:
            x: ``[B, D]`` or ``[B, N, D]`` (or the encoder's raw input).
            token_mask: ``[B, N]`` bool, True = real token (default: all real).
            latent: Start from this ``[B, L, d]`` latent instead of the learned one (LegoFuse).

        Examples:
            >>> block = LegoBlock(3, latent_dim=4, num_latents=5)
            >>> block.encode(torch.randn(2, 3)).shape
            torch.Size([2, 5, 4])
        """
        context, mask = self.tokens(x, token_mask)
        state = self.initial_latent(context.shape[0]) if latent is None else latent
        freq = state
        for i in range(self.depth):
            freq = self.layer(i, state, context, mask)
            if i < self.depth - 1:
                state = self.to_latent(freq)
        return freq

    @staticmethod
    def pool(freq: torch.Tensor) -> torch.Tensor:
        """Pooled representation ``[B, d]`` of a (merged) frequency-domain latent ``[B, L, d]``.

        The mean over latent rows followed by a parameter-free layer norm: the same function
        for every block, so merged latents pool exactly like single ones.

        Examples:
            >>> z = LegoBlock.pool(torch.randn(2, 5, 4))
            >>> z.shape, torch.allclose(z.mean(-1), torch.zeros(2), atol=1e-6)
            (torch.Size([2, 4]), True)
        """
        return F.layer_norm(freq.mean(dim=-2), (freq.shape[-1],))

    def forward(self, x: Any, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled representation ``[B, latent_dim]`` (what the head reads).

        Examples:
            >>> LegoBlock(3, latent_dim=4)(torch.randn(2, 3)).shape
            torch.Size([2, 4])
        """
        return self.pool(self.encode(x, token_mask))

    def head_output(self, x: Any, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The block's own head applied to its pooled representation (unimodal training).

        Raises:
            InputError: If the block has no head.

        Examples:
            >>> LegoBlock(3, latent_dim=4, head=2).head_output(torch.randn(5, 3)).shape
            torch.Size([5, 2])
        """
        if self.head is None:
            raise InputError(f"{self._label()} has no task head")
        return self.head(self(x, token_mask))

    def _label(self) -> str:
        return f"LegoBlock {self.name!r}" if self.name else "LegoBlock"


def check_compatible(blocks: Sequence[LegoBlock]) -> tuple[int, int]:
    """Check that blocks share the latent shape; returns ``(num_latents, latent_dim)``.

    Raises:
        InputError: When there are no blocks or the latent shapes differ.

    Examples:
        >>> check_compatible([LegoBlock(2, latent_dim=4), LegoBlock(7, latent_dim=4)])
        (8, 4)
    """
    if not blocks:
        raise InputError("no LegoBlocks given")
    shapes = {(b.num_latents, b.latent_dim) for b in blocks}
    if len(shapes) != 1:
        raise InputError(f"LegoBlocks must share (num_latents, latent_dim), got {sorted(shapes)}")
    freq = {b.frequency_domain for b in blocks}
    if len(freq) != 1:
        raise InputError("LegoBlocks must all (or none) update in the frequency domain")
    return shapes.pop()
