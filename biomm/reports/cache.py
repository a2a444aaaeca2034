"""Embedding cache keyed by content: the same text under the same model settings is embedded once.

The key is the SHA-256 of the settings (model, weights hash, pooling, chunking, …) and the
text, so any change of model or settings misses, and renaming or moving a report hits. Each
vector is one float32 ``.npy`` file in ``folder/<first two hex digits>/<key>.npy``, written to
a temporary file and renamed (:func:`biomm.utils.atomic.atomic_path`): readers — any number of
processes, on local or network file systems — see either no entry or a complete one, a crash
mid-write leaves only a ``.tmp`` file that is never read, and writers need no lock (two
writers of the same key write the same vector). An unreadable entry counts as a miss and is
rewritten.

Examples:
    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> calls = []
    >>> def embed(texts):
    ...     calls.append(len(texts))
    ...     return np.ones((len(texts), 3), np.float32)
    >>> _ = cache.embed(["a", "b", "a"], embed, {"model": "toy"})
    >>> _ = cache.embed(["b", "c"], embed, {"model": "toy"})
    >>> calls, len(cache)
    ([2, 1], 3)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.utils.atomic import atomic_path

#: Bumped when the key or the file layout changes.
CACHE_FORMAT = 1


class EmbeddingCache:
    """Float32 vectors on disk, keyed by ``sha256(settings + text)``.

    Args:
        folder: Cache folder (created on first write).

    Attributes:
        hits: Lookups answered from disk since creation.
        misses: Lookups that were not.

    Examples:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> key = cache.key("No effusion.", {"model": "minilm"})
        >>> cache.put(key, np.arange(3))
        >>> cache.get(key).tolist(), key in cache
        ([0.0, 1.0, 2.0], True)
    """

    def __init__(self, folder: str | PathLike[str]) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str, settings: Mapping[str, Any]) -> str:
        """The content key of ``text`` embedded under ``settings`` (JSON-serialisable values).

        Examples:
            >>> k = EmbeddingCache.key
            >>> k("a", {"m": 1}) == k("a", {"m": 1}), k("a", {"m": 1}) == k("a", {"m": 2})
            (True, False)
        """
        payload = json.dumps(
            {"format": CACHE_FORMAT, "settings": dict(settings), "text": text},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._path(key).is_file()

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("??/*.npy")) if self.folder.is_dir() else 0

    def get(self, key: str) -> np.ndarray | None:
        """The vector stored under ``key``, or None (missing or unreadable)."""
        path = self._path(key)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vector.ndim != 1 or vector.dtype != np.float32:
            return None
        return vector

    def put(self, key: str, vector: Any) -> None:
        """Store a 1-D vector (as float32) under ``key``, atomically."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        with atomic_path(self._path(key)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vector, allow_pickle=False)

    def embed(
        self,
        texts: Sequence[str],
        embed_fn: Callable[[list[str]], Any],
        settings: Mapping[str, Any],
    ) -> np.ndarray:
        """Vectors ``[N, D]`` for ``texts``: cached ones read, the others computed and stored.

        ``embed_fn`` is called once, with the distinct texts that are not cached (not at all
        when every text is).

        Args:
            texts: The texts.
            embed_fn: Texts → ``[M, D]`` array or tensor.
            settings: Everything besides the text that determines the vector.
        """
        keys = [self.key(t, settings) for t in texts]
        found: dict[str, np.ndarray] = {}
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in found or key in todo:
                continue
            vector = self.get(key)
            if vector is None:
                todo[key] = text
                self.misses += 1
            else:
                found[key] = vector
                self.hits += 1
        if todo:
            computed = np.asarray(_numpy(embed_fn(list(todo.values()))), dtype=np.float32)
            for key, vector in zip(todo, computed, strict=True):
                self.put(key, vector)
                found[key] = vector
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.stack([found[k] for k in keys])


def _numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value
