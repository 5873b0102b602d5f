#!/usr/bin/env bash
# The MCP conformance suite's server scenarios (`conformance server --suite all`:
# the active ones and the two pending ones, json-schema-2020-12 and
# server-sse-polling) against the project's own target server, conformance/server.mjs:
#
#   direct   straight at server.mjs (the target itself must pass first)
#   plain    through `mcp-sigv4 gateway` on /mcp/alpha, the gateway reaching
#            server.mjs over plain HTTP
#   signed   through the gateway on /mcp/signed, the gateway signing with SigV4
#            (auth_type: aws_sigv4) to the verifying_front example
#            (VerifySigV4Layer) in front of server.mjs
#
# then real SDK clients against the gateway's aggregated /mcp, two servers behind
# it (alpha and beta, each a server.mjs): the Python SDK (mcp 2.3.0, conformance/
# interop.py) in its 2026-07-28 (`auto`) and legacy modes, and the TypeScript SDK
# (1.32.2, conformance/interop.mjs), which speaks the legacy era only.
#
# There is no expected-failure list: any failed check fails the run.
# Needs: `npm ci` in conformance/ (the suite, the SDK, Node 22), Python 3.10+ with
# venv, the mcp-sigv4 binary ($MCP_SIGV4, default target/debug/mcp-sigv4) and the
# verifying_front example ($VERIFYING_FRONT, default target/debug/examples/
# verifying_front); `cargo test --workspace --all-features` builds both. The
# Python SDK is installed once into target/conformance/venv ($CONFORMANCE_VENV)
# and reused. CONFORMANCE_SERVER_REQUESTS=related has server.mjs send its
# sampling and elicitation requests on the tool call's own stream instead of the
# GET stream. Logs and the suite's results go to conformance/results/.
# Everything listens on 127.0.0.1 on ports the OS picks.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mcp_sigv4="${MCP_SIGV4:-target/debug/mcp-sigv4}"
front_bin="${VERIFYING_FRONT:-target/debug/examples/verifying_front}"
venv="${CONFORMANCE_VENV:-target/conformance/venv}"
python_sdk="mcp==2.3.0"
# Where server.mjs sends a tool's sampling and elicitation requests: on the GET
# stream (standalone, as the suite's reference server does) or on the call's
# POST stream (related).
server_requests="${CONFORMANCE_SERVER_REQUESTS:-standalone}"
results="$root/conformance/results"
export PATH="$root/conformance/node_modules/.bin:$PATH"
started=$SECONDS

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say() { printf -- '--- %s (%ss)\n' "$1" "$((SECONDS - started))"; }
die() { echo "conformance/server.sh: $*" >&2; exit 1; }

for need in "$mcp_sigv4" "$front_bin"; do
  [[ -x "$need" ]] || die "$need is missing: run cargo test --workspace --all-features (or set MCP_SIGV4 / VERIFYING_FRONT)"
done
[[ -x conformance/node_modules/.bin/conformance ]] || die "the suite is not installed: run npm ci in conformance/"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' ||
  die "node $(node --version) is too old for the suite: npm ci in conformance/ installs Node 22"
rm -rf "$results"
mkdir -p "$results"

# wait_url FILE PREFIX WHAT: the http://127.0.0.1:PORT URL that follows PREFIX on a
# line of FILE, written by the process started last ($!), within 30 s.
wait_url() {
  local file="$1" prefix="$2" what="$3" pid="$!" line=""
  for _ in $(seq 300); do
    line="$(grep -m1 -oE "${prefix}http://127\.0\.0\.1:[0-9]+" "$file" 2>/dev/null || true)"
    [[ -n "$line" ]] && { echo "${line#"$prefix"}"; return 0; }
    kill -0 "$pid" 2>/dev/null || die "$what exited at start; see $file"
    sleep 0.1
  done
  die "$what did not start within 30 s; see $file"
}

# start_server NAME: a server.mjs named NAME; sets $server_url (…/mcp).
start_server() {
  node conformance/server.mjs --name "$1" --server-requests "$server_requests" >"$results/server-$1.log" 2>&1 &
  pids+=($!)
  server_url="$(wait_url "$results/server-$1.log" 'listening on ' "server.mjs $1")/mcp"
}

# start_gateway NAME CONFIG: a gateway on a free port; sets $gateway_url (no path).
start_gateway() {
  "$mcp_sigv4" gateway --config "$2" --listen 127.0.0.1:0 --log-format text >"$results/gateway-$1.log" 2>&1 &
  pids+=($!)
  gateway_url="$(wait_url "$results/gateway-$1.log" 'listening on ' "gateway $1")"
}

passed=0
failed=0
# suite LEG URL: the server scenarios against URL; adds its scenarios to the totals.
suite() {
  local leg="$1" url="$2" log="$results/suite-$1.log" ok bad
  say "suite, $leg: $url"
  # Each scenario's requests time out by themselves (60 s); this bounds the whole leg.
  if timeout 600 conformance server --url "$url" --suite all -o "$results/$leg" >"$log" 2>&1; then :; fi
  ok="$(grep -cE '^✓ ' "$log" || true)"
  bad="$(grep -cE '^✗ ' "$log" || true)"
  grep -E '^(✗ |Total: )' "$log" || die "the suite printed no summary for $leg; see $log"
  [[ "$ok" -gt 0 ]] || die "no scenario passed for $leg; see $log"
  echo "conformance server $leg: $ok scenarios passed, $bad failed"
  passed=$((passed + ok))
  failed=$((failed + bad))
}

say "servers: server.mjs alpha and beta"
start_server alpha
alpha_url="$server_url"
start_server beta
beta_url="$server_url"

say "the verifying front (VerifySigV4Layer) before alpha"
"$front_bin" --upstream "${alpha_url%/mcp}" >"$results/front.out" 2>"$results/front.log" &
pids+=($!)
front_url="$(wait_url "$results/front.out" '^' "verifying_front")"
front_value() { sed -n "s/^$1=//p" "$results/front.out"; }
unsigned="$(node -e 'fetch(process.argv[1], {method: "POST", headers: {"content-type": "application/json"},
  body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "ping"})}).then((r) => console.log(r.status))' "$front_url/mcp")"
[[ "$unsigned" == 403 ]] || die "the verifying front answered an unsigned request with $unsigned, not 403"
refused_before="$(grep -c 'refused' "$results/front.log" || true)"

cat >"$results/plain.yaml" <<EOF
mcp_servers:
  alpha:
    url: $alpha_url
    transport: http
  beta:
    url: $beta_url
    transport: http
EOF
cat >"$results/signed.yaml" <<EOF
mcp_servers:
  signed:
    url: $front_url/mcp
    transport: http
    auth_type: aws_sigv4
    aws_region_name: $(front_value AWS_REGION)
    aws_service_name: $(front_value AWS_SERVICE)
    aws_access_key_id: os.environ/FRONT_ACCESS_KEY_ID
    aws_secret_access_key: os.environ/FRONT_SECRET_ACCESS_KEY
    aws_session_token: os.environ/FRONT_SESSION_TOKEN
EOF
say "gateways: plain (alpha, beta) and signed"
start_gateway plain "$results/plain.yaml"
plain_url="$gateway_url"
FRONT_ACCESS_KEY_ID="$(front_value AWS_ACCESS_KEY_ID)" \
  FRONT_SECRET_ACCESS_KEY="$(front_value AWS_SECRET_ACCESS_KEY)" \
  FRONT_SESSION_TOKEN="$(front_value AWS_SESSION_TOKEN)" \
  start_gateway signed "$results/signed.yaml"
signed_url="$gateway_url"

suite direct "$alpha_url"
suite plain "$plain_url/mcp/alpha"
suite signed "$signed_url/mcp/signed"
if [[ "$(grep -c 'refused' "$results/front.log" || true)" != "$refused_before" ]]; then
  die "the verifying front refused signed requests of the gateway; see $results/front.log"
fi

# CONFORMANCE_REPEAT=N: the scenarios whose server request travels on the GET
# stream, N more times each through both gateways (issue 27: a POST that
# overtook its session's GET lost the server's request). Off in CI.
repeat="${CONFORMANCE_REPEAT:-0}"
if [[ "$repeat" -gt 0 ]]; then
  say "GET-stream scenarios, $repeat times each through both gateways"
  for scenario in tools-call-sampling tools-call-elicitation elicitation-sep1034-defaults elicitation-sep1330-enums; do
    for url in "$plain_url/mcp/alpha" "$signed_url/mcp/signed"; do
      ok=0
      bad=0
      for _ in $(seq "$repeat"); do
        if timeout 120 conformance server --url "$url" --scenario "$scenario" -o "$results/repeat" >"$results/repeat.log" 2>&1 \
          && grep -qE '^Passed: ([0-9]+)/\1, 0 failed' "$results/repeat.log"; then
          ok=$((ok + 1))
        else
          bad=$((bad + 1))
          cp "$results/repeat.log" "$results/repeat-failed-$scenario-$bad.log"
        fi
      done
      echo "repeat $scenario via ${url##*/mcp/}: $ok passed, $bad failed"
      passed=$((passed + ok))
      failed=$((failed + bad))
    done
  done
fi

say "the Python SDK ($python_sdk) on the plain gateway"
if ! "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$python_sdk"
fi
# interop LOG COMMAND...: one SDK's checks; adds them to the totals.
interop() {
  local log="$results/$1.log" ok bad
  shift
  timeout 300 "$@" >"$log" 2>&1 || true
  cat "$log"
  ok="$(grep -c '^ok ' "$log" || true)"
  bad="$(grep -c '^FAIL ' "$log" || true)"
  grep -qE '^[a-z-]+-sdk: [0-9]+ passed' "$log" || { bad=$((bad + 1)); echo "FAIL $1 did not finish; see $log"; }
  passed=$((passed + ok))
  failed=$((failed + bad))
}
interop interop-python "$venv/bin/python" conformance/interop.py "$plain_url" alpha beta
say "the TypeScript SDK (1.32.2) on the plain gateway"
interop interop-typescript node conformance/interop.mjs "$plain_url" alpha beta

say "done"
echo "conformance server: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
