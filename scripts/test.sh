#!/usr/bin/env bash
# The test command: set up the environment, then lint, run the test suite (without the slow
# and gpu markers) and build the docs with warnings as errors.
# Extra arguments go to pytest (e.g. -m slow, -k cohort).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bootstrap.sh
source "$repo/scripts/bootstrap.sh"
cd "$repo"
bin="$(dirname "$BIOMM_PY")"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 NO_MKDOCS_2_WARNING=1

echo "[biomm] ruff"
"$bin/ruff" check biomm tests benchmarks examples
"$bin/ruff" format --check --quiet biomm tests benchmarks examples
echo "[biomm] pytest"
"$BIOMM_PY" -m pytest -q "$@"
echo "[biomm] docs (mkdocs build --strict)"
"$bin/mkdocs" build --strict --quiet --site-dir "$(mktemp -d)"
echo "[biomm] all checks passed"
