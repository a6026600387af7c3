#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-flood.sh BUILD_DIR: root's ListSnapshots p50/p99 on vmsnapd, idle and while a
# user polkit denies floods it (4 connections keeping 30 calls each in flight, as in
# issue 12), and their ratio. Runs in tests/bus/harness.sh's setup: a private bus, the
# real polkitd with test users, vmsnapd on libvirt's test driver (alpha, 20 snapshots).
# Needs root; installs polkit actions and a rule for the run, so take the bus tests'
# lock: flock /run/lock/vmsnap-bus.lock bench/bench-flood.sh build
# Knobs (environment): FLOOD_CALLS (2000), FLOOD_CONNECTIONS (4), FLOOD_IN_FLIGHT (30),
# FLOOD_SECONDS (15). Target (issue 12): flooded p99 within 3x of idle p99.
set -euo pipefail
build=$(realpath "${1:?usage: bench-flood.sh BUILD_DIR}")
here=$(dirname "$(realpath "$0")")
[ "$(id -u)" = 0 ] || { echo "bench-flood: needs root (test users, polkit rules, a private bus)"; exit 1; }
export FLOOD_LATENCY=$build/bench/flood-latency
[ -x "$FLOOD_LATENCY" ] || { echo "bench-flood: build $FLOOD_LATENCY first (meson compile -C $build)"; exit 1; }
exec "$here/../tests/bus/harness.sh" "$build/dbus/vmsnapd" "$here/flood-bench.py"
