#!/usr/bin/env bash
# Build the release site into DIST_DIR (default dist/) with `trunk build --release`, write a
# gzip copy beside each text and wasm file (for servers that send precompressed files, see
# README.md) and print every file's raw and gzipped size. Usage: build-release.sh [DIST_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dist="$(realpath -m "${1:-dist}")"
bash scripts/prebuild-release.sh
started=$SECONDS
trunk build --release --dist "$dist"
echo "trunk build --release took $((SECONDS - started)) s"
python3 - "$dist" <<'PY'
import gzip, os, sys
dist = sys.argv[1]
total_raw = total_gz = 0
rows = []
for folder, _, files in os.walk(dist):
    for name in sorted(files):
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, dist)
        if name.endswith(".gz") or name == ".trunk-lock" or rel.startswith("screenshots"):
            continue
        raw = open(path, "rb").read()
        packed = gzip.compress(raw, compresslevel=9, mtime=0)
        if name.endswith((".wasm", ".js", ".html", ".css")):
            with open(path + ".gz", "wb") as out:
                out.write(packed)
        rows.append((rel, len(raw), len(packed)))
print(f"{'file':40} {'raw':>12} {'gzip -9':>12}")
for rel, raw, packed in sorted(rows):
    print(f"{rel:40} {raw:12,} {packed:12,}")
    if not rel.endswith(".bpk"):
        total_raw += raw
        total_gz += packed
print(f"{'total without the bundled model':40} {total_raw:12,} {total_gz:12,}")
PY
