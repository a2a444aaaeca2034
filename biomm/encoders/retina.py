"""MONAI 2-D backbones as image encoders: ``monai_densenet121`` and ``monai_resnet``.

Both return the pooled feature vector before the classifier and never download anything:
``weights`` is None (random initialisation) or a local ``.safetensors`` state dict (a ``.pt``
pickle only with ``trust_pickle=True``, then read with ``torch.load(weights_only=True)``).
Inputs are normalised with ImageNet statistics.

- ``monai_densenet121`` (1024-d) accepts MONAI key names and torchvision's DenseNet-121
  layout (``denselayerN.norm1`` or the older ``denselayerN.norm.1``), which is remapped.
- ``monai_resnet`` (``depth`` 10/18/34/50/101/152/200; 512-d up to 34, 2048-d from 50)
  accepts MONAI ``ResNet`` checkpoints; pass the constructor arguments used in training
  (e.g. ``conv1_t_stride=2``) as keyword arguments. For torchvision-layout ResNets use the
  ``resnet18``/``resnet50`` encoders instead.

For the packaged ImageNet-pretrained network use ``efficientnet_lite0``; for hub models
``hf_image``.

Examples:
    >>> import torch
    >>> from biomm.encoders import build_encoder
    >>> enc = build_encoder("monai_resnet", depth=18, weights=None, size=64)
    >>> enc.name, enc(enc.preprocess(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))).shape
    ('monai_resnet18', torch.Size([1, 512]))
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biomm.encoders.base import Encoder, ImageInput, load_state_dict, sha256_file
from biomm.errors import CheckpointError, InputError
from biomm.registries import ENCODERS


def imagenet_input(size: int = 224) -> ImageInput:
    """ImageNet mean/std at ``size`` px.

    Examples:
        >>> imagenet_input(256).mean
        (0.485, 0.456, 0.406)
    """
    return ImageInput(size=int(size), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def load_monai_weights(
    module: nn.Module,
    path: str | PathLike[str],
    *,
    name: str,
    classifier: tuple[str, ...],
    rename: Any = None,
    trust_pickle: bool = False,
) -> str:
    """Load a local state dict into ``module``; every parameter must fit. Returns the SHA-256.

    ``module.`` prefixes are removed, classifier keys dropped and ``rename(key)`` applied.

    Raises:
        UntrustedFileError: For a pickle-based file without ``trust_pickle``.
        CheckpointError: Naming the file when keys are missing or unexpected, or shapes differ.

    Examples:
        >>> import tempfile, pathlib
        >>> from safetensors.torch import save_file
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> save_file({"module.weight": torch.ones(1, 1), "bias": torch.zeros(1)}, str(p))
        >>> len(load_monai_weights(nn.Linear(1, 1), p, name="linear", classifier=("fc.",)))
        64
    """
    path = Path(path)
    state = {}
    for key, value in load_state_dict(path, trust_pickle=trust_pickle).items():
        key = key.removeprefix("module.")
        key = rename(key) if rename else key
        if not key.startswith(classifier):
            state[key] = value
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"weights do not fit {name}: {str(exc)[:300]}", path=path) from None
    missing = [k for k in missing if not k.startswith(classifier)]
    if missing or unexpected:
        raise CheckpointError(
            f"weights do not fit {name}: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=path,
        )
    return sha256_file(path)


_TORCHVISION_DENSE = re.compile(r"^(.*denselayer\d+)\.(norm|relu|conv)\.?([12])\.(.+)$")


def densenet_key(key: str) -> str:
    """A torchvision DenseNet key → its MONAI key (other keys unchanged).

    Examples:
        >>> densenet_key("features.denseblock1.denselayer1.norm.1.weight")
        'features.denseblock1.denselayer1.layers.norm1.weight'
        >>> densenet_key("features.denseblock1.denselayer2.conv2.weight")
        'features.denseblock1.denselayer2.layers.conv2.weight'
        >>> densenet_key("features.norm5.bias")
        'features.norm5.bias'
    """
    match = _TORCHVISION_DENSE.match(key)
    if match and ".layers." not in key:
        prefix, kind, index, rest = match.groups()
        return f"{prefix}.layers.{kind}{index}.{rest}"
    return key


@ENCODERS.register("monai_densenet121")
class MonaiDenseNet121Encoder(Encoder):
    """MONAI DenseNet-121 (2-D), 1024-d features after the final norm, ReLU and pooling.

    Args:
        weights: None (random init) or a local state dict (MONAI or torchvision layout;
            ``class_layers.out.*``/``classifier.*`` are ignored).
        size: Input size in pixels.
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).

    Examples:
        >>> enc = MonaiDenseNet121Encoder(weights=None, size=64)
        >>> enc.embed_dim, enc(torch.zeros(1, 3, 64, 64)).shape
        (1024, torch.Size([1, 1024]))
    """

    name = "monai_densenet121"
    modality = "image"
    embed_dim = 1024

    def __init__(
        self,
        weights: str | PathLike[str] | None = None,
        size: int = 224,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        from monai.networks.nets import DenseNet121

        self.input = imagenet_input(size)
        self.net = DenseNet121(spatial_dims=2, in_channels=3, out_channels=1, pretrained=False)
        if weights is None:
            self.weights, self.weights_sha256 = "random-init", None
        else:
            self.weights = str(weights)
            self.weights_sha256 = load_monai_weights(
                self.net,
                weights,
                name=self.name,
                classifier=("class_layers.out.", "classifier."),
                rename=densenet_key,
                trust_pickle=trust_pickle,
            )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` → ``[B, 1024]``."""
        features = self.net.features(x)
        layers = self.net.class_layers
        return layers.flatten(layers.pool(layers.relu(features)))


_RESNET_DEPTHS = (10, 18, 34, 50, 101, 152, 200)


@ENCODERS.register("monai_resnet")
class MonaiResNetEncoder(Encoder):
    """MONAI ResNet (2-D) of a given depth, pooled features (no classifier).

    Args:
        depth: 10, 18, 34, 50, 101, 152 or 200.
        weights: None (random init) or a local MONAI ``ResNet`` state dict (``fc.*`` ignored).
        size: Input size in pixels.
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).
        **monai_kwargs: Further ``monai.networks.nets.ResNet`` arguments, as used when the
            weights were trained (``conv1_t_stride``, ``bias_downsample``, …); recorded by
            :meth:`describe`.

    Examples:
        >>> enc = MonaiResNetEncoder(depth=50, weights=None, size=64, conv1_t_stride=2)
        >>> enc.name, enc.embed_dim, enc(torch.zeros(2, 3, 64, 64)).shape
        ('monai_resnet50', 2048, torch.Size([2, 2048]))
    """

    modality = "image"

    def __init__(
        self,
        depth: int = 18,
        weights: str | PathLike[str] | None = None,
        size: int = 224,
        trust_pickle: bool = False,
        **monai_kwargs: Any,
    ) -> None:
        super().__init__()
        from monai.networks.nets import resnet as monai_resnet

        if depth not in _RESNET_DEPTHS:
            raise InputError(f"monai_resnet depth must be one of {_RESNET_DEPTHS}, got {depth}")
        reserved = {"spatial_dims", "n_input_channels", "feed_forward", "num_classes", "pretrained"}
        clash = sorted(reserved & set(monai_kwargs))
        if clash:
            raise InputError(f"monai_resnet sets {clash} itself; do not pass them")
        self.depth = int(depth)
        self.monai_kwargs = dict(monai_kwargs)
        self.name = f"monai_resnet{depth}"
        self.input = imagenet_input(size)
        factory = getattr(monai_resnet, f"resnet{depth}")
        self.net = factory(
            pretrained=False,
            spatial_dims=2,
            n_input_channels=3,
            feed_forward=False,
            **monai_kwargs,
        )
        norms = [m for m in self.net.layer4.modules() if isinstance(m, nn.BatchNorm2d)]
        self.embed_dim = int(norms[-1].num_features) if norms else 512
        if weights is None:
            self.weights, self.weights_sha256 = "random-init", None
        else:
            self.weights = str(weights)
            self.weights_sha256 = load_monai_weights(
                self.net, weights, name=self.name, classifier=("fc.",), trust_pickle=trust_pickle
            )
        self.eval()

    def describe(self) -> dict[str, Any]:
        """Provenance, with the depth and MONAI arguments.

        Examples:
            >>> MonaiResNetEncoder(depth=10).describe()["depth"]
            10
        """
        return {**super().describe(), "depth": self.depth, "monai_kwargs": self.monai_kwargs}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` → ``[B, D]``."""
        return self.net(x)
