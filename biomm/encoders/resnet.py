"""ResNet-18/50 in plain torch with torchvision's parameter names, for local weight files.

torchvision checkpoints (``resnet50-*.pth``) and pathology ResNets saved in that layout (e.g.
self-supervised histology ResNet-50s) load directly; the classifier is dropped and the pooled
feature (512 or 2048) is the embedding. Weights are never downloaded: give a local file.

Examples:
    >>> import torch
    >>> enc = ResNetEncoder(depth=18, weights=None)
    >>> enc(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 512])
"""

from __future__ import annotations

from os import PathLike

import torch
from torch import nn

from biomm.encoders.base import Encoder, ImageInput, load_weights_into
from biomm.errors import InputError
from biomm.registries import ENCODERS

IMAGENET_INPUT = ImageInput(size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


class BasicBlock(nn.Module):
    """3×3–3×3 residual block (ResNet-18/34)."""

    expansion = 1

    def __init__(self, c_in: int, c: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual forward pass."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1×1–3×3–1×1 residual block (ResNet-50/101), stride on the 3×3 as torchvision does."""

    expansion = 4

    def __init__(self, c_in: int, c: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c * 4)
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
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


_LAYOUTS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNetTrunk(nn.Module):
    """ResNet without the classifier; ``forward`` returns the global-average-pooled feature."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        if depth not in _LAYOUTS:
            raise InputError(f"ResNet depth must be one of {sorted(_LAYOUTS)}, got {depth}")
        block, counts = _LAYOUTS[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
            blocks = []
            for k in range(n):
                blocks.append(block(c_in, width, 2 if k == 0 and i > 0 else 1))
                c_in = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature ``[B, 512 | 2048]``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x.mean(dim=(2, 3))


class ResNetEncoder(Encoder):
    """ResNet-18 or -50 tile encoder from a local torchvision-layout weight file.

    Args:
        depth: 18 or 50.
        weights: Local ``.safetensors`` state dict (``fc.*`` keys are ignored; a ``.pth``
            only with ``trust_pickle``), or None for random initialisation.
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).

    Examples:
        >>> ResNetEncoder(depth=50, weights=None).embed_dim
        2048
    """

    modality = "image"
    input = IMAGENET_INPUT

    def __init__(
        self,
        depth: int = 50,
        weights: str | PathLike[str] | None = None,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        self.net = ResNetTrunk(depth)
        self.name = f"resnet{depth}"
        self.embed_dim = self.net.out_dim
        if weights is None:
            self.weights, self.weights_sha256 = "random-init", None
        else:
            self.weights = str(weights)
            self.weights_sha256 = load_weights_into(
                self.net,
                weights,
                name=f"resnet{depth}",
                ignore_prefix="fc.",
                trust_pickle=trust_pickle,
            )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images → pooled features."""
        return self.net(x)


@ENCODERS.register("resnet18")
def resnet18(
    weights: str | PathLike[str] | None = None, trust_pickle: bool = False
) -> ResNetEncoder:
    """ResNet-18 (512-d) from a local torchvision-layout weight file.

    Examples:
        >>> resnet18().embed_dim
        512
    """
    return ResNetEncoder(18, weights, trust_pickle)


@ENCODERS.register("resnet50")
def resnet50(
    weights: str | PathLike[str] | None = None, trust_pickle: bool = False
) -> ResNetEncoder:
    """ResNet-50 (2048-d) from a local torchvision-layout weight file.

    Examples:
        >>> resnet50().embed_dim
        2048
    """
    return ResNetEncoder(50, weights, trust_pickle)
