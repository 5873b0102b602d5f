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

The client is a small HTTP/1.1 keep-alive client on asyncio streams (one
connection per session), not httpx, so that it costs less CPU than the faster
server; it parses JSON and SSE replies and sends Mcp-Session-Id back.

Binaries and knobs (defaults in parentheses):

    MCP_SIGV4=path/to/mcp-sigv4          (target/release/mcp-sigv4)
    DEMO=path/to/demo                    (target/release/examples/demo)
    LITELLM=path/to/litellm              (litellm on PATH)
    RUNS=3 SESSIONS=8 DURATION=15 MAX_CALLS=100000 WARMUP=5 CALL_TIMEOUT=60
    ONLY=gateway|litellm                 (measure one server only)
    TELEMETRY=1                          (the gateway alone, three ways, interleaved: see below)

With TELEMETRY=1 the gateway runs RUNS rounds of three configurations, their
order rotated each round so that drift on a shared machine falls on each alike:
`--metrics off` without traces; metrics on (the default) without traces; and
metrics on with traces sampled at 100 % (OTEL_TRACES_SAMPLER=always_on) to a
local OTLP/HTTP sink (a child of this script that accepts every export and
discards it; OTEL_BSP_SCHEDULE_DELAY=200, OTEL_BSP_MAX_QUEUE_SIZE=65536 and
OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096, so that spans are exported, not dropped).
It prints the median of each and its cost against `--metrics off`.

LiteLLM runs with LITELLM_LOCAL_MODEL_COST_MAP=True (otherwise it spends ~7 s at
start retrying a download of its model price list, and this machine has no
internet) and `--host 127.0.0.1`; no database, one worker (its default).

Run by hand:

    pip install 'litellm[proxy]'
    cargo build --release -p mcp-sigv4 --bin mcp-sigv4
    cargo build --release --all-features --example demo
    python3 benches/gateway_compare.py
"""

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

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
TELEMETRY = os.environ.get("TELEMETRY", "") == "1"
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
    def __init__(self, port):
        self.http = Http(port)
        self.session_id = None
        self.next_id = 0

    async def rpc(self, method, params=None, notify=False):
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
                   "authorization": f"Bearer {MASTER_KEY}", "x-litellm-mcp-server": "agent",
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


async def session_run(port, start, deadline_box, latencies, errors, set_up):
    s = McpSession(port)
    try:
        await asyncio.wait_for(s.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                    "clientInfo": {"name": "bench", "version": "1"}}), CALL_TIMEOUT)
        await asyncio.wait_for(s.rpc("notifications/initialized", notify=True), CALL_TIMEOUT)
        tools = await asyncio.wait_for(s.rpc("tools/list", {}), CALL_TIMEOUT)
        names = [t["name"] for t in tools.get("tools", [])]
        add = next((n for n in names if n == "add" or n.endswith("add")), None)
        if add is None:
            raise RuntimeError(f"no add tool in {names}")
        for i in range(WARMUP):
            await asyncio.wait_for(s.rpc("tools/call", {"name": add, "arguments": {"a": i, "b": 1}}), CALL_TIMEOUT)
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
                r = await asyncio.wait_for(s.rpc("tools/call", {"name": add, "arguments": {"a": n, "b": 2}}),
                                           CALL_TIMEOUT)
                if r["content"][0]["text"] != str(n + 2):
                    raise RuntimeError(f"wrong sum {r}")
                latencies.append(time.perf_counter() - t)
            except Exception as e:
                errors.append(f"call: {type(e).__name__}: {e}")
                await s.http.close()
            n += 1
    finally:
        await s.http.close()


async def drive(port):
    start = asyncio.Event()
    deadline_box = [0.0]
    latencies, errors, set_up = [], [], []
    tasks = [asyncio.create_task(session_run(port, start, deadline_box, latencies, errors, set_up))
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


def run_once(name, command, health, port, env, logdir, run):
    log = open(os.path.join(logdir, f"{name}-{run}.log"), "w")
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logdir)
    try:
        listen = wait_listening(proc, port, health, started)
        time.sleep(1)  # let background start-up work (LiteLLM lists the upstream's tools) settle
        rss_idle = rss_kib(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        latencies, errors, elapsed = asyncio.run(drive(port))
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


def telemetry_main(env, config, logdir):
    """The gateway with metrics off, metrics on, and metrics on with traces at
    100 %, interleaved round by round."""
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
                    r = run_once("gateway", command(port), "/health", port, variant_env, logdir, f"{run}-{len(results[name])}")
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


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    if "--sink" in sys.argv:
        return sink(int(sys.argv[sys.argv.index("--sink") + 1]))
    server = subprocess.Popen([DEMO, "--serve"], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    env = dict(os.environ)
    for _ in range(3):
        k, v = server.stdout.readline().strip().split("=", 1)
        env[k] = v
    env.pop("AWS_PROFILE", None)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    logdir = tempfile.mkdtemp(prefix="gateway-bench-")
    config = os.path.join(logdir, "config.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(url=url, key=MASTER_KEY))
    if VERBOSE:
        print(open(config).read())
    print(f"upstream {url} (SSE replies); {RUNS} runs; {SESSIONS} sessions; {DURATION:.0f} s window; logs in {logdir}")
    if TELEMETRY:
        try:
            telemetry_main(env, config, logdir)
        finally:
            server.terminate()
            server.wait(timeout=10)
        return
    servers = {
        "mcp-sigv4 gateway": (lambda port: [CLI, "gateway", "--config", config, "--listen", f"127.0.0.1:{port}",
                                            "--log-level", "warn"], "/health"),
        "LiteLLM proxy": (lambda port: [LITELLM, "--config", config, "--host", "127.0.0.1", "--port", str(port)],
                          "/health/liveliness"),
    }
    rows = {}
    try:
        for name, (command, health) in servers.items():
            if ONLY and ONLY.lower() not in name.lower():
                continue
            before = loadavg()
            results = []
            for run in range(RUNS):
                port = free_port()
                try:
                    r = run_once(name.split()[0], command(port), health, port, env, logdir, run)
                except Exception as e:
                    print(f"{name}: run {run + 1} failed: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                n = len(r["latencies"])
                line = (f"  {name} run {run + 1}: listen {r['listen'] * 1000:.0f} ms, {n} calls in "
                        f"{r['elapsed']:.1f} s = {n / r['elapsed']:.1f}/s")
                if n:
                    line += (f", p50 {pct(r['latencies'], .5) * 1000:.2f} ms, p99 {pct(r['latencies'], .99) * 1000:.2f} ms,"
                             f" CPU {r['cpu'] / n * 1000:.3f} ms/call")
                line += (f", RSS {r['rss_idle'] / 1024:.1f} -> {r['rss_after'] / 1024:.1f} MiB,"
                         f" {len(r['errors'])} errors, load {loadavg()}")
                print(line, file=sys.stderr)
                for e in sorted(set(r["errors"]))[:5]:
                    print(f"    {r['errors'].count(e)} x {e}", file=sys.stderr)
                results.append(r)
            after = loadavg()
            good = [r for r in results if r["latencies"]]
            if not good:
                print(f"| {name} | failed (see stderr) | | | | | | | {before} / {after} |")
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
                load=f"{before} / {after}")
            rows[name] = row
            print(f"| {name} | {row['listen']:,.0f} ms | {row['rate']:,.1f} | {row['p50']:.2f} ms | {row['p99']:.2f} ms |"
                  f" {row['idle']:.1f} MiB | {row['rss']:.1f} MiB | {row['cpu']:.3f} ms | {row['errors']} errors,"
                  f" {row['calls']} calls | {row['load']} |")
            sys.stdout.flush()
    finally:
        server.terminate()
        server.wait(timeout=10)
    g, l = rows.get("mcp-sigv4 gateway"), rows.get("LiteLLM proxy")
    if g and l:
        print(f"calls/s ratio {g['rate'] / l['rate']:.1f}x (goal >= 50x: {'met' if g['rate'] >= 50 * l['rate'] else 'missed'})")
        print(f"memory after run {l['rss'] / g['rss']:.1f}x less (goal >= 10x: {'met' if l['rss'] >= 10 * g['rss'] else 'missed'})")
        print(f"p50 {l['p50'] / g['p50']:.1f}x, p99 {l['p99'] / g['p99']:.1f}x, time to listen {l['listen'] / g['listen']:.0f}x,"
              f" server CPU per call {l['cpu'] / g['cpu']:.1f}x")


if __name__ == "__main__":
    main()
