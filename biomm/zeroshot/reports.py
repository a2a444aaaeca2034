"""Zero-shot labelling of free-text reports: which findings does a report state?

Built on the shared zero-shot core: prompt embeddings come from
:func:`~biomm.zeroshot.classifier.build_class_embeddings` (open_clip style: every template
embedded, L2-normalised, averaged, renormalised), findings may be given as a
:class:`~biomm.zeroshot.prompts.PromptSet`, top-k pooling is
:func:`~biomm.zeroshot.mil.topk_pool`, and evaluation uses
:func:`~biomm.zeroshot.metrics.classification_metrics`.

Two prompt modes:

- ``pairs`` (default, CheXzero style): per finding a positive prompt ("there is pleural
  effusion") and a negative one ("there is no pleural effusion"); the probability is the
  softmax over the pair of temperature × cosine similarity, i.e.
  ``sigmoid(T · (cos(x, pos) − cos(x, neg)))``.
- ``names``: the finding's name alone; the score is the cosine similarity (not a
  probability: fine for ranking, no ``noisy_or``).

Prompt ensembles (several templates per side) are averaged **in embedding space** by default
(``ensemble="embedding"``); ``ensemble="probability"`` instead scores each template pair
(the i-th positive with the i-th negative) and averages the probabilities.

Levels: ``report`` embeds the (cleaned) report text once (long texts chunked by the
encoder); ``sentence`` scores every sentence and aggregates per finding with ``max``,
``mean``, ``noisy_or`` (``1 − Π(1 − p)``), ``topk_mean`` (mean of the ``k`` highest) or
``attention`` (mean weighted by ``softmax(T · relevance)``, relevance being the sentence's
larger similarity to the finding's prompts: sentences about the finding count, others not).

Examples:
    >>> import torch
    >>> vocab = ["effusion", "no", "edema"]
    >>> def enc(texts):  # bag of words over a tiny vocabulary
    ...     words = [t.lower().replace(".", " ").split() for t in texts]
    ...     return torch.tensor([[float(v in w) for v in vocab] + [0.1] for w in words])
    >>> df = score_reports(["No effusion. Mild edema.", "Large effusion"],
    ...                    ["effusion", "edema"], encoder=enc,
    ...                    positive_templates=["{}"], negative_templates=["no {}"])
    >>> bool(df.loc[1, "effusion"] > df.loc[0, "effusion"]), bool(df.loc[0, "edema"] > 0.5)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from biomm.errors import InputError
from biomm.zeroshot.classifier import TextEncoderFn, build_class_embeddings
from biomm.zeroshot.mil import topk_pool

#: Positive templates (all of them: the default ensemble; the first alone: a single prompt).
POSITIVE_TEMPLATES = (
    "there is {}",
    "{} is observed",
    "signs of {}",
    "{}",
    "findings of {}",
)
#: Negative templates, paired with :data:`POSITIVE_TEMPLATES` by position.
NEGATIVE_TEMPLATES = (
    "there is no {}",
    "{} is not observed",
    "no signs of {}",
    "no {}",
    "no findings of {}",
)
AGGREGATES = ("max", "mean", "noisy_or", "topk_mean", "attention")
LEVELS = ("sentence", "report")
PROMPT_MODES = ("pairs", "names")
ENSEMBLES = ("embedding", "probability")


def as_text_encoder(encoder: Any) -> TextEncoderFn:
    """A function texts → ``[N, D]`` tensor from an encoder-like object.

    Accepts a :class:`~biomm.reports.embedding.ReportEmbedder` (its ``embed``), anything with
    ``encode_text`` (:class:`~biomm.encoders.text.HFTextEncoder`, MERL models), a model
    name for a new ``ReportEmbedder``, or a callable.

    Examples:
        >>> as_text_encoder(lambda t: torch.ones(len(t), 2))(["a"]).shape
        torch.Size([1, 2])
    """
    if isinstance(encoder, str):
        from biomm.reports.embedding import ReportEmbedder

        encoder = ReportEmbedder(encoder, clean=False)
    if hasattr(encoder, "embed") and hasattr(encoder, "load"):
        return lambda texts: torch.from_numpy(encoder.embed(list(texts)))
    if hasattr(encoder, "encode_text"):
        return encoder.encode_text
    if callable(encoder):
        return encoder
    raise InputError(f"cannot use {type(encoder).__name__} as a text encoder")


def _finding_names(findings: Any) -> tuple[list[str], dict[str, list[str]] | None]:
    if isinstance(findings, (list, tuple)) and all(isinstance(f, str) for f in findings):
        return list(findings), None
    from biomm.zeroshot.prompts import get_prompt_set

    prompt_set = get_prompt_set(findings)
    return prompt_set.class_names, prompt_set.descriptions("knowledge")


class ReportZeroShot:
    """Finding probabilities for reports from positive/negative (or name) prompts.

    Args:
        encoder: Text encoder (see :func:`as_text_encoder`); the same one embeds prompts
            and reports.
        findings: Finding names, or a prompt set (registered name, YAML, dict,
            :class:`~biomm.zeroshot.prompts.PromptSet`) whose knowledge descriptions join the
            positive prompts.
        prompts: ``pairs`` or ``names``.
        positive_templates: Templates with ``{}`` for positive prompts.
        negative_templates: Templates for negative prompts (``pairs`` mode).
        ensemble: ``embedding`` (average prompt embeddings) or ``probability`` (average the
            per-pair probabilities; needs as many negative as positive templates).
        temperature: Logit scale on cosine similarities.

    Raises:
        InputError: On unknown modes or mismatched template lists.

    Examples:
        >>> enc = lambda texts: torch.tensor([[1.0, float("no" in t)] for t in texts])
        >>> zs = ReportZeroShot(enc, ["effusion"], positive_templates=["{}"],
        ...                     negative_templates=["no {}"])
        >>> zs.probabilities(enc(["no effusion", "effusion"])).squeeze(1).round().tolist()
        [0.0, 1.0]
    """

    def __init__(
        self,
        encoder: Any,
        findings: Any,
        *,
        prompts: str = "pairs",
        positive_templates: Sequence[str] = POSITIVE_TEMPLATES,
        negative_templates: Sequence[str] = NEGATIVE_TEMPLATES,
        ensemble: str = "embedding",
        temperature: float = 100.0,
    ) -> None:
        for value, allowed, what in (
            (prompts, PROMPT_MODES, "prompts"),
            (ensemble, ENSEMBLES, "ensemble"),
        ):
            if value not in allowed:
                raise InputError(f"{what} must be one of {allowed}, got {value!r}")
        if (
            prompts == "pairs"
            and ensemble == "probability"
            and len(positive_templates) != len(negative_templates)
        ):
            raise InputError(
                "ensemble='probability' pairs templates by position: give as many "
                f"negative ({len(negative_templates)}) as positive "
                f"({len(positive_templates)}) templates"
            )
        self.encode_text = as_text_encoder(encoder)
        self.findings, descriptions = _finding_names(findings)
        self.prompts = prompts
        self.ensemble = ensemble if prompts == "pairs" else "embedding"
        self.temperature = float(temperature)
        self.positive_templates = ["{}"] if prompts == "names" else list(positive_templates)
        self.negative_templates = [] if prompts == "names" else list(negative_templates)
        if self.ensemble == "probability":
            pairs = zip(self.positive_templates, self.negative_templates, strict=True)
            self.positive_ = torch.stack(
                [self._embed([p], descriptions) for p, _ in pairs]
            )  # [T, F, D]
            self.negative_ = torch.stack([self._embed([n]) for n in self.negative_templates])
        else:
            self.positive_ = self._embed(self.positive_templates, descriptions)[None]
            self.negative_ = (
                self._embed(self.negative_templates)[None] if self.negative_templates else None
            )

    def _embed(
        self, templates: Sequence[str], descriptions: dict[str, list[str]] | None = None
    ) -> torch.Tensor:
        return build_class_embeddings(self.encode_text, self.findings, templates, descriptions)

    def similarities(self, embeddings: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Cosine similarities ``[T, N, F]`` to the positive and negative prompts."""
        x = F.normalize(torch.as_tensor(embeddings).float(), dim=-1)
        if x.shape[-1] != self.positive_.shape[-1]:
            raise InputError(
                f"embeddings have {x.shape[-1]} dimensions, the prompts "
                f"{self.positive_.shape[-1]}: embed reports with the prompts' encoder"
            )
        pos = torch.einsum("nd,tfd->tnf", x, self.positive_)
        neg = None if self.negative_ is None else torch.einsum("nd,tfd->tnf", x, self.negative_)
        return pos, neg

    def probabilities(self, embeddings: Any) -> torch.Tensor:
        """Scores ``[N, F]``: pair probabilities, or cosine similarities in ``names`` mode."""
        pos, neg = self.similarities(embeddings)
        if neg is None:
            return pos.mean(0)
        return torch.sigmoid(self.temperature * (pos - neg)).mean(0)

    def relevance(self, embeddings: Any) -> torch.Tensor:
        """How much each text is about each finding ``[N, F]``: its larger prompt similarity."""
        pos, neg = self.similarities(embeddings)
        both = pos if neg is None else torch.maximum(pos, neg)
        return both.mean(0)

    def aggregate(
        self, embeddings: Any, aggregate: str = "attention", *, k: int = 2
    ) -> torch.Tensor:
        """Per-finding report scores ``[F]`` from the embeddings ``[S, D]`` of its sentences.

        Examples:
            >>> enc = lambda texts: torch.tensor([[1.0, float("no" in t)] for t in texts])
            >>> zs = ReportZeroShot(enc, ["x"], positive_templates=["{}"],
            ...                     negative_templates=["no {}"], temperature=10)
            >>> sents = enc(["no x", "x"])
            >>> [round(float(zs.aggregate(sents, a)), 2) for a in ("max", "mean", "noisy_or")]
            [0.95, 0.5, 0.95]
        """
        if aggregate not in AGGREGATES:
            raise InputError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        if aggregate == "noisy_or" and self.prompts == "names":
            raise InputError("noisy_or needs probabilities: use prompts='pairs'")
        p = self.probabilities(embeddings)
        if aggregate == "max":
            return p.max(0).values
        if aggregate == "mean":
            return p.mean(0)
        if aggregate == "noisy_or":
            return 1 - torch.exp(torch.log1p(-p.clamp(max=1 - 1e-7)).sum(0))
        if aggregate == "topk_mean":
            return topk_pool(p, k)
        weights = (self.temperature * self.relevance(embeddings)).softmax(0)
        return (weights * p).sum(0)

    def score(
        self,
        texts: Sequence[str],
        *,
        level: str = "sentence",
        aggregate: str = "attention",
        k: int = 2,
        section: Sequence[str] | None = None,
        clean: bool = True,
    ) -> pd.DataFrame:
        """Scores ``[reports, findings]`` as a DataFrame (NaN for a report without text).

        Args:
            texts: Report texts (a Series keeps its index).
            level: ``sentence`` or ``report``.
            aggregate: Sentence aggregation (see :data:`AGGREGATES`).
            k: Sentences averaged by ``topk_mean``.
            section: Only these sections (first present), else the whole report.
            clean: Clean the text (:func:`~biomm.io.reports.clean_text`) first.

        Examples:
            >>> enc = lambda texts: torch.tensor([[1.0, float("no" in t)] for t in texts])
            >>> zs = ReportZeroShot(enc, ["x"], positive_templates=["{}"],
            ...                     negative_templates=["no {}"])
            >>> zs.score(["FINDINGS: no x.", "x."], level="report")["x"].round(2).tolist()
            [0.0, 1.0]
        """
        if level not in LEVELS:
            raise InputError(f"level must be one of {LEVELS}, got {level!r}")
        index = texts.index if isinstance(texts, pd.Series) else None
        prepared = [prepare_text(str(t), section=section, clean=clean) for t in texts]
        out = np.full((len(prepared), len(self.findings)), np.nan)
        if level == "report":
            keep = [i for i, t in enumerate(prepared) if t]
            if keep:
                emb = self.encode_text([prepared[i] for i in keep])
                out[keep] = self.probabilities(emb).numpy()
        else:
            sentences = [report_sentences(t) for t in prepared]
            unique = list(dict.fromkeys(s for group in sentences for s in group))
            if unique:
                emb = torch.as_tensor(self.encode_text(unique)).float()
                row = {s: i for i, s in enumerate(unique)}
                for i, group in enumerate(sentences):
                    if group:
                        idx = torch.tensor([row[s] for s in group])
                        out[i] = self.aggregate(emb[idx], aggregate, k=k).numpy()
        frame = pd.DataFrame(out, columns=self.findings, index=index)
        frame.attrs.update(self.settings(), level=level, aggregate=aggregate, k=k)
        return frame

    def explain(self, text: str, *, section: Sequence[str] | None = None) -> pd.DataFrame:
        """Per-sentence scores of one report: sentences (index) × findings.

        Examples:
            >>> enc = lambda texts: torch.tensor([[1.0, float("no" in t)] for t in texts])
            >>> zs = ReportZeroShot(enc, ["x"], positive_templates=["{}"],
            ...                     negative_templates=["no {}"])
            >>> zs.explain("no x. Big x.")["x"].round(2).tolist()
            [0.0, 1.0]
        """
        sentences = report_sentences(prepare_text(text, section=section))
        if not sentences:
            return pd.DataFrame(columns=self.findings)
        scores = self.probabilities(self.encode_text(sentences)).numpy()
        return pd.DataFrame(
            scores, index=pd.Index(sentences, name="sentence"), columns=self.findings
        )

    def settings(self) -> dict[str, Any]:
        """The prompt settings (recorded in ``DataFrame.attrs`` of :meth:`score`)."""
        return {
            "prompts": self.prompts,
            "ensemble": self.ensemble,
            "temperature": self.temperature,
            "positive_templates": list(self.positive_templates),
            "negative_templates": list(self.negative_templates),
            "score": "probability" if self.prompts == "pairs" else "cosine similarity",
        }


def prepare_text(text: str, *, section: Sequence[str] | None = None, clean: bool = True) -> str:
    """The part of a report that is scored: a preferred section or all, cleaned.

    Examples:
        >>> prepare_text("FINDINGS: a.\\nIMPRESSION: b.\\nDictated by: ___", section=["impression"])
        'b.'
    """
    from biomm.io.reports import choose_section, clean_text, split_sections

    if section:
        sections = split_sections(text)
        name = choose_section(sections, section)
        if name is not None:
            text = sections[name]
    return clean_text(text) if clean else text


def report_sentences(text: str) -> list[str]:
    """Sentences of a report with its section headers removed.

    Examples:
        >>> report_sentences("FINDINGS:\\nNo effusion. Heart normal.\\nIMPRESSION: Normal.")
        ['No effusion.', 'Heart normal.', 'Normal.']
    """
    from biomm.io.reports import split_sentences, strip_headers

    return split_sentences(strip_headers(text))


def score_reports(
    texts: Sequence[str],
    findings: Any,
    *,
    encoder: Any = "minilm",
    level: str = "sentence",
    aggregate: str = "attention",
    prompts: str = "pairs",
    positive_templates: Sequence[str] = POSITIVE_TEMPLATES,
    negative_templates: Sequence[str] = NEGATIVE_TEMPLATES,
    ensemble: str = "embedding",
    temperature: float = 100.0,
    k: int = 2,
    section: Sequence[str] | None = None,
    clean: bool = True,
) -> pd.DataFrame:
    """Zero-shot finding scores for reports: a DataFrame reports × findings.

    One call of :class:`ReportZeroShot` then :meth:`ReportZeroShot.score`; see there for
    the arguments. Scores are probabilities with ``prompts="pairs"`` and cosine
    similarities with ``prompts="names"``; ``frame.attrs`` records every setting.

    Examples:
        >>> df = score_reports(["Large left pleural effusion.", "No pleural effusion."],
        ...                    ["pleural effusion"])
        >>> bool(df.iloc[0, 0] > df.iloc[1, 0]), df.attrs["score"]
        (True, 'probability')
    """
    model = ReportZeroShot(
        encoder,
        findings,
        prompts=prompts,
        positive_templates=positive_templates,
        negative_templates=negative_templates,
        ensemble=ensemble,
        temperature=temperature,
    )
    return model.score(texts, level=level, aggregate=aggregate, k=k, section=section, clean=clean)
