#!/usr/bin/env bash
# Prepares the build context of deploy/Containerfile: a root filesystem holding
# the mcp-sigv4 binary, exactly the shared libraries `ldd` names for it (and the
# dynamic loader), the CA bundle, and the passwd/group lines of the non-root user
# the image runs as. The Containerfile only COPYs it onto `scratch`, so no base
# image is pulled and no RUN step is needed.
#
#   deploy/stage-image.sh [--binary PATH] [--out DIR]
#
# Without --binary it builds `cargo build --release -p mcp-sigv4 --locked` and
# stages target/release/mcp-sigv4. The context goes to DIR (target/image-context
# by default; an earlier context there is replaced). A static binary (musl) is staged alone.
# Stage on the architecture the image is for: ldd reads the host's libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out="target/image-context"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stage-image.sh: unknown argument $1; see --help" >&2; exit 2 ;;
  esac
done

# The user the image runs as (the distroless "nonroot" numbers).
uid=65532
gid=65532
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if [ -z "$binary" ]; then
  cargo build --release -p mcp-sigv4 --locked
  binary="target/release/mcp-sigv4"
fi
[ -x "$binary" ] || { echo "stage-image.sh: $binary is not an executable; build it or pass --binary" >&2; exit 2; }
[ -f "$ca_bundle" ] || { echo "stage-image.sh: no CA bundle at $ca_bundle; install ca-certificates or set CA_BUNDLE" >&2; exit 2; }

rootfs="$out/rootfs"
# Only an empty directory or an earlier context (it has version.txt) is emptied.
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/version.txt" ]; then
  echo "stage-image.sh: $out is not empty and holds no earlier context; choose another --out" >&2
  exit 2
fi
rm -rf "$out"
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/etc/mcp-sigv4" "$rootfs/tmp"

install -m 0755 "$binary" "$rootfs/mcp-sigv4"

# Every absolute path ldd prints: `name => /path (addr)` and the loader's
# `/path (addr)`. linux-vdso is in the kernel, not a file. Each is copied under
# the name the binary asks for, symlinks resolved.
libs=$(ldd "$binary" 2>/dev/null | awk '
  $2 == "=>" && $3 ~ /^\// { print $3 }
  $1 ~ /^\// { print $1 }' || true)
if [ -z "$libs" ]; then
  if ldd "$binary" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; then
    echo "stage-image.sh: $binary is static; no libraries staged"
  else
    echo "stage-image.sh: ldd names no library for $binary:" >&2
    ldd "$binary" >&2 || true
    exit 1
  fi
fi
if ldd "$binary" 2>/dev/null | grep -q 'not found'; then
  echo "stage-image.sh: a library of $binary is missing on this host:" >&2
  ldd "$binary" | grep 'not found' >&2
  exit 1
fi
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
echo "$libs" > "$out/libraries.txt"

cp -L "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' "$uid" "$gid" > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' "$gid" > "$rootfs/etc/group"
# glibc's resolver: /etc/hosts first, then DNS (the orchestrator mounts both files).
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"

version=$("$binary" --version | awk '{ print $2 }')
echo "$version" > "$out/version.txt"
echo "staged mcp-sigv4 $version in $rootfs ($(du -sh "$rootfs" | cut -f1)):"
sed 's/^/  /' "$out/libraries.txt"
