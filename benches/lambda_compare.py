#!/usr/bin/env python3
"""`mcp-sigv4 lambda` against the seed pattern's Python handler
(`benches/lambda_seed_handler.py`: the Python MCP SDK with `asyncio.run` per
call, run by `awslambdaric`), both polling the same Lambda Runtime API served
here on 127.0.0.1, both calling the demo stand-in's `add` tool (SigV4 verified)
for a Bedrock Agents function-details event (`a` and `b` as strings, as Bedrock
sends them).

For each cold start (a fresh process, its first event already queued, as Lambda
starts a function for an invocation):

- start to first `/next`: spawn to the first `GET .../invocation/next`;
- start to first response: spawn to the `POST .../response` of that event, which
  includes the MCP session opened lazily and the credentials loaded;

then CALLS warm invocations, each timed from the moment `/next` hands over the
event to its response arriving. "The tool call itself" is the same `tools/call`
sent straight to the stand-in: a request signed once and sent again on one
kept-alive connection in an open session (the stand-in accepts a signature for
its date's window), so it counts the network, the verification and the tool,
not the signing. Warm overhead = warm invocation - that round trip, printed for
the medians and against the fastest direct call (this client is Python, so on
a loaded machine its median can exceed the whole warm invocation; the warm
invocation itself, tool call included, is the overhead's upper bound).

Every answer is checked (`42`). Run by hand:

    cargo build --release -p mcp-sigv4
    cargo build --release --all-features --example demo
    python3 -m venv /tmp/seed && /tmp/seed/bin/pip install mcp awslambdaric botocore
    PYTHON=/tmp/seed/bin/python python3 benches/lambda_compare.py

Environment: RUNS (cold starts per handler, 5), CALLS (warm invocations per cold
start, 30), DIRECT (direct round trips, 200), ONLY=mcp-sigv4 or ONLY=python,
MCP_SIGV4 and DEMO (the binaries' paths), PYTHON (a Python with `mcp`,
`awslambdaric` and `botocore`).
"""

import http.client
import http.server
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")
DEMO = os.path.abspath(os.environ.get("DEMO", os.path.join(ROOT, "target", "release", "examples", "demo")))
CLI = os.path.abspath(os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4")))
PYTHON = os.environ.get("PYTHON", sys.executable)
RUNS = int(os.environ.get("RUNS", "5"))
CALLS = int(os.environ.get("CALLS", "30"))
DIRECT = int(os.environ.get("DIRECT", "200"))
ONLY = os.environ.get("ONLY", "")
# Every wait is bounded.
LIMIT = 30.0
PREFIX = "/2018-06-01/runtime/"


def event(n):
    """A function-details event as AWS documents it."""
    return {
        "messageVersion": "1.0",
        "agent": {"name": "bench", "id": "AGENT12345", "alias": "TSTALIASID", "version": "DRAFT"},
        "inputText": "add 40 and 2",
        "sessionId": f"session-{n}",
        "actionGroup": "mcp",
        "function": "add",
        "parameters": [
            {"name": "a", "type": "integer", "value": "40"},
            {"name": "b", "type": "integer", "value": "2"},
        ],
        "sessionAttributes": {},
        "promptSessionAttributes": {},
    }


class RuntimeApi:
    """The Lambda Runtime API a custom runtime polls: `/next` held until an
    event is queued, `/response` and `/error` recorded with their times."""

    def __init__(self):
        self.events = queue.Queue()
        self.posted = queue.Queue()
        self.nexts = queue.Queue()
        self.handed = {}
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body leave in two writes: without this, Nagle's algorithm
            # holds the body for the client's delayed ACK (40 ms).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != PREFIX + "invocation/next":
                    return self.reply(404)
                api.nexts.put(time.perf_counter())
                try:
                    request_id, body = api.events.get(timeout=LIMIT)
                except queue.Empty:
                    return self.reply(410)
                data = json.dumps(body).encode()
                deadline = int(time.time() * 1000) + 60_000
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:mcp-tools")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                api.handed[request_id] = time.perf_counter()
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def do_POST(self):
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                rest = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else ""
                parts = rest.split("/")
                if rest == "init/error":
                    api.posted.put(("init", "init-error", arrived, body))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api.posted.put((parts[1], parts[2], arrived, body))
                else:
                    return self.reply(404)
                self.reply(202)

            def reply(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def address(self):
        host, port = self.server.server_address
        return f"{host}:{port}"

    def answer(self, request_id):
        """The posted answer to `request_id`, checked: `add` gave 42."""
        got, kind, arrived, body = self.posted.get(timeout=LIMIT)
        if (got, kind) != (request_id, "response"):
            raise SystemExit(f"{request_id}: the function posted {kind} for {got}: {body[:500]!r}")
        reply = json.loads(body)
        text = reply["response"]["functionResponse"]["responseBody"]["TEXT"]["body"]
        if text != "42" or "responseState" in reply["response"]["functionResponse"]:
            raise SystemExit(f"{request_id}: unexpected answer {body[:500]!r}")
        return arrived


def one_cold_start(command, env, cwd, run):
    """Spawn the function against a fresh Runtime API with its first event
    queued; time the first `/next` and the first response, then CALLS warm
    invocations."""
    api = RuntimeApi()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address())
    first = f"cold-{run}"
    api.events.put((first, event(0)))
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log)
        try:
            answered = api.answer(first)
            first_next = api.nexts.get(timeout=LIMIT)
            warm = []
            for n in range(CALLS):
                request_id = f"warm-{run}-{n}"
                api.events.put((request_id, event(n + 1)))
                arrived = api.answer(request_id)
                warm.append(arrived - api.handed[request_id])
        except BaseException:
            process.kill()
            process.wait(timeout=LIMIT)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            api.server.shutdown()
        process.kill()
        process.wait(timeout=LIMIT)
    return first_next - started, answered - started, warm


def direct_round_trips(url, env):
    """The `tools/call` round trip straight to the stand-in, signed once, sent
    DIRECT times on one connection in an open session (the bare tool call)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                              env["AWS_SESSION_TOKEN"])
    parsed = urllib.parse.urlsplit(url)
    target = parsed.path + ("?" + parsed.query if parsed.query else "")
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=LIMIT)

    def signed(message, session=None):
        headers = {"content-type": "application/json",
                   "accept": "application/json, text/event-stream"}
        if session:
            headers["mcp-session-id"] = session
            headers["mcp-protocol-version"] = "2025-06-18"
        data = json.dumps(message).encode()
        aws = AWSRequest(method="POST", url=url, data=data, headers=headers)
        SigV4Auth(credentials, "bedrock-agentcore", "us-east-1").add_auth(aws)
        return data, dict(aws.headers)

    def post(data, headers):
        connection.request("POST", target, body=data, headers=headers)
        response = connection.getresponse()
        return response, response.read()

    response, _ = post(*signed({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"}}}))
    session = response.getheader("mcp-session-id")
    if response.status != 200 or not session:
        raise SystemExit(f"initialize: {response.status}")
    post(*signed({"jsonrpc": "2.0", "method": "notifications/initialized"}, session))
    call = signed({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "add", "arguments": {"a": 40, "b": 2}}}, session)
    times = []
    for _ in range(DIRECT):
        before = time.perf_counter()
        response, body = post(*call)
        times.append(time.perf_counter() - before)
        if response.status != 200 or b'"42"' not in body:
            raise SystemExit(f"tools/call: {response.status} {body[:300]!r}")
    connection.close()
    return times


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def main():
    server, url, env = stand_in.start(DEMO, quiet=True)
    results = {}
    try:
        env = {k: v for k, v in env.items() if not k.startswith("MCP_")}
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": "mcp-tools",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "MCP_SERVER_URL": url,
            "MCP_SERVER_SERVICE": "bedrock-agentcore",
            "MCP_SERVER_REGION": "us-east-1",
            "MCP_SIGV4_LOG": "warn",
        })
        handlers = {
            "mcp-sigv4": ([CLI, "lambda"], ROOT),
            "python": ([PYTHON, "-m", "awslambdaric", "lambda_seed_handler.handler"], BENCHES),
        }
        direct = direct_round_trips(url, env)
        bare = statistics.median(direct)
        print(f"the tool call itself (direct, {DIRECT} calls): median {ms(bare)}, "
              f"min {ms(min(direct))}")
        for name, (command, cwd) in handlers.items():
            if ONLY and ONLY != name:
                continue
            nexts, firsts, warm = [], [], []
            for run in range(RUNS):
                first_next, first_response, calls = one_cold_start(command, env, cwd, run)
                nexts.append(first_next)
                firsts.append(first_response)
                warm.extend(calls)
            results[name] = (statistics.median(firsts), statistics.median(warm))
            print(f"{name}: start to first /next: median {ms(statistics.median(nexts))} "
                  f"({ms(min(nexts))}-{ms(max(nexts))}); start to first response: median "
                  f"{ms(statistics.median(firsts))} ({ms(min(firsts))}-{ms(max(firsts))}); "
                  f"warm invocation: median {ms(statistics.median(warm))} "
                  f"(min {ms(min(warm))}, p90 {ms(sorted(warm)[int(len(warm) * 0.9)])}), "
                  f"over the tool call: {ms(statistics.median(warm) - bare)} (medians), "
                  f"{ms(statistics.median(warm) - min(direct))} (over the fastest direct call)  "
                  f"[{RUNS} cold starts, {len(warm)} warm]")
        if len(results) == 2:
            rust, python = results["mcp-sigv4"], results["python"]
            print(f"ratio, start to first response: {python[0] / rust[0]:.1f}x less; "
                  f"warm invocation: {python[1] / rust[1]:.1f}x less")
    finally:
        server.kill()
        server.wait(timeout=LIMIT)


if __name__ == "__main__":
    main()
