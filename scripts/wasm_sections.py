"""Reading a .wasm file's sections: shared by strip-wasm-names.py and wasm-sizes.py."""


def leb128(data, pos):
    """The unsigned LEB128 number at `pos`, and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def sections(data):
    """(id, start, body, end) per section: `data[start:end]` is the whole section, `data[body:end]`
    its contents."""
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    pos = 8
    while pos < len(data):
        start = pos
        size, body = leb128(data, pos + 1)
        pos = body + size
        yield data[start], start, body, pos
