"""Drop the `name` and `producers` custom sections of .wasm files in place (release builds).

The name section only gives panics readable stack traces; it is 25% of our release wasm. Cargo's
`strip` cannot do this for us: on wasm32 it drops every custom section, wasm-bindgen's included.
Usage: strip-wasm-names.py FILE.wasm [...]
"""
import sys

DROP = {b"name", b"producers"}


def leb128(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def strip(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    out, pos = bytearray(data[:8]), 8
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = leb128(data, pos + 1)
        pos = body + size
        if section_id == 0:
            name_len, name_at = leb128(data, body)
            if data[name_at:name_at + name_len] in DROP:
                continue
        out += data[start:pos]
    return bytes(out)


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        before = f.read()
    after = strip(before)
    with open(path, "wb") as f:
        f.write(after)
    print(f"{path}: {len(before)} -> {len(after)} bytes")
