"""Render the run report in a real headless browser (Chromium): it must load and show content."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

CHROMIUM = next(
    (
        shutil.which(name)
        for name in ("chromium", "chromium-browser", "google-chrome")
        if shutil.which(name)
    ),
    None,
)

# CI sets BIOMM_REQUIRE_BROWSER=1 after installing Chromium: there a missing browser fails.
REQUIRED = os.environ.get("BIOMM_REQUIRE_BROWSER") == "1"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED,
        reason="no Chromium binary found; install it (Debian/Ubuntu: "
        "`apt-get install -y chromium`) to run the browser render test",
    ),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_report_renders_in_headless_chromium(run_report, tmp_path):
    url = run_report.resolve().as_uri()
    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for title in ("Training run", "Cohort", "Task: label (binary)", "MultiModN trajectories"):
        assert f"<h2>{title}</h2>" in dom.stdout
    assert dom.stdout.count("<img") >= 9

    shot = tmp_path / "out.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > 10  # not a blank page
    dark = (pixels < 128).mean()
    assert 0.005 < dark < 0.5  # text and figures drawn, not an error page in black
