#!/usr/bin/env bash
# Builds the optimized skiff binary (`make release`): profile-guided and link-time optimized.
#   1. build/pgo-train: skiff built to record a profile (SKIFF_PGO=generate; ccache as usual);
#   2. scripts/pgo_train.py runs it through the gateway's hot path (bench/gateway.py's
#      requests) and stops it: the profile lands in build/pgo-profile;
#   3. build/optimized: skiff compiled with that profile (SKIFF_PGO=use) and LTO.
# Step 3 always compiles from scratch (a new profile changes every object; ccache cannot tell).
# Usage: scripts/release.sh [output build dir]   -> <dir>/skiff (default build/optimized)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/optimized}"
train=build/pgo-train
profile="$PWD/build/pgo-profile"

# Without the dashboard: the training does not load it, and step 3 builds it.
cmake -S . -B "$train" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKIFF_TESTS=OFF -DSKIFF_WEB=OFF \
  -DSKIFF_PGO=generate -DSKIFF_PGO_DIR="$profile"
cmake --build "$train" --target skiff

rm -rf "$profile"
timeout 600 /usr/bin/python3 scripts/pgo_train.py "$train/skiff"
if [ -z "$(find "$profile" -name '*.gcda' -print -quit 2>/dev/null)" ]; then
  echo "release: the training run wrote no profile to $profile" >&2
  exit 1
fi

cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKIFF_TESTS=OFF \
  -DSKIFF_PGO=use -DSKIFF_PGO_DIR="$profile" -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON
cmake --build "$out" --target clean
CCACHE_DISABLE=1 cmake --build "$out" --target skiff
echo "release: $out/skiff (profile-guided + LTO)"
