"""Report embeddings for cohorts: read → pick a section → clean → encode (chunked) → cache.

:class:`ReportEmbedder` is what ``biomm embed --modality report`` runs per manifest row:
:meth:`~ReportEmbedder.load` turns a reference (inline text or a file) into the text to embed
and raises :class:`~biomm.errors.ReportReadError` on unusable input, :meth:`~ReportEmbedder.embed`
turns texts into float32 vectors. The text model is loaded on first use.

Examples:
    >>> emb = ReportEmbedder(section=["impression", "findings"])
    >>> text = emb.load("FINDINGS: Small effusion.\\nIMPRESSION: Effusion.\\nDictated by: ___")
    >>> text, emb.item_info(text)["section"], emb.embed([text]).shape
    ('Effusion.', 'impression', (1, 384))
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.encoders.text import CHUNK_POOLINGS, LONG_TEXT, POOLINGS
from biomm.errors import ConfigError, ReportReadError
from biomm.io.reports import choose_section, clean_text, read_report

_MEMO_SIZE = 100_000


class ReportEmbedder:
    """Free-text reports → fixed-size float32 embeddings with a Hugging Face text model.

    Args:
        model: ``minilm`` (offline all-MiniLM-L6-v2), a local model folder or a hub id.
        pooling: Token pooling: ``mean``, ``cls`` or ``pooler``.
        section: None (the whole report), or canonical section names in order of preference
            (``["impression", "findings"]``); a report without any of them is embedded whole.
        clean: Apply :func:`~biomm.io.reports.clean_text` (boilerplate, white space, NFKC).
        long_text: ``chunk`` long reports and pool the chunks, or ``truncate`` them.
        cache_dir: Folder of an :class:`~biomm.reports.cache.EmbeddingCache` (None: no cache).
        device: Torch device of the model.
        max_length: Tokens per forward pass (the chunk window, special tokens included).
        chunk_stride: Tokens between chunk starts (None: no overlap).
        chunk_pooling: ``mean``, ``max`` or ``weighted_mean`` over chunks.
        normalize: L2-normalise the embeddings.
        batch_size: Texts or chunks per forward pass.
        headers: Section header spellings (see :func:`~biomm.io.reports.split_sections`).
        encoding: Codec for report files (None: detect).
        trust_pickle: Allow a model whose weights are only a pickle (``pytorch_model.bin``);
            it can run code when loaded (CLI: ``--set trust_pickle=true``).

    Raises:
        ConfigError: On an unknown pooling, long-text mode or chunk pooling.

    Examples:
        >>> ReportEmbedder(long_text="truncate").describe()["long_text"]
        'truncate'
    """

    def __init__(
        self,
        model: str | PathLike[str] = "minilm",
        pooling: str = "mean",
        section: str | Sequence[str] | None = None,
        clean: bool = True,
        long_text: str = "chunk",
        cache_dir: str | PathLike[str] | None = None,
        device: str = "cpu",
        *,
        max_length: int = 256,
        chunk_stride: int | None = None,
        chunk_pooling: str = "mean",
        normalize: bool = True,
        batch_size: int = 32,
        headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None = None,
        encoding: str | None = None,
        trust_pickle: bool = False,
    ) -> None:
        for value, allowed, what in (
            (pooling, POOLINGS, "pooling"),
            (long_text, LONG_TEXT, "long_text"),
            (chunk_pooling, CHUNK_POOLINGS, "chunk_pooling"),
        ):
            if value not in allowed:
                raise ConfigError(f"{what} must be one of {allowed}, got {value!r}")
        self.model = str(model)
        self.trust_pickle = bool(trust_pickle)
        self.pooling = pooling
        self.section = [section] if isinstance(section, str) else section
        self.clean = clean
        self.long_text = long_text
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.device = device
        self.max_length = max_length
        self.chunk_stride = chunk_stride
        self.chunk_pooling = chunk_pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.headers = headers
        self.encoding = encoding
        self._encoder: Any = None
        self._cache: Any = None
        self._sections: OrderedDict[str, str] = OrderedDict()

    @property
    def encoder(self) -> Any:
        """The :class:`~biomm.encoders.text.HFTextEncoder`, loaded on first use."""
        if self._encoder is None:
            from biomm.encoders.text import HFTextEncoder

            self._encoder = HFTextEncoder(
                self.model,
                pooling=self.pooling,
                max_length=self.max_length,
                batch_size=self.batch_size,
                long_text=self.long_text,
                chunk_stride=self.chunk_stride,
                chunk_pooling=self.chunk_pooling,
                trust_pickle=self.trust_pickle,
            ).to(self.device)
        return self._encoder

    @property
    def embed_dim(self) -> int:
        """Size of one embedding.

        Examples:
            >>> ReportEmbedder().embed_dim
            384
        """
        return int(self.encoder.backbone_dim)

    def load(self, ref: str | PathLike[str], base_dir: str | PathLike[str] | None = None) -> str:
        """The text to embed for one report reference: read, section chosen, cleaned.

        Args:
            ref: Inline text or a report file (see :func:`~biomm.io.reports.read_report`).
            base_dir: Folder relative file names are resolved against.

        Raises:
            ReportReadError: When the report cannot be read or nothing is left after cleaning.

        Examples:
            >>> ReportEmbedder(section="impression").load("Impression: benign.")
            'benign.'
        """
        report = read_report(ref, base_dir=base_dir, encoding=self.encoding, headers=self.headers)
        used = "all"
        text = report.text
        if self.section:
            name = choose_section(report.sections, self.section)
            if name is not None:
                used, text = name, report.sections[name]
        if self.clean:
            text = clean_text(text)
        if not text.strip():
            raise ReportReadError(
                f"nothing is left of the report after cleaning (section {used!r})",
                path=report.source,
            )
        self._sections[_digest(text)] = used
        self._sections.move_to_end(_digest(text))
        while len(self._sections) > _MEMO_SIZE:
            self._sections.popitem(last=False)
        return text

    def item_info(self, text: str) -> dict[str, Any]:
        """Per-report facts worth recording: section used, characters, tokens, chunks.

        ``section`` is the section :meth:`load` took this text from (``all`` for the whole
        report, None for a text that did not come from :meth:`load`); ``truncated`` tells
        whether tokens were dropped (only with ``long_text="truncate"``).

        Examples:
            >>> ReportEmbedder().item_info("No effusion.")["n_chunks"]
            1
        """
        n_tokens = self.encoder.count_tokens(text)
        chunked = self.long_text == "chunk"
        return {
            "section": self._sections.get(_digest(text)),
            "n_chars": len(text),
            "n_tokens": n_tokens,
            "n_chunks": len(self.encoder.chunk_ranges(text)) if chunked else 1,
            "truncated": not chunked and n_tokens > self.encoder.window,
        }

    def _settings(self) -> dict[str, Any]:
        enc = self.encoder
        return {
            "model": enc.name,
            "weights_sha256": enc.weights_sha256 or str(enc.weights),
            "pooling": self.pooling,
            "max_length": self.max_length,
            "long_text": self.long_text,
            "chunk_stride": self.chunk_stride,
            "chunk_pooling": self.chunk_pooling,
            "sentence_aligned": enc.sentence_aligned,
            "normalize": self.normalize,
        }

    def _compute(self, texts: list[str]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            features = self.encoder.encode_backbone(texts).float()
            if self.normalize:
                features = F.normalize(features, dim=-1)
        return features.cpu().numpy().astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings ``[B, embed_dim]`` (float32) of texts from :meth:`load`.

        With ``cache_dir`` set, texts embedded before under the same settings are read from
        the cache and the model only runs on the others.

        Examples:
            >>> ReportEmbedder().embed([]).shape
            (0, 384)
        """
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        if self.cache is None:
            return self._compute(texts)
        return self.cache.embed(texts, self._compute, self._settings())

    @property
    def cache(self) -> Any:
        """The :class:`~biomm.reports.cache.EmbeddingCache` in use (None without cache_dir)."""
        if self._cache is None and self.cache_dir is not None:
            from biomm.reports.cache import EmbeddingCache

            self._cache = EmbeddingCache(self.cache_dir)
        return self._cache

    def describe(self) -> dict[str, Any]:
        """Provenance: model, weights hash and every setting that shapes the embeddings.

        Examples:
            >>> info = ReportEmbedder(section=["impression"]).describe()
            >>> info["embed_dim"], info["section"], len(info["weights_sha256"])
            (384, ['impression'], 64)
        """
        from biomm._version import __version__

        enc = self.encoder
        return {
            **self._settings(),
            "modality": "report",
            "model_spec": self.model,
            "weights": str(enc.weights),
            "weights_sha256": enc.weights_sha256,
            "embed_dim": self.embed_dim,
            "section": list(self.section) if self.section else None,
            "clean": self.clean,
            "cache_dir": None if self.cache_dir is None else str(self.cache_dir),
            "biomm_version": __version__,
        }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
