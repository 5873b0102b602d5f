#!/usr/bin/env python3
"""`mcp-sigv4 gateway` vs the LiteLLM proxy's MCP gateway (issue #12), both in
front of the same upstream: the demo's SigV4-verifying AgentCore stand-in
(`demo --serve`, SSE replies), both reading the same LiteLLM-shaped config.yaml
(written by this script into a temporary directory, printed with -v).

Per server process (fresh for every run):

- time to listen: spawn -> first HTTP 200 from its health route
  (`/health` for the gateway, `/health/liveliness` for LiteLLM), polled every 10 ms;
- SESSIONS concurrent MCP sessions on `POST /mcp` with `x-litellm-mcp-server: agent`
  and `Authorization: Bearer sk-bench-1234`: initialize -> notifications/initialized
  -> tools/list (the name ending in `add` is the tool to call, prefixed or not)
  -> WARMUP calls -> (all sessions start together) tools/call `add` in a loop
  until DURATION seconds have passed or MAX_CALLS calls per session;
- calls/s over all sessions, p50 and p99 per-call latency;
- resident memory (VmRSS summed over the server's process tree) once listening
  and after the run; server CPU time (utime + stime of the tree) per call.

Three scenarios (SCENARIOS, all by default), each with its own config file:

- `mcp`: the above, the demo stand-in (`agent`, streamable HTTP, SigV4) behind
  `POST /mcp`;
- `rest`: the same upstream through LiteLLM's REST API: each session first reads
  `GET /v1/mcp/server` for the `server_id` of `agent`, then calls
  `POST /mcp-rest/tools/call` with `{"server_id", "name": "add", "arguments"}`
  (no MCP session on the client's side);
- `stdio`: `benches/stdio_mcp_server.py` (standard library only) as the one
  server, `transport: stdio`, spawned by each gateway itself, behind `POST /mcp`
  with `x-litellm-mcp-server: local`. Each start of the server process is
  counted (its `env` names a file it appends to), and reported per run.

The client is a small HTTP/1.1 keep-alive client on asyncio streams (one
connection per session), not httpx, so that it costs less CPU than the faster
server; it parses JSON and SSE replies and sends Mcp-Session-Id back.

Binaries and knobs (defaults in parentheses):

    MCP_SIGV4=path/to/mcp-sigv4          (target/release/mcp-sigv4)
    DEMO=path/to/demo                    (target/release/examples/demo)
    LITELLM=path/to/litellm              (litellm on PATH)
    RUNS=3 SESSIONS=8 DURATION=15 MAX_CALLS=100000 WARMUP=5 CALL_TIMEOUT=60
    ONLY=gateway|litellm                 (measure one server only)
    SCENARIOS=mcp,rest,stdio             (which scenarios, in this order)
    PYTHON=python3                       (the interpreter the stdio server runs in)
    TELEMETRY=1                          (the gateway alone, three ways, interleaved: see below)
    OAUTH=1                              (the gateway alone, master key vs OAuth token: see below)

With TELEMETRY=1 the gateway runs RUNS rounds of three configurations, their
order rotated each round so that drift on a shared machine falls on each alike:
`--metrics off` without traces; metrics on (the default) without traces; and
metrics on with traces sampled at 100 % (OTEL_TRACES_SAMPLER=always_on) to a
local OTLP/HTTP sink (a child of this script that accepts every export and
discards it; OTEL_BSP_SCHEDULE_DELAY=200, OTEL_BSP_MAX_QUEUE_SIZE=65536 and
OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096, so that spans are exported, not dropped).
It prints the median of each and its cost against `--metrics off`.

With OAUTH=1 the gateway runs RUNS rounds of two configurations, their order
alternated: clients presenting the master key, and clients presenting a JWT
access token of a real authorization server (node-oidc-provider, started from
mcp-sigv4/tests/support/oauth_as/ after `npm ci` there; RS256, the token for
the gateway's `/mcp`) to a gateway with `general_settings.oauth` (its JWKS
cached after the first fetch). It prints the median of each and the token's cost
against the master key.

LiteLLM runs with LITELLM_LOCAL_MODEL_COST_MAP=True (otherwise it spends ~7 s at
start retrying a download of its model price list, and this machine has no
internet) and `--host 127.0.0.1`; no database, one worker (its default). For the stdio scenario
it also needs LITELLM_ENABLE_MCP_STDIO=true (1.108 refuses stdio servers
without it); the script sets it for both servers.

Run by hand:

    pip install 'litellm[proxy]'
    cargo build --release -p mcp-sigv4 --bin mcp-sigv4
    cargo build --release --all-features --example demo
    python3 benches/gateway_compare.py
"""

import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.environ.get("DEMO", os.path.join(ROOT, "target", "release", "examples", "demo"))
CLI = os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4"))
LITELLM = os.environ.get("LITELLM", "litellm")
RUNS = int(os.environ.get("RUNS", "3"))
SESSIONS = int(os.environ.get("SESSIONS", "8"))
DURATION = float(os.environ.get("DURATION", "15"))
MAX_CALLS = int(os.environ.get("MAX_CALLS", "100000"))
WARMUP = int(os.environ.get("WARMUP", "5"))
CALL_TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "60"))
LISTEN_TIMEOUT = float(os.environ.get("LISTEN_TIMEOUT", "300"))
ONLY = os.environ.get("ONLY", "")
SCENARIOS = [x.strip() for x in os.environ.get("SCENARIOS", "mcp,rest,stdio").split(",") if x.strip()]
PYTHON = os.environ.get("PYTHON", sys.executable or "python3")
STDIO_SERVER = os.path.join(ROOT, "benches", "stdio_mcp_server.py")
TELEMETRY = os.environ.get("TELEMETRY", "") == "1"
OAUTH = os.environ.get("OAUTH", "") == "1"
AUTH_SERVER = os.path.join(ROOT, "mcp-sigv4", "tests", "support", "oauth_as", "server.mjs")
OAUTH_CLIENT = ("bench", "bench-client-secret-0123456789")
VERBOSE = "-v" in sys.argv
MASTER_KEY = "sk-bench-0123456789abcdef"

CONFIG = """\
model_list: []
mcp_servers:
  agent:
    url: "{url}"
    transport: http
    auth_type: aws_sigv4
    aws_region_name: us-east-1
    aws_service_name: bedrock-agentcore
    aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
    aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
    aws_session_token: os.environ/AWS_SESSION_TOKEN
general_settings:
  master_key: {key}
"""

CONFIG_STDIO = """\
model_list: []
mcp_servers:
  local:
    transport: stdio
    command: "{python}"
    args: ["{script}"]
    env:
      BENCH_STDIO_STARTS: "{starts}"
general_settings:
  master_key: {key}
"""


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(pid):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, IndexError):
            pass
    return total / tick


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """HTTP/1.1 over one keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self):
        if self.writer:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass
            self.writer = None

    async def request(self, method, path, headers, body=b""):
        for attempt in (0, 1):
            if self.writer is None:
                await self.connect()
            head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\ncontent-length: {len(body)}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            try:
                self.writer.write(head.encode() + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
            except (ConnectionError, OSError):
                await self.close()
                if attempt:
                    raise
                continue
            status = int(status_line.split()[1])
            hdrs = {}
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                k, v = line.decode("latin-1").split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            if hdrs.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int((await self.reader.readline()).split(b";")[0], 16)
                    if size == 0:
                        while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    parts.append(await self.reader.readexactly(size))
                    await self.reader.readexactly(2)
                data = b"".join(parts)
            elif "content-length" in hdrs:
                data = await self.reader.readexactly(int(hdrs["content-length"]))
            elif status in (202, 204, 304) or method == "HEAD":
                data = b""
            else:
                data = await self.reader.read()
                await self.close()
            if hdrs.get("connection", "").lower() == "close":
                await self.close()
            return status, hdrs, data


def messages(hdrs, data):
    """JSON-RPC messages of a JSON or SSE body."""
    if hdrs.get("content-type", "").startswith("text/event-stream"):
        out = []
        for event in data.decode().replace("\r\n", "\n").split("\n\n"):
            payload = "\n".join(l[5:].lstrip(" ") for l in event.split("\n") if l.startswith("data:"))
            if payload.strip():
                out.append(json.loads(payload))
        return out
    if not data.strip():
        return []
    msg = json.loads(data)
    return msg if isinstance(msg, list) else [msg]


class McpSession:
    """An MCP session on `POST /mcp`, addressed to one server."""

    def __init__(self, port, server, bearer=MASTER_KEY):
        self.http = Http(port)
        self.server = server
        self.bearer = bearer
        self.session_id = None
        self.next_id = 0
        self.add = None

    async def rpc(self, method, params=None, notify=False):
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
                   "authorization": f"Bearer {self.bearer}", "x-litellm-mcp-server": self.server,
                   "mcp-protocol-version": "2025-06-18"}
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notify:
            self.next_id += 1
            msg["id"] = self.next_id
        status, hdrs, data = await self.http.request("POST", "/mcp", headers, json.dumps(msg).encode())
        if "mcp-session-id" in hdrs:
            self.session_id = hdrs["mcp-session-id"]
        if notify:
            if status >= 300:
                raise RuntimeError(f"{method}: HTTP {status} {data[:300]!r}")
            return None
        if status != 200:
            raise RuntimeError(f"{method}: HTTP {status} {data[:300]!r}")
        for m in messages(hdrs, data):
            if m.get("id") == msg["id"] and "method" not in m:
                if "error" in m:
                    raise RuntimeError(f"{method}: {json.dumps(m['error'])[:300]}")
                if m.get("result", {}).get("isError"):
                    raise RuntimeError(f"{method}: tool error {json.dumps(m['result'])[:300]}")
                return m["result"]
        raise RuntimeError(f"{method}: no reply in {data[:300]!r}")


    async def setup(self):
        await asyncio.wait_for(self.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                       "clientInfo": {"name": "bench", "version": "1"}}),
                               CALL_TIMEOUT)
        await asyncio.wait_for(self.rpc("notifications/initialized", notify=True), CALL_TIMEOUT)
        tools = await asyncio.wait_for(self.rpc("tools/list", {}), CALL_TIMEOUT)
        names = [t["name"] for t in tools.get("tools", [])]
        self.add = next((n for n in names if n == "add" or n.endswith("add")), None)
        if self.add is None:
            raise RuntimeError(f"no add tool in {names}")

    async def call(self, a, b):
        """`add {a, b}`; the text of the result."""
        r = await self.rpc("tools/call", {"name": self.add, "arguments": {"a": a, "b": b}})
        return r["content"][0]["text"]


class RestClient:
    """LiteLLM's REST API: `POST /mcp-rest/tools/call` with the server's id."""

    def __init__(self, port, server):
        self.http = Http(port)
        self.server = server
        self.server_id = None

    def headers(self):
        return {"content-type": "application/json", "accept": "application/json",
                "authorization": f"Bearer {MASTER_KEY}"}

    async def setup(self):
        status, hdrs, data = await asyncio.wait_for(
            self.http.request("GET", "/v1/mcp/server", self.headers()), CALL_TIMEOUT)
        if status != 200:
            raise RuntimeError(f"GET /v1/mcp/server: HTTP {status} {data[:300]!r}")
        listed = json.loads(data)
        listed = listed if isinstance(listed, list) else listed.get("data", listed.get("servers", []))
        self.server_id = next((s.get("server_id") for s in listed
                               if self.server in (s.get("server_name"), s.get("alias"), s.get("server_id"))), None)
        if self.server_id is None:
            raise RuntimeError(f"no server {self.server} in {data[:300]!r}")

    async def call(self, a, b):
        body = json.dumps({"server_id": self.server_id, "name": "add", "arguments": {"a": a, "b": b}}).encode()
        status, hdrs, data = await self.http.request("POST", "/mcp-rest/tools/call", self.headers(), body)
        if status != 200:
            raise RuntimeError(f"tools/call: HTTP {status} {data[:300]!r}")
        r = json.loads(data)
        content = r if isinstance(r, list) else r.get("content")
        if isinstance(r, dict) and r.get("isError"):
            raise RuntimeError(f"tools/call: tool error {data[:300]!r}")
        return content[0]["text"]


async def session_run(port, client, start, deadline_box, latencies, errors, set_up):
    s = client(port)
    try:
        await s.setup()
        for i in range(WARMUP):
            await asyncio.wait_for(s.call(i, 1), CALL_TIMEOUT)
        ready = True
    except Exception as e:
        errors.append(f"setup: {type(e).__name__}: {e}")
        ready = False
    set_up.append(ready)
    await start.wait()
    try:
        n = 0
        while ready and n < MAX_CALLS and time.perf_counter() < deadline_box[0]:
            t = time.perf_counter()
            try:
                text = await asyncio.wait_for(s.call(n, 2), CALL_TIMEOUT)
                if text != str(n + 2):
                    raise RuntimeError(f"wrong sum {text!r}")
                latencies.append(time.perf_counter() - t)
            except Exception as e:
                errors.append(f"call: {type(e).__name__}: {e}")
                await s.http.close()
            n += 1
    finally:
        await s.http.close()


async def drive(port, client):
    start = asyncio.Event()
    deadline_box = [0.0]
    latencies, errors, set_up = [], [], []
    tasks = [asyncio.create_task(session_run(port, client, start, deadline_box, latencies, errors, set_up))
             for _ in range(SESSIONS)]
    # let every session finish its setup (bounded) before the timed window
    setup_deadline = time.perf_counter() + CALL_TIMEOUT * (3 + WARMUP)
    while len(set_up) < SESSIONS and time.perf_counter() < setup_deadline:
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    deadline_box[0] = t0 + DURATION
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return latencies, errors, elapsed


def wait_listening(proc, port, path, started):
    while time.perf_counter() - started < LISTEN_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".encode())
                c.settimeout(5)
                if c.recv(64).split(b" ")[1:2] == [b"200"]:
                    return time.perf_counter() - started
        except (OSError, IndexError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"not listening after {LISTEN_TIMEOUT:.0f} s")


def run_once(name, command, health, port, env, logdir, run, client):
    log = open(os.path.join(logdir, f"{name}-{run}.log"), "w")
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logdir)
    try:
        listen = wait_listening(proc, port, health, started)
        time.sleep(1)  # let background start-up work (LiteLLM lists the upstream's tools) settle
        rss_idle = rss_kib(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        latencies, errors, elapsed = asyncio.run(drive(port, client))
        cpu = cpu_seconds(proc.pid) - cpu0
        rss_after = rss_kib(proc.pid)
        return dict(listen=listen, rss_idle=rss_idle, rss_after=rss_after, latencies=latencies,
                    errors=errors, elapsed=elapsed, cpu=cpu)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for p in reversed(tree(proc.pid)):
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=10)
        log.close()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def scenario(kind, url, starts):
    """The config file, server name and client of one scenario."""
    if kind == "stdio":
        config = CONFIG_STDIO.format(python=PYTHON, script=STDIO_SERVER, starts=starts, key=MASTER_KEY)
        return config, "local", McpSession
    config = CONFIG.format(url=url, key=MASTER_KEY)
    if kind == "rest":
        return config, "agent", RestClient
    if kind == "mcp":
        return config, "agent", McpSession
    raise SystemExit(f"SCENARIOS: unknown scenario {kind!r}; use mcp, rest and/or stdio")


def measure(kind, url, env, logdir):
    starts = os.path.join(logdir, "stdio-starts.log")
    text, target, client_class = scenario(kind, url, starts)
    config = os.path.join(logdir, f"config-{kind}.yaml")
    with open(config, "w") as f:
        f.write(text)
    if VERBOSE:
        print(text)
    client = lambda port: client_class(port, target)  # noqa: E731
    routes = {"mcp": f"POST /mcp (x-litellm-mcp-server: {target})",
              "rest": "POST /mcp-rest/tools/call",
              "stdio": f"POST /mcp (x-litellm-mcp-server: {target}), a stdio server"}
    print(f"\n### scenario {kind}: {routes[kind]}")
    servers = {
        "mcp-sigv4 gateway": (lambda port: [CLI, "gateway", "--config", config, "--listen", f"127.0.0.1:{port}",
                                            "--log-level", "warn"], "/health"),
        "LiteLLM proxy": (lambda port: [LITELLM, "--config", config, "--host", "127.0.0.1", "--port", str(port)],
                          "/health/liveliness"),
    }
    rows = {}
    for name, (command, health) in servers.items():
        if ONLY and ONLY.lower() not in name.lower():
            continue
        before = loadavg()
        results = []
        for run in range(RUNS):
            port = free_port()
            if os.path.exists(starts):
                os.remove(starts)
            try:
                r = run_once(f"{kind}-{name.split()[0]}", command(port), health, port, env, logdir, run, client)
            except Exception as e:
                print(f"{name}: run {run + 1} failed: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            n = len(r["latencies"])
            if kind == "stdio" and os.path.exists(starts):
                with open(starts) as f:
                    r["starts"] = sum(1 for _ in f)
            line = (f"  {kind}: {name} run {run + 1}: listen {r['listen'] * 1000:.0f} ms, {n} calls in "
                    f"{r['elapsed']:.1f} s = {n / r['elapsed']:.1f}/s")
            if n:
                line += (f", p50 {pct(r['latencies'], .5) * 1000:.2f} ms, p99 {pct(r['latencies'], .99) * 1000:.2f} ms,"
                         f" CPU {r['cpu'] / n * 1000:.3f} ms/call")
            line += (f", RSS {r['rss_idle'] / 1024:.1f} -> {r['rss_after'] / 1024:.1f} MiB,"
                     f" {len(r['errors'])} errors, load {loadavg()}")
            if "starts" in r:
                line += f", {r['starts']} stdio server processes started"
            print(line, file=sys.stderr)
            for e in sorted(set(r["errors"]))[:5]:
                print(f"    {r['errors'].count(e)} x {e}", file=sys.stderr)
            results.append(r)
        after = loadavg()
        good = [r for r in results if r["latencies"]]
        if not good:
            print(f"| {kind} | {name} | failed (see stderr) | | | | | | | {before} / {after} |")
            continue
        row = dict(
            listen=statistics.median(r["listen"] for r in good) * 1000,
            rate=statistics.median(len(r["latencies"]) / r["elapsed"] for r in good),
            p50=statistics.median(pct(r["latencies"], .5) for r in good) * 1000,
            p99=statistics.median(pct(r["latencies"], .99) for r in good) * 1000,
            idle=statistics.median(r["rss_idle"] for r in good) / 1024,
            rss=statistics.median(r["rss_after"] for r in good) / 1024,
            cpu=statistics.median(r["cpu"] / len(r["latencies"]) for r in good) * 1000,
            errors=sum(len(r["errors"]) for r in results),
            calls=sum(len(r["latencies"]) for r in good),
            runs=", ".join(f"{len(r['latencies']) / r['elapsed']:,.1f}" for r in good),
            load=f"{before} / {after}")
        rows[name] = row
        print(f"| {kind} | {name} | {row['listen']:,.0f} ms | {row['rate']:,.1f} ({row['runs']}) | {row['p50']:.2f} ms |"
              f" {row['p99']:.2f} ms | {row['idle']:.1f} MiB | {row['rss']:.1f} MiB | {row['cpu']:.3f} ms |"
              f" {row['errors']} errors, {row['calls']} calls | {row['load']} |")
        sys.stdout.flush()
    g, l = rows.get("mcp-sigv4 gateway"), rows.get("LiteLLM proxy")
    if g and l:
        print(f"{kind}: calls/s ratio {g['rate'] / l['rate']:.1f}x"
              f" (goal >= 50x: {'met' if g['rate'] >= 50 * l['rate'] else 'missed'})")
        print(f"{kind}: memory after run {l['rss'] / g['rss']:.1f}x less"
              f" (goal >= 10x: {'met' if l['rss'] >= 10 * g['rss'] else 'missed'})")
        print(f"{kind}: p50 {l['p50'] / g['p50']:.1f}x, p99 {l['p99'] / g['p99']:.1f}x,"
              f" time to listen {l['listen'] / g['listen']:.0f}x, server CPU per call {l['cpu'] / g['cpu']:.1f}x")
    sys.stdout.flush()


def sink(port):
    """An OTLP/HTTP receiver that accepts every export and discards it; on
    SIGTERM it prints how many exports and bytes it took."""
    import http.server
    import signal
    counts = [0, 0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            counts[0] += 1
            counts[1] += len(body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def stop(*_):
        print(f"sink: {counts[0]} exports, {counts[1] / 1e6:.1f} MB", file=sys.stderr, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


def telemetry_main(env, url, logdir):
    """The gateway with metrics off, metrics on, and metrics on with traces at
    100 %, interleaved round by round."""
    config = os.path.join(logdir, "config-telemetry.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(url=url, key=MASTER_KEY))
    client = lambda port: McpSession(port, "agent")  # noqa: E731
    sink_port = free_port()
    sink_proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink", str(sink_port)])
    traced = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_port}", OTEL_SERVICE_NAME="bench",
                  OTEL_TRACES_SAMPLER="always_on", OTEL_BSP_SCHEDULE_DELAY="200",
                  OTEL_BSP_MAX_QUEUE_SIZE="65536", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="4096")
    plain = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    base = lambda port: [CLI, "gateway", "--config", config, "--listen", f"127.0.0.1:{port}", "--log-level", "warn"]
    variants = [
        ("metrics off, traces off", lambda port: base(port) + ["--metrics", "off"], plain),
        ("metrics on, traces off", base, plain),
        ("metrics on, traces 100 %", base, traced),
    ]
    results = {name: [] for name, _, _ in variants}
    before = loadavg()
    try:
        for run in range(RUNS):
            order = variants[run % 3:] + variants[:run % 3]
            for name, command, variant_env in order:
                port = free_port()
                try:
                    r = run_once("gateway", command(port), "/health", port, variant_env, logdir,
                                 f"{run}-{len(results[name])}", client)
                except Exception as e:
                    print(f"{name}: round {run + 1} failed: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                n = len(r["latencies"])
                print(f"  round {run + 1}, {name}: {n} calls in {r['elapsed']:.1f} s = {n / r['elapsed']:.1f}/s,"
                      f" CPU {r['cpu'] / max(n, 1) * 1000:.3f} ms/call, RSS {r['rss_after'] / 1024:.1f} MiB,"
                      f" {len(r['errors'])} errors, load {loadavg()}", file=sys.stderr)
                if n:
                    results[name].append(r)
    finally:
        sink_proc.terminate()
        sink_proc.wait(timeout=10)
    after = loadavg()
    rates = {name: statistics.median(len(r["latencies"]) / r["elapsed"] for r in rs)
             for name, rs in results.items() if rs}
    off = rates.get("metrics off, traces off")
    for name, rs in results.items():
        if not rs:
            print(f"| {name} | failed | | | | | |")
            continue
        rate = rates[name]
        cost = f"{(1 - rate / off) * 100:+.1f} %" if off else ""
        print(f"| {name} | {rate:,.1f} | {cost} |"
              f" {statistics.median(pct(r['latencies'], .5) for r in rs) * 1000:.2f} ms |"
              f" {statistics.median(pct(r['latencies'], .99) for r in rs) * 1000:.2f} ms |"
              f" {statistics.median(r['rss_after'] for r in rs) / 1024:.1f} MiB |"
              f" {statistics.median(r['cpu'] / len(r['latencies']) for r in rs) * 1000:.3f} ms |"
              f" {sum(len(r['errors']) for r in rs)} errors, {len(rs)} rounds |")
    print(f"load average before / after: {before} / {after}")


def oauth_token(issuer, resource):
    """An access token of the client-credentials grant for `resource`."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource,
                                   "scope": "mcp:tools"}).encode()
    basic = base64.b64encode(f"{OAUTH_CLIENT[0]}:{OAUTH_CLIENT[1]}".encode()).decode()
    request = urllib.request.Request(f"{issuer}/token", data=form, headers={
        "authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)["access_token"]


def oauth_main(env, url, logdir):
    """The gateway with the master key, and with OAuth tokens of a real
    authorization server, alternated round by round."""
    clients = json.dumps([{"client_id": OAUTH_CLIENT[0], "client_secret": OAUTH_CLIENT[1], "scope": "mcp:tools"}])
    auth = subprocess.Popen(["node", AUTH_SERVER, "0", clients], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = auth.stdout.readline().strip()
    if not line.startswith("listening "):
        auth.terminate()
        raise SystemExit(f"the authorization server did not start ({line!r}); run `npm ci` in {os.path.dirname(AUTH_SERVER)}")
    issuer = line.split(" ", 1)[1]
    master = os.path.join(logdir, "config-master.yaml")
    with open(master, "w") as f:
        f.write(CONFIG.format(url=url, key=MASTER_KEY))

    def oauth_config(port):
        path = os.path.join(logdir, f"config-oauth-{port}.yaml")
        with open(path, "w") as f:
            f.write(CONFIG.format(url=url, key=MASTER_KEY)
                    + f"  public_url: http://127.0.0.1:{port}\n  oauth:\n    issuer: {issuer}\n"
                    + "    required_scopes: [mcp:tools]\n")
        return path

    base = lambda config, port: [CLI, "gateway", "--config", config, "--listen", f"127.0.0.1:{port}",  # noqa: E731
                                 "--log-level", "warn"]
    variants = [
        ("master key", lambda port: (base(master, port), lambda p: McpSession(p, "agent"))),
        ("OAuth token (cached JWKS)", lambda port: (
            base(oauth_config(port), port),
            (lambda token: lambda p: McpSession(p, "agent", token))(
                oauth_token(issuer, f"http://127.0.0.1:{port}/mcp")))),
    ]
    results = {name: [] for name, _ in variants}
    before = loadavg()
    try:
        for run in range(RUNS):
            order = variants[run % 2:] + variants[:run % 2]
            for name, make in order:
                port = free_port()
                command, client = make(port)
                try:
                    r = run_once("gateway", command, "/health", port, env, logdir,
                                 f"{run}-{len(results[name])}", client)
                except Exception as e:
                    print(f"{name}: round {run + 1} failed: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                n = len(r["latencies"])
                print(f"  round {run + 1}, {name}: {n} calls in {r['elapsed']:.1f} s = {n / r['elapsed']:.1f}/s,"
                      f" CPU {r['cpu'] / max(n, 1) * 1000:.3f} ms/call, {len(r['errors'])} errors,"
                      f" load {loadavg()}", file=sys.stderr)
                if n:
                    results[name].append(r)
    finally:
        auth.terminate()
        auth.wait(timeout=10)
    after = loadavg()
    rates = {name: statistics.median(len(r["latencies"]) / r["elapsed"] for r in rs)
             for name, rs in results.items() if rs}
    cpus = {name: statistics.median(r["cpu"] / len(r["latencies"]) for r in rs)
            for name, rs in results.items() if rs}
    key = "master key"
    for name, rs in results.items():
        if not rs:
            print(f"| {name} | failed | | | | |")
            continue
        cost = f"{(1 - rates[name] / rates[key]) * 100:+.1f} % calls/s" if key in rates else ""
        cpu_cost = f"{(cpus[name] / cpus[key] - 1) * 100:+.1f} % CPU" if key in cpus else ""
        print(f"| {name} | {rates[name]:,.1f} | {cost}, {cpu_cost} |"
              f" {statistics.median(pct(r['latencies'], .5) for r in rs) * 1000:.2f} ms |"
              f" {cpus[name] * 1000:.3f} ms |"
              f" {sum(len(r['errors']) for r in rs)} errors, {len(rs)} rounds |")
    print(f"load average before / after: {before} / {after}")


def main():
    if "--sink" in sys.argv:
        return sink(int(sys.argv[sys.argv.index("--sink") + 1]))
    server, url, env = stand_in.start(DEMO)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    # LiteLLM 1.108 refuses to start stdio servers without it ("stdio MCP servers
    # are disabled on this proxy"); the gateway ignores it.
    env["LITELLM_ENABLE_MCP_STDIO"] = "true"
    logdir = tempfile.mkdtemp(prefix="gateway-bench-")
    what = ("the gateway's telemetry, three ways" if TELEMETRY
            else "the gateway, master key vs OAuth token" if OAUTH
            else f"scenarios {', '.join(SCENARIOS)}")
    print(f"upstream {url} (SSE replies); {what}; {RUNS} runs; {SESSIONS} sessions;"
          f" {DURATION:.0f} s window; logs in {logdir}")
    try:
        if OAUTH:
            print("| credential | calls/s | cost against the master key | p50 | CPU per call | |")
            print("|---|---|---|---|---|---|")
            oauth_main(env, url, logdir)
            return
        if TELEMETRY:
            print("| configuration | calls/s | cost | p50 | p99 | RSS after | CPU per call | |")
            print("|---|---|---|---|---|---|---|---|")
            telemetry_main(env, url, logdir)
            return
        print("| scenario | server | time to listen | calls/s (runs) | p50 | p99 | RSS listening | RSS after |"
              " CPU per call | calls | load before / after |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for kind in SCENARIOS:
            measure(kind, url, env, logdir)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
