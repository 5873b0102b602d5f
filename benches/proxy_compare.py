#!/usr/bin/env python3
"""Side by side: `mcp-sigv4 proxy` and `mcp-proxy-for-aws` (pip, 1.7.0) against the
same local SigV4-verifying MCP endpoint (the demo's stand-in, `--serve`).

For each proxy: time from spawn to the initialize reply, resident memory after
initialize and the calls, and the median tools/call round trip. Run by hand:

    pip install mcp-proxy-for-aws==1.7.0
    cargo build --release --all-features --example demo --bin mcp-sigv4
    python3 benches/proxy_compare.py

Environment: RUNS, CALLS; MCP_SIGV4 and DEMO (paths of the binaries, to compare
two builds); TLS=1 to reach the stand-in over `https://localhost` through a
TLS front (benches/tls_front.py), as a proxy reaches AWS; PROXY_ARGS (mcp-sigv4 proxy's flags after the region, by default
`--log-level warn`); ONLY=mcp-sigv4 or ONLY=aws to run one proxy; MEMORY=1 also prints
the split of mcp-sigv4's resident memory (anonymous, file-backed) and its
threads, to find what grew; PAGES=1 also prints, for one session, how much of each
loaded segment of the binary (code, read-only data, data) is resident, from
/proc/PID/pagemap (the code's share is what mcp-sigv4/link-order.txt keeps small).
"""

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import stand_in
import tls_front

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.environ.get("DEMO", os.path.join(ROOT, "target", "release", "examples", "demo"))
CLI = os.environ.get("MCP_SIGV4", os.path.join(ROOT, "target", "release", "mcp-sigv4"))
RUNS = int(os.environ.get("RUNS", "5"))
CALLS = int(os.environ.get("CALLS", "50"))
ONLY = os.environ.get("ONLY", "")
MEMORY = os.environ.get("MEMORY", "") == "1"
PAGES = os.environ.get("PAGES", "") == "1"
TLS = os.environ.get("TLS", "") == "1"
PROXY_ARGS = os.environ.get("PROXY_ARGS", "--log-level warn").split()


def status_fields(pid, names):
    """Fields of /proc/PID/status, in kB (Threads as a count)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in names:
                    found[key] = int(value.split()[0])
    except FileNotFoundError:
        pass
    return found


def segments_resident(pid, binary):
    """For each loaded segment of `binary` (readelf's LOAD lines): its flags, its
    size and how many of its pages the process `pid` has resident."""
    real = os.path.realpath(binary)
    present = set()  # file offsets of resident pages
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap, open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or os.path.realpath(fields[5]) != real:
                continue
            low, high = (int(x, 16) for x in fields[0].split("-"))
            pagemap.seek(low // 4096 * 8)
            entries = pagemap.read((high - low) // 4096 * 8)
            for i in range(len(entries) // 8):
                if entries[i * 8 + 7] & 0x80:  # bit 63: present
                    present.add(int(fields[2], 16) + i * 4096)
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            offset, size = int(f[1], 16), int(f[4], 16)
            first = offset - offset % 4096
            pages = sum(1 for p in range(first, offset + size, 4096) if p in present)
            rows.append((" ".join(f[6:-1]), size, pages))
    return rows


def rss_kib(pid):
    """Resident memory of a process and its children (the Python proxy may fork)."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
        pids += [int(p) for p in out.stdout.split()]
    except Exception:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def session(command, env):
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)

    def send(msg):
        proc.stdin.write(json.dumps(msg) + "\n")
        proc.stdin.flush()

    def recv(id_):
        deadline = time.time() + 60
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{command[0]} closed stdout")
            msg = json.loads(line)
            if msg.get("id") == id_ and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{command[0]}: {msg['error']}")
                return msg
        raise RuntimeError("timeout")

    send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}})
    recv(0)
    init = time.perf_counter() - started
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    recv(1)
    trips = []
    for i in range(CALLS):
        t = time.perf_counter()
        send({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
              "params": {"name": "echo", "arguments": {"text": "x" * 512}}})
        recv(100 + i)
        trips.append(time.perf_counter() - t)
    rss = rss_kib(proc.pid)
    split = status_fields(proc.pid, ("RssAnon", "RssFile", "Threads"))
    if PAGES and command[0] == CLI:
        for flags, size, pages in segments_resident(proc.pid, CLI):
            print(f"|   segment {flags} | {size / 2**20:.2f} MiB | {pages * 4 / 1024:.2f} MiB resident |")
    proc.stdin.close()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    return init, rss, statistics.median(trips), split


def main():
    server, url, env = stand_in.start(DEMO)
    env["AWS_REGION"] = "us-east-1"
    with contextlib.ExitStack() as stack:
        if TLS:
            url, env["AWS_CA_BUNDLE"] = stack.enter_context(tls_front.serve(url))
        compare(server, url, env)


def compare(server, url, env):
    proxies = {
        "mcp-sigv4 proxy": [CLI, "proxy", url, "--service", "bedrock-agentcore", "--region", "us-east-1", *PROXY_ARGS],
        "mcp-proxy-for-aws 1.7.0": ["mcp-proxy-for-aws", url, "--service", "bedrock-agentcore", "--region", "us-east-1",
                                    "--log-level", "WARNING", "--disable-telemetry"],
    }
    try:
        for name, command in proxies.items():
            if ONLY and ONLY.lower() not in name.lower():
                continue
            results = []
            for _ in range(RUNS):
                try:
                    results.append(session(command, env))
                except Exception as e:
                    print(f"{name}: failed: {e}", file=sys.stderr)
            if not results:
                print(f"| {name} | failed | | |")
                continue
            init = statistics.median(r[0] for r in results) * 1000
            rss = statistics.median(r[1] for r in results) / 1024
            trip = statistics.median(r[2] for r in results) * 1000
            print(f"| {name} | {init:.1f} ms | {rss:.1f} MiB | {trip:.2f} ms |")
            if MEMORY:
                for key in ("RssAnon", "RssFile", "Threads"):
                    values = [r[3].get(key, 0) for r in results]
                    unit = "" if key == "Threads" else " kB"
                    print(f"|   {key} | {statistics.median(values)}{unit} | runs: {values} |")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
