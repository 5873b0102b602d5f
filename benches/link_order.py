"""Writes mcp-sigv4/link-order.txt: the functions of the `mcp-sigv4` binary that a
proxy session runs, which mcp-sigv4/build.rs has the linker place first and
together, in an output section of their own (`.text.proxy`; BENCHMARKS.md, "The
proxy's code, laid out together").

Each scenario drives `mcp-sigv4 proxy` under valgrind's callgrind against the
demo's verifying stand-in (`--serve`), as a 2025-era host and as a 2026-07-28
host, and as a 2025-era host over `https://` (through benches/tls_front.py, for
the TLS handshake and certificate checks a proxy to AWS runs), with the default
flags a host's config has, and records every function of the binary that ran.
The names are written without what changes from build to build: a legacy Rust
symbol up to its hash (`..17h*`), a v0 symbol's crate disambiguators as `Cs*_`,
aws-lc's version prefix as `aws_lc_*_`. So the list holds for the release build
(`cargo install`) and the `dist` build alike, across dependency updates and
toolchains, until the proxy's code path itself changes; the `link_order` test
(mcp-sigv4/tests/cli) says when too few of its names are left. Run by hand after
such a change, on an unstripped binary of either profile (several binaries:
MCP_SIGV4=a:b, the union is written):

    MCP_SIGV4_LINK_ORDER=off cargo build --release -p mcp-sigv4 --bin mcp-sigv4
    cargo build --example demo --all-features
    DEMO=target/debug/examples/demo python3 benches/link_order.py   # needs valgrind

Profile binaries built with MCP_SIGV4_LINK_ORDER=off: valgrind names only the
functions in `.text`, not those a layout moved into `.text.proxy`. CHECK=1 only
prints how many of the listed names the binaries still have.
"""
import contextlib
import bisect
import fnmatch
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
CLIS = os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4")).split(":")
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


def run(cli, messages, env, url, out_file):
    command = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out_file}",
               cli, "proxy", url, "--service", "bedrock-agentcore", "--region", "us-east-1"]
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


def pattern(symbol):
    """`symbol` without what changes from build to build (see the module docs)."""
    # The suffixes LLVM gives a local symbol it renames (`.llvm.N`, `.N`)
    # change from build to build.
    base = re.sub(r"(\.llvm)?\.[0-9]+$", "", symbol)
    if base != symbol:
        general = pattern(base)
        return general if general.endswith("*") else general + "*"
    legacy = re.match(r"^(_ZN.*17h)[0-9a-f]{16}E", symbol)
    if legacy:
        return legacy.group(1) + "*"
    if symbol.startswith("_R"):
        return re.sub(r"Cs[0-9A-Za-z]*_", "Cs*_", symbol)
    return re.sub(r"aws_lc_[0-9]+_[0-9]+_[0-9]+_", "aws_lc_*_", symbol)


def covered(patterns, symbols):
    """{pattern: the names among `symbols` (a sorted list) that it matches}."""
    found = {}
    for p in patterns:
        literal = p.split("*")[0]
        i = bisect.bisect_left(symbols, literal)
        while i < len(symbols) and symbols[i].startswith(literal):
            if fnmatch.fnmatchcase(symbols[i], p):
                found.setdefault(p, []).append(symbols[i])
            i += 1
    return found


def main():
    tables = {cli: code_symbols(cli) for cli in CLIS}
    for cli, symbols in tables.items():
        if not symbols:
            sys.exit(f"{cli} has no symbol table; build it without stripping")
    if os.environ.get("CHECK") == "1":
        listed = [n for n in open(OUT).read().split("\n") if n and not n.startswith("#")]
        for cli, symbols in tables.items():
            present = covered(listed, sorted(symbols))
            print(f"{len(present)} of {len(listed)} listed functions are in {cli}")
        return
    server, url, env = stand_in.start(DEMO, quiet=True)
    env["AWS_REGION"] = "us-east-1"
    ran = set()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for cli, symbols in tables.items():
                for name, messages, tls in SCENARIOS:
                    out_file = os.path.join(tmp, "callgrind.out")
                    with contextlib.ExitStack() as stack:
                        target, session_env = url, env
                        if tls:
                            target, ca = stack.enter_context(tls_front.serve(url))
                            session_env = dict(env, AWS_CA_BUNDLE=ca)
                        run(cli, messages, session_env, target, out_file)
                    found = executed(out_file, cli) & symbols.keys()
                    print(f"{cli}, {name}: {len(found)} functions, "
                          f"{sum(symbols[n] for n in found) / 1e6:.2f} MB")
                    ran |= {pattern(n) for n in found}
    finally:
        server.terminate()
    # A name that many functions share is a generic one (`<&T as Debug>::fmt`,
    # `tokio::runtime::task::raw::poll`): its instances are told apart only by
    # the hash, so it brings every instance along, most of them not the proxy's.
    # The names go in order of how many functions they match, so that the ones
    # that match the proxy's functions alone come first and together.
    covers = {cli: covered(sorted(ran), sorted(symbols)) for cli, symbols in tables.items()}
    listed = sorted(ran, key=lambda p: (max(len(c.get(p, [])) for c in covers.values()), p))
    with open(OUT, "w") as f:
        f.write("".join(f"{n}\n" for n in listed))
    for cli, symbols in tables.items():
        names = {n for hits in covered(listed, sorted(symbols)).values() for n in hits}
        print(f"{OUT}: {len(listed)} names; in {cli} they cover {len(names)} functions, "
              f"{sum(symbols[n] for n in names) / 1e6:.2f} MB of {sum(symbols.values()) / 1e6:.2f} MB of code")


if __name__ == "__main__":
    main()
