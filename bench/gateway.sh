#!/usr/bin/env bash
# Benchmarks skiff's gateway proxy against nginx's proxy_pass to the same upstream, with and
# without Bearer JWT verification, in one run, and prints a table.
# Usage: bench/gateway.sh [path/to/skiff]   (env: BENCH_DURATION=10s BENCH_CONNECTIONS=64)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/gateway.py" "${1:-$here/../build/release/skiff}"
