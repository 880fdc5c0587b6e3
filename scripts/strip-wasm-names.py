"""Drop the `name` and `producers` custom sections of .wasm files in place (release builds).

The name section only gives panics readable stack traces; it is 25% of our release wasm. Cargo's
`strip` cannot do this for us: on wasm32 it drops every custom section, wasm-bindgen's included.
Usage: strip-wasm-names.py FILE.wasm [...]
"""
import sys

from wasm_sections import leb128, sections

DROP = {b"name", b"producers"}


def strip(data):
    out = bytearray(data[:8])
    for section_id, start, body, end in sections(data):
        if section_id == 0:
            name_len, name_at = leb128(data, body)
            if data[name_at : name_at + name_len] in DROP:
                continue
        out += data[start:end]
    return bytes(out)


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        before = f.read()
    after = strip(before)
    with open(path, "wb") as f:
        f.write(after)
    print(f"{path}: {len(before)} -> {len(after)} bytes")
