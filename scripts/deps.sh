#!/usr/bin/env bash
# Installs the Debian packages skiff needs to build, test and benchmark, only when missing.
# Runs as root (the CI and the README's `make run`/`make test` machines are root); otherwise
# uses sudo when available. Usage: scripts/deps.sh [build|test|bench]...
set -euo pipefail

build_pkgs=(cmake ninja-build g++ ccache pkg-config clang-format
  libboost1.81-dev libyaml-cpp-dev libsqlite3-dev libssl-dev libcli11-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev)
test_pkgs=(curl python3-pytest python3-pytest-timeout python3-requests python3-yaml sqlite3)
bench_pkgs=(wrk nginx-light)

want=()
for group in "${@:-build}"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$group' (use build, test or bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "deps.sh: missing packages (${missing[*]}) and not root: install them or run as root" >&2
    exit 1
  fi
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts packaged daemons on install; tests start their own copies on high ports.
if printf '%s\n' "${missing[@]}" | grep -qx 'nginx-light'; then
  "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
fi
