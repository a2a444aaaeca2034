from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from biomm.reports.cache import EmbeddingCache


def test_keys_round_trip_and_corruption(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    settings = {"model": "m", "weights_sha256": "abc", "pooling": "mean"}
    key = cache.key("No effusion.", settings)
    assert key != cache.key("No effusion. ", settings)
    assert key != cache.key("No effusion.", {**settings, "pooling": "cls"})
    assert cache.get(key) is None and key not in cache and len(cache) == 0
    cache.put(key, np.arange(4, dtype=np.float64))
    got = cache.get(key)
    assert got.dtype == np.float32 and got.tolist() == [0, 1, 2, 3]
    assert len(cache) == 1
    # a crash mid-write leaves only a temporary file, which is never read
    (cache._path(key).parent / f".{key}.npy.x.tmp").write_bytes(b"partial")
    assert len(cache) == 1
    # a damaged entry is a miss, and rewriting repairs it
    cache._path(key).write_bytes(b"garbage")
    assert cache.get(key) is None
    cache.put(key, np.ones(4))
    assert cache.get(key).tolist() == [1, 1, 1, 1]


def test_embed_runs_the_model_only_on_misses(tmp_path):
    calls: list[list[str]] = []

    def model(texts):
        calls.append(list(texts))
        return np.array([[len(t), t.count("o")] for t in texts], np.float32)

    cache = EmbeddingCache(tmp_path)
    first = cache.embed(["a", "bo", "a"], model, {"m": 1})
    assert calls == [["a", "bo"]] and first.shape == (3, 2)
    again = cache.embed(["bo", "a"], model, {"m": 1})
    assert calls == [["a", "bo"]]  # no model call
    np.testing.assert_array_equal(again, first[[1, 0]])
    cache.embed(["bo", "new"], model, {"m": 1})
    cache.embed(["bo"], model, {"m": 2})  # other settings: a miss
    assert calls[1:] == [["new"], ["bo"]]
    assert (cache.hits, cache.misses) == (3, 4)


def test_concurrent_writers_and_readers(tmp_path):
    cache = EmbeddingCache(tmp_path)
    key = cache.key("text", {})

    def work(k):
        cache.put(key, np.full(256, 7.0))
        return cache.get(key)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(32)))
    assert all(r is not None and (r == 7).all() for r in results)
    assert not list(tmp_path.rglob("*.tmp"))
