#!/usr/bin/env bash
# Install what Digit Lab's commands need, only where it is missing (safe to run again).
# Source it and call the `ensure_*` functions, or run it: setup.sh [serve|test|test-system|web-tools|all]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION=0.22.1

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

# Tools are installed with cargo's own temporary target directory, never CARGO_TARGET_DIR: a
# shared one would make the install wait for the project's build (they lock the same folder).

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { log "adding the wasm32-unknown-unknown target"; rustup target add wasm32-unknown-unknown; }
}

wasm_bindgen_installed() {
  [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$(wasm_bindgen_version)" ]
}

ensure_wasm_bindgen() {
  local want; want="$(wasm_bindgen_version)"
  if ! wasm_bindgen_installed; then
    log "installing wasm-bindgen-cli $want (about 5 minutes, once)"
    # Not --locked: its lockfile pins a webpki-roots the registry no longer serves. Without its
    # default TLS feature (only its test runner downloads anything), only the one binary, and at
    # opt-level 1 (a third less to compile; it still processes the worker's wasm in seconds).
    local started=$SECONDS
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 env -u CARGO_TARGET_DIR cargo install --force --no-default-features --bin wasm-bindgen wasm-bindgen-cli --version "$want"
    log "wasm-bindgen-cli $want installed in $((SECONDS - started)) s"
  fi
}

trunk_installed() {
  [ "$(trunk --version 2>/dev/null | awk '{print $2}')" = "$TRUNK_VERSION" ]
}

ensure_trunk() {
  if ! trunk_installed; then
    log "installing trunk $TRUNK_VERSION (a one-time build of ~10 minutes on 2 cores; cargo shows its progress)"
    # Trunk only orchestrates (cargo, wasm-bindgen, file copies) and never downloads here, so an
    # unoptimised build without the online update check serves and builds just as well, and
    # compiles in a fraction of the time of `cargo install trunk`'s release build (~36 min).
    local started=$SECONDS
    CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_DEV_INCREMENTAL=false env -u CARGO_TARGET_DIR \
      cargo install --locked --ignore-rust-version --debug \
      --no-default-features --features rustls "trunk@$TRUNK_VERSION"
    log "trunk $TRUNK_VERSION installed in $((SECONDS - started)) s"
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}

# mesa's lavapipe: a Vulkan driver on the CPU, so native wgpu tests run without a GPU.
ensure_lavapipe() {
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    log "installing mesa-vulkan-drivers (lavapipe)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  fi
}

ensure_node_deps() {
  local dir="$ROOT/tests/browser"
  if [ ! -d "$dir/node_modules/playwright-core" ]; then
    log "installing the browser tests' npm packages (playwright-core; no browser download)"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts)
  fi
}

# Sources for crates; trunk builds offline.
ensure_crates() {
  (cd "$ROOT" && cargo fetch --locked >/dev/null)
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-all}" in
    serve) ensure_wasm_target; ensure_wasm_bindgen; ensure_trunk; ensure_crates ;;
    # What the native tests need (quick: packages and downloads, no compiling).
    test-system) ensure_wasm_target; ensure_chromium; ensure_lavapipe; ensure_node_deps; ensure_crates ;;
    # What the web build needs: two cargo installs, the slow part of a first run.
    web-tools) ensure_wasm_bindgen; ensure_trunk ;;
    test) ensure_wasm_target; ensure_wasm_bindgen; ensure_trunk; ensure_chromium; ensure_lavapipe; ensure_node_deps; ensure_crates ;;
    all) ensure_wasm_target; ensure_wasm_bindgen; ensure_trunk; ensure_chromium; ensure_lavapipe; ensure_node_deps; ensure_crates ;;
    *) echo "usage: setup.sh [serve|test|test-system|web-tools|all]" >&2; exit 2 ;;
  esac
fi
