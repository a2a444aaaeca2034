"""Installed for child interpreters of the test suite: they are offline too.

``tests/conftest.py`` puts this folder first on ``PYTHONPATH`` and sets ``BIOMM_TEST_OFFLINE=1``,
so every ``python -m biomm ...`` subprocess, Dask worker and notebook kernel started by a test
patches ``socket`` at start-up exactly like the test process (``tests/network_guard.py``).
"""

import importlib.util
import os
from pathlib import Path

if os.environ.get("BIOMM_TEST_OFFLINE") == "1":
    _guard = Path(__file__).resolve().parent.parent / "network_guard.py"
    _spec = importlib.util.spec_from_file_location("_biomm_network_guard", _guard)
    if _spec is not None and _spec.loader is not None:
        _module = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)
        _module.install()
