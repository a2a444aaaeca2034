"""Microns per pixel: where a slide's resolution comes from, and what to do when it is missing.

Every read and every tiling in biomm is expressed in µm/px, never in pyramid levels. A slide's
level-0 mpp comes, in order, from: the user (argument or manifest column), the vendor metadata
(OpenSlide ``openslide.mpp-x``/``-y``), the TIFF resolution tags, or — only under the explicit
``"objective-power"`` policy — the objective magnification (10 µm / magnification: 40× → 0.25,
20× → 0.5). Values outside :data:`PLAUSIBLE_MPP` are treated as absent and flagged.

Examples:
    >>> resolve_mpp(metadata=(0.2527, 0.2527), objective_power=40.0).mpp
    (0.2527, 0.2527)
    >>> resolve_mpp(metadata=None, objective_power=20.0, policy="objective-power").source
    'objective-power'
    >>> resolve_mpp(metadata=(1e-6, 1e-6), objective_power=None).warning
    'metadata mpp (1e-06, 1e-06) µm/px is implausible (expected 0.05–50); ignored'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from biomm.errors import InputError

#: Range of level-0 µm/px accepted as real (from ~200× scanners to low-power overviews).
PLAUSIBLE_MPP = (0.05, 50.0)
MppPolicy = Literal["require", "objective-power"]
MPP_POLICIES: tuple[str, ...] = ("require", "objective-power")


@dataclass(frozen=True)
class MppResolution:
    """The level-0 resolution of a slide and where it came from.

    Attributes:
        mpp: ``(x, y)`` µm/px, or None when unknown.
        source: ``"user"``, ``"metadata"``, ``"objective-power"`` or None.
        warning: Why a value was ignored, if one was.
    """

    mpp: tuple[float, float] | None
    source: str | None
    warning: str | None = None


def _plausible(mpp: tuple[float, float]) -> bool:
    low, high = PLAUSIBLE_MPP
    return all(low <= v <= high for v in mpp)


def resolve_mpp(
    *,
    metadata: tuple[float, float] | None,
    objective_power: float | None,
    user: float | tuple[float, float] | None = None,
    policy: MppPolicy = "require",
) -> MppResolution:
    """Decide a slide's level-0 mpp from user input, metadata and policy.

    Raises:
        InputError: When the user-supplied mpp is not a plausible positive number, or the
            policy is unknown.

    Examples:
        >>> resolve_mpp(metadata=(0.5, 0.5), objective_power=20.0, user=0.25)
        MppResolution(mpp=(0.25, 0.25), source='user', warning=None)
    """
    if policy not in MPP_POLICIES:
        raise InputError(f"unknown mpp policy {policy!r}; expected one of {MPP_POLICIES}")
    if user is not None:
        pair = (float(user), float(user)) if isinstance(user, int | float) else tuple(user)
        if len(pair) != 2 or not _plausible(pair):  # type: ignore[arg-type]
            raise InputError(
                f"mpp {user!r} µm/px is not plausible (expected {PLAUSIBLE_MPP[0]}–"
                f"{PLAUSIBLE_MPP[1]}); typical values: 0.25 (40×), 0.5 (20×)"
            )
        return MppResolution((float(pair[0]), float(pair[1])), "user")
    warning = None
    if metadata is not None:
        if _plausible(metadata):
            return MppResolution(metadata, "metadata")
        warning = (
            f"metadata mpp {metadata} µm/px is implausible (expected "
            f"{PLAUSIBLE_MPP[0]:g}–{PLAUSIBLE_MPP[1]:g}); ignored"
        )
    if policy == "objective-power" and objective_power and objective_power > 0:
        value = 10.0 / objective_power
        return MppResolution((value, value), "objective-power", warning)
    return MppResolution(None, None, warning)


def tiff_resolution_mpp(
    x_resolution: tuple[int, int] | float | None,
    y_resolution: tuple[int, int] | float | None,
    unit: int | None,
) -> tuple[float, float] | None:
    """µm/px from TIFF XResolution/YResolution (pixels per unit) and ResolutionUnit.

    Unit 2 is inch, 3 is centimetre; unit 1 (none) or missing tags give None.

    Examples:
        >>> tiff_resolution_mpp((20000, 1), (20000, 1), 3)
        (0.5, 0.5)
        >>> tiff_resolution_mpp((72, 1), (72, 1), 2)
        (352.77777777777777, 352.77777777777777)
    """
    factor = {2: 25400.0, 3: 10000.0}.get(int(unit) if unit is not None else 0)
    if factor is None or x_resolution is None or y_resolution is None:
        return None

    def as_float(value: tuple[int, int] | float) -> float:
        if isinstance(value, tuple):
            return value[0] / value[1] if value[1] else 0.0
        return float(value)

    xr, yr = as_float(x_resolution), as_float(y_resolution)
    if xr <= 0 or yr <= 0:
        return None
    return (factor / xr, factor / yr)
