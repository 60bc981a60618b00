#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine, as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    python3 python3-venv python3-pip iproute2 \
    frr gobgpd exabgp tshark pmacct prometheus tcpdump
