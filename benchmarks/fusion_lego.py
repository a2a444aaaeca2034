"""MM-Lego: merging independently trained unimodal blocks vs end-to-end multimodal fusion.

Controlled synthetic task (``biomm.demo.multimodal``, four modalities of decreasing
informativeness). Each LegoBlock is trained on ONE modality (unimodal training: a block never
sees another modality, so no paired multimodal data is needed; ``--disjoint`` also gives each
block its own share of the patients). Then:

- ``LegoMerge`` combines the blocks with no training at all (latent ``mean``/``harmonic``,
  heads merged by SLERP);
- ``LegoFuse`` (``stack`` and ``weave``) starts from the blocks and is fine-tuned for a few
  epochs on paired training data;
- end-to-end baselines (``concat``, ``attention``, ``multimodn``) train on all paired data.

Prints test AUROC (mean ± sd over seeds). No threshold asserted.

Run: python benchmarks/fusion_lego.py [--patients 3000] [--seeds 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from biomm.demo.multimodal import synthetic_multimodal
from biomm.fusion.lego import LegoBlock, LegoFuse, LegoMerge
from biomm.train.model import build_model
from biomm.train.trainer import EmbeddingDataset, TrainSettings, fit, predict

BLOCK = {"latent_dim": 32, "num_latents": 8, "depth": 2, "num_heads": 4, "head": 1}


def tensors(data, rows):
    x = {m: torch.from_numpy(v[rows]) for m, v in data.embeddings.items()}
    present = {m: torch.ones(len(rows), dtype=torch.bool) for m in x}
    return x, present, torch.from_numpy(data.labels[rows]).float()


def train_loop(forward, params, x, present, y, epochs, lr, seed, batch=64):
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=generator).split(batch):
            logits = forward(
                {m: v[idx] for m, v in x.items()}, {m: p[idx] for m, p in present.items()}
            )
            loss = F.binary_cross_entropy_with_logits(logits.reshape(-1), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def auc(y, logits) -> float:
    return float(roc_auc_score(y.numpy(), logits.detach().reshape(-1).numpy()))


def run(args: argparse.Namespace, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    data = synthetic_multimodal(args.patients, seed=seed)
    rows = np.random.default_rng(seed).permutation(args.patients)
    train_rows, test_rows = rows[: int(0.8 * len(rows))], rows[int(0.8 * len(rows)) :]
    x, present, y = tensors(data, train_rows)
    xt, pt, yt = tensors(data, test_rows)
    mods = list(x)
    results: dict[str, float] = {}
    blocks = {}
    for k, m in enumerate(mods):  # unimodal; with --disjoint each on its own share of patients
        part = torch.arange(len(y))
        if args.disjoint:
            part = part[part % len(mods) == k]
        block = LegoBlock(x[m].shape[1], **BLOCK)
        train_loop(
            lambda xs, ps, b=block, m=m: b.head_output(xs[m]),
            block.parameters(),
            {m: x[m][part]},
            {m: present[m][part]},
            y[part],
            args.block_epochs,
            3e-3,
            seed + k,
        )
        blocks[m] = block.eval()
        with torch.no_grad():
            results[f"block {m} alone"] = auc(yt, block.head_output(xt[m]))
    with torch.no_grad():
        for merge in ("mean", "harmonic"):
            lego = LegoMerge.from_blocks(blocks, latent_merge=merge, head_merge="slerp").eval()
            results[f"LegoMerge {merge} (no training)"] = auc(yt, lego.merged_head(lego(xt, pt)))
    for mode in ("stack", "weave"):
        fuse = LegoFuse.from_blocks(blocks, mode=mode)
        fuse.train()
        train_loop(
            lambda xs, ps, f=fuse: f.merged_head(f(xs, ps)),
            fuse.parameters(),
            x,
            present,
            y,
            args.fuse_epochs,
            1e-3,
            seed,
        )
        fuse.eval()
        with torch.no_grad():
            results[f"LegoFuse {mode} ({args.fuse_epochs} epochs)"] = auc(
                yt, fuse.merged_head(fuse(xt, pt))
            )
    train = EmbeddingDataset.from_synthetic(data.subset(train_rows))
    test = EmbeddingDataset.from_synthetic(data.subset(test_rows))
    for name in ("concat", "attention", "multimodn"):
        spec = {
            "embed_dims": train.embed_dims,
            "fusion": {"name": name, "out_dim": 32},
            "heads": {"label": {"name": "binary"}},
        }
        model = build_model(spec)
        train.targets = {"label": train.targets["label"]}
        fit(model, train, None, TrainSettings(epochs=args.e2e_epochs, lr=2e-3, seed=seed))
        out = predict(model, test)
        results[f"end-to-end {name}"] = float(
            roc_auc_score(
                test.targets["label"],
                np.asarray(out["predictions"]["label"]["probability"]).reshape(-1),
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--block-epochs", type=int, default=30)
    parser.add_argument("--fuse-epochs", type=int, default=10)
    parser.add_argument("--disjoint", action="store_true", help="blocks on disjoint patients")
    parser.add_argument("--e2e-epochs", type=int, default=40)
    args = parser.parse_args()
    runs = [run(args, seed) for seed in range(args.seeds)]
    where = "disjoint shares" if args.disjoint else "all training patients, one modality each"
    print(f"{args.patients} patients (80 % train; blocks: {where}), {args.seeds} seeds")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"{key:<40} {np.mean(values):.3f} ± {np.std(values):.3f}")


if __name__ == "__main__":
    main()
