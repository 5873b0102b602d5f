"""An MCP host, played by the Python MCP SDK: start a stdio server command, list its
tools and call `echo` once, then print how long it took from launch to the tool list
and how much memory the `mcp-sigv4` processes hold.

    python host.py COMMAND [ARG...]
    PROXIES=10 python host.py COMMAND [ARG...]

The server command gets the stand-in's credentials (AWS_* from this process's
environment) the way a host's `env` block passes them. Exits non-zero unless the
tool list is the stand-in's and `echo` answers with what it was sent.

Memory is reported as it adds up on a host, which starts one proxy per server:
the proportional set size (PSS, /proc/PID/smaps_rollup) summed over every
`mcp-sigv4` process, so that code pages the proxies share are counted once in
all, beside its anonymous part (heap and stacks, each proxy's own). With
PROXIES=N, N sessions of the same command run at once and are measured together,
after each has listed the tools and called `echo`. With DROP_CACHE=1 (COMMAND is
then the binary itself), the binary's pages are dropped from the page cache
first, so that its code is mapped as for any start from disk rather than from a
file that was just written.
"""

import asyncio
import os
import platform
import sys
import time

from mcp import Client, StdioServerParameters

EXPECTED_TOOLS = ["add", "count", "echo"]
PROXIES = int(os.environ.get("PROXIES", "1"))
DROP_CACHE = os.environ.get("DROP_CACHE") == "1"
# MAX_PSS_MIB=N fails the run when the proxies' PSS is above N MiB each (x86_64
# Linux only, where the release build lays the proxy's code out together).
MAX_PSS_MIB = float(os.environ.get("MAX_PSS_MIB", "0"))
TEXT = "héllo from the Python MCP SDK ✓"


async def session(server: StdioServerParameters, listed: list[float], measured: asyncio.Event) -> None:
    """One session: list the tools, call `echo`, then hold the session open (and
    the proxy running) until the memory has been measured. Each session opens and
    closes its client in its own task, as the SDK's task groups require."""
    started = time.monotonic()
    async with Client(server, read_timeout_seconds=120) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        to_list = time.monotonic() - started
        if tools != EXPECTED_TOOLS:
            raise RuntimeError(f"tools/list gave {tools}, expected {EXPECTED_TOOLS}")
        result = await client.call_tool("echo", {"text": TEXT})
        text = result.content[0].text if result.content else ""
        if result.is_error or text != TEXT:
            raise RuntimeError(f"tools/call echo gave {text!r}, expected {TEXT!r}")
        listed.append(to_list)
        await measured.wait()


async def main(command: str, args: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "HOME", "UV_CACHE_DIR")}
    if DROP_CACHE:
        drop_from_page_cache(command)
    server = StdioServerParameters(command=command, args=args, env=env)
    listed: list[float] = []
    measured = asyncio.Event()
    sessions = [asyncio.create_task(session(server, listed, measured)) for _ in range(PROXIES)]
    # Bounded: every session has listed and called `echo`, or one failed, within 120 s.
    for _ in range(1200):
        failed = [t for t in sessions if t.done() and t.exception()]
        if failed or len(listed) == PROXIES and all(not t.done() for t in sessions):
            break
        await asyncio.sleep(0.1)
    failed = [t for t in sessions if t.done() and t.exception()]
    status = 1
    if failed:
        print(f"a session failed: {failed[0].exception()}", file=sys.stderr)
    elif len(listed) < PROXIES:
        print(f"only {len(listed)} of {PROXIES} sessions listed the tools and called echo within 120 s", file=sys.stderr)
    else:
        print(f"tools/list: {', '.join(EXPECTED_TOOLS)} ({max(listed):.2f} s from launch)")
        print(f"tools/call echo: {TEXT}")
        status = report_memory()
    measured.set()
    await asyncio.gather(*sessions, return_exceptions=True)
    return status


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


def proxies() -> list[int]:
    """The `mcp-sigv4` processes among this host's descendants (under uvx or the
    npm launcher they are grandchildren)."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "mcp-sigv4":
                found.append(pid)
        except OSError:
            continue
    return found


def rollup(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/smaps_rollup (Linux 4.14+; Pss_Anon 5.1+)."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def report_memory() -> int:
    """Print the total PSS of the proxies and its anonymous part, in one line."""
    if sys.platform != "linux":
        return 0
    pids = proxies()
    if len(pids) != PROXIES:
        print(f"found {len(pids)} mcp-sigv4 processes among the host's children, expected {PROXIES}", file=sys.stderr)
        return 1
    rollups = [rollup(pid) for pid in pids]
    pss = sum(r["Pss"] for r in rollups) / 1024
    anon = sum(r.get("Pss_Anon", r["Anonymous"]) for r in rollups) / 1024
    rss = sum(r["Rss"] for r in rollups) / 1024
    name = "1 proxy" if PROXIES == 1 else f"{PROXIES} proxies"
    print(
        f"mcp-sigv4 memory, {name}: PSS {pss:.1f} MiB in all ({pss / PROXIES:.1f} MiB each), "
        f"of it anonymous {anon:.1f} MiB ({anon / PROXIES:.1f} MiB each); RSS summed {rss:.1f} MiB"
    )
    if MAX_PSS_MIB and platform.machine() == "x86_64" and pss / PROXIES > MAX_PSS_MIB:
        print(
            f"more than {MAX_PSS_MIB:g} MiB per proxy: the build lost the proxy's function layout "
            "(mcp-sigv4/build.rs); regenerate mcp-sigv4/link-order.txt with benches/link_order.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
