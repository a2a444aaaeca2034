"""MultiModN: sequential, modular fusion with a prediction after every modality.

MultiModN (Swamy et al., "MultiModN — Multimodal, Multi-Task, Interpretable Modular Networks",
NeurIPS 2023) keeps a state vector. It starts from a learned initial state ``s0``; one encoder
per modality reads ``(state, x_m)`` and writes the next state; decoders (biomm heads) read the
state after **every** step, so each patient gets a prediction trajectory ``s0 → s1 → … → sM``
(the interpretability output). Missing modalities are skipped **per sample**:
``s ← m·enc(s, x) + (1 − m)·s``, so an absent modality leaves that sample's state bit-for-bit
unchanged and its (garbage) row never reaches a layer.

Encoding order: ``fixed`` (the modality order), ``random`` (one permutation per training
batch) or ``per_sample`` (one permutation per sample and training batch). In eval mode the
order is always the fixed one.

Training: apply each head to every state of :meth:`MultiModN.trajectory` and average the loss
over steps — :func:`multimodn_loss` does exactly that. As in the reference implementation, the
initial state is included by default (its decoder learns the prior); a step where a sample's
modality was absent repeats the previous state and is not counted again for that sample.

Examples:
    >>> import torch
    >>> from biomm.registries import FUSIONS
    >>> f = FUSIONS.build("multimodn", embed_dims={"ecg": 4, "ehr": 3}, out_dim=8)
    >>> x = {"ecg": torch.randn(2, 4), "ehr": torch.randn(2, 3)}
    >>> present = {"ecg": torch.tensor([True, False]), "ehr": torch.tensor([True, True])}
    >>> traj = f.trajectory(x, present)
    >>> len(traj.states), traj.labels(1)
    (3, ['initial', 'ecg (absent)', 'ehr'])
    >>> torch.equal(traj.states[1][1], traj.states[0][1])
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from biomm.errors import InputError
from biomm.fusion.base import Fusion
from biomm.registries import FUSIONS

ORDERS = ("fixed", "random", "per_sample")
UPDATES = ("gated", "residual", "replace")


class StateEncoder(nn.Module):
    """One modality's encoder: ``(state [B, S], x [B, D]) → next state [B, S]``.

    An MLP reads ``concat(state, x)``; the update is then

    * ``gated`` (default): ``s' = (1 − g)·s + g·tanh(c)`` with a sigmoid gate ``g``;
    * ``residual``: ``s' = s + c``;
    * ``replace``: ``s' = c`` (the reference implementation's MLP encoder).

    Args:
        state_dim: Size of the state.
        in_dim: Size of the modality's embedding.
        hidden: Hidden size of the MLP.
        update: ``"gated"``, ``"residual"`` or ``"replace"``.
        dropout: Dropout after the hidden layer.

    Examples:
        >>> import torch
        >>> enc = StateEncoder(state_dim=4, in_dim=3, hidden=8)
        >>> enc(torch.zeros(2, 4), torch.randn(2, 3)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        state_dim: int,
        in_dim: int,
        hidden: int = 128,
        update: str = "gated",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if update not in UPDATES:
            raise InputError(f"unknown state update {update!r}; choose one of {UPDATES}")
        if hidden <= 0 or not 0.0 <= dropout < 1.0:
            raise InputError(f"need hidden > 0 and dropout in [0, 1); got {hidden}, {dropout}")
        self.update = update
        self.body = nn.Sequential(
            nn.Linear(state_dim + in_dim, hidden), nn.GELU(), nn.Dropout(dropout)
        )
        self.candidate = nn.Linear(hidden, state_dim)
        self.gate = nn.Linear(hidden, state_dim) if update == "gated" else None

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The next state.

        Examples:
            >>> import torch
            >>> enc = StateEncoder(2, 2, hidden=4, update="residual")
            >>> _ = enc.candidate.weight.data.zero_(), enc.candidate.bias.data.zero_()
            >>> enc(torch.ones(1, 2), torch.ones(1, 2)).tolist()
            [[1.0, 1.0]]
        """
        h = self.body(torch.cat([state, x], dim=-1))
        c = self.candidate(h)
        if self.update == "replace":
            return c
        if self.update == "residual":
            return state + c
        assert self.gate is not None
        g = torch.sigmoid(self.gate(h))
        return (1 - g) * state + g * torch.tanh(c)


@dataclass
class Trajectory:
    """The states of a MultiModN pass and the order that produced them.

    Attributes:
        states: ``M + 1`` tensors ``[B, S]``: the initial state, then the state after each step.
        order: ``[B, M]`` int64, the index (into ``modalities``) encoded at step ``k + 1``.
        applied: ``[B, M]`` bool, True where step ``k + 1`` updated the sample (modality present).
        modalities: The fusion's modality names.

    Examples:
        >>> import torch
        >>> t = Trajectory([torch.zeros(1, 2)] * 3, torch.tensor([[1, 0]]),
        ...                torch.tensor([[True, False]]), ("a", "b"))
        >>> t.labels(0), t.final.shape
        (['initial', 'b', 'a (absent)'], torch.Size([1, 2]))
    """

    states: list[torch.Tensor]
    order: torch.Tensor
    applied: torch.Tensor
    modalities: tuple[str, ...]

    @property
    def final(self) -> torch.Tensor:
        """The state after the last step, ``[B, S]``."""
        return self.states[-1]

    def labels(self, sample: int) -> list[str]:
        """Step labels of one sample: ``'initial'``, then modality names (skipped: ``' (absent)'``).

        Examples:
            >>> import torch
            >>> t = Trajectory([torch.zeros(1, 1)] * 2, torch.tensor([[0]]),
            ...                torch.tensor([[True]]), ("ecg",))
            >>> t.labels(0)
            ['initial', 'ecg']
        """
        names = ["initial"]
        for idx, done in zip(
            self.order[sample].tolist(), self.applied[sample].tolist(), strict=True
        ):
            names.append(self.modalities[idx] + ("" if done else " (absent)"))
        return names


@FUSIONS.register("multimodn")
class MultiModN(Fusion):
    """MultiModN sequential fusion (state size = ``out_dim``).

    ``forward`` returns the final state; :meth:`steps` returns every state (``M + 1``, so heads
    can predict after each step) and :meth:`trajectory` also returns the order used, to label
    the steps. Train with :func:`multimodn_loss`.

    Args:
        embed_dims: Modality name → embedding size; the fixed encoding order.
        out_dim: State size (the representation heads read).
        hidden: Hidden size of each modality's :class:`StateEncoder`.
        order: ``"fixed"``, ``"random"`` (per batch) or ``"per_sample"``; training only.
        update: State update of the default encoders (see :class:`StateEncoder`).
        dropout: Dropout inside the default encoders.
        encoders: Optional modality → module ``(state, x) → state`` replacing the default
            encoders (for example, an encoder that reads raw data). Encoders must treat rows
            independently (no batch norm), or absent rows could leak into present ones.

    Each step runs one encoder on the whole batch and keeps its output only where the
    modality is present (no data-dependent branching, so no GPU synchronisation); with
    ``per_sample`` order every encoder runs at every step (``M²`` encoder calls, not ``M``).

    Examples:
        >>> import torch
        >>> f = MultiModN({"a": 2, "b": 3}, out_dim=4, hidden=8, order="per_sample")
        >>> x = {"a": torch.randn(5, 2), "b": torch.randn(5, 3)}
        >>> f(x, {}).shape
        torch.Size([5, 4])
        >>> f.eval().trajectory(x, {}).order.tolist()[0]
        [0, 1]
    """

    name = "multimodn"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        hidden: int = 128,
        order: str = "fixed",
        update: str = "gated",
        dropout: float = 0.0,
        encoders: Mapping[str, nn.Module] | None = None,
    ) -> None:
        super().__init__(embed_dims, out_dim)
        if order not in ORDERS:
            raise InputError(f"unknown encoding order {order!r}; choose one of {ORDERS}")
        self.order = order
        self.initial_state = nn.Parameter(torch.randn(self.out_dim) * 0.02)
        custom = dict(encoders or {})
        unknown = sorted(set(custom) - set(self.modalities))
        if unknown:
            raise InputError(f"encoders for unknown modalities {unknown}; have {self.modalities}")
        self.encoders = nn.ModuleDict(
            {
                m: custom[m]
                if m in custom
                else StateEncoder(self.out_dim, d, hidden, update, dropout)
                for m, d in self.embed_dims.items()
            }
        )

    def _order(
        self, batch: int, device: torch.device, order: Any
    ) -> tuple[torch.Tensor, list[int] | None]:
        """``[B, M]`` order, and the shared order as a list when the whole batch uses one.

        The shared order lives on the CPU, so choosing an encoder never waits for the GPU.
        """
        n = len(self.modalities)
        if order is None:
            if not self.training or self.order == "fixed":
                shared = list(range(n))
            elif self.order == "random":
                shared = torch.randperm(n).tolist()
            else:
                return torch.rand(batch, n, device=device).argsort(1), None
            return torch.tensor(shared, device=device).expand(batch, -1), shared
        if isinstance(order, torch.Tensor):
            idx = order.to(device=device, dtype=torch.long)
        else:
            names = list(order)
            bad = [m for m in names if m not in self.modalities]
            if bad:
                raise InputError(f"order names unknown modalities {bad}; have {self.modalities}")
            idx = torch.tensor([self.modalities.index(m) for m in names], device=device)
        one = idx.ndim == 1
        idx = idx.expand(batch, -1) if one else idx
        if idx.shape != (batch, n) or not torch.equal(
            idx.sort(1).values, torch.arange(n, device=device).expand(batch, -1)
        ):
            raise InputError(f"order must be a permutation of the {n} modalities per sample")
        return idx, idx[0].tolist() if one else None

    def trajectory(
        self,
        embeddings: Mapping[str, torch.Tensor],
        present: Mapping[str, torch.Tensor],
        order: Sequence[str] | torch.Tensor | None = None,
    ) -> Trajectory:
        """Run every step; return the states and the order used.

        Args:
            embeddings: Modality → ``[B, D_m]`` (absent rows may hold anything).
            present: Modality → ``[B]`` bool (a modality missing from ``embeddings`` is absent).
            order: Optional explicit order: modality names, a permutation ``[M]`` or one per
                sample ``[B, M]``. Default: the module's order policy (fixed in eval mode).

        Examples:
            >>> import torch
            >>> f = MultiModN({"a": 2, "b": 2}, out_dim=3, hidden=4)
            >>> t = f.trajectory({"a": torch.ones(1, 2), "b": torch.ones(1, 2)}, {},
            ...                  order=["b", "a"])
            >>> t.labels(0), len(t.states)
            (['initial', 'b', 'a'], 3)
        """
        masks = self.masks(embeddings, present)
        clean = self.clean(embeddings, masks)
        first = clean[self.modalities[0]]
        batch, device = first.shape[0], first.device
        idx, shared = self._order(batch, device, order)
        keep = torch.stack([masks[m] for m in self.modalities], 1)
        applied = keep.gather(1, idx)
        state = self.initial_state.to(first.dtype).expand(batch, -1)
        states = [state]
        for k in range(len(self.modalities)):
            if shared is not None:
                m = self.modalities[shared[k]]
                new = self.encoders[m](state, clean[m])
                state = torch.where(masks[m].unsqueeze(-1), new, state)
            else:
                prev = state
                for j, m in enumerate(self.modalities):
                    chosen = (idx[:, k] == j) & masks[m]
                    new = self.encoders[m](prev, clean[m])
                    state = torch.where(chosen.unsqueeze(-1), new, state)
            states.append(state)
        return Trajectory(states, idx, applied, self.modalities)

    def steps(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """The ``M + 1`` states ``[s0, s1, ..., sM]`` (use :meth:`trajectory` for the order).

        Examples:
            >>> import torch
            >>> f = MultiModN({"a": 2, "b": 2, "c": 2}, out_dim=3, hidden=4)
            >>> len(f.steps({"a": torch.ones(4, 2)}, {}))
            4
        """
        return self.trajectory(embeddings, present).states

    def forward(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """The final state ``[B, out_dim]``.

        Examples:
            >>> import torch
            >>> f = MultiModN({"a": 2}, out_dim=3, hidden=4)
            >>> out = f({"a": torch.ones(2, 2)}, {"a": torch.tensor([False, False])})
            >>> torch.equal(out, f.initial_state.expand(2, -1))
            True
        """
        return self.trajectory(embeddings, present).final


def multimodn_loss(
    trajectory: Trajectory | Sequence[torch.Tensor],
    heads: Mapping[str, nn.Module],
    targets: Mapping[str, torch.Tensor],
    target_masks: Mapping[str, torch.Tensor] | None = None,
    *,
    include_initial: bool = True,
    task_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """MultiModN's training loss: every head after every step, averaged over steps and tasks.

    For each task, the loss is the mean over all (sample, step) pairs that count: the sample's
    target is known, and the step updated the sample (a step whose modality the sample lacks
    repeats the previous state and is skipped; needs a :class:`Trajectory`, with a plain list of
    states every step counts). ``s0`` counts when ``include_initial`` (as in the reference
    implementation). Tasks are combined by a weighted mean (``task_weights``, default equal).
    Heads follow :class:`biomm.heads.base.Head`: ``head(z)`` and
    ``head.loss(output, target, mask)``, the mean over ``mask``.

    Args:
        trajectory: A :class:`Trajectory` or the list of states from :meth:`MultiModN.steps`.
        heads: Task → head (also a ``nn.ModuleDict``).
        targets: Task → target tensor ``[B, ...]`` (a task without a target is skipped).
        target_masks: Task → ``[B]`` bool, True where the target is known (default: all).
        include_initial: Count the prediction from the initial state ``s0``.
        task_weights: Task → weight of its loss.

    Returns:
        A scalar that always back-propagates (zero when nothing counts).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from biomm.heads.base import Head, masked_mean
        >>> class Reg(Head):
        ...     def __init__(self, d):
        ...         super().__init__(d)
        ...         self.lin = nn.Linear(d, 1)
        ...     def forward(self, z):
        ...         return self.lin(z).squeeze(-1)
        ...     def loss(self, out, target, mask):
        ...         return masked_mean((out - target) ** 2, mask)
        >>> f = MultiModN({"a": 2, "b": 2}, out_dim=4, hidden=8)
        >>> traj = f.trajectory({"a": torch.randn(3, 2), "b": torch.randn(3, 2)}, {})
        >>> loss = multimodn_loss(traj, {"y": Reg(4)}, {"y": torch.zeros(3)})
        >>> loss.ndim, loss.requires_grad
        (0, True)
    """
    if isinstance(trajectory, Trajectory):
        states, applied = trajectory.states, trajectory.applied
    else:
        states, applied = list(trajectory), None
    if not states:
        raise InputError("multimodn_loss needs at least one state")
    batch, device = states[0].shape[0], states[0].device
    start = 0 if include_initial else 1
    if start >= len(states):
        raise InputError("include_initial=False needs at least one encoding step")
    weights = dict(task_weights or {})
    total = states[0].new_zeros(())
    weight_sum = 0.0
    for task, head in heads.items():
        if task not in targets:
            continue
        known = (target_masks or {}).get(task)
        known = torch.ones(batch, dtype=torch.bool, device=device) if known is None else known
        known = known.to(device=device, dtype=torch.bool)
        task_sum = states[0].new_zeros(())
        count = states[0].new_zeros(())
        for k in range(start, len(states)):
            mask = known if k == 0 or applied is None else known & applied[:, k - 1]
            n = mask.sum().to(total.dtype)
            task_sum = task_sum + n * head.loss(head(states[k]), targets[task], mask)
            count = count + n
        w = float(weights.get(task, 1.0))
        total = total + w * task_sum / count.clamp_min(1.0)
        weight_sum += w
    return total / weight_sum if weight_sum > 0 else total
