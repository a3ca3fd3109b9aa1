#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what Meridian needs on a fresh Debian machine (apt packages, the npm clients
# used by the compatibility tests) and configures the build directories. Safe to rerun:
# it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(gcc make meson ninja-build pkg-config libglib2.0-dev libjansson-dev check libssl-dev
      libcrypt-dev libnats-dev nats-server libgraphviz-dev zlib1g-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

if [ ! -d node_modules/nats ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
echo "setup: ok"
