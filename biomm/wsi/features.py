"""Tile feature extraction for one slide.

Batched region reads, worker-local slide handles, corrupt tiles replaced and flagged, AMP and
channels-last on CUDA.

Tiles are grouped into blocks of adjacent tiles; each block is read once as one region at the
target resolution and cut into tiles (far fewer decode calls than one read per tile). When a
block cannot be read, its tiles are read one by one; a tile that still fails is replaced by a
white tile and flagged, so the slide completes.

Examples:
    >>> import numpy as np, torch
    >>> from biomm.io.wsi import VirtualSlide
    >>> from biomm.preprocess.tiling import grid_tiles
    >>> from biomm.encoders import build_encoder
    >>> slide = VirtualSlide(np.full((448, 448, 3), 200, np.uint8), mpp=0.5)
    >>> grid = grid_tiles(slide, target_mpp=1.0, patch_size=64, min_tissue=0)
    >>> result = extract_features(slide, grid, build_encoder("efficientnet_lite0", weights=None))
    >>> result.features.shape, int(result.bad.sum())
    ((9, 1280), 0)
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from biomm.encoders.base import Encoder
from biomm.errors import SlideReadError
from biomm.io.wsi import Slide, open_slide
from biomm.io.wsi.mpp import MppPolicy
from biomm.preprocess.tiling import TileGrid


@dataclass
class TileFeatures:
    """Features of the tiles of one slide.

    Attributes:
        features: ``[N, D]`` float32.
        coords: ``[N, 2]`` int64 level-0 ``(x, y)``.
        bad: ``[N]`` bool, tiles that could not be read (replaced by white before encoding).
    """

    features: np.ndarray
    coords: np.ndarray
    bad: np.ndarray


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error.

    Examples:
        >>> resolve_device("cpu").type
        'cpu'
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SlideReadError(
            "device 'cuda' requested but no CUDA device is available", path="<device>"
        )
    return torch.device(device)


def tile_blocks(grid: TileGrid, block_tiles: int) -> list[np.ndarray]:
    """Group tile indices into square blocks of up to ``block_tiles`` × ``block_tiles`` tiles.

    Blocks come in raster order, and tiles in raster order within a block.

    Examples:
        >>> from biomm.preprocess.tiling import tile_grid
        >>> g = tile_grid((800, 800), 0.5, 0.5, 100)
        >>> [len(b) for b in tile_blocks(g, 4)]
        [16, 16, 16, 16]
    """
    if len(grid) == 0:
        return []
    span = max(1, block_tiles) * grid.stride_level0
    bx = np.floor(grid.coords[:, 0] / span).astype(np.int64)
    by = np.floor(grid.coords[:, 1] / span).astype(np.int64)
    order = np.lexsort((grid.coords[:, 0], grid.coords[:, 1], bx, by))
    keys = np.stack([by[order], bx[order]], axis=1)
    cuts = np.flatnonzero(np.any(np.diff(keys, axis=0) != 0, axis=1)) + 1
    return [np.asarray(block) for block in np.split(order, cuts)]


class TileBlockDataset(Dataset):
    """Blocks of tiles of one slide; every worker process opens its own slide handle.

    Args:
        slide: A path (opened lazily per process) or an open slide (single process only).
        grid: The tiles.
        block_tiles: Tiles per block side (1 reads every tile separately).
        backend: Slide backend.
        mpp: Level-0 µm/px override.
        mpp_policy: Policy for slides without mpp.
    """

    def __init__(
        self,
        slide: str | PathLike[str] | Slide,
        grid: TileGrid,
        *,
        block_tiles: int = 4,
        backend: str = "auto",
        mpp: float | None = None,
        mpp_policy: MppPolicy = "require",
    ) -> None:
        self._given = slide if isinstance(slide, Slide) else None
        self.path = None if isinstance(slide, Slide) else Path(slide)
        self.grid = grid
        self.blocks = tile_blocks(grid, block_tiles)
        self.backend, self.mpp, self.mpp_policy = backend, mpp, mpp_policy
        self._local = threading.local()  # one handle per worker thread (and per process)

    def __len__(self) -> int:
        return len(self.blocks)

    def _slide(self) -> Slide:
        if self._given is not None:
            return self._given
        local = self._local
        if getattr(local, "handle", None) is None or local.pid != os.getpid():
            assert self.path is not None
            local.handle = open_slide(
                self.path, self.backend, mpp=self.mpp, mpp_policy=self.mpp_policy
            )
            local.pid = os.getpid()
        return local.handle

    def __getstate__(self) -> dict[str, Any]:  # worker processes get no thread-local handles
        state = dict(self.__dict__)
        state["_local"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __getitem__(self, b: int) -> dict[str, Any]:
        idx = self.blocks[b]
        grid = self.grid
        size = grid.patch_size
        coords = grid.coords[idx]
        bad = np.zeros(len(idx), bool)
        try:
            tiles = self._slide().read_tiles(coords, size, grid.target_mpp)
        except SlideReadError:
            # read the block's tiles one by one (backends recover from a failed read);
            # a tile that still cannot be decoded becomes white and is flagged
            tiles = np.empty((len(idx), size, size, 3), np.uint8)
            for k, (x, y) in enumerate(coords):
                try:
                    tiles[k] = self._slide().read(int(x), int(y), size, size, mpp=grid.target_mpp)
                except SlideReadError:
                    tiles[k] = 255
                    bad[k] = True
        return {"indices": idx, "tiles": torch.from_numpy(tiles), "bad": torch.from_numpy(bad)}


def iter_blocks(
    dataset: TileBlockDataset, num_workers: int, worker_type: str, pin_memory: bool
) -> Iterator[dict[str, Any]]:
    """Blocks in order, read by ``num_workers`` threads or DataLoader processes.

    Threads (the default) share the process: decoding releases the GIL, and blocks need no
    inter-process copy; at most ``2 × num_workers`` blocks are read ahead.

    Examples:
        >>> import numpy as np
        >>> from biomm.io.wsi import VirtualSlide
        >>> from biomm.preprocess.tiling import grid_tiles
        >>> s = VirtualSlide(np.zeros((256, 256, 3), np.uint8), mpp=1.0)
        >>> ds = TileBlockDataset(s, grid_tiles(s, 1.0, 64, min_tissue=0), block_tiles=2)
        >>> [len(b["indices"]) for b in iter_blocks(ds, 0, "thread", False)]
        [4, 4, 4, 4]
    """
    if num_workers == 0:
        yield from (dataset[b] for b in range(len(dataset)))
        return
    if worker_type == "process":
        yield from DataLoader(
            dataset,
            batch_size=None,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=pin_memory,
            prefetch_factor=4,
        )
        return
    if worker_type != "thread":
        raise ValueError(f"worker_type must be 'thread' or 'process', got {worker_type!r}")
    with ThreadPoolExecutor(num_workers, thread_name_prefix="biomm-tiles") as pool:
        pending: deque = deque()
        next_block = 0
        while pending or next_block < len(dataset):
            while next_block < len(dataset) and len(pending) < 2 * num_workers:
                pending.append(pool.submit(dataset.__getitem__, next_block))
                next_block += 1
            yield pending.popleft().result()


def _batches(
    blocks: Iterator[dict[str, Any]], batch_size: int
) -> Iterator[tuple[np.ndarray, torch.Tensor, np.ndarray]]:
    indices: list[np.ndarray] = []
    tiles: list[torch.Tensor] = []
    bads: list[np.ndarray] = []
    count = 0
    for item in blocks:
        indices.append(np.asarray(item["indices"]))
        tiles.append(item["tiles"])
        bads.append(np.asarray(item["bad"]))
        count += len(item["indices"])
        while count >= batch_size:
            idx, tls, bd = np.concatenate(indices), torch.cat(tiles), np.concatenate(bads)
            yield idx[:batch_size], tls[:batch_size], bd[:batch_size]
            indices, tiles, bads = [idx[batch_size:]], [tls[batch_size:]], [bd[batch_size:]]
            count -= batch_size
    if count:
        yield np.concatenate(indices), torch.cat(tiles), np.concatenate(bads)


def extract_features(
    slide: str | PathLike[str] | Slide,
    grid: TileGrid,
    encoder: Encoder,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    worker_type: str = "thread",
    device: str = "auto",
    amp: bool = True,
    block_tiles: int = 4,
    backend: str = "auto",
    mpp: float | None = None,
    mpp_policy: MppPolicy = "require",
    progress: bool = False,
) -> TileFeatures:
    """Encode every tile of ``grid``.

    Args:
        slide: Slide path (workers open their own handles) or an open slide (``num_workers``
            must then be 0).
        grid: Tiles to encode.
        encoder: An image encoder (its ``preprocess`` gives the input recipe).
        batch_size: Tiles per forward pass.
        num_workers: Workers reading tiles (0 reads in the calling thread).
        worker_type: ``thread`` (default: decoding releases the GIL, no inter-process copies)
            or ``process`` (DataLoader workers, each with its own slide handle).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: Mixed precision on CUDA (bf16 where supported, else fp16) with channels-last.
        block_tiles: Tiles per block side read in one region (1 = one read per tile).
        backend: Slide backend for paths.
        mpp: Level-0 µm/px override for paths.
        mpp_policy: Policy for paths without mpp.
        progress: Show a progress bar over tiles.

    Returns:
        Features, coordinates and the bad-tile mask, in grid order.
    """
    if isinstance(slide, Slide) and num_workers:
        raise ValueError("pass a slide path, not an open slide, when num_workers > 0")
    if worker_type not in ("thread", "process"):
        raise ValueError(f"worker_type must be 'thread' or 'process', got {worker_type!r}")
    dev = resolve_device(device)
    use_cuda = dev.type == "cuda"
    encoder = encoder.to(dev).eval()
    if use_cuda:
        encoder = encoder.to(memory_format=torch.channels_last)
    dtype = torch.bfloat16 if use_cuda and torch.cuda.is_bf16_supported() else torch.float16
    dataset = TileBlockDataset(
        slide, grid, block_tiles=block_tiles, backend=backend, mpp=mpp, mpp_policy=mpp_policy
    )
    blocks = iter_blocks(dataset, num_workers, worker_type, use_cuda)
    features = np.zeros((len(grid), encoder.embed_dim), np.float32)
    bad = np.zeros(len(grid), bool)
    bar = tqdm(total=len(grid), desc="tiles", unit="tile", disable=not progress, leave=False)
    with torch.inference_mode():
        for idx, tiles, bad_batch in _batches(blocks, batch_size):
            if use_cuda and worker_type == "thread":
                tiles = tiles.pin_memory()
            x = tiles.to(dev, non_blocking=use_cuda)
            x = encoder.preprocess(x)
            if use_cuda:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=dtype, enabled=amp):
                    out = encoder(x)
            else:
                out = encoder(x)
            features[idx] = out.float().cpu().numpy()
            bad[idx] = bad_batch
            bar.update(len(idx))
    bar.close()
    return TileFeatures(features=features, coords=grid.coords.copy(), bad=bad)
