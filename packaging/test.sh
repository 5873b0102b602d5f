#!/usr/bin/env bash
# The packages people install, built and driven as they would be (issue #20):
#
# 1. the PyPI wheel (maturin, `bindings = "bin"`), built once for this machine;
# 2. installed into a fresh venv: `mcp-sigv4 --version`;
# 3. `uvx --from <wheel> mcp-sigv4 proxy …` as a stdio server of the Python MCP
#    SDK, against the demo's verifying stand-in: tools/list and tools/call; then
#    the `ask` command line the stand-in prints, against its Converse endpoint;
# 4. the npm packages (launcher + this platform's binary, the same binary as the
#    wheel's), packed, installed from the tarballs into an empty folder, and run
#    through `npx`: `--version`, then the same MCP session; and the launcher
#    alone, which must say that this platform's package is missing;
# 5. the memory the shipped binary costs a host, which starts one proxy per
#    server: the total proportional set size (PSS) of 1 and of 10 proxies after
#    tools/list and tools/call, and its anonymous part (host.py prints one line
#    each: the figures README.md and BENCHMARKS.md quote), after layout.py has
#    checked that the proxy's functions are laid out together.
#
# Needs Python 3.9+ with venv and pip, Node 18+ with npm, and the Rust toolchain;
# maturin, uv and the MCP SDK are installed into a throwaway venv. Honours
# CARGO_TARGET_DIR. WHEEL=path skips the build; STAND_IN=path names a built demo
# example (otherwise `cargo build --example demo --all-features`, a no-op after
# the README's demo command). KEEP=1 keeps the work folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-sigv4-packaging.XXXXXX")"
stand_in_pid=""
cleanup() {
  [[ -n "$stand_in_pid" ]] && kill "$stand_in_pid" 2>/dev/null || true
  [[ "${KEEP:-}" == 1 ]] && echo "work folder kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS
say() { printf -- '--- %s (%ss)\n' "$1" "$((SECONDS - started))"; }
size() { du -h "$1" | cut -f1; }

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/mcp-sigv4/Cargo.toml" | head -1)"
npm_version="$(node -p "require('$here/npm/mcp-sigv4/package.json').version")"
if [[ "$npm_version" != "$version" ]]; then
  echo "packaging/npm/mcp-sigv4/package.json says $npm_version, mcp-sigv4/Cargo.toml $version: bump both" >&2
  exit 1
fi

say "tools: maturin, uv and the MCP SDK into a throwaway venv"
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.7,<2" uv "mcp>=2,<3"
"$work/tools/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -Ei '^(maturin|uv|mcp) '

if [[ -n "${WHEEL:-}" ]]; then
  wheel="$WHEEL"
else
  say "the wheel (maturin build --profile dist: fat LTO, as shipped)"
  (cd "$root/mcp-sigv4" && "$work/tools/bin/maturin" build --locked --profile dist --out "$work/dist")
  wheel="$(ls "$work"/dist/mcp_sigv4-"$version"-*.whl)"
fi
echo "wheel: $(basename "$wheel") ($(size "$wheel"))"

say "pip install into a fresh venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
got="$("$work/venv/bin/mcp-sigv4" --version)"
echo "$got"
[[ "$got" == "mcp-sigv4 $version" ]] || { echo "expected mcp-sigv4 $version" >&2; exit 1; }
if "$work/venv/bin/python" -c 'import mcp_sigv4' 2>/dev/null; then
  echo "the wheel should carry only the binary, yet it installs a Python module" >&2
  exit 1
fi

say "the stand-in (the demo's verifying server)"
if [[ -z "${STAND_IN:-}" ]]; then
  (cd "$root" && cargo build --quiet --example demo --all-features)
  target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  STAND_IN="$target_dir/debug/examples/demo"
fi
"$STAND_IN" --serve > "$work/stand-in.out" &
stand_in_pid=$!
for _ in $(seq 100); do [[ $(wc -l < "$work/stand-in.out") -ge 4 ]] && break; sleep 0.1; done
url="$(sed -n 1p "$work/stand-in.out")"
if [[ "$url" != http://* ]]; then
  echo "the stand-in ($STAND_IN) printed no URL; build it with: cargo build --example demo --all-features" >&2
  exit 1
fi
while IFS='=' read -r name value; do export "$name=$value"; done < <(sed -n '2,4p' "$work/stand-in.out")
export AWS_REGION=us-east-1
unset AWS_PROFILE
echo "$url"
proxy_args=(proxy "$url" --service bedrock-agentcore --region us-east-1 --log-level warn)

say "uvx --from <wheel> mcp-sigv4 proxy, hosted by the Python MCP SDK"
# Twice: first with an empty uv cache (uv unpacks the wheel into it, as on a
# user's first run), then with it warm; host.py prints the time from launch to
# the tool list.
export UV_CACHE_DIR="$work/uv-cache" UV_PYTHON_DOWNLOADS=never
for cache in cold warm; do
  echo "uv cache: $cache"
  (cd "$work" && "$work/tools/bin/python" "$here/host.py" \
    "$work/tools/bin/uvx" --offline --from "$wheel" mcp-sigv4 "${proxy_args[@]}")
done

say "the proxy's code laid out together, and memory on a host: 1 and 10 proxies (the venv's binary, read from disk afresh)"
# mcp-sigv4/build.rs has the linker gather the functions a proxy session runs
# (mcp-sigv4/link-order.txt, names without crate hashes) into `.text.proxy`,
# before the rest of the code; layout.py fails when that section is missing or
# under LAYOUT_MIN_MB (6.5 MB when the list matches; 0.7 MB with the stale list
# of mangled names it replaced).
"$work/tools/bin/python" "$here/layout.py" "$work/venv/bin/mcp-sigv4" "${LAYOUT_MIN_MB:-3}"
# Then one line each: the total PSS of the mcp-sigv4 processes (shared code
# counted once in all) and its anonymous part. DROP_CACHE=1 drops the binary's
# cached pages first: a file just written (by pip here, or uv above) is mapped in
# larger pieces than one read back from disk, as on a later start. One proxy
# above MAX_PSS_MIB fails (8.7-8.9 MiB with the layout, 13 MiB with the stale list).
DROP_CACHE=1 PROXIES=1 MAX_PSS_MIB="${MAX_PSS_MIB:-12}" "$work/tools/bin/python" "$here/host.py" "$work/venv/bin/mcp-sigv4" "${proxy_args[@]}"
DROP_CACHE=1 PROXIES=10 "$work/tools/bin/python" "$here/host.py" "$work/venv/bin/mcp-sigv4" "${proxy_args[@]}"

say "mcp-sigv4 ask (the venv's) against the stand-in's scripted Converse endpoint, as printed"
# The stand-in prints the line with the checkout's binary by its absolute path;
# the venv's `mcp-sigv4`, first on PATH, runs it here instead.
ask_line="$(grep -m1 -E '(^| |/)mcp-sigv4 ask ' "$work/stand-in.out" | sed -E 's#[^ ]*mcp-sigv4 ask #mcp-sigv4 ask #' || true)"
[[ -n "$ask_line" ]] || { echo "the stand-in printed no ask command line" >&2; exit 1; }
answer="$(cd "$work" && PATH="$work/venv/bin:$PATH" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null bash -c "$ask_line")"
echo "$answer"
[[ "$answer" == *'add said "42"'* ]] || { echo "expected the answer to carry the add tool's 42" >&2; exit 1; }

say "npm: stage and pack the launcher and this platform's package (the wheel's binary)"
python3 - "$wheel" "$work/bin" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    (member,) = [n for n in z.namelist() if "/scripts/mcp-sigv4" in n]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, os.path.basename(member))
    with z.open(member) as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chmod(path, 0o755)
PY
binary="$(ls "$work"/bin/mcp-sigv4*)"
mapfile -t staged < <(node "$here/npm/stage.js" "$binary" "$work/npm")
mkdir -p "$work/tarballs"
for dir in "${staged[@]}"; do
  (cd "$work/tarballs" && npm pack --silent "$dir" >/dev/null)
done
for tarball in "$work"/tarballs/*.tgz; do echo "$(basename "$tarball") ($(size "$tarball"))"; done

say "npm install from the tarballs into an empty folder, then npx"
mkdir "$work/app"
cd "$work/app"
echo '{ "private": true }' > package.json
# --offline: the other platforms' optional packages are not fetched (and are
# skipped, as on a machine they do not fit); this one comes from its tarball.
npm install --offline --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz
got="$(npx --no-install mcp-sigv4 --version)"
echo "$got"
[[ "$got" == "mcp-sigv4 $version" ]] || { echo "expected mcp-sigv4 $version" >&2; exit 1; }
"$work/tools/bin/python" "$here/host.py" npx --no-install mcp-sigv4 "${proxy_args[@]}"

say "npm without this platform's package: a clear error"
mkdir "$work/bare"
cd "$work/bare"
echo '{ "private": true }' > package.json
npm install --offline --no-audit --no-fund --loglevel=error "$work"/tarballs/mcp-sigv4-"$version".tgz
if npx --no-install mcp-sigv4 --version > "$work/bare.out" 2>&1; then
  echo "the launcher ran without a platform package" >&2
  exit 1
fi
cat "$work/bare.out"
if ! grep -q "is not installed" "$work/bare.out" || ! grep -q MCP_SIGV4_BINARY "$work/bare.out"; then
  echo "the launcher's error should name the missing package and MCP_SIGV4_BINARY" >&2
  exit 1
fi
MCP_SIGV4_BINARY="$binary" npx --no-install mcp-sigv4 --version

say "all packaging tests passed"
