#!/usr/bin/env bash
# Installs the Debian packages skiff needs to build, test and benchmark, only when missing.
# Runs as root (the CI and the README's `make run`/`make test` machines are root); otherwise
# uses sudo when available. Usage: scripts/deps.sh [build|test|bench]...
set -euo pipefail

# Boost 1.81 (Asio, Beast, JSON, URL) is not in this list: Debian's libboost1.81-dev conflicts
# with libboost1.74-dev, which python3-scipy (needed by python3-sklearn) pulls in through
# pythran. Its headers are unpacked from the Debian package into .deps/ instead (see below).
build_pkgs=(cmake ninja-build g++ libc6-dev ccache pkg-config clang-format dpkg-dev
  libyaml-cpp-dev libsqlite3-dev libssl-dev libcli11-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libxgboost-dev libldap-dev libcrypt-dev
  libre2-dev
  python3-sklearn python3-xgboost python3-joblib)
test_pkgs=(chromium curl openssl slapd ldap-utils python3-cryptography python3-botocore python3-pytest python3-pytest-timeout python3-requests python3-yaml sqlite3)
bench_pkgs=(wrk nginx-light python3-cryptography)

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
root="$(cd "$(dirname "$0")/.." && pwd)"
boost_dir="$root/.deps/boost-1.81"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "deps.sh: missing packages (${missing[*]}) and not root: install them or run as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  updated=1
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Boost 1.81 headers, unpacked from Debian's libboost1.81-dev package (not installed: see above).
if [ ! -f "$boost_dir/usr/include/boost/version.hpp" ]; then
  echo "deps.sh: unpacking Debian's libboost1.81-dev into $boost_dir"
  [ "$updated" = 1 ] || "${sudo[@]}" apt-get update -qq
  tmp="$(mktemp -d)"
  chmod 0777 "$tmp"  # apt downloads as the _apt user
  (cd "$tmp" && apt-get download -q libboost1.81-dev >/dev/null 2>&1 || "${sudo[@]}" apt-get download -q libboost1.81-dev >/dev/null)
  rm -rf "$boost_dir.tmp" && mkdir -p "$boost_dir.tmp"
  dpkg-deb -x "$tmp"/libboost1.81-dev_*.deb "$boost_dir.tmp"
  rm -rf "$tmp" "$boost_dir" && mv "$boost_dir.tmp" "$boost_dir"
fi
# Debian starts packaged daemons on install; tests start their own copies on high ports.
if printf '%s\n' "${missing[@]}" | grep -qx 'nginx-light'; then
  "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
fi
