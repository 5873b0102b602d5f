#!/usr/bin/env python3
"""Writes mcp-sigv4/link-order.txt: the functions of the `mcp-sigv4` binary that a
proxy session runs, which mcp-sigv4/build.rs has the linker place first and
together (BENCHMARKS.md, "The proxy's code, laid out together").

Each scenario drives `mcp-sigv4 proxy` under valgrind's callgrind against the
demo's verifying stand-in (`--serve`), as a 2025-era host and as a 2026-07-28
host, and as a 2025-era host over `https://` (through benches/tls_front.py, for
the TLS handshake and certificate checks a proxy to AWS runs), with the default
flags a host's config has, and records every function of the binary that ran. Run by hand after a
change of toolchain, dependencies or the proxy's code path:

    cargo build --release -p mcp-sigv4 --bin mcp-sigv4
    cargo build --release --all-features --example demo
    python3 benches/link_order.py            # needs valgrind

Symbol names carry crate hashes that change with the toolchain and the crates'
versions; names the binary no longer has are skipped by the linker, so a stale
list costs memory, not correctness. CHECK=1 only prints how many of the listed
names the binary (MCP_SIGV4, unstripped) still has.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile

import stand_in
import tls_front

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.environ.get("DEMO", os.path.join(ROOT, "target", "release", "examples", "demo"))
CLI = os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4"))
OUT = os.path.join(ROOT, "mcp-sigv4", "link-order.txt")
MODERN = "2026-07-28"


def legacy(id_, method, params=None):
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}}


def modern(id_, method, params=None):
    params = dict(params or {})
    params["_meta"] = {
        **params.get("_meta", {}),
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "link-order", "version": "1"},
    }
    return legacy(id_, method, params)


def calls(make, first):
    out = []
    for i in range(20):
        out.append(make(first + i, "tools/call", {"name": "echo", "arguments": {"text": "x" * 512}}))
    out.append(make(first + 20, "tools/call", {"name": "add", "arguments": {"a": 20, "b": 22}}))
    out.append(make(first + 21, "tools/call", {"name": "count", "arguments": {"steps": 2},
                                                "_meta": {"progressToken": "p"}}))
    out.append(make(first + 22, "ping"))
    return out


LEGACY_SESSION = [
    legacy(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "link-order", "version": "1"}}),
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    legacy(1, "tools/list"),
] + calls(legacy, 100)
MODERN_SESSION = [
    modern(0, "server/discover"),
    modern(1, "tools/list"),
] + calls(modern, 100)
# (name, host messages, over https through benches/tls_front.py)
SCENARIOS = [
    ("2025-06-18 host", LEGACY_SESSION, False),
    ("2026-07-28 host", MODERN_SESSION, False),
    ("2025-06-18 host over https", LEGACY_SESSION, True),
]


def run(messages, env, url, out_file):
    command = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out_file}",
               CLI, "proxy", url, "--service", "bedrock-agentcore", "--region", "us-east-1"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
    for message in messages:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        if "id" not in message:
            continue
        for _ in range(1000):  # notifications (progress) come before the reply
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the proxy closed stdout before answering {message['method']}")
            reply = json.loads(line)
            if reply.get("id") == message["id"] and "method" not in reply:
                break
    proc.stdin.close()
    proc.wait(timeout=120)


def executed(callgrind_out, binary):
    """Names of the functions of `binary` that callgrind saw run."""
    objects, functions, names, current = {}, {}, set(), None
    with open(callgrind_out) as f:
        for line in f:
            m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if not m:
                continue
            kind, key, name = m.groups()
            table = objects if kind.endswith("ob") else functions
            if name is not None:
                table[key] = name
            if kind == "ob":
                current = objects[key]
            elif kind == "fn" and current and os.path.realpath(current) == os.path.realpath(binary):
                names.add(functions[key])
    return names


def code_symbols(binary):
    out = subprocess.run(["nm", "--defined-only", "-S", binary], capture_output=True, text=True, check=True)
    sizes = {}
    for line in out.stdout.splitlines():
        fields = line.split(" ", 3)
        if len(fields) == 4 and fields[2] in "tTwW":
            sizes[fields[3]] = int(fields[1], 16)
    return sizes


def main():
    symbols = code_symbols(CLI)
    if not symbols:
        sys.exit(f"{CLI} has no symbol table; build it without stripping")
    if os.environ.get("CHECK") == "1":
        listed = [n for n in open(OUT).read().split("\n") if n]
        present = sum(1 for n in listed if n in symbols)
        print(f"{present} of {len(listed)} listed functions are in {CLI}")
        return
    server, url, env = stand_in.start(DEMO, quiet=True)
    env["AWS_REGION"] = "us-east-1"
    ran = set()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, messages, tls in SCENARIOS:
                out_file = os.path.join(tmp, "callgrind.out")
                with contextlib.ExitStack() as stack:
                    target, session_env = url, env
                    if tls:
                        target, ca = stack.enter_context(tls_front.serve(url))
                        session_env = dict(env, AWS_CA_BUNDLE=ca)
                    run(messages, session_env, target, out_file)
                found = executed(out_file, CLI) & symbols.keys()
                print(f"{name}: {len(found)} functions, {sum(symbols[n] for n in found) / 1e6:.2f} MB")
                ran |= found
    finally:
        server.terminate()
    with open(OUT, "w") as f:
        f.write("".join(f"{n}\n" for n in sorted(ran)))
    print(f"{OUT}: {len(ran)} functions, {sum(symbols[n] for n in ran) / 1e6:.2f} MB of "
          f"{sum(symbols.values()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
