#!/usr/bin/env bash
# Build the whole site without trunk (what the browser tests serve): the page and the worker with
# cargo + wasm-bindgen, and index.html with trunk's <link data-trunk> tags replaced by what trunk
# would emit. Usage: build-web.sh OUT_DIR [debug|release]
set -euo pipefail
out="${1:?usage: build-web.sh OUT_DIR [debug|release]}"
profile="${2:-debug}"
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
flags=()
if [ "$profile" = release ]; then flags=(--release); fi
# One cargo invocation for both binaries, so the library is compiled once.
cargo build --locked --target wasm32-unknown-unknown --bin digit-lab-app --bin digit-lab-worker "${flags[@]}"
rm -rf "$out" && mkdir -p "$out"
for bin in digit-lab-app digit-lab-worker; do
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name "$bin" \
    "$target_dir/wasm32-unknown-unknown/$profile/$bin.wasm"
done
if [ "$profile" = release ]; then python3 scripts/strip-wasm-names.py "$out"/*_bg.wasm; fi
cp -r assets "$out/assets"
python3 - "$out" <<'PY'
import re, sys
html = open("index.html").read()
html = re.sub(r'\s*<link data-trunk rel="(copy-dir|rust)"[^>]*/>', "", html)
html = html.replace('<link data-trunk rel="css" href="assets/style.css" />',
                    '<link rel="stylesheet" href="assets/style.css" />')
html = html.replace("</head>", '  <script type="module">import init from "./digit-lab-app.js"; init();</script>\n  </head>')
assert "data-trunk" not in html, "index.html has a trunk tag build-web.sh does not know"
open(sys.argv[1] + "/index.html", "w").write(html)
PY
echo "built $out ($profile)"
