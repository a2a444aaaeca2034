"""ECG encoders: 1-D ResNets (18/34/50) and 1-D ViTs (tiny/small/base) for any length and leads.

Both take ``[B, leads, samples]`` float signals (as produced by an ECG input profile) and an
optional ``[B, leads]`` presence mask; absent leads are zeroed before the first layer so a
missing lead never leaks NaN or stale values. Pooling is global, so a model trained on 10-s
records runs on 5-s or 30-s ones, and ``in_leads`` sets the lead count (lead-subset models, e.g.
lead I only, have ``in_leads=1``). The architecture follows the MERL paper's ECG encoders
(ResNet with 1-D convolutions; ViT with patch tokens) without its fixed 5,000-sample input.

Examples:
    >>> import torch
    >>> enc = ResNet1dEncoder(depth=18, in_leads=12)
    >>> enc(torch.randn(2, 12, 1000)).shape, enc(torch.randn(1, 12, 2500)).shape
    (torch.Size([2, 512]), torch.Size([1, 512]))
"""

from __future__ import annotations

import math
from os import PathLike
from typing import Any

import torch
from torch import nn

from biomm.encoders.base import Encoder, load_weights_into
from biomm.errors import InputError
from biomm.registries import ENCODERS

_RESNET_LAYERS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
_VIT_SIZES = {
    "tiny": {"dim": 192, "depth": 12, "heads": 3},
    "small": {"dim": 384, "depth": 12, "heads": 6},
    "base": {"dim": 768, "depth": 12, "heads": 12},
}


def mask_absent_leads(x: torch.Tensor, present: torch.Tensor | None) -> torch.Tensor:
    """Zero absent leads (and any NaN) so the network sees a defined input.

    Examples:
        >>> x = torch.ones(1, 2, 3); x[0, 1] = float("nan")
        >>> mask_absent_leads(x, torch.tensor([[True, False]]))[0].tolist()
        [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    if present is not None:
        if present.shape != x.shape[:2]:
            raise InputError(
                f"presence mask {tuple(present.shape)} does not match signals {tuple(x.shape)}"
            )
        x = x * present.to(x.dtype).unsqueeze(-1)
    return torch.nan_to_num(x, nan=0.0)


class BasicBlock1d(nn.Module):
    """Two 1-D convolutions (kernel 7) with a residual connection."""

    expansion = 1

    def __init__(self, c_in: int, c: int, stride: int = 1, kernel: int = 7) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c, kernel, stride, pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c)
        self.conv2 = nn.Conv1d(c, c, kernel, 1, pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual forward pass."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck1d(nn.Module):
    """1–k–1 bottleneck block (×4 channels out) with the stride on the middle convolution."""

    expansion = 4

    def __init__(self, c_in: int, c: int, stride: int = 1, kernel: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(c)
        self.conv2 = nn.Conv1d(c, c, kernel, stride, kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(c)
        self.conv3 = nn.Conv1d(c, c * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm1d(c * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual forward pass."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out))


class ResNet1dEncoder(Encoder):
    """A 1-D ResNet over ``[B, leads, samples]`` → global-average-pooled ``[B, D]``.

    Args:
        depth: 18, 34 or 50.
        in_leads: Number of input leads (12, or fewer for a lead-subset model).
        width: Channels of the first stage (64 as in ResNet; smaller for quick CPU runs).
        weights: Optional local weight file (safetensors; a PyTorch pickle only with
            ``trust_pickle``) in this layout.
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).

    Examples:
        >>> enc = ResNet1dEncoder(depth=34, in_leads=1, width=16)
        >>> enc.embed_dim, enc(torch.randn(3, 1, 500)).shape
        (128, torch.Size([3, 128]))
    """

    modality = "ecg"

    def __init__(
        self,
        depth: int = 18,
        in_leads: int = 12,
        width: int = 64,
        weights: str | PathLike[str] | None = None,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        if depth not in _RESNET_LAYERS:
            raise InputError(f"ResNet1d depth must be one of {sorted(_RESNET_LAYERS)}, got {depth}")
        if in_leads < 1 or width < 1:
            raise InputError(f"in_leads and width must be positive, got {in_leads}, {width}")
        kind, blocks = _RESNET_LAYERS[depth]
        block = BasicBlock1d if kind == "basic" else Bottleneck1d
        self.name = f"resnet1d{depth}"
        self.in_leads = in_leads
        self.stem = nn.Sequential(
            nn.Conv1d(in_leads, width, 15, 2, 7, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        c_in = width
        for k, n in enumerate(blocks):
            c = width * 2**k
            layers = [block(c_in, c, stride=1 if k == 0 else 2)]
            c_in = c * block.expansion
            layers += [block(c_in, c) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.embed_dim = c_in
        self.weights = "random-init"
        if weights is not None:
            self.weights_sha256 = load_weights_into(
                self, weights, name=self.name, ignore_prefix="fc.", trust_pickle=trust_pickle
            )
            self.weights = str(weights)

    def forward_features(
        self, x: torch.Tensor, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Feature map ``[B, D, T']`` before pooling (local features)."""
        return self.stages(self.stem(mask_absent_leads(x, present)))

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """Signals ``[B, leads, samples]`` → embeddings ``[B, D]``."""
        return self.forward_features(x, present).mean(-1)

    def describe(self) -> dict[str, Any]:
        """Provenance including the lead count."""
        return {**super().describe(), "in_leads": self.in_leads}


def sinusoidal_positions(n: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sine–cosine position codes ``[n, dim]`` (any sequence length).

    Examples:
        >>> sinusoidal_positions(4, 6).shape
        torch.Size([4, 6])
    """
    position = torch.arange(n, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    codes = torch.zeros(n, dim, device=device)
    codes[:, 0::2] = torch.sin(position * freq)
    codes[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return codes


class ViT1dEncoder(Encoder):
    """A 1-D Vision Transformer: non-overlapping patches of all leads → tokens → CLS embedding.

    Position codes are sinusoidal, so any record length works (patches that do not fill the
    last window are dropped, as a strided convolution does).

    Args:
        size: ``tiny``, ``small`` or ``base`` (dim 192/384/768, 12 layers).
        in_leads: Number of input leads.
        patch: Samples per patch (50 = 100 ms at 500 Hz).
        depth, dim, heads: Override the size's defaults (e.g. a 2-layer model for tests).
        dropout: Dropout inside the transformer.
        weights: Optional local weight file (safetensors; pickle only with ``trust_pickle``).
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).

    Examples:
        >>> enc = ViT1dEncoder("tiny", in_leads=12, patch=25, depth=2, dim=32, heads=2)
        >>> enc(torch.randn(2, 12, 1000)).shape
        torch.Size([2, 32])
    """

    modality = "ecg"

    def __init__(
        self,
        size: str = "tiny",
        in_leads: int = 12,
        patch: int = 50,
        depth: int | None = None,
        dim: int | None = None,
        heads: int | None = None,
        dropout: float = 0.1,
        weights: str | PathLike[str] | None = None,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        if size not in _VIT_SIZES:
            raise InputError(f"ViT1d size must be one of {sorted(_VIT_SIZES)}, got {size!r}")
        spec = _VIT_SIZES[size]
        dim = dim or spec["dim"]
        heads = heads or spec["heads"]
        depth = depth or spec["depth"]
        if dim % heads or dim % 2:
            raise InputError(f"ViT1d dim {dim} must be even and divisible by heads {heads}")
        self.name = f"vit1d_{size}"
        self.in_leads = in_leads
        self.patch = patch
        self.embed_dim = dim
        self.patch_embed = nn.Conv1d(in_leads, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.weights = "random-init"
        if weights is not None:
            self.weights_sha256 = load_weights_into(
                self, weights, name=self.name, ignore_prefix="head.", trust_pickle=trust_pickle
            )
            self.weights = str(weights)

    def forward_features(
        self, x: torch.Tensor, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token sequence ``[B, 1 + patches, D]`` (CLS first) after the final norm."""
        if x.shape[-1] < self.patch:
            raise InputError(
                f"record of {x.shape[-1]} samples is shorter than one patch ({self.patch})"
            )
        tokens = self.patch_embed(mask_absent_leads(x, present)).transpose(1, 2)
        tokens = tokens + sinusoidal_positions(tokens.shape[1], self.embed_dim, tokens.device)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return self.norm(self.blocks(torch.cat([cls, tokens], dim=1)))

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """Signals ``[B, leads, samples]`` → CLS embeddings ``[B, D]``."""
        return self.forward_features(x, present)[:, 0]

    def describe(self) -> dict[str, Any]:
        """Provenance including the lead count and patch size."""
        return {**super().describe(), "in_leads": self.in_leads, "patch": self.patch}


def _register_resnet(depth: int) -> None:
    def build(**kwargs: Any) -> ResNet1dEncoder:
        return ResNet1dEncoder(depth=depth, **kwargs)

    build.__doc__ = (
        f"1-D ResNet-{depth} ECG encoder (see :class:`ResNet1dEncoder`).\n\n"
        "Examples:\n    >>> from biomm.encoders import build_encoder\n"
        f"    >>> build_encoder('resnet1d{depth}', width=8).name\n    'resnet1d{depth}'\n"
    )
    ENCODERS.add(f"resnet1d{depth}", build)


def _register_vit(size: str) -> None:
    def build(**kwargs: Any) -> ViT1dEncoder:
        return ViT1dEncoder(size=size, **kwargs)

    build.__doc__ = (
        f"1-D ViT-{size} ECG encoder (see :class:`ViT1dEncoder`).\n\n"
        "Examples:\n    >>> from biomm.encoders import build_encoder\n"
        f"    >>> build_encoder('vit1d_{size}', depth=1).name\n    'vit1d_{size}'\n"
    )
    ENCODERS.add(f"vit1d_{size}", build)


for _depth in _RESNET_LAYERS:
    _register_resnet(_depth)
for _size in _VIT_SIZES:
    _register_vit(_size)
