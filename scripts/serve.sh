#!/usr/bin/env bash
# Install what is missing, then serve the optimised (release) site at http://127.0.0.1:8080
# with `trunk serve --release`; extra arguments go to trunk. The first run compiles trunk and
# the release build of the page and worker (README.md has the times); later runs reuse both.
# Plain `trunk serve` serves the test build instead: quick to compile if the tests ran, but its
# dependencies are unoptimised, so training on the GPU is slower there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve
exec trunk serve --release "$@"
