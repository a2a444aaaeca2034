"""A controlled multimodal synthetic task: a shared latent, modality embeddings, labels, survival.

Each patient has a latent vector ``z``. The label and the survival hazard depend on ``z``;
every modality sees ``z`` through its own random linear map, scaled by the modality's
informativeness, plus modality-private structure and noise. So the value of each modality is
known and tunable, which is what fusion experiments under missingness need (MultiModN's MNAR
shift, MM-Lego merging).

Examples:
    >>> data = synthetic_multimodal(200, seed=0)
    >>> sorted(data.embeddings), data.embeddings["a"].shape, data.labels.mean().round(1)
    (['a', 'b', 'c', 'd'], (200, 16), np.float64(0.5))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from biomm.errors import InputError

#: Default modalities and how much of the shared latent each one carries.
DEFAULT_INFORMATIVENESS = {"a": 1.0, "b": 0.8, "c": 0.5, "d": 0.25}


@dataclass
class MultimodalData:
    """Synthetic cohort.

    Attributes:
        patient_ids: ``P00001``…
        embeddings: Modality → ``[N, D]`` float32.
        present: Modality → ``[N]`` bool (all True; simulate missingness separately).
        labels: ``[N]`` int (binary outcome).
        time: ``[N]`` survival or censoring time.
        event: ``[N]`` 1 = event observed.
        latent: ``[N, K]`` the shared latent (for audits).
    """

    patient_ids: list[str]
    embeddings: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    labels: np.ndarray
    time: np.ndarray
    event: np.ndarray
    latent: np.ndarray
    meta: dict[str, object] = field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> MultimodalData:
        """The patients at ``rows``.

        Examples:
            >>> synthetic_multimodal(50, seed=0).subset(np.arange(10)).labels.shape
            (10,)
        """
        return MultimodalData(
            [self.patient_ids[k] for k in rows],
            {m: x[rows] for m, x in self.embeddings.items()},
            {m: p[rows] for m, p in self.present.items()},
            self.labels[rows],
            self.time[rows],
            self.event[rows],
            self.latent[rows],
            dict(self.meta),
        )


def synthetic_multimodal(
    n: int,
    *,
    informativeness: Mapping[str, float] | None = None,
    dim: int = 16,
    latent_dim: int = 4,
    noise: float = 1.0,
    censoring: float = 0.3,
    seed: int = 0,
) -> MultimodalData:
    """Draw ``n`` patients with one embedding per modality, a binary label and survival.

    Args:
        n: Patients.
        informativeness: Modality → weight of the shared latent in its embedding (0 = pure
            noise).
        dim: Embedding size of every modality.
        latent_dim: Size of the shared latent.
        noise: Standard deviation of the per-modality noise.
        censoring: Approximate fraction of censored survival times.
        seed: Random seed.

    Raises:
        InputError: On non-positive sizes.
    """
    if n <= 0 or dim <= 0 or latent_dim <= 0:
        raise InputError(f"n, dim and latent_dim must be positive, got {n}, {dim}, {latent_dim}")
    weights = dict(informativeness or DEFAULT_INFORMATIVENESS)
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent_dim))
    direction = rng.normal(size=latent_dim)
    direction /= np.linalg.norm(direction)
    score = z @ direction
    labels = (score + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    hazard = np.exp(0.8 * score)
    event_time = rng.exponential(1.0 / hazard)
    censor_time = rng.exponential(np.quantile(event_time, 0.5) / max(censoring, 1e-3), size=n)
    time = np.minimum(event_time, censor_time)
    event = (event_time <= censor_time).astype(np.int64)
    embeddings = {}
    for m, w in weights.items():
        mixing = rng.normal(size=(latent_dim, dim)) / np.sqrt(latent_dim)
        private = rng.normal(size=(n, 2)) @ rng.normal(size=(2, dim))
        x = w * z @ mixing + 0.5 * private + noise * rng.normal(size=(n, dim))
        embeddings[m] = x.astype(np.float32)
    return MultimodalData(
        patient_ids=[f"P{k:05d}" for k in range(n)],
        embeddings=embeddings,
        present={m: np.ones(n, bool) for m in weights},
        labels=labels,
        time=time.astype(np.float32),
        event=event,
        latent=z.astype(np.float32),
        meta={"informativeness": weights, "seed": seed},
    )
