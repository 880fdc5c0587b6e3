#!/usr/bin/env bash
# Install what is missing, then serve the app at http://127.0.0.1:8080 (trunk serve; extra
# arguments go to trunk, e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve
exec trunk serve "$@"
