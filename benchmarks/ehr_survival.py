"""Tabular EHR survival: the tabular transformer vs a Cox proportional-hazards model.

Data (bundled with lifelines, no download): ``load_gbsg2()`` (686 breast-cancer patients,
``time``/``cens``) and ``load_lung()`` (228 lung-cancer patients, ``time``/``status``: death
is event 1 — lifelines ships ``status`` as 0/1, R's copy as 1/2 with 2 = death, both are
read; 67 missing cells, no row or column dropped). Column kinds are inferred by
:func:`biomm.io.ehr.infer_column_types` and shared by every method.

Methods, all on the same stratified (by event) K folds of every repetition seed:

(a) ``coxph``: lifelines ``CoxPHFitter`` on one-hot categoricals (first training level is the
    reference) and raw numbers; missing cells (lung) are imputed with the **training** means
    of the design columns; the ridge ``penalizer`` is chosen from ``--penalizers`` on an inner
    validation split of the training fold, then the model is refitted on the whole fold.
(b) ``transformer+cox``: :class:`~biomm.encoders.tabular.TabularTransformer` (with its linear
    skip path) + the ``survival_cox`` head, full-batch AdamW on the Cox partial likelihood;
    the preprocessor is fitted on the training fold only.
(c) ``transformer+discrete``: the same encoder + the ``survival_discrete`` head
    (``--bins`` quantile bins of the training event times; risk = minus the RMST).

For (b) and (c): each configuration of the grid (``GRID``) is trained on 80 % of the training
fold with early stopping on the other 20 % (validation partial likelihood / discrete NLL); the
configuration with the best validation C-index is retrained on the whole training fold for its
early-stopped number of epochs with ``--ensemble`` seeds, whose risks are averaged. Training
hides 15 % of observed cells at random each epoch (cell dropout, a regulariser that also
teaches the model unobserved cells). The test folds are never used for any choice.

Robustness: 30 % of the test cells (``--mask-rate``) are hidden completely at random
(``--mask-seeds`` draws); the transformer gets them as unobserved, CoxPH gets the training
means. Prints a markdown table of mean ± sd Harrell C over folds × repetitions, the gap to
CoxPH, and each method's C under masking and its drop.

Run: python benchmarks/ehr_survival.py [--folds 5] [--seeds 0 1] [--ensemble 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from biomm.encoders.tabular import TabularTransformer
from biomm.eval.survival import harrell_c
from biomm.heads.survival import CoxHead, DiscreteTimeSurvivalHead, time_bins
from biomm.io.ehr import EHRPreprocessor, TabularBatch, infer_column_types


@dataclass(frozen=True)
class Dataset:
    """Features, survival targets and the column kinds shared by all methods."""

    name: str
    features: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    types: dict[str, str]


def load_dataset(name: str) -> Dataset:
    """GBSG2 or lung from lifelines, as features + (time, event)."""
    from lifelines.datasets import load_gbsg2, load_lung

    if name == "gbsg2":
        frame = load_gbsg2()
        time_, event = frame["time"], frame["cens"]
    elif name == "lung":
        frame = load_lung()
        # R's survival::lung codes status 1 = censored, 2 = dead; lifelines ships it as 0/1
        dead = 2 if frame["status"].max() == 2 else 1
        time_, event = frame["time"], (frame["status"] == dead).astype(int)
    else:
        raise SystemExit(f"unknown dataset {name!r}; use gbsg2 or lung")
    features = frame.drop(columns=["time", "cens", "status"], errors="ignore")
    features = features.reset_index(drop=True)
    types = infer_column_types(features)
    return Dataset(
        name,
        features,
        time_.to_numpy(np.float64),
        event.to_numpy(np.int64),
        {k: str(v) for k, v in types.items()},
    )


# ---- (a) CoxPH -------------------------------------------------------------------------------


def cox_design(
    train: pd.DataFrame, others: Sequence[pd.DataFrame], types: dict[str, str]
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One-hot categoricals (training levels, first = reference), train-mean imputation."""

    def encode(frame: pd.DataFrame, levels: dict[str, list[str]]) -> pd.DataFrame:
        parts = {}
        for col, kind in types.items():
            if kind == "categorical":
                text = frame[col].map(lambda v: None if pd.isna(v) else str(v))
                for level in levels[col][1:]:
                    parts[f"{col}={level}"] = np.where(
                        text.isna(), np.nan, (text == level).astype(float)
                    )
            elif kind == "continuous":
                parts[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        return pd.DataFrame(parts, index=frame.index)

    levels = {
        col: sorted({str(v) for v in train[col].dropna()})
        for col, kind in types.items()
        if kind == "categorical"
    }
    x_train = encode(train, levels)
    means = x_train.mean()
    keep = [c for c in x_train.columns if x_train[c].nunique(dropna=True) > 1]
    x_train = x_train[keep].fillna(means[keep])
    return x_train, [encode(f, levels)[keep].fillna(means[keep]) for f in others]


def fit_coxph(x: pd.DataFrame, time_: np.ndarray, event: np.ndarray, penalizer: float) -> Any:
    """A lifelines CoxPHFitter on a design matrix."""
    from lifelines import CoxPHFitter

    data = x.assign(_time=time_, _event=event)
    model = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, duration_col="_time", event_col="_event")
    return model


def coxph_risks(
    data: Dataset,
    train: np.ndarray,
    tests: Sequence[pd.DataFrame],
    inner: tuple[np.ndarray, np.ndarray],
    penalizers: Sequence[float],
) -> tuple[list[np.ndarray], float]:
    """Choose the penalizer on the inner split, refit on the fold, risks of each test frame."""
    t, e = data.time, data.event
    fit_rows, val_rows = train[inner[0]], train[inner[1]]
    best, best_c = penalizers[0], -np.inf
    for penalizer in penalizers:
        x_fit, (x_val,) = cox_design(
            data.features.iloc[fit_rows], [data.features.iloc[val_rows]], data.types
        )
        model = fit_coxph(x_fit, t[fit_rows], e[fit_rows], penalizer)
        c = harrell_c(t[val_rows], e[val_rows], model.predict_log_partial_hazard(x_val))
        if c > best_c:
            best, best_c = penalizer, c
    x_train, x_tests = cox_design(data.features.iloc[train], tests, data.types)
    model = fit_coxph(x_train, t[train], e[train], best)
    return [model.predict_log_partial_hazard(x).to_numpy() for x in x_tests], best


# ---- (b), (c) the tabular transformer ---------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Encoder and optimisation settings of one grid point."""

    dim: int = 32
    depth: int = 1
    heads: int = 4
    dropout: float = 0.1
    weight_decay: float = 1e-2
    lr: float = 3e-3
    cell_dropout: float = 0.15
    max_epochs: int = 200
    patience: int = 30


#: The grid searched on the inner validation split of every training fold.
GRID = (
    Config(dim=16, depth=1, weight_decay=1e-2),
    Config(dim=32, depth=2, weight_decay=1e-1),
)


def _tensors(batch: TabularBatch) -> tuple[torch.Tensor, torch.Tensor]:
    return batch.tensors()


class SurvivalModel(torch.nn.Module):
    """Tabular transformer + one survival head."""

    def __init__(self, cards: list[int], cfg: Config, head: str, edges: list[float]) -> None:
        super().__init__()
        self.encoder = TabularTransformer(
            cards, dim=cfg.dim, depth=cfg.depth, heads=cfg.heads, dropout=cfg.dropout, skip=True
        )
        if head == "cox":
            self.head: torch.nn.Module = CoxHead(self.encoder.embed_dim)
        else:
            self.head = DiscreteTimeSurvivalHead(self.encoder.embed_dim, edges=edges)

    def forward(self, values: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Head output."""
        return self.head(self.encoder(values, observed))

    def loss(self, values: torch.Tensor, observed: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The head's loss over all rows."""
        return self.head.loss(self(values, observed), y, torch.ones(len(y), dtype=torch.bool))

    @torch.no_grad()
    def risk(self, values: torch.Tensor, observed: torch.Tensor) -> np.ndarray:
        """Risk scores (higher = worse) in eval mode."""
        self.eval()
        return self.head.predict(self(values, observed))["risk"].double().numpy()


def train_model(
    cfg: Config,
    head: str,
    cards: list[int],
    train: tuple[TabularBatch, np.ndarray, np.ndarray],
    edges: list[float],
    seed: int,
    *,
    val: tuple[TabularBatch, np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
) -> tuple[SurvivalModel, int, float]:
    """Full-batch training; early stopping on ``val`` (or a fixed number of ``epochs``).

    Returns the model (best validation state), its epoch count and validation C-index.
    """
    batch, t, e = train
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = SurvivalModel(cards, cfg, head, edges)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    values, observed = _tensors(batch)
    y = torch.tensor(np.stack([t, e], 1), dtype=torch.float32)
    if val is not None:
        v_values, v_observed = _tensors(val[0])
        v_y = torch.tensor(np.stack([val[1], val[2]], 1), dtype=torch.float32)
    best_loss, best_epoch, best_state, waited = np.inf, 0, None, 0
    for epoch in range(1, (epochs or cfg.max_epochs) + 1):
        model.train()
        keep = torch.rand(observed.shape, generator=generator) >= cfg.cell_dropout
        loss = model.loss(values, observed & keep, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if val is None:
            continue
        model.eval()
        with torch.no_grad():
            val_loss = float(model.loss(v_values, v_observed, v_y))
        if val_loss < best_loss - 1e-4:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    if val is None:
        return model, epochs or cfg.max_epochs, float("nan")
    assert best_state is not None
    model.load_state_dict(best_state)
    c = harrell_c(val[1], val[2], model.risk(v_values, v_observed))
    return model, best_epoch, c


def prepare(
    data: Dataset, fit_rows: np.ndarray, frames: Sequence[pd.DataFrame]
) -> tuple[list[int], list[TabularBatch]]:
    """Fit the preprocessor on ``fit_rows`` only; cardinalities and each frame's batch."""
    prep = EHRPreprocessor(types=data.types).fit(data.features.iloc[fit_rows])
    return prep.cardinalities, [prep.transform(frame) for frame in frames]


def transformer_risks(
    data: Dataset,
    head: str,
    train: np.ndarray,
    tests: Sequence[pd.DataFrame],
    inner: tuple[np.ndarray, np.ndarray],
    args: argparse.Namespace,
    seed: int,
) -> tuple[list[np.ndarray], str]:
    """Grid search on the inner split, then an ensemble retrained on the whole fold."""
    t, e, feats = data.time, data.event, data.features
    fit_rows, val_rows = train[inner[0]], train[inner[1]]
    edges = time_bins(t[fit_rows], e[fit_rows], args.bins)
    cards, (fit_b, val_b) = prepare(data, fit_rows, [feats.iloc[fit_rows], feats.iloc[val_rows]])
    grid = [replace(c, max_epochs=args.max_epochs) for c in GRID]
    best: tuple[float, Config, int] | None = None
    for cfg in grid:
        _, epoch, c = train_model(
            cfg,
            head,
            cards,
            (fit_b, t[fit_rows], e[fit_rows]),
            edges,
            seed,
            val=(val_b, t[val_rows], e[val_rows]),
        )
        if best is None or c > best[0]:
            best = (c, cfg, epoch)
    assert best is not None
    _, cfg, epochs = best
    edges = time_bins(t[train], e[train], args.bins)
    cards, batches = prepare(data, train, [feats.iloc[train], *tests])
    risks = [np.zeros(len(f)) for f in tests]
    for k in range(args.ensemble):
        model, _, _ = train_model(
            cfg,
            head,
            cards,
            (batches[0], t[train], e[train]),
            edges,
            seed * 1000 + k,
            epochs=epochs,
        )
        for j, batch in enumerate(batches[1:]):
            r = model.risk(*_tensors(batch))
            risks[j] += (r - r.mean()) / max(r.std(), 1e-8) / args.ensemble
    return risks, f"dim={cfg.dim},depth={cfg.depth},wd={cfg.weight_decay}|epochs={epochs}"


# ---- the cross-validation ---------------------------------------------------------------------


def mcar_mask(frame: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    """Hide ``rate`` of the cells completely at random (NaN)."""
    rng = np.random.default_rng(seed)
    hidden = rng.random(frame.shape) < rate
    return frame.mask(hidden)


def fold_tasks(data: Dataset, args: argparse.Namespace) -> list[tuple[Any, ...]]:
    """``(data, rep, fold, train rows, test rows, inner split)`` for every outer fold."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    tasks = []
    for rep in args.seeds:
        folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=rep)
        for k, (train, test) in enumerate(folds.split(data.features, data.event)):
            inner = train_test_split(
                np.arange(len(train)),
                test_size=0.2,
                stratify=data.event[train],
                random_state=1000 * rep + k,
            )
            tasks.append((data, rep, k, train, test, tuple(inner)))
    return tasks


def run_fold(task: tuple[Any, ...], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every method on one outer fold; one result row per method."""
    data, rep, k, train, test, inner = task
    torch.set_num_threads(args.threads)
    clean = data.features.iloc[test]
    masked = [
        mcar_mask(clean, args.mask_rate, 10_000 * rep + 100 * k + s) for s in range(args.mask_seeds)
    ]
    tests = [clean, *masked]
    t, e = data.time[test], data.event[test]
    methods: dict[str, tuple[list[np.ndarray], str]] = {}
    start = time.perf_counter()
    cox, penalizer = coxph_risks(data, train, tests, inner, args.penalizers)
    methods["coxph"] = (cox, f"penalizer={penalizer}")
    for head in args.heads:
        methods[f"transformer+{head}"] = transformer_risks(
            data, head, train, tests, inner, args, rep
        )
    rows = []
    for method, (risks, chosen) in methods.items():
        masked_c = [harrell_c(t, e, r) for r in risks[1:]]
        rows.append(
            {
                "dataset": data.name,
                "rep": rep,
                "fold": k,
                "method": method,
                "c": harrell_c(t, e, risks[0]),
                "c_masked": float(np.mean(masked_c)) if masked_c else np.nan,
                "chosen": chosen,
            }
        )
    if args.verbose:
        done = {r["method"]: round(r["c"], 3) for r in rows}
        print(f"{data.name} rep {rep} fold {k}: {done} ({time.perf_counter() - start:.1f}s)")
    return rows


def run(tasks: Sequence[tuple[Any, ...]], args: argparse.Namespace) -> pd.DataFrame:
    """All folds, on ``args.jobs`` processes; one row per (dataset, rep, fold, method)."""
    if args.jobs <= 1:
        parts = [run_fold(task, args) for task in tasks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            parts = list(pool.map(run_fold, tasks, [args] * len(tasks)))
    return pd.DataFrame([row for part in parts for row in part])


def summarise(results: pd.DataFrame, mask_rate: float) -> str:
    """The markdown table."""
    lines = [
        "| dataset | method | Harrell C (mean ± sd) | gap to CoxPH | "
        f"C, {mask_rate:.0%} cells masked | drop |",
        "|---|---|---|---|---|---|",
    ]
    for name, part in results.groupby("dataset", sort=False):
        ref = part[part["method"] == "coxph"].set_index(["rep", "fold"])["c"]
        for method, rows in part.groupby("method", sort=False):
            c = rows["c"]
            gap = (rows.set_index(["rep", "fold"])["c"] - ref).mean()
            drop = (rows["c"] - rows["c_masked"]).mean()
            gap_text = "—" if method == "coxph" else f"{gap:+.3f}"
            lines.append(
                f"| {name} | {method} | {c.mean():.3f} ± {c.std(ddof=1):.3f} | {gap_text} | "
                f"{rows['c_masked'].mean():.3f} ± {rows['c_masked'].std(ddof=1):.3f} | "
                f"{drop:.3f} |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["gbsg2", "lung"])
    parser.add_argument("--folds", type=int, default=5, help="outer cross-validation folds")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="one repetition of the CV per seed"
    )
    parser.add_argument("--heads", nargs="+", default=["cox", "discrete"])
    parser.add_argument("--ensemble", type=int, default=3, help="transformer seeds averaged")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--bins", type=int, default=10, help="discrete-time bins")
    parser.add_argument("--penalizers", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--mask-rate", type=float, default=0.3)
    parser.add_argument("--mask-seeds", type=int, default=3)
    parser.add_argument("--subsample", type=int, default=0, help="use N random rows (smoke)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--jobs", type=int, default=2, help="folds run in parallel processes")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    tasks = []
    for name in args.datasets:
        data = load_dataset(name)
        if args.subsample:
            rows = np.random.default_rng(0).permutation(len(data.features))[: args.subsample]
            data = replace(
                data,
                features=data.features.iloc[rows].reset_index(drop=True),
                time=data.time[rows],
                event=data.event[rows],
            )
        print(f"{name}: {len(data.features)} rows, {int(data.event.sum())} events, {data.types}")
        tasks += fold_tasks(data, args)
    table = run(tasks, args)
    print()
    print(summarise(table, args.mask_rate))
    print("\nchosen on inner validation (count over folds; early-stopped epochs):")
    for (name, method), rows in table.groupby(["dataset", "method"], sort=False):
        configs = rows["chosen"].str.split("|").str[0].value_counts().to_dict()
        epochs = rows["chosen"].str.extract(r"epochs=(\d+)")[0].dropna().astype(int).tolist()
        print(f"  {name} {method}: {configs}" + (f"; epochs {epochs}" if epochs else ""))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
