#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds and runs the main job: the default scenario in the deterministic
# simulator (three regions, clients on every server, a partition and a crash, every
# checker), with no outside service. Arguments go to meridian-sim, e.g. --seed 7 or
# --seeds 1..50 --jobs 2. To run the real server instead:
#   build/tools/meridian-server -a 127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
meson compile -C build >/dev/null
exec build/tools/meridian-sim "$@" scenarios/default.conf
