"""Checks that a built `mcp-sigv4` has the proxy's functions laid out together:
the output section `.text.proxy` that mcp-sigv4/build.rs has the linker fill from
mcp-sigv4/link-order.txt, placed before `.text`, at least MIN_MB large.

    python layout.py BINARY MIN_MB

Reads the ELF section headers only, which a stripped binary (the wheel's and the
npm packages') keeps. Prints one line; exits non-zero when the section is missing
or smaller than MIN_MB, which is what a linker that ignored the script, a list
whose names no longer match, or a change of symbol mangling looks like. Only
x86_64 Linux builds carry the layout; elsewhere it says so and exits 0.
"""

import platform
import struct
import sys

SECTION = ".text.proxy"


def sections(path: str) -> dict[str, tuple[int, int]]:
    """{name: (address, size)} of an ELF64 little-endian file's sections."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    found = {}
    for name_offset, _kind, _flags, address, _offset, size in headers:
        start = names_at + name_offset
        name = data[start:data.index(b"\0", start)].decode("ascii", "replace")
        found[name] = (address, size)
    return found


def main(path: str, min_mb: float) -> int:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        print(f"mcp-sigv4 code layout: not checked on {sys.platform} {platform.machine()} (x86_64 Linux only)")
        return 0
    found = sections(path)
    text = found.get(".text", (0, 0))
    hot = found.get(SECTION)
    if hot is None:
        print(f"{path} has no {SECTION} section: the build did not lay out the proxy's functions "
              "(mcp-sigv4/build.rs; was MCP_SIGV4_LINK_ORDER=off or another linker set?)", file=sys.stderr)
        return 1
    code = (hot[1] + text[1]) / 1e6
    print(f"mcp-sigv4 code layout: {SECTION} {hot[1] / 1e6:.2f} MB, first of {code:.2f} MB of code")
    if hot[1] / 1e6 < min_mb:
        print(f"{SECTION} is smaller than {min_mb:g} MB: most names in mcp-sigv4/link-order.txt no longer "
              "match the binary's functions; regenerate the list with benches/link_order.py", file=sys.stderr)
        return 1
    if hot[0] > text[0]:
        print(f"{SECTION} is not placed before .text", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
