#!/usr/bin/env bash
# Benchmarks skiff against nginx's static 200 on this machine, in one run, and prints a table.
# Usage: bench/run.sh [path/to/skiff]   (env: BENCH_DURATION=10s BENCH_CONNECTIONS=64)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/run.py" "${1:-$here/../build/release/skiff}"
