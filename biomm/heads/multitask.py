"""Several task heads on one representation, each masked where its target is missing.

:class:`MultiTaskHeads` is an ``nn.ModuleDict`` of named heads. Its loss is the weighted sum
of every head's masked loss; a task whose target is absent from the batch altogether, or
unknown for every sample, contributes a zero that still back-propagates, so a batch is never
skipped.

Examples:
    >>> import torch
    >>> heads = MultiTaskHeads.from_config(4, {
    ...     "death": {"name": "survival_cox"},
    ...     "af": {"name": "binary", "weight": 0.5},
    ... })
    >>> outputs = heads(torch.randn(3, 4))
    >>> sorted(outputs), outputs["af"].shape
    (['af', 'death'], torch.Size([3, 1]))
    >>> targets = {"af": torch.tensor([1, 0, 0])}  # no survival target in this batch
    >>> masks = {"af": torch.tensor([True, True, False])}
    >>> total, per_task = heads.loss(outputs, targets, masks)
    >>> per_task["death"].item(), bool(torch.isclose(total, 0.5 * per_task["af"]))
    (0.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from biomm.errors import ConfigError, InputError
from biomm.heads.base import Head

_RESERVED = frozenset({"weights", "target_keys"})


class MultiTaskHeads(nn.ModuleDict):
    """Named heads read the same representation; targets are masked per task.

    Args:
        heads: Task name → head.
        targets: Task name → target key in the batch (default: the task name).
        weights: Task name → loss weight (default 1 each); overridden per call by
            :meth:`loss`'s ``weights``.

    Raises:
        InputError: On an empty head set, a non-head value, or weights/targets for unknown
            tasks.

    Examples:
        >>> from biomm.heads.classification import BinaryHead
        >>> heads = MultiTaskHeads({"y": BinaryHead(2)}, targets={"y": "label"})
        >>> heads.target_keys
        {'y': 'label'}
    """

    def __init__(
        self,
        heads: Mapping[str, Head],
        targets: Mapping[str, str] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        if not heads:
            raise InputError("MultiTaskHeads needs at least one head")
        for task, head in heads.items():
            if not isinstance(head, Head):
                raise InputError(f"task {task!r}: expected a Head, got {type(head).__name__}")
            if (
                not isinstance(task, str)
                or not task
                or "." in task
                or task in _RESERVED
                or hasattr(type(self), task)
            ):
                raise InputError(f"invalid task name {task!r} (empty, dotted or reserved)")
        super().__init__(dict(heads))
        self.target_keys = {task: task for task in heads}
        self.target_keys.update(self._known(targets or {}, "targets"))
        self.weights = {task: 1.0 for task in heads} | self._validated(weights or {})

    def _known(self, mapping: Mapping[str, Any], what: str) -> dict[str, Any]:
        unknown = sorted(set(mapping) - set(self.keys()))
        if unknown:
            raise InputError(f"{what} name unknown tasks {unknown}; tasks: {list(self.keys())}")
        return dict(mapping)

    def _validated(self, weights: Mapping[str, float]) -> dict[str, float]:
        out = {}
        for task, w in self._known(weights, "weights").items():
            if not float(w) >= 0:
                raise InputError(f"task {task!r}: loss weight must be ≥ 0, got {w}")
            out[task] = float(w)
        return out

    @classmethod
    def from_config(cls, in_dim: int, config: Mapping[str, Mapping[str, Any]]) -> MultiTaskHeads:
        """Build from ``{task: {"name": registered head, "target": key, "weight": w, ...}}``.

        Other keys are the head's arguments; ``in_dim`` is set for every head.

        Raises:
            ConfigError: When a task lacks ``name``.

        Examples:
            >>> heads = MultiTaskHeads.from_config(8, {"y": {"name": "multiclass",
            ...                                              "n_classes": 3, "target": "dx"}})
            >>> type(heads["y"]).__name__, heads.target_keys["y"]
            ('MulticlassHead', 'dx')
        """
        from biomm.registries import HEADS

        heads, targets, weights = {}, {}, {}
        for task, spec in config.items():
            if "name" not in spec:
                raise ConfigError(f"head of task {task!r} lacks 'name' (one of {HEADS.names()})")
            kwargs = {k: v for k, v in spec.items() if k not in ("name", "target", "weight")}
            heads[task] = HEADS.build(spec["name"], in_dim=in_dim, **kwargs)
            if "target" in spec:
                targets[task] = spec["target"]
            if "weight" in spec:
                weights[task] = spec["weight"]
        return cls(heads, targets=targets, weights=weights)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every head's raw output, by task name.

        Examples:
            >>> from biomm.heads.classification import BinaryHead
            >>> MultiTaskHeads({"y": BinaryHead(2)})(torch.zeros(3, 2))["y"].shape
            torch.Size([3, 1])
        """
        return {task: head(z) for task, head in self.items()}

    def loss(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        weights: Mapping[str, float] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted sum of the per-task masked losses.

        Args:
            outputs: Task name → raw output (from :meth:`forward`).
            targets: Target key → ``[B, ...]`` tensor (a :class:`biomm.data.Batch`'s
                ``targets``); a missing key means the target is unknown for every sample.
            masks: Target key → ``[B]`` bool known-mask (default all known when the target is
                given without a mask).
            weights: Per-call weights of some tasks (the others keep their init weights).

        Returns:
            ``(total, per_task)``: the scalar total and each task's unweighted loss (tensors
            in the graph, so callers may re-weight them).

        Raises:
            InputError: When an output is missing for a task, or weights name unknown tasks.

        Examples:
            >>> from biomm.heads.classification import BinaryHead
            >>> heads = MultiTaskHeads({"y": BinaryHead(2)})
            >>> out = heads(torch.randn(2, 2))
            >>> total, _ = heads.loss(out, {"y": torch.ones(2)}, {"y": torch.zeros(2, dtype=bool)})
            >>> total.item(), total.requires_grad
            (0.0, True)
        """
        task_weights = {**self.weights, **self._validated(weights or {})}
        total: torch.Tensor | None = None
        per_task: dict[str, torch.Tensor] = {}
        for task, head in self.items():
            if task not in outputs:
                raise InputError(f"no output for task {task!r}; outputs: {sorted(outputs)}")
            output = outputs[task]
            key = self.target_keys[task]
            if key in targets:
                target = targets[key]
                mask = masks.get(key)
                if mask is None:
                    mask = torch.ones(output.shape[0], dtype=torch.bool, device=output.device)
                task_loss = head.loss(output, target, mask)
            else:
                task_loss = (output.float() * 0.0).sum()  # unknown for all: 0, still in graph
            per_task[task] = task_loss
            term = task_weights[task] * task_loss
            total = term if total is None else total + term
        assert total is not None
        return total, per_task

    def predict(self, outputs: Mapping[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
        """Every head's predictions, by task name.

        Examples:
            >>> from biomm.heads.classification import BinaryHead
            >>> heads = MultiTaskHeads({"y": BinaryHead(2)})
            >>> heads.predict(heads(torch.zeros(1, 2)))["y"]["probability"].shape
            torch.Size([1])
        """
        return {task: head.predict(outputs[task]) for task, head in self.items()}
