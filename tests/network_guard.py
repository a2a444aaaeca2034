"""Block network access beyond this machine for the whole test run (the offline guarantee).

Installed by ``tests/conftest.py``: connections to any address other than loopback and this
machine's own interfaces raise :class:`NetworkBlockedError`, and so do name lookups of other
hosts. Dask clusters, Jupyter kernels and headless Chromium only talk to this machine, so they
keep working; anything that reaches for a model hub or a download fails loudly.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlockedError(ConnectionError):
    """A test tried to reach the network."""


def _own_addresses() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    addresses: set[str] = set()
    for name in names:
        try:
            for info in socket.getaddrinfo(name, None):
                addresses.add(info[4][0])
        except OSError:
            continue
    return addresses


def install() -> None:
    """Patch ``socket`` so that only this machine can be reached (once per process)."""
    if getattr(socket.socket.connect, "_biomm_network_guard", False):
        return
    own_names = {socket.gethostname(), socket.getfqdn()} | _LOCAL_NAMES
    own = _own_addresses()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(host: Any) -> bool:
        if host is None:
            return True
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host in own_names or host in own:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        return ip.is_loopback or ip.is_unspecified

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not allowed(address[0]):
            raise NetworkBlockedError(f"tests run offline: connection to {address!r} blocked")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not allowed(host):
            raise NetworkBlockedError(f"tests run offline: name lookup of {host!r} blocked")
        return real_getaddrinfo(host, *args, **kwargs)

    connect._biomm_network_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
