#!/usr/bin/env bash
# Install what the release site needs and compile it: the slow part of a first `serve.sh` or
# `build-release.sh`. The two tool installs (wasm-bindgen-cli, trunk) compile in the background
# while cargo builds the page and the worker exactly as `trunk build --release` will ask for
# them (index.html, scripts/build-worker.sh), so each fills the other's idle core and trunk then
# finds both compiled. Run again, it finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
prebuild_log() { printf '\033[1m[prebuild]\033[0m %s\n' "$*" >&2; }

ensure_wasm_target
ensure_crates
tools=""
if ! wasm_bindgen_installed || ! trunk_installed; then
  tools_log="$(mktemp -t digit-lab-web-tools.XXXXXX)"
  prebuild_log "installing wasm-bindgen-cli and trunk in the background while the site compiles (one-time builds, ~12 minutes; their log: $tools_log)"
  (ensure_wasm_bindgen && ensure_trunk) >"$tools_log" 2>&1 &
  tools=$!
  trap 'kill "$tools" 2>/dev/null || true' EXIT
fi

started=$SECONDS
# The page as index.html has trunk build it (profile: data-cargo-profile-release).
prebuild_log "compiling the page (profile web-page)"
cargo build --locked --target wasm32-unknown-unknown --bin digit-lab-app --no-default-features \
  --profile web-page
prebuild_log "compiling the worker (profile web-release)"
bash scripts/build-worker.sh --compile-only release
prebuild_log "page and worker compiled in $((SECONDS - started)) s"

if [ -n "$tools" ]; then
  prebuild_log "waiting for the tool installs to finish (log: $tools_log)"
  if ! wait "$tools"; then
    cat "$tools_log"
    prebuild_log "installing the tools failed (their log is above)"
    exit 1
  fi
  trap - EXIT
  grep -a '\[setup\]' "$tools_log" >&2 || true
fi
