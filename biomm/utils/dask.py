"""Dask clients for the steps that scale out (``wsi.embed``, ``ecg.convert``).

``local`` starts a ``LocalCluster`` of single-threaded worker processes on this machine; an
address (``tcp://host:8786``) connects to a running cluster (e.g. one started by
dask-jobqueue on SLURM). Requires the ``distributed`` extra.

Examples:
    >>> with dask_client("dask"):
    ...     pass
    Traceback (most recent call last):
    ...
    biomm.errors.ConfigError: scheduler 'dask': expected local or an address such as tcp://host:8786
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from biomm.errors import ConfigError
from biomm.utils.optional import optional_import


def require_distributed() -> Any:
    """The ``distributed`` module, or :class:`~biomm.errors.MissingDependencyError`.

    Examples:
        >>> require_distributed().__name__
        'distributed'
    """
    distributed, ok = optional_import("distributed", extra="distributed")
    if not ok:
        _ = distributed.Client  # raises MissingDependencyError naming the extra
    return distributed


@contextmanager
def dask_client(scheduler: str, n_workers: int = 2) -> Iterator[Any]:
    """A Dask client: a new ``LocalCluster`` for ``local``, else the cluster at the address.

    Args:
        scheduler: ``local`` or a scheduler address such as ``tcp://host:8786``.
        n_workers: Worker processes of a local cluster (one thread each).

    Raises:
        ConfigError: When ``scheduler`` is neither ``local`` nor an address, or the scheduler
            at the address cannot be reached.

    Examples:
        >>> with dask_client("dask"):
        ...     pass
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: scheduler 'dask': expected local or an address such as tcp://host:8786
    """
    if scheduler != "local" and "://" not in scheduler:
        raise ConfigError(
            f"scheduler {scheduler!r}: expected local or an address such as tcp://host:8786"
        )
    distributed = require_distributed()
    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = distributed.Client(cluster)
    else:
        try:
            cluster, client = None, distributed.Client(scheduler)
        except OSError as exc:  # refused, unknown host, timed out
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
