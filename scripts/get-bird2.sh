#!/usr/bin/env bash
# Unpack Debian 12's BIRD 2.0.12 (`bird2`) into a private root for the BIRD
# socket tests (tests/integration/test_bird_socket_*.py). Debian's `bird`
# (1.6.8, the base of calico-node's BIRD) and `bird2` conflict: `bird` is
# installed normally by scripts/install-test-deps.sh, `bird2` is fetched with
# `apt-get download` and unpacked with `dpkg -x`. Both are bookworm packages,
# so BIRD 2 runs with the system's libc and libraries (no private loader).
#
#   scripts/get-bird2.sh [DIR]   DIR defaults to $BMPT_BIRD2_DIR or /opt/bmp-agent-test/bird2
#
# Results: DIR/bird and DIR/birdc (the unpacked binaries), DIR/VERSION.
# Idempotent: exits at once when DIR/bird already runs.
set -euo pipefail

DIR=${1:-${BMPT_BIRD2_DIR:-/opt/bmp-agent-test/bird2}}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -x "$DIR/bird" ] && "$DIR/bird" --version >/dev/null 2>&1; then
  exit 0
fi

work=$(mktemp -d)
chmod 755 "$work"  # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT
if ! out=$(cd "$work" && apt-get download -q bird2 2>&1); then
  echo "$out" >&2
  echo "get-bird2: apt-get download bird2 failed" >&2
  exit 1
fi
deb=$(ls "$work"/bird2_*.deb)
rm -rf "$DIR/root"
dpkg -x "$deb" "$DIR/root"
ln -sf root/usr/sbin/bird "$DIR/bird"
ln -sf root/usr/sbin/birdc "$DIR/birdc"
# every shared library must resolve from the system
if ldd "$DIR/root/usr/sbin/bird" "$DIR/root/usr/sbin/birdc" | grep -q "not found"; then
  ldd "$DIR/root/usr/sbin/bird" "$DIR/root/usr/sbin/birdc" >&2
  echo "get-bird2: missing shared libraries" >&2
  exit 1
fi
"$DIR/bird" --version 2>&1 | awk '{print $NF}' >"$DIR/VERSION"
echo "get-bird2: BIRD $(cat "$DIR/VERSION") in $DIR"
