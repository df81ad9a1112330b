#!/usr/bin/env bash
# Installs the npm packages skiff's build and tests need, exactly as pinned in each directory's
# package-lock.json (`npm ci`):
#   tests/peers  the packages tests run as real peers (S3 server, OIDC provider, relying party,
#                JOSE);
#   web          the web dashboard's build tools (Vite, TypeScript) and Preact, which the normal
#                build runs (cmake/web.cmake) to embed the dashboard in the binary.
# Each directory has its own stamp (node_modules/.skiff-lock-sha256): `npm ci` runs only where
# the lock file changed since that directory's last install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

install() {
  local dir="$1"
  [ -f "$dir/package-lock.json" ] || return 0
  local stamp="$dir/node_modules/.skiff-lock-sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "peers.sh: npm is missing (Node.js 20 and npm are on this machine image)" >&2
    exit 1
  fi
  echo "peers.sh: npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

install "$root/tests/peers"
install "$root/web"
