#!/usr/bin/env python3
"""A tiny stdio MCP server for `benches/gateway_compare.py`: one JSON-RPC
message per line on stdin and stdout, no dependency beyond the standard
library, so that both gateways spawn exactly the same process.

It answers `initialize` (with the version the client asked for, among those it
knows), `ping`, `tools/list` (one tool, `add`) and `tools/call add {a, b}` with
the sum as text, like the demo stand-in's `add`. Notifications get no answer;
an unknown method gets -32601. It exits when stdin closes.

With BENCH_STDIO_STARTS set (the config's `env`), each start appends a line to
that file, so that the benchmark can count the processes a gateway started.
"""

import json
import os
import sys

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
ADD = {
    "name": "add",
    "description": "Add two integers",
    "inputSchema": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


def result(message):
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {
            "protocolVersion": asked if asked in VERSIONS else VERSIONS[1],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bench-stdio", "version": "1"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": [ADD]}
    if method == "tools/call" and params.get("name") == "add":
        args = params.get("arguments") or {}
        total = int(args.get("a", 0)) + int(args.get("b", 0))
        return {"content": [{"type": "text", "text": str(total)}], "isError": False}
    return None


def main():
    starts = os.environ.get("BENCH_STDIO_STARTS")
    if starts:
        with open(starts, "a") as f:
            f.write(f"{os.getpid()}\n")
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict) or "id" not in message or "method" not in message:
            continue  # notifications and replies need no answer
        answer = {"jsonrpc": "2.0", "id": message["id"]}
        try:
            value = result(message)
        except (TypeError, ValueError) as e:
            answer["error"] = {"code": -32602, "message": str(e)}
        else:
            if value is None:
                answer["error"] = {"code": -32601, "message": f"unknown method {message.get('method')}"}
            else:
                answer["result"] = value
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
