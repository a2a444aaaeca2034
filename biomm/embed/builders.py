"""Build the embedder of a modality from command-line style settings.

Examples:
    >>> build_item_embedder("ecg")
    Traceback (most recent call last):
    ...
    biomm.errors.ConfigError: no item embedder for 'ecg': choose fundus, oct or report ...
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from biomm.errors import ConfigError

#: Default encoder per modality.
DEFAULT_ENCODERS = {"fundus": "efficientnet_lite0", "oct": "efficientnet_lite0", "report": "minilm"}


def _factory(modality: str) -> Any:
    if modality == "fundus":
        from biomm.retina.embedding import FundusEmbedder

        return FundusEmbedder
    if modality == "oct":
        from biomm.retina.embedding import OCTEmbedder

        return OCTEmbedder
    if modality == "report":
        from biomm.reports.embedding import ReportEmbedder

        return ReportEmbedder
    raise ConfigError(
        f"no item embedder for {modality!r}: choose fundus, oct or report (WSI and ECG have "
        "`biomm wsi embed` and `biomm ecg embed`; EHR tables use embed_ehr)"
    )


def embedder_options(modality: str) -> list[str]:
    """The arguments the item embedder of ``modality`` takes.

    Raises:
        ConfigError: On a modality without an item embedder.

    Examples:
        >>> "contrast" in embedder_options("fundus")
        True
    """
    return [p for p in inspect.signature(_factory(modality)).parameters if p != "self"]


def build_item_embedder(
    modality: str,
    encoder: str | None = None,
    *,
    encoder_args: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> Any:
    """The :class:`~biomm.embed.cohort.ItemEmbedder` of ``modality``.

    Args:
        modality: ``fundus``, ``oct`` or ``report``.
        encoder: A registered image encoder (fundus/OCT) or a text model (report: ``minilm``,
            a local folder or a hub id); default per :data:`DEFAULT_ENCODERS`.
        encoder_args: Arguments of the encoder (e.g. ``weights``), images only.
        options: Further embedder arguments (e.g. ``contrast``, ``size``, ``n_bscans``,
            ``section``, ``cache_dir``); an unknown one is a ConfigError listing the valid ones.
        device: Torch device.

    Raises:
        ConfigError: On an unknown modality or option.
    """
    factory = _factory(modality)
    options = dict(options or {})
    valid = embedder_options(modality)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"{modality} embedder has no option {unknown}; valid options: {', '.join(valid)}"
        )
    name = encoder or DEFAULT_ENCODERS[modality]
    kwargs: dict[str, Any] = {"device": device, **options}
    if modality == "report":
        if encoder_args:
            raise ConfigError("report models take no --encoder-arg; use --set for options")
        kwargs["model"] = name
    else:
        kwargs["encoder"] = name
        if encoder_args:
            kwargs["encoder_kwargs"] = dict(encoder_args)
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{modality} embedder: {exc}") from None


__all__ = ["DEFAULT_ENCODERS", "build_item_embedder", "embedder_options"]
