#!/usr/bin/env bash
# The main job: set up the environment, then run `biomm demo` on the embedded demo data.
# Extra arguments go to `biomm demo` (e.g. --out DIR, --patients N).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bootstrap.sh
source "$repo/scripts/bootstrap.sh"
cd "$repo"
exec "$(dirname "$BIOMM_PY")/biomm" demo "$@"
