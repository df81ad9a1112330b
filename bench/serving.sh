#!/usr/bin/env bash
# Model serving benchmark (see serving.py). Usage: bench/serving.sh [path/to/skiff]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/serving.py" "${1:-$here/../build/release/skiff}"
