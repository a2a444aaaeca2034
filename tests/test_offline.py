"""The offline guarantee: the suite cannot reach the network, and the offline paths work."""

from __future__ import annotations

import os
import socket

import pytest

from tests.network_guard import NetworkBlockedError


def test_outside_addresses_and_names_are_blocked():
    with pytest.raises(NetworkBlockedError), socket.create_connection(("93.184.216.34", 443), 1):
        pass
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("huggingface.co", 443)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), 1):
        pass


def test_a_hub_id_fails_clearly_offline_and_the_packaged_models_load():
    from biomm.encoders import build_encoder
    from biomm.errors import InputError

    with pytest.raises(InputError, match="cannot load the text model"):
        build_encoder("hf_text", model="someone/not-a-local-model")
    assert build_encoder("hf_text", model="minilm").embed_dim == 384
    assert build_encoder("efficientnet_lite0").weights_sha256  # packaged ImageNet weights


def test_child_interpreters_are_offline_too():
    import subprocess
    import sys

    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('93.184.216.34', 443), 1)\n"
        "except ConnectionError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "NetworkBlockedError"
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # inherited by children as well
