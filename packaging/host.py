"""An MCP host, played by the Python MCP SDK: start a stdio server command, list its
tools and call `echo` once, then print how long it took from launch to the tool list.

    python host.py COMMAND [ARG...]

The server command gets the stand-in's credentials (AWS_* from this process's
environment) the way a host's `env` block passes them. Exits non-zero unless the
tool list is the stand-in's and `echo` answers with what it was sent.
"""

import asyncio
import os
import sys
import time

from mcp import Client, StdioServerParameters

EXPECTED_TOOLS = ["add", "count", "echo"]
TEXT = "héllo from the Python MCP SDK ✓"


async def main(command: str, args: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "HOME", "UV_CACHE_DIR")}
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
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
