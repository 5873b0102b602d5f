#!/usr/bin/env bash
# The MCP conformance suite's client scenarios with `mcp-sigv4 proxy` as the
# client: for each scenario the suite starts its scenario server and runs
# conformance/host.mjs with the server's URL; the host starts the proxy on that
# URL, as a desktop host would, and drives it over stdio. The suite judges the
# proxy by what reached its server.
#
# Every client scenario of the suite is either run (APPLIED) or listed with the
# reason it does not apply to a SigV4 / OAuth2-client-credentials proxy
# (NOT_APPLICABLE); a scenario in neither list (a newer suite) fails the run.
# There is no expected-failure list: any failed check fails the run.
#
# The scenario servers listen on every interface, so the suite runs in a network
# namespace of its own with only loopback, up (`unshare --net`, which needs root
# or user namespaces; loopback is brought up with an ioctl from Python, so
# iproute2 is not needed).
#
# Needs: `npm ci` in conformance/ (the suite, the SDK, Node 22), python3, and the
# mcp-sigv4 binary ($MCP_SIGV4, default target/debug/mcp-sigv4, which
# `cargo test --workspace --all-features` builds). The suite's results and logs
# go to conformance/results/client/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
results="$root/conformance/results/client"
export PATH="$root/conformance/node_modules/.bin:$PATH"

# The scenarios run, each bounded (the suite gives the host 30 s of its own).
APPLIED=(
  initialize
  tools_call
  elicitation-sep1034-client-defaults
  sse-retry
  auth/client-credentials-basic
)
# The scenarios that do not apply, with the reason, as NAME|REASON. "code flow"
# is the OAuth 2.1 authorization-code flow (discovery from a 401, registration,
# a browser, PKCE): the proxy authenticates with SigV4 or with a configured
# client-credentials grant (--oauth2-token-url), never on a user's behalf.
NOT_APPLICABLE=(
  "auth/metadata-default|code flow: metadata discovery"
  "auth/metadata-var1|code flow: metadata discovery (OpenID configuration)"
  "auth/metadata-var2|code flow: metadata discovery (path-based issuer)"
  "auth/metadata-var3|code flow: metadata discovery (custom resource metadata URL)"
  "auth/basic-cimd|code flow: a client ID metadata document"
  "auth/scope-from-www-authenticate|code flow: scopes from WWW-Authenticate"
  "auth/scope-from-scopes-supported|code flow: scopes from the resource metadata"
  "auth/scope-omitted-when-undefined|code flow: no scope"
  "auth/scope-step-up|code flow: step-up on 403 insufficient_scope"
  "auth/scope-retry-limit|code flow: bounded step-up"
  "auth/token-endpoint-auth-basic|code flow: dynamic registration, client_secret_basic"
  "auth/token-endpoint-auth-post|code flow: dynamic registration, client_secret_post"
  "auth/token-endpoint-auth-none|code flow: dynamic registration, public client"
  "auth/pre-registration|code flow: pre-registered client (its server offers no client_credentials grant)"
  "auth/2025-03-26-oauth-metadata-backcompat|code flow: 2025-03-26 discovery"
  "auth/2025-03-26-oauth-endpoint-fallback|code flow: 2025-03-26 default endpoints"
  "auth/resource-mismatch|code flow: refusing a foreign resource in discovered metadata; the proxy discovers nothing"
  "auth/offline-access-scope|code flow: refresh tokens"
  "auth/offline-access-not-supported|code flow: refresh tokens"
  "auth/client-credentials-jwt|client authentication by a signed JWT (private_key_jwt, SEP-1046); the proxy's grant authenticates with a client secret"
  "auth/cross-app-access-complete-flow|token exchange and the JWT-bearer grant (SEP-990); not implemented"
)

die() { echo "conformance/client.sh: $*" >&2; exit 1; }

if [[ "${CONFORMANCE_NETNS:-}" != 1 ]]; then
  mcp_sigv4="${MCP_SIGV4:-target/debug/mcp-sigv4}"
  [[ -x "$mcp_sigv4" ]] || die "$mcp_sigv4 is missing: run cargo test --workspace --all-features (or set MCP_SIGV4)"
  [[ -x conformance/node_modules/.bin/conformance ]] || die "the suite is not installed: run npm ci in conformance/"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' ||
    die "node $(node --version) is too old for the suite: npm ci in conformance/ installs Node 22"
  command -v unshare >/dev/null || die "unshare (util-linux) is needed to run the suite's servers in a network namespace"
  export MCP_SIGV4="$(cd "$(dirname "$mcp_sigv4")" && pwd)/$(basename "$mcp_sigv4")"
  CONFORMANCE_NETNS=1 exec unshare --net -- "$0" "$@" ||
    die "unshare --net failed: run as root or with user namespaces enabled"
fi

# Inside the namespace: loopback up, and nothing else.
python3 - <<'EOF' || die "cannot bring up loopback in the network namespace"
import fcntl, socket, struct
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
EOF

started=$SECONDS
rm -rf "$results"
mkdir -p "$results"

# Every client scenario of the suite is run or explained.
known=("${APPLIED[@]}")
for entry in "${NOT_APPLICABLE[@]}"; do known+=("${entry%%|*}"); done
listed="$(conformance list --client | sed -n 's/^  - \([^ ]*\).*/\1/p')"
[[ -n "$listed" ]] || die "conformance list --client printed no scenarios"
for scenario in $listed; do
  printf '%s\n' "${known[@]}" | grep -qxF "$scenario" ||
    die "the suite has a client scenario this script neither runs nor explains: $scenario; add it to APPLIED or NOT_APPLICABLE"
done

running=""
cleanup() { [[ -z "$running" ]] || kill "$running" 2>/dev/null || true; }
trap cleanup EXIT

passed=0
failed=0
for scenario in "${APPLIED[@]}"; do
  log="$results/${scenario//\//-}.log"
  # `timeout` kills the whole process group it leads: the suite, host.mjs and
  # the proxy.
  timeout -k 5 60 conformance client --command "node $root/conformance/host.mjs" \
    --scenario "$scenario" -o "$results" >"$log" 2>&1 &
  running=$!
  if wait "$running"; then
    echo "ok   $scenario"
    passed=$((passed + 1))
  else
    echo "FAIL $scenario (see $log)"
    sed -n '/^Failed Checks:/,/OVERALL/p; /TIMED OUT/p; /EXITED WITH ERROR/p' "$log" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
  running=""
done

echo "not applicable to mcp-sigv4 proxy (code flow: the OAuth 2.1 authorization-code flow, which the proxy does not implement):"
for entry in "${NOT_APPLICABLE[@]}"; do
  echo "  ${entry%%|*}: ${entry#*|}"
done
echo "conformance client took $((SECONDS - started)) s"
echo "conformance client: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
