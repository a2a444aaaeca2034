#!/usr/bin/env bash
# Create (or reuse) the biomm virtual environment and install biomm with its dev extras.
# Sourced by scripts/demo.sh and scripts/test.sh; sets BIOMM_PY to the venv's python.
#
#   BIOMM_VENV    venv folder (default: .venv in the repository)
#   BIOMM_TORCH   torch requirement installed first when torch is missing
#                 (default: torch==2.13.0; a CPU-only index can be given via PIP_INDEX_URL)
#   PYTHON        interpreter used to create the venv (default: python3, must be >= 3.10)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BIOMM_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  echo "biomm needs Python >= 3.10; '$python' is $("$python" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.10+ and rerun." >&2
  exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[biomm] creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
BIOMM_PY="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build on Linux.
if ! "$BIOMM_PY" -W ignore -c 'import torch' 2>/dev/null; then
  echo "[biomm] installing ${BIOMM_TORCH:-torch==2.13.0}"
  "$BIOMM_PY" -m pip install --quiet "${BIOMM_TORCH:-torch==2.13.0}" 2>&1 | grep -v "is ignored" || true
  "$BIOMM_PY" -W ignore -c 'import torch' || { echo "[biomm] torch installation failed" >&2; exit 1; }
fi

echo "[biomm] installing biomm and its dependencies (pip install -e '.[dev]')"
"$BIOMM_PY" -m pip install --quiet -e "$repo[dev]" 2>&1 | grep -v "is ignored" || true
"$BIOMM_PY" -c 'import biomm' || { echo "[biomm] installation failed" >&2; exit 1; }
export BIOMM_PY
