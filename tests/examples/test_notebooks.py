"""Execute every tutorial notebook in ``examples/`` and keep the stored notebooks clean.

Each notebook runs top to bottom in a fresh kernel, offline, with its working folder and
``BIOMM_EXAMPLES_OUT`` pointing into the test's temporary folder. The kernel is started from
a kernel spec written by the test itself, so it always runs this interpreter (the one running
pytest): a ``python3`` kernel spec in the user's or the system's Jupyter folders is never used.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
KERNEL = "python3"
#: Seconds a single cell may run.
CELL_TIMEOUT = 300
#: Notebooks too slow for the default run (none so far): they get the `slow` marker.
SLOW: set[str] = set()
#: Terminal colour codes in the kernel's tracebacks.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _param(path: Path) -> Any:
    marks = [pytest.mark.slow] if path.name in SLOW else []
    return pytest.param(path, id=path.stem, marks=marks)


def _kernel_manager(kernel_dir: Path, out: Path) -> KernelManager:
    """A kernel manager whose only ``python3`` spec runs ``sys.executable``, offline."""
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "biomm tests",
        "language": "python",
        "env": {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "MPLBACKEND": "Agg",
            "BIOMM_EXAMPLES_OUT": str(out),
            # Other jobs share the test machine's cores; the notebooks' small models run
            # fastest single-threaded there (docs/pipelines.md measured 4x).
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "TOKENIZERS_PARALLELISM": "false",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        },
    }
    folder = kernel_dir / KERNEL
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def _shutdown(client: nbclient.NotebookClient, km: KernelManager) -> None:
    """Stop the client's channels and the kernel (nbclient leaves a given manager running)."""
    if client.kc is not None:
        client.kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", [_param(p) for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    km = _kernel_manager(tmp_path / "kernels", out)
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(work)}},
    )
    started = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        # The message holds the failing cell's source and the kernel's traceback.
        message = ANSI.sub("", str(exc))
        pytest.fail(f"{path.name}: a cell failed\n{message}", pytrace=False)
    finally:
        _shutdown(client, km)
    seconds = time.perf_counter() - started
    print(f"{path.name}: executed in {seconds:.1f} s")
    # The notebook wrote into the folder it was given (BIOMM_EXAMPLES_OUT), not elsewhere.
    assert any(out.iterdir()), f"{path.name} wrote nothing under BIOMM_EXAMPLES_OUT"


def test_kernel_is_this_interpreter(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys\nprint(sys.executable)\nprint(sys.prefix)")]
    km = _kernel_manager(tmp_path / "kernels", tmp_path / "out")
    client = nbclient.NotebookClient(nb, km=km, timeout=60, kernel_name=KERNEL)
    try:
        client.execute()
    finally:
        _shutdown(client, km)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    executable, prefix = printed.splitlines()
    # The prefix tells a virtual environment from the base interpreter it links to.
    assert (executable, prefix) == (sys.executable, sys.prefix)


def test_notebooks_found() -> None:
    assert len(NOTEBOOKS) >= 4, f"expected the tutorial notebooks in {EXAMPLES}"


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in NOTEBOOKS])
def test_notebook_is_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL
    dirty = [
        k
        for k, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before "
        "committing (Jupyter: Edit > Clear Outputs of All Cells)"
    )
    assert nb.cells[0].cell_type == "markdown", "a tutorial starts by saying what it does"
