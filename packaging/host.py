"""An MCP host, played by the Python MCP SDK: start a stdio server command, list its
tools and call `echo` once, then print how long it took from launch to the tool list
and how much memory the `mcp-sigv4` process holds.

    python host.py COMMAND [ARG...]

The server command gets the stand-in's credentials (AWS_* from this process's
environment) the way a host's `env` block passes them. Exits non-zero unless the
tool list is the stand-in's and `echo` answers with what it was sent.

With LAYOUT_CHECK=1 (COMMAND is then the binary itself), it first drops the
binary's pages from the page cache, so that the kernel maps its code as for any
start from disk, and on x86_64 Linux it fails when more than 40 % of the
binary's code is resident after the call: there the release build places the
proxy's functions together (mcp-sigv4/build.rs), and a proxy that has most of
its code mapped means that layout was lost (about 14 % with it, 65 % without).
"""

import asyncio
import os
import platform
import sys
import time

from mcp import Client, StdioServerParameters

EXPECTED_TOOLS = ["add", "count", "echo"]
MOST_CODE_RESIDENT = 0.40
LAYOUT_CHECK = os.environ.get("LAYOUT_CHECK") == "1"
TEXT = "héllo from the Python MCP SDK ✓"


async def main(command: str, args: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "HOME", "UV_CACHE_DIR")}
    if LAYOUT_CHECK:
        drop_from_page_cache(command)
    server = StdioServerParameters(command=command, args=args, env=env)
    started = time.monotonic()
    async with Client(server, read_timeout_seconds=120) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        listed = time.monotonic() - started
        print(f"tools/list: {', '.join(tools)} ({listed:.2f} s from launch)")
        if tools != EXPECTED_TOOLS:
            print(f"expected {EXPECTED_TOOLS}", file=sys.stderr)
            return 1
        result = await client.call_tool("echo", {"text": TEXT})
        text = result.content[0].text if result.content else ""
        print(f"tools/call echo: {text}")
        if result.is_error or text != TEXT:
            print(f"expected {TEXT!r}", file=sys.stderr)
            return 1
        return check_memory()
    return 0


def drop_from_page_cache(path: str) -> None:
    """Write back and drop the cached pages of `path`: a freshly written file's
    pages can be mapped in larger pieces than ones read back from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def check_memory() -> int:
    """Print the proxy's resident memory and the resident share of its code."""
    if sys.platform != "linux":
        return 0
    for pid in descendants(os.getpid()):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if os.path.basename(exe) == "mcp-sigv4":
            break
    else:
        print("no mcp-sigv4 process among the host's children", file=sys.stderr)
        return 1
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    size = resident = 0
    executable = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                executable = "x" in fields[1] and fields[-1] == exe
            elif executable and fields[0] in ("Size:", "Rss:"):
                if fields[0] == "Size:":
                    size += int(fields[1])
                else:
                    resident += int(fields[1])
    share = resident / size if size else 0.0
    print(f"mcp-sigv4 memory: VmRSS {rss / 1024:.1f} MiB; code {resident / 1024:.1f} of {size / 1024:.1f} MiB resident ({share:.0%})")
    if LAYOUT_CHECK and platform.machine() == "x86_64" and share > MOST_CODE_RESIDENT:
        print(
            f"more than {MOST_CODE_RESIDENT:.0%} of the binary's code is resident: the build lost the proxy's "
            "function layout; regenerate mcp-sigv4/link-order.txt with benches/link_order.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
