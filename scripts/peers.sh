#!/usr/bin/env bash
# Installs the npm packages that tests run as real peers (S3 server, OIDC provider, relying
# party, JOSE) into tests/peers/node_modules, exactly as pinned in tests/peers/package-lock.json.
# Runs `npm ci` only when the lock file changed since the last install.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tests/peers" && pwd)"
[ -f "$dir/package-lock.json" ] || exit 0
stamp="$dir/node_modules/.skiff-lock-sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "peers.sh: npm is missing (Node.js 20 and npm are on this machine image)" >&2
  exit 1
fi
echo "peers.sh: npm ci in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
