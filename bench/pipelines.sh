#!/usr/bin/env bash
# Pipelines benchmark (see pipelines.py): 1-task run latency, a 200-task fan-out/fan-in DAG and
# listing 10,000 runs page by page, through skiff's KFP API, printed as a table.
# Usage: bench/pipelines.sh [path/to/skiff]   (env: BENCH_RUNS=10000 BENCH_DATA_DIR=DIR ...)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/pipelines.py" "${1:-$here/../build/release/skiff}"
