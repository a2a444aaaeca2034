"""WSI throughput: coordinates, tile reads, end-to-end features and peak memory, as ratios.

Generates a large pyramidal JPEG TIFF (Aperio-style SVS, 256-px tiles), then measures in one
run, each against a baseline measured in the same run:

(a) tile coordinates per second (vectorised grid + tissue fraction);
(b) tiles read and decoded per second by biomm (block reads, DataLoader workers) vs a plain
    per-tile ``OpenSlide.read_region`` loop, and vs a decode-only limit (every tile's JPEG
    bytes decoded in parallel straight from the file, no region logic);
(c) end-to-end tiles per second with an encoder vs a CLAM-style loop (per-tile read,
    per-tile transform, same encoder and batch size);
(d) peak memory of a full read pass over a small and a large slide (should not grow).

Run: python benchmarks/wsi_throughput.py [--size 24576] [--workers 2] [--tiles 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tifffile
import torch

from biomm.demo.synthetic import synthetic_he_tile

TILE = 256


def write_big_svs(path: Path, size: int, mpp: float = 0.25) -> None:
    """Write a size × size Aperio-style JPEG pyramid from a pool of synthetic H&E tiles."""
    rng = np.random.default_rng(0)
    pool = [synthetic_he_tile(rng, TILE, 0.4 + 0.05 * k) for k in range(8)]
    desc = (
        f"Aperio Image Library v12.0.0 \r\n{size}x{size} (256x256) JPEG Q=80"
        f"|AppMag = 40|MPP = {mpp}"
    )

    def tiles(n: int):
        for k in range(n * n):
            yield pool[(k * 7 + k // n) % len(pool)]

    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        level = size
        first = True
        while level >= 2048 or first:
            n = level // TILE
            tif.write(
                tiles(n),
                shape=(n * TILE, n * TILE, 3),
                dtype=np.uint8,
                tile=(TILE, TILE),
                compression="jpeg",
                photometric="rgb",
                description=desc,
                metadata=None,
                subfiletype=0 if first else 1,
            )
            first = False
            level //= 4


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def bench_coords(size: int) -> dict[str, float]:
    from biomm.preprocess.tiling import tile_grid
    from biomm.preprocess.tissue import TissueMask

    mask = np.random.default_rng(0).random((size // 32, size // 32)) > 0.4
    tissue = TissueMask(mask, mpp=8.0, downsample=32.0)
    seconds, _ = timed(tile_grid, (size, size), 0.25, 0.5, 224, tissue=tissue, min_tissue=0.5)
    candidates = ((size - 448) // 448 + 1) ** 2
    return {"coords_candidates": candidates, "coords_per_second": candidates / seconds}


def per_tile_loop(path: Path, coords: np.ndarray) -> float:
    import openslide

    slide = openslide.OpenSlide(str(path))
    start = time.perf_counter()
    for x, y in coords:
        np.asarray(slide.read_region((int(x), int(y)), 0, (TILE, TILE)).convert("RGB"))
    return len(coords) / (time.perf_counter() - start)


def biomm_reads(path: Path, coords: np.ndarray, workers: int, worker_type: str = "thread") -> float:
    from biomm.preprocess.tiling import TileGrid
    from biomm.wsi.features import TileBlockDataset, iter_blocks

    grid = TileGrid(
        coords=coords,
        tissue_fraction=np.ones(len(coords), np.float32),
        target_mpp=0.25,
        patch_size=TILE,
        patch_size_level0=TILE,
        stride_level0=float(TILE),
        slide_mpp=0.25,
    )
    dataset = TileBlockDataset(path, grid)
    start = time.perf_counter()
    n = sum(len(item["indices"]) for item in iter_blocks(dataset, workers, worker_type, False))
    return n / (time.perf_counter() - start)


def decode_limit(path: Path, n: int, workers: int) -> float:
    import imagecodecs

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offsets, counts, tables = page.dataoffsets[:n], page.databytecounts[:n], page.jpegtables
    fd = os.open(path, os.O_RDONLY)

    def decode(chunk: range) -> None:
        for k in chunk:
            imagecodecs.jpeg_decode(os.pread(fd, counts[k], offsets[k]), tables=tables)

    parts = max(1, workers)
    chunks = [range(k, len(offsets), parts) for k in range(parts)]
    start = time.perf_counter()
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(decode, chunks))
    rate = len(offsets) / (time.perf_counter() - start)
    os.close(fd)
    return rate


def clam_style(path: Path, coords: np.ndarray, encoder, batch_size: int) -> float:
    import openslide

    slide = openslide.OpenSlide(str(path))
    mean = torch.tensor(encoder.input.mean).view(3, 1, 1)
    std = torch.tensor(encoder.input.std).view(3, 1, 1)
    batch = []
    start = time.perf_counter()
    with torch.inference_mode():
        for x, y in coords:
            img = slide.read_region((int(x), int(y)), 0, (224, 224)).convert("RGB")
            t = torch.from_numpy(np.asarray(img)).permute(2, 0, 1).float() / 255
            batch.append((t - mean) / std)
            if len(batch) == batch_size:
                encoder(torch.stack(batch))
                batch = []
        if batch:
            encoder(torch.stack(batch))
    return len(coords) / (time.perf_counter() - start)


def biomm_end_to_end(
    path: Path, coords: np.ndarray, encoder, batch_size: int, workers: int
) -> float:
    from biomm.preprocess.tiling import TileGrid
    from biomm.wsi.features import extract_features

    grid = TileGrid(
        coords=coords,
        tissue_fraction=np.ones(len(coords), np.float32),
        target_mpp=0.25,
        patch_size=224,
        patch_size_level0=224,
        stride_level0=224.0,
        slide_mpp=0.25,
    )
    seconds, _ = timed(
        extract_features,
        path,
        grid,
        encoder,
        batch_size=batch_size,
        num_workers=workers,
        device="cpu",
    )
    return len(coords) / seconds


def peak_rss_of_full_pass(path: Path, workers: int) -> float:
    """Peak RSS (MiB) of a child process reading every level-0 tile, workers included."""
    here = str(Path(__file__).parent)
    code = (
        "import sys, resource, numpy as np; from pathlib import Path;"
        f"sys.path.insert(0, {here!r}); import wsi_throughput as b;"
        f"from biomm.io.wsi import open_slide; s = open_slide(Path({str(path)!r}));"
        "w, h = s.dimensions; xs = np.arange(0, w - 255, 256); ys = np.arange(0, h - 255, 256);"
        "c = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2);"
        f"b.biomm_reads(Path({str(path)!r}), c, {workers});"
        "print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24576, help="level-0 width = height (px)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tiles", type=int, default=2000, help="tiles for the read benchmark")
    parser.add_argument("--e2e-tiles", type=int, default=192)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.svs", Path(tmp) / "small.svs"
        seconds, _ = timed(write_big_svs, big, args.size)
        write_big_svs(small, args.size // 4)
        n_tiles = (args.size // TILE) ** 2
        print(
            f"slide: {args.size}×{args.size} px, {n_tiles} level-0 tiles, written in "
            f"{seconds:.1f} s"
        )
        results.update(bench_coords(100_000))

        rng = np.random.default_rng(0)
        grid_xy = np.stack(
            np.meshgrid(np.arange(0, args.size, TILE), np.arange(0, args.size, TILE)), -1
        ).reshape(-1, 2)
        start = rng.integers(0, max(1, len(grid_xy) - args.tiles))
        coords = grid_xy[start : start + args.tiles]  # a contiguous band, as tissue would be
        results["reads_per_tile_loop"] = per_tile_loop(big, coords)
        results["reads_biomm"] = biomm_reads(big, coords, args.workers)
        results["reads_biomm_processes"] = biomm_reads(big, coords, args.workers, "process")
        results["reads_decode_limit"] = decode_limit(big, args.tiles, args.workers)

        from biomm.encoders import build_encoder

        encoder = build_encoder("efficientnet_lite0")
        e2e = coords[: args.e2e_tiles] // TILE * 224
        results["e2e_clam_style"] = clam_style(big, e2e, encoder, 32)
        results["e2e_biomm"] = biomm_end_to_end(big, e2e, encoder, 32, args.workers)

        results["peak_rss_mib_small"] = peak_rss_of_full_pass(small, args.workers)
        results["peak_rss_mib_large"] = peak_rss_of_full_pass(big, args.workers)

    r = results
    print(
        f"(a) coordinates: {r['coords_per_second']:,.0f} candidate tiles/s "
        f"({r['coords_candidates']:,.0f} on a 100k × 100k slide)"
    )
    print(
        f"(b) reads: biomm {r['reads_biomm']:.0f} tiles/s; per-tile read_region loop "
        f"{r['reads_per_tile_loop']:.0f}; decode-only limit {r['reads_decode_limit']:.0f}"
    )
    print(f"    DataLoader worker processes instead of threads: {r['reads_biomm_processes']:.0f}")
    print(
        f"    ratio vs per-tile loop: {r['reads_biomm'] / r['reads_per_tile_loop']:.2f}x "
        f"(target >= 3); vs decode limit: {r['reads_biomm'] / r['reads_decode_limit']:.2f}x "
        "(target >= 0.7)"
    )
    print(
        f"(c) end-to-end (efficientnet_lite0, CPU): biomm {r['e2e_biomm']:.1f} tiles/s, "
        f"CLAM-style {r['e2e_clam_style']:.1f}; ratio {r['e2e_biomm'] / r['e2e_clam_style']:.2f}x"
    )
    print(
        f"(d) peak RSS of a full read pass: {r['peak_rss_mib_small']:.0f} MiB "
        f"({(args.size // 4 // TILE) ** 2} tiles) vs {r['peak_rss_mib_large']:.0f} MiB "
        f"({(args.size // TILE) ** 2} tiles); ratio "
        f"{r['peak_rss_mib_large'] / r['peak_rss_mib_small']:.2f}x (flat = 1)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
