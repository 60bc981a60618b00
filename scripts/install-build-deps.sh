#!/usr/bin/env bash
# The compiler packages the compiled hot path needs (setup.py builds it with
# mypyc): a C compiler and the Python headers. Installed on Debian when
# missing and we are root (or have sudo); otherwise one line says that the
# install goes on as pure Python. Never fails: pure Python is a valid build.
set -uo pipefail

PY=${1:-python3}
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
if command -v cc >/dev/null && [ -n "$include" ] && [ -e "$include/Python.h" ]; then
  exit 0
fi
SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "install-build-deps: no C compiler or Python headers and not root: the hot path installs as pure Python (apt-get install gcc python3-dev to compile it)" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "install-build-deps: no apt-get: install a C compiler and the Python headers to compile the hot path" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends gcc libc6-dev python3-dev; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-build-deps: apt-get failed: the hot path installs as pure Python" >&2
fi
exit 0
