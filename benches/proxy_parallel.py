#!/usr/bin/env python3
"""50 tools/call in flight at once through `mcp-sigv4 proxy` and `mcp-proxy-for-aws`
(pip, 1.7.0), both against the demo's local SigV4-verifying AgentCore stand-in
answering JSON (`demo --serve --json`). Issue #11.

Each proxy is driven as an MCP host drives it: stdio, one JSON-RPC message per
line. initialize, notifications/initialized, then per round BATCH `tools/call`
requests written at once without waiting, timed until every reply has arrived;
calls/s = BATCH / elapsed. Two workloads:

- `add {a, b}`: answers at once, so this is the proxy's own throughput;
- `count {steps: 1, pause_ms: 200}`: each call takes 200 ms in the server, so
  BATCH calls take ~0.2 s when the proxy keeps them all in flight, and
  BATCH x 0.2 s when it serializes them.

Every wait is bounded (ROUND_TIMEOUT per round); a round that times out or gets
JSON-RPC errors is reported as such, not as a figure.

Binaries (defaults in parentheses):

    MCP_SIGV4=path/to/mcp-sigv4                (target/release/mcp-sigv4)
    DEMO=path/to/demo                          (target/release/examples/demo)
    MCP_PROXY_FOR_AWS=path/to/mcp-proxy-for-aws (mcp-proxy-for-aws on PATH)
    RUNS=3 ROUNDS=5 BATCH=50 ROUND_TIMEOUT=60  (process runs, rounds per run, ...)
    PAUSE_MS=200                               (the count tool's pause)
    ONLY=mcp-sigv4|mcp-proxy-for-aws            (measure one proxy only)

Run by hand:

    pip install mcp-proxy-for-aws==1.7.0
    cargo build --release -p mcp-sigv4 --bin mcp-sigv4
    cargo build --release --all-features --example demo
    python3 benches/proxy_parallel.py
"""

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

import stand_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.environ.get("DEMO", os.path.join(ROOT, "target", "release", "examples", "demo"))
CLI = os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4"))
AWS_PROXY = os.environ.get("MCP_PROXY_FOR_AWS", "mcp-proxy-for-aws")
RUNS = int(os.environ.get("RUNS", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
BATCH = int(os.environ.get("BATCH", "50"))
ROUND_TIMEOUT = float(os.environ.get("ROUND_TIMEOUT", "60"))
ONLY = os.environ.get("ONLY", "")
PAUSE_MS = int(os.environ.get("PAUSE_MS", "200"))

WORKLOADS = {
    "add": ("add", lambda i: {"a": i, "b": 1}),
    f"count {PAUSE_MS} ms": ("count", lambda i: {"steps": 1, "pause_ms": PAUSE_MS}),
}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Session:
    """One proxy process; a thread reads its stdout into a queue so that every
    wait can be bounded."""

    def __init__(self, command, env):
        self.command = command
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.stderr_tail = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-5:]

    def send_all(self, msgs):
        self.proc.stdin.write("".join(json.dumps(m) + "\n" for m in msgs))
        self.proc.stdin.flush()

    def collect(self, ids, timeout):
        """Wait until every id in `ids` got a reply or `timeout` passes.
        Returns (replies by id, elapsed-at-last-reply)."""
        start = time.perf_counter()
        deadline = start + timeout
        want = set(ids)
        got = {}
        while want:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"closed stdout; stderr: {' | '.join(self.stderr_tail)}")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "method" in msg:
                continue
            if msg.get("id") in want:
                want.discard(msg["id"])
                got[msg["id"]] = msg
        return got, time.perf_counter() - start

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_once(command, env):
    """One process: initialize, then ROUNDS rounds of each workload. Returns
    {workload: [per-round result]} with a result being ("ok", seconds) or
    ("failed", description)."""
    s = Session(command, env)
    try:
        s.send_all([{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}])
        got, _ = s.collect([0], 60)
        if 0 not in got or "error" in got[0]:
            raise RuntimeError(f"initialize: {got.get(0, 'no reply in 60 s')}")
        s.send_all([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
        out = {}
        next_id = 1000
        for workload, (tool, args) in WORKLOADS.items():
            rounds = []
            for _ in range(ROUNDS):
                ids = list(range(next_id, next_id + BATCH))
                next_id += BATCH
                msgs = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                         "params": {"name": tool, "arguments": args(i)}} for i in ids]
                t0 = time.perf_counter()
                s.send_all(msgs)
                got, _ = s.collect(ids, ROUND_TIMEOUT)
                elapsed = time.perf_counter() - t0
                errors = [m for m in got.values() if "error" in m or m.get("result", {}).get("isError")]
                if len(got) < BATCH:
                    rounds.append(("failed", f"{len(got)}/{BATCH} replies within {ROUND_TIMEOUT:.0f} s"
                                   + (f", {len(errors)} errors, e.g. {json.dumps(errors[0])[:300]}" if errors else "")))
                    # the rest may still arrive; drain for a bounded time so the next round starts clean
                    s.collect([i for i in ids if i not in got], ROUND_TIMEOUT)
                elif errors:
                    rounds.append(("failed", f"{len(errors)}/{BATCH} error replies, e.g. {json.dumps(errors[0])[:300]}"))
                else:
                    rounds.append(("ok", elapsed))
            out[workload] = rounds
        return out
    finally:
        s.close()


def main():
    server, url, env = stand_in.start(DEMO, "--json")
    env["AWS_REGION"] = "us-east-1"
    proxies = {
        "mcp-sigv4 proxy": [CLI, "proxy", url, "--service", "bedrock-agentcore", "--region", "us-east-1",
                            "--log-level", "warn"],
        "mcp-proxy-for-aws 1.7.0": [AWS_PROXY, url, "--service", "bedrock-agentcore", "--region", "us-east-1",
                                    "--log-level", "WARNING", "--disable-telemetry"],
    }
    print(f"stand-in {url} (JSON replies); {RUNS} runs x {ROUNDS} rounds x {BATCH} parallel calls")
    print("| proxy | workload | median round | calls/s | min-max round | load avg (before / after) |")
    print("|---|---|---|---|---|---|")
    try:
        for name, command in proxies.items():
            if ONLY and not name.startswith(ONLY):
                continue
            before = loadavg()
            results = []
            for r in range(RUNS):
                try:
                    results.append(run_once(command, env))
                except Exception as e:
                    print(f"{name}: run {r + 1} failed: {e}", file=sys.stderr)
            after = loadavg()
            if not results:
                print(f"| {name} | all | failed (see stderr) | | | {before} / {after} |")
                continue
            for workload in WORKLOADS:
                rounds = [x for res in results for x in res.get(workload, [])]
                ok = [x[1] for x in rounds if x[0] == "ok"]
                bad = [x[1] for x in rounds if x[0] == "failed"]
                for b in sorted(set(bad)):
                    print(f"{name} / {workload}: {bad.count(b)} round(s): {b}", file=sys.stderr)
                if not ok:
                    print(f"| {name} | {workload} | failed: {bad[0] if bad else 'no rounds'} | | | {before} / {after} |")
                    continue
                # median of the per-run medians
                per_run = [statistics.median(x[1] for x in res[workload] if x[0] == "ok")
                           for res in results if any(x[0] == "ok" for x in res.get(workload, []))]
                med = statistics.median(per_run)
                note = f" ({len(bad)} of {len(rounds)} rounds failed)" if bad else ""
                print(f"| {name} | {workload} | {med * 1000:.1f} ms{note} | {BATCH / med:,.0f} | "
                      f"{min(ok) * 1000:.1f}-{max(ok) * 1000:.1f} ms | {before} / {after} |")
                sys.stdout.flush()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
