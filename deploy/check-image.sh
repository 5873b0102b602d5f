#!/usr/bin/env bash
# Smoke test of the mcp-sigv4 image, or of its staged root filesystem, without a
# container runtime: the image's own files are run under chroot as its non-root
# user. Checks, in under a minute:
#   - the image's user is not root;
#   - every library ldd names for the binary is in the root filesystem;
#   - `mcp-sigv4 --version` runs with those files alone;
#   - `mcp-sigv4 gateway` in it, in front of the demo's SigV4-verifying stand-in
#     on 127.0.0.1, answers GET /health and a signed tools/call, and exits 0 on
#     SIGTERM.
#
#   deploy/check-image.sh --image localhost/mcp-sigv4:0.1.0   # mounted with buildah
#   deploy/check-image.sh --rootfs target/image-context/rootfs  # staged, not built
#
# Needs root (chroot), curl, python3 (a free port), and the demo built
# (`cargo build --example demo --all-features`; DEMO=path overrides).
# BUILDAH_STORAGE_DRIVER (vfs by default) is passed to buildah.
set -euo pipefail
cd "$(dirname "$0")/.."

image=""
rootfs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="${2:?--image needs a reference}"; shift 2 ;;
    --rootfs) rootfs="${2:?--rootfs needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-image.sh: unknown argument $1; see --help" >&2; exit 2 ;;
  esac
done
[ -n "$image$rootfs" ] || { echo "check-image.sh: pass --image REF or --rootfs DIR; see --help" >&2; exit 2; }
demo="${DEMO:-target/debug/examples/demo}"
[ -x "$demo" ] || { echo "check-image.sh: no demo at $demo; cargo build --example demo --all-features, or set DEMO" >&2; exit 2; }

buildah=(buildah --storage-driver "${BUILDAH_STORAGE_DRIVER:-vfs}")
container=""
pids=()
scratch=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$scratch" ] && rm -rf "$scratch"
  [ -n "$container" ] && "${buildah[@]}" rm "$container" >/dev/null
  true
}
trap cleanup EXIT
fail() { echo "check-image.sh: FAIL: $*" >&2; exit 1; }

# A staged tree runs as the Containerfile's USER; an image as its config's.
user=$(awk '$1 == "USER" { print $2 }' deploy/Containerfile)
if [ -n "$image" ]; then
  user=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
  container=$("${buildah[@]}" from --pull-never "$image")
  rootfs=$("${buildah[@]}" mount "$container")
fi
case "${user%%:*}" in ""|0|root) fail "the image runs as root (User: '$user')" ;; esac
echo "ok: runs as $user"

[ -x "$rootfs/mcp-sigv4" ] || fail "no /mcp-sigv4 in $rootfs"
missing=0
for lib in $(ldd "$rootfs/mcp-sigv4" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  [ -e "$rootfs$lib" ] || { echo "missing: $lib" >&2; missing=1; }
done
[ "$missing" = 0 ] || fail "libraries ldd names are not in the image"
echo "ok: every library ldd names is present"

chroot=$(command -v chroot) || fail "no chroot on PATH (coreutils)"
version=$(env -i PATH=/ "$chroot" --userspec="$user" "$rootfs" /mcp-sigv4 --version) || fail "mcp-sigv4 --version did not run in the image"
echo "ok: $version"

scratch=$(mktemp -d)
"$demo" --serve >"$scratch/demo.out" 2>"$scratch/demo.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$scratch/demo.out" ] && [ "$(wc -l <"$scratch/demo.out")" -ge 4 ] && break; sleep 0.1; done
upstream=$(sed -n 1p "$scratch/demo.out")
case "$upstream" in http://127.0.0.1:*) ;; *) fail "the demo stand-in did not start: $(cat "$scratch/demo.err")" ;; esac
mapfile -t creds < <(sed -n '2,4p' "$scratch/demo.out")

# The config goes into the image's /tmp (the mount is a throwaway container's,
# or the staged tree, cleaned below).
mkdir -p "$rootfs/tmp/check"
trap 'rm -rf "$rootfs/tmp/check"; cleanup' EXIT
cat >"$rootfs/tmp/check/config.yaml" <<YAML
mcp_servers:
  agent:
    url: $upstream
    auth_type: aws_sigv4
    aws_region_name: us-east-1
    aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
    aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
    aws_session_token: os.environ/AWS_SESSION_TOKEN
general_settings:
  master_key: os.environ/GATEWAY_MASTER_KEY
  session_secret: os.environ/GATEWAY_SESSION_SECRET
YAML
chmod -R a+rX "$rootfs/tmp/check"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="check-image-master-key-0123456789"
args=(gateway --config /tmp/check/config.yaml --listen "127.0.0.1:$port" --drain-timeout 5)
# Started directly (not through a function) so that $! is the gateway itself:
# env and chroot exec it.
env -i PATH=/ "${creds[@]}" GATEWAY_MASTER_KEY="$key" \
  GATEWAY_SESSION_SECRET="check-image-session-secret-0123456789abcdef" \
  "$chroot" --userspec="$user" "$rootfs" /mcp-sigv4 "${args[@]}" \
  >"$scratch/gateway.out" 2>"$scratch/gateway.err" &
gateway=$!
pids+=("$gateway")
status=""
for _ in $(seq 100); do
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
  [ "$status" = 200 ] && break
  kill -0 "$gateway" 2>/dev/null || break
  sleep 0.1
done
[ "$status" = 200 ] || fail "GET /health: '$status'; gateway log: $(cat "$scratch/gateway.err")"
echo "ok: the gateway in the image answers GET /health"

reply=$(curl -s --max-time 20 -X POST "http://127.0.0.1:$port/mcp/agent" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}')
case "$reply" in *'"isError":true'*|*'"error"'*) fail "tools/call: $reply" ;; *42*) ;; *) fail "tools/call: $reply" ;; esac
echo "ok: a signed tools/call through it: $reply"

kill -TERM "$gateway"
code=0
wait "$gateway" || code=$?
[ "$code" = 0 ] || fail "the gateway exited $code on SIGTERM; log: $(cat "$scratch/gateway.err")"
echo "ok: the gateway exits 0 on SIGTERM"
echo "check-image.sh: all checks passed (${image:-$rootfs})"
