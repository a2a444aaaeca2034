"""A multimodal model: optional per-modality encoders → fusion → named task heads.

Built from a spec (names from the registries and their arguments), so a checkpoint's JSON
config rebuilds it exactly. Sequential fusions (MultiModN) are trained on the heads' loss
after every step, as MultiModN prescribes; parallel fusions have one step.

Examples:
    >>> import torch
    >>> spec = {"embed_dims": {"a": 4, "b": 4}, "fusion": {"name": "concat", "out_dim": 8},
    ...         "heads": {"y": {"name": "binary"}}}
    >>> model = build_model(spec)
    >>> out = model({"a": torch.randn(2, 4)}, {"a": torch.tensor([True, False])})
    >>> out["y"].shape
    torch.Size([2, 1])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from biomm.errors import ConfigError


class MultimodalModel(nn.Module):
    """Fusion + heads (+ per-modality encoders applied to raw modality inputs).

    Args:
        fusion: A :class:`biomm.fusion.base.Fusion`.
        heads: Task name → :class:`biomm.heads.base.Head`.
        encoders: Optional modality → module mapping that modality's batch input (e.g. a bag of
            tile features and its token mask) to an embedding; modalities without one are
            given as embeddings.
        spec: The spec the model was built from (kept for checkpoints).
    """

    def __init__(
        self,
        fusion: nn.Module,
        heads: Mapping[str, nn.Module],
        encoders: Mapping[str, nn.Module] | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.fusion = fusion
        self.heads = nn.ModuleDict(dict(heads))
        self.encoders = nn.ModuleDict(dict(encoders or {}))
        self.spec = dict(spec or {})

    def embed(
        self,
        inputs: Mapping[str, Any],
        token_masks: Mapping[str, torch.Tensor] | None = None,
        present: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Modality inputs → embeddings (identity where no encoder is set).

        An encoder (e.g. attention MIL over a bag of tile features) runs only on the samples
        that have the modality; absent rows stay zero, so an empty bag never yields NaN.

        Examples:
            >>> MultimodalModel.embed.__name__
            'embed'
        """
        out = {}
        for m, x in inputs.items():
            if m not in self.fusion.modalities:
                continue
            if m not in self.encoders:
                out[m] = x.float()
                continue
            rows = (present or {}).get(m)
            rows = (
                torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if rows is None else rows
            )
            mask = (token_masks or {}).get(m)
            encoder = self.encoders[m]
            result = torch.zeros(x.shape[0], int(encoder.embed_dim), device=x.device)
            if rows.any():
                args = (x[rows].float(),) if mask is None else (x[rows].float(), mask[rows])
                y = encoder(*args)
                y = y[0] if isinstance(y, tuple) else y
                result = result.to(y.dtype).index_put((rows.nonzero().squeeze(1),), y)
            out[m] = result
        return out

    def forward(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Task outputs from the final fused representation."""
        z = self.fusion(embeddings, present)
        return {name: head(z) for name, head in self.heads.items()}

    def step_outputs(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> list[dict[str, torch.Tensor]]:
        """Task outputs after every fusion step (MultiModN's prediction trajectory)."""
        return [
            {name: head(z) for name, head in self.heads.items()}
            for z in self.fusion.steps(embeddings, present)
        ]

    def loss(
        self,
        embeddings: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        target_masks: Mapping[str, torch.Tensor],
        weights: Mapping[str, float] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted mean of the heads' masked losses (over every step of a sequential fusion).

        MultiModN fusions are scored with :func:`biomm.fusion.multimodn.multimodn_loss`: every
        head after every step that updated the sample, the initial state included, as in the
        reference implementation.
        """
        trajectory = None
        if hasattr(self.fusion, "trajectory"):
            trajectory = self.fusion.trajectory(embeddings, present)
        else:
            z = self.fusion(embeddings, present)
        per_task: dict[str, float] = {}
        total: torch.Tensor | None = None
        weight_sum = 0.0
        for name, head in self.heads.items():
            if name not in targets:
                continue
            mask = target_masks[name]
            if trajectory is not None:
                from biomm.fusion.multimodn import multimodn_loss

                task_loss = multimodn_loss(
                    trajectory, {name: head}, {name: targets[name]}, {name: mask}
                )
            else:
                task_loss = head.loss(head(z), targets[name], mask)
            weight = float((weights or {}).get(name, 1.0))
            total = weight * task_loss if total is None else total + weight * task_loss
            weight_sum += weight
            per_task[name] = float(task_loss.detach())
        if total is None:
            raise ConfigError(f"no target for any head ({sorted(self.heads)})")
        return total / max(weight_sum, 1e-12), per_task


def build_model(spec: Mapping[str, Any]) -> MultimodalModel:
    """Build a model from a spec.

    The spec: ``embed_dims`` (modality → size), ``fusion`` (``name``, ``out_dim``, other
    arguments), ``heads`` (task → ``name`` and arguments; ``in_dim`` is set), and optional
    ``encoders`` (modality → ``name`` of a registered encoder and its arguments; the fusion
    then sees the encoder's ``embed_dim``).

    Raises:
        ConfigError: On missing sections.
    """
    import biomm.fusion
    import biomm.heads  # noqa: F401  (registers the heads)
    from biomm.encoders import build_encoder
    from biomm.registries import FUSIONS, HEADS

    for key in ("embed_dims", "fusion", "heads"):
        if key not in spec:
            raise ConfigError(f"model spec lacks {key!r}")
    embed_dims = dict(spec["embed_dims"])
    encoders = {}
    for m, enc in (spec.get("encoders") or {}).items():
        kwargs = {k: v for k, v in enc.items() if k != "name"}
        encoders[m] = _build(f"encoder of {m!r}", build_encoder, enc["name"], **kwargs)
        embed_dims[m] = int(encoders[m].embed_dim)
    fusion_kwargs = {k: v for k, v in spec["fusion"].items() if k != "name"}
    fusion = _build(
        "fusion", FUSIONS.build, spec["fusion"]["name"], embed_dims=embed_dims, **fusion_kwargs
    )
    heads = {}
    for task, head in spec["heads"].items():
        kwargs = {k: v for k, v in head.items() if k not in ("name", "target")}
        heads[task] = _build(
            f"head of {task!r}", HEADS.build, head["name"], in_dim=fusion.out_dim, **kwargs
        )
    return MultimodalModel(fusion, heads, encoders, spec=spec)


def _build(what: str, factory: Any, name: str, **kwargs: Any) -> Any:
    """Build a registered component; a wrong argument is a ConfigError naming it."""
    try:
        return factory(name, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{what} {name!r}: {exc}") from None
