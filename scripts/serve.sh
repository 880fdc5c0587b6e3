#!/usr/bin/env bash
# Install what is missing, then serve the optimised (release) site at http://127.0.0.1:8080
# with `trunk serve --release`; extra arguments go to trunk. The first run installs trunk and
# wasm-bindgen-cli in the background while it compiles the release page and worker
# (prebuild-release.sh; README.md has the times); later runs reuse all of it.
# Plain `trunk serve` serves the test build instead: quick to compile if the tests ran, but its
# dependencies are unoptimised, so training on the GPU is slower there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prebuild-release.sh
exec trunk serve --release "$@"
