"""The Python MCP SDK's own OAuth client provider (mcp 2.3.0,
`ClientCredentialsOAuthProvider`) against `mcp-sigv4 gateway` as an OAuth
resource server: from a 401 alone it must find the resource metadata
(RFC 9728), the authorization server's metadata, get a token by the
client-credentials grant with the route as `resource` (RFC 8707), and open a
working session, in both eras (`mode="auto"` negotiates 2026-07-28,
`mode="legacy"` initializes a 2025 session).

    python oauth_client.py GATEWAY_ROUTE_URL ISSUER CLIENT_ID CLIENT_SECRET SCOPE TOOL

Prints one line per era (`ok ...` or `FAIL ...`), then `oauth-client: N passed,
N failed`; exits 1 on any failure.
"""

import asyncio
import sys
import traceback

import httpx2
from mcp.client import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client


class Memory:
    """Token storage that keeps nothing between runs."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


async def one_era(url, issuer, client_id, secret, scope, tool, mode):
    provider = ClientCredentialsOAuthProvider(
        server_url=url,
        storage=Memory(),
        client_id=client_id,
        client_secret=secret,
        scope=scope,
        issuer=issuer,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None, read_timeout_seconds=30) as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            if tool not in tools:
                raise AssertionError(f"{tool} not among {tools}")
            result = await client.call_tool(tool, {})
            text = result.content[0].text
            return f"{client.protocol_version}, {len(tools)} tools, {tool} answered {text!r}"


async def main():
    url, issuer, client_id, secret, scope, tool = sys.argv[1:7]
    passed = failed = 0
    for mode in ("auto", "legacy"):
        try:
            detail = await one_era(url, issuer, client_id, secret, scope, tool, mode)
        except BaseException as error:  # noqa: BLE001 - any failure is the check's result
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            while isinstance(error, BaseExceptionGroup) and error.exceptions:
                error = error.exceptions[0]
            cause = " | ".join(line.strip() for line in traceback.format_exception_only(error))
            print(f"FAIL {mode}: {cause}", flush=True)
            failed += 1
            continue
        print(f"ok   {mode}: {detail}", flush=True)
        passed += 1
    print(f"oauth-client: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


asyncio.run(main())
