"""Environment report for bug reports: biomm, Python, torch, CUDA devices, optional packages.

Examples:
    >>> info = collect_info()
    >>> sorted(info)
    ['biomm', 'cuda', 'openslide_library', 'packages', 'platform', 'python', 'registries']
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import sys
from typing import Any

from biomm._version import __version__

#: Distributions reported by ``biomm info`` (core first, then optional).
REPORTED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "torch",
    "monai",
    "openslide-python",
    "openslide-bin",
    "tifffile",
    "imagecodecs",
    "pillow",
    "wfdb",
    "h5py",
    "safetensors",
    "transformers",
    "scikit-learn",
    "lifelines",
    "typer",
    "pydantic",
    "pyyaml",
    "tqdm",
    # optional
    "dask",
    "distributed",
    "cucim",
    "pydicom",
    "timm",
    "torchvision",
    "scikit-survival",
)


def _version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cuda_info() -> dict[str, Any]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return {"available": False, "reason": "torch is not installed"}
    info: dict[str, Any] = {
        "available": bool(torch.cuda.is_available()),
        "torch_cuda": torch.version.cuda,
        "devices": [],
    }
    if info["available"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["devices"].append(
                {
                    "index": i,
                    "name": props.name,
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
    return info


def _openslide_library() -> str | None:
    try:
        import openslide
    except Exception:  # the C library may be missing: report, never fail
        return None
    return getattr(openslide, "__library_version__", None)


def _registries() -> dict[str, list[str]]:
    import importlib

    from biomm.registries import ALL_REGISTRIES

    for module in (
        "biomm.encoders",
        "biomm.io.wsi",
        "biomm.pipeline.steps",
    ):  # importing them registers their entries
        importlib.import_module(module)

    return {kind: registry.names() for kind, registry in ALL_REGISTRIES.items()}


def collect_info() -> dict[str, Any]:
    """Gather versions and devices into a JSON-ready dictionary.

    Examples:
        >>> collect_info()["biomm"] == __version__
        True
    """
    return {
        "biomm": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version_of(name) for name in REPORTED_PACKAGES},
        "openslide_library": _openslide_library(),
        "cuda": _cuda_info(),
        "registries": _registries(),
    }


def format_info(info: dict[str, Any] | None = None) -> str:
    """Render :func:`collect_info` as aligned text.

    Examples:
        >>> "biomm" in format_info()
        True
    """
    info = info or collect_info()
    lines = [
        f"biomm              {info['biomm']}",
        f"python             {info['python']}",
        f"platform           {info['platform']}",
        f"OpenSlide library  {info['openslide_library'] or 'not found'}",
    ]
    cuda = info["cuda"]
    if cuda.get("available"):
        for dev in cuda["devices"]:
            lines.append(
                f"CUDA device {dev['index']}      {dev['name']} ({dev['memory_gib']} GiB, "
                f"sm {dev['capability']})"
            )
    else:
        built = cuda.get("torch_cuda") or "CPU-only build"
        lines.append(f"CUDA               not available (torch CUDA: {built})")
    for kind, names in info.get("registries", {}).items():
        lines.append(f"{kind + 's':<18} {', '.join(names) or '-'}")
    lines.append("packages:")
    for name, version in info["packages"].items():
        lines.append(f"  {name:<32} {version or '-'}")
    return "\n".join(lines)
