"""MNAR shift: fusions trained where missingness is tied to the positive class, tested where it
is tied to the negative class (MultiModN, Swamy et al. 2023, Fig. 4's qualitative claim).

Controlled synthetic task (``biomm.demo.multimodal``): four modalities ``a``–``d`` of
decreasing informativeness about a binary label. Training and validation: modalities ``a`` and
``b`` are missing with probability ``--p-high`` for positives and ``--p-low`` for negatives
(MNAR). Test, same patients' distribution, three missingness regimes:

- ``same``: the training mechanism (no shift);
- ``flipped``: the mechanism tied to the negative class instead (MNAR shift);
- ``mcar``: missing completely at random at the same overall rate.

Prints test AUROC per fusion and regime, and the drop from ``same`` to ``flipped``. Each fusion
is trained by the same trainer with the same seed, heads and budget. No threshold asserted.

Run: python benchmarks/fusion_mnar.py [--patients 3000] [--seeds 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from biomm.demo.multimodal import synthetic_multimodal
from biomm.train.model import build_model
from biomm.train.trainer import EmbeddingDataset, TrainSettings, fit, predict

#: Label → (registered fusion, its arguments).
FUSIONS = {
    "concat": ("concat", {}),
    "late": ("late", {}),
    "attention": ("attention", {}),
    "multimodn": ("multimodn", {}),
    "multimodn-random": ("multimodn", {"order": "random"}),
    "multimodn-per-sample": ("multimodn", {"order": "per_sample"}),
}
SHIFTED = ("a", "b")


def mnar_masks(
    labels: np.ndarray, modalities: list[str], p_pos: float, p_neg: float, seed: int
) -> dict:
    """Drop the SHIFTED modalities with a label-dependent probability (others stay)."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    masks = {m: np.ones(n, bool) for m in modalities}
    p = np.where(labels == 1, p_pos, p_neg)
    for m in SHIFTED:
        masks[m] = rng.random(n) >= p
    return masks


def with_masks(data, masks: dict) -> EmbeddingDataset:
    ds = EmbeddingDataset.from_synthetic(data)
    ds.present = {m: masks[m].copy() for m in ds.embeddings}
    ds.targets = {"label": ds.targets["label"]}
    ds.target_masks = {"label": ds.target_masks["label"]}
    return ds


def run(args: argparse.Namespace, seed: int) -> dict[tuple[str, str], float]:
    data = synthetic_multimodal(args.patients, seed=seed)
    n = args.patients
    rows = np.random.default_rng(seed).permutation(n)
    parts = {
        "train": rows[: int(0.6 * n)],
        "val": rows[int(0.6 * n) : int(0.8 * n)],
        "test": rows[int(0.8 * n) :],
    }
    mods = list(data.embeddings)
    sets = {}
    for name in ("train", "val"):
        sub = data.subset(parts[name])
        sets[name] = with_masks(
            sub, mnar_masks(sub.labels, mods, args.p_high, args.p_low, seed + len(name))
        )
    test = data.subset(parts["test"])
    rate = (args.p_high + args.p_low) / 2
    regimes = {
        "same": mnar_masks(test.labels, mods, args.p_high, args.p_low, seed + 7),
        "flipped": mnar_masks(test.labels, mods, args.p_low, args.p_high, seed + 7),
        "mcar": mnar_masks(test.labels, mods, rate, rate, seed + 7),
    }
    results = {}
    for fusion, (name, kwargs) in FUSIONS.items():
        spec = {
            "embed_dims": sets["train"].embed_dims,
            "fusion": {"name": name, "out_dim": 32, **kwargs},
            "heads": {"label": {"name": "binary"}},
        }
        model = build_model(spec)
        settings = TrainSettings(epochs=args.epochs, batch_size=64, lr=2e-3, patience=8, seed=seed)
        fit(model, sets["train"], sets["val"], settings)
        for regime, masks in regimes.items():
            out = predict(model, with_masks(test, masks))
            probability = np.asarray(out["predictions"]["label"]["probability"]).reshape(-1)
            results[(fusion, regime)] = roc_auc_score(test.labels, probability)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--p-high", type=float, default=0.8)
    parser.add_argument("--p-low", type=float, default=0.1)
    args = parser.parse_args()
    runs = [run(args, seed) for seed in range(args.seeds)]
    print(
        f"{args.patients} patients, {args.seeds} seeds; a, b missing with p={args.p_high} "
        f"(positives) / {args.p_low} (negatives) in training"
    )
    print(f"{'fusion':<10} {'same':>14} {'flipped':>14} {'mcar':>14} {'drop same→flipped':>20}")
    for fusion in FUSIONS:
        cells = []
        for regime in ("same", "flipped", "mcar"):
            values = [r[(fusion, regime)] for r in runs]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        drop = [r[(fusion, "same")] - r[(fusion, "flipped")] for r in runs]
        print(f"{fusion:<10} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} {np.mean(drop):>20.3f}")


if __name__ == "__main__":
    main()
