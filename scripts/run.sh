#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds and runs the main job: meridian-server on 127.0.0.1:4222 in the
# foreground (Ctrl-C stops it). Arguments are passed to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
meson compile -C build >/dev/null
exec build/tools/meridian-server -a 127.0.0.1 "$@"
