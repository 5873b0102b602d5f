"""The Python MCP SDK's `Client` (mcp 2.3.0) against `mcp-sigv4 gateway` with
two conformance servers behind it (`server.mjs --name NAME`), in both eras:
`mode="auto"` (which negotiates 2026-07-28 with the gateway) and
`mode="legacy"` (initialize and a session).

    python interop.py http://127.0.0.1:PORT alpha beta

On the aggregated `/mcp` each era lists the tools, finds both servers' tools
under their prefixes, and calls `server_name` on each (the answer says which
server was reached); then each era lists again after the other era listed,
within the gateway's list-cache lifetime, so each is served what the cache
holds. On `/mcp/{first}` a legacy list is followed by a modern one, for the
same reason. Client-side caching is off, so every list reaches the gateway.

Prints one line per check (`ok` or `FAIL`) and, last, `python-sdk: N passed,
N failed`; exits 1 on any failure.
"""

import asyncio
import sys
import traceback

from mcp.client import Client

MODERN = "2026-07-28"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    async def run(self, name, step):
        try:
            detail = await step()
        except BaseException as error:  # noqa: BLE001 - any failure is the check's result
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            self.failed += 1
            while isinstance(error, BaseExceptionGroup) and error.exceptions:
                error = error.exceptions[0]  # the cause, not anyio's task-group wrapper
            lines = "".join(traceback.format_exception_only(error)).splitlines()
            cause = " | ".join(x.strip() for x in lines if x.strip() and "errors.pydantic.dev" not in x)
            print(f"FAIL {name}: {cause}", flush=True)
            return
        self.passed += 1
        print(f"ok   {name}: {detail}", flush=True)


def client(url, mode):
    return Client(url, mode=mode, cache=None, read_timeout_seconds=30)


def era_of(mode):
    return "2026-07-28" if mode == "auto" else "legacy"


async def list_names(url, mode):
    async with client(url, mode) as c:
        if mode == "auto" and c.protocol_version != MODERN:
            raise AssertionError(f"auto mode negotiated {c.protocol_version}, expected {MODERN}")
        listed = await c.list_tools()
        return c.protocol_version, sorted(t.name for t in listed.tools)


async def main():
    base, servers = sys.argv[1].rstrip("/"), sys.argv[2:]
    if len(servers) < 2:
        sys.exit("usage: interop.py GATEWAY_URL SERVER SERVER [...]")
    aggregated = f"{base}/mcp"
    checks = Checks()

    for mode in ("auto", "legacy"):

        async def list_and_call(mode=mode):
            async with client(aggregated, mode) as c:
                listed = sorted(t.name for t in (await c.list_tools()).tools)
                answers = []
                for server in servers:
                    tool = f"{server}-server_name"
                    if tool not in listed:
                        raise AssertionError(f"{tool} not listed: {listed}")
                    result = await c.call_tool(tool, {})
                    said = result.content[0].text if result.content else None
                    if result.is_error or said != server:
                        raise AssertionError(f"{tool} answered {said!r} (isError {result.is_error})")
                    answers.append(f"{tool} -> {said}")
                return f"{c.protocol_version}, {len(listed)} tools; " + ", ".join(answers)

        await checks.run(f"/mcp {era_of(mode)}: list tools, call a tool of each server", list_and_call)

    # Each era after the other, twice, inside one list-cache lifetime.
    for round_, mode in enumerate(("legacy", "auto", "legacy", "auto"), start=1):

        async def relist(mode=mode):
            version, names = await list_names(aggregated, mode)
            return f"{version}, {len(names)} tools"

        await checks.run(f"/mcp {era_of(mode)} list #{round_} (after the other era's)", relist)

    single = f"{base}/mcp/{servers[0]}"
    for mode in ("legacy", "auto"):

        async def list_single(mode=mode):
            version, names = await list_names(single, mode)
            if "server_name" not in names:
                raise AssertionError(f"server_name not listed: {names}")
            return f"{version}, {len(names)} tools"

        await checks.run(f"/mcp/{servers[0]} {era_of(mode)} list (after the legacy list)", list_single)

    print(f"python-sdk: {checks.passed} passed, {checks.failed} failed", flush=True)
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    asyncio.run(main())
