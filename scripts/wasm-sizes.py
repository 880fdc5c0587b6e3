"""Code size of a .wasm file by crate, from its `name` section (so: before strip-wasm-names.py).

What `cargo bloat` does natively, for our wasm: each function body's size in the code section,
attributed to the crate its (demangled) name starts with; a generic function counts towards
the crate that defines it, wherever it was instantiated. Usage: wasm-sizes.py FILE.wasm [TOP]
"""
import collections
import re
import sys

from wasm_sections import leb128, sections


def imported_functions(body):
    count, pos = leb128(body, 0)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            length, pos = leb128(body, pos)
            pos += length
        kind = body[pos]
        pos += 1
        if kind == 0:  # function: a type index
            _, pos = leb128(body, pos)
            functions += 1
        elif kind == 1:  # table: element type, limits
            pos += 1
            flags, pos = leb128(body, pos)
            _, pos = leb128(body, pos)
            if flags & 1:
                _, pos = leb128(body, pos)
        elif kind == 2:  # memory: limits
            flags, pos = leb128(body, pos)
            _, pos = leb128(body, pos)
            if flags & 1:
                _, pos = leb128(body, pos)
        elif kind == 3:  # global: value type, mutability
            pos += 2
        elif kind == 4:  # tag
            pos += 1
            _, pos = leb128(body, pos)
    return functions


def body_sizes(body):
    count, pos = leb128(body, 0)
    sizes = []
    for _ in range(count):
        size, start = leb128(body, pos)
        sizes.append(size + (start - pos))
        pos = start + size
    return sizes


def function_names(body):
    if body[: len(b"\x04name")] != b"\x04name":
        return None
    pos = 5
    names = {}
    while pos < len(body):
        kind = body[pos]
        size, sub = leb128(body, pos + 1)
        if kind == 1:
            count, p = leb128(body, sub)
            for _ in range(count):
                index, p = leb128(body, p)
                length, p = leb128(body, p)
                names[index] = body[p : p + length].decode("utf-8", "replace")
                p += length
        pos = sub + size
    return names


# `<T as crate::Trait>::f` counts towards T's crate; `_<impl ...>` prefixes and leading `<` go.
def crate_of(name):
    name = name.lstrip("<&*").removeprefix("mut ").removeprefix("const ").removeprefix("dyn ")
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", name)
    if not match:
        return "(other)"
    crate = match.group(0)
    return crate if "::" in name[match.end() : match.end() + 2] else f"({crate})"


def main():
    data = open(sys.argv[1], "rb").read()
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    imports, sizes, names = 0, [], None
    for section_id, _, contents, end in sections(data):
        body = data[contents:end]
        if section_id == 2:
            imports = imported_functions(body)
        elif section_id == 10:
            sizes = body_sizes(body)
        elif section_id == 0:
            names = function_names(body) or names
    if names is None:
        sys.exit(f"{sys.argv[1]} has no name section (stripped?)")
    by_crate = collections.Counter()
    for index, size in enumerate(sizes):
        by_crate[crate_of(names.get(index + imports, "(unnamed)"))] += size
    total = sum(sizes)
    print(f"{sys.argv[1]}: {len(data):,} bytes, code {total:,} in {len(sizes):,} functions")
    for crate, size in by_crate.most_common(top):
        print(f"{size:12,} {100 * size / total:5.1f}%  {crate}")


if __name__ == "__main__":
    main()
