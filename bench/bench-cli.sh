#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-cli.sh BUILD_DIR [SNAPSHOTS]: vmsnapctl against virsh, whole processes, in one run.
#
# On a real libvirtd (qemu:///system; started for the run when none is running):
#  * vmsnap: a shut-off domain with one qcow2 disk and SNAPSHOTS snapshots made
#    through vmsnapd on a private bus, one `vmsnapctl create` each, as people make them;
#  * libvirt: a second domain with as many snapshots in libvirt's own metadata
#    (redefined, a chain like vmsnap's), made at the same time.
# Then the median time of a whole process, as an administrator runs it:
# `vmsnapctl tree` and `vmsnapctl --json tree` against `virsh snapshot-list --tree`,
# and `vmsnapctl list` against `virsh list --all`, with the ratios.
# Needs root. Target (issue 14): vmsnapctl at least 5x faster than virsh with 1,000
# snapshots. SNAPSHOTS is 200 by default (under a minute to make); give 1000 for the
# target's size (about 2 minutes on a loaded 2-core machine, both trees made side by side).
# Environment:
#  VMSNAP_BENCH_ROUNDS=N      measure N times (default 1), each round reported;
#  VMSNAP_BENCH_BASELINE=DIR  also measure the vmsnapd and vmsnapctl of another build
#                             (say, the one before a change) on the same snapshots, in
#                             each round right after BUILD_DIR's, so that both see the same load.
set -euo pipefail
build=$(realpath "${1:?usage: bench-cli.sh BUILD_DIR [SNAPSHOTS]}")
count=${2:-200}
rounds=${VMSNAP_BENCH_ROUNDS:-1}
baseline=${VMSNAP_BENCH_BASELINE:+$(realpath "$VMSNAP_BENCH_BASELINE")}
here=$(dirname "$(realpath "$0")")
[ "$(id -u)" = 0 ] || { echo "bench-cli: needs root (it starts libvirtd and a private bus)"; exit 1; }
. "$here/../tests/libvirtd.sh"
. "$here/../tests/private-bus.sh"
libvirtd_lock

work=$(mktemp -d /var/tmp/vmsnap-bench-cli-XXXXXX)
chmod 755 "$work"
pids=()
vmsnapd_pid=
cleanup() {
        for pid in "${pids[@]}" $vmsnapd_pid; do kill "$pid" 2>/dev/null || true; done
        for vm in vmsnapctl-bench virsh-cli-bench; do
                virsh -q -c qemu:///system undefine "$vm" --snapshots-metadata >/dev/null 2>&1 || true
        done
        libvirtd_stop
        rm -rf "$work"
}
trap cleanup EXIT

libvirtd_running || libvirtd_start "$work" || { echo "bench-cli: libvirtd did not start"; exit 1; }

define() { # NAME DISK
        virsh -q -c qemu:///system undefine "$1" --snapshots-metadata >/dev/null 2>&1 || true
        qemu-img create -q -f qcow2 "$2" 64M
        cat >"$work/$1.xml" <<EOF2
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>
EOF2
        virsh -q -c qemu:///system define "$work/$1.xml" >/dev/null
}
define vmsnapctl-bench "$work/vmsnap.qcow2"
define virsh-cli-bench "$work/virsh.qcow2"

# vmsnapd on a private bus; the caller is root, so polkit is not asked.
private_bus_start "$work" && bus_started=0 || bus_started=$?
pids+=($private_bus_pid)
[ "$bus_started" = 0 ] || { echo "bench-cli: dbus-daemon did not start (no socket $work/bus)"; exit 1; }
address=$private_bus_address
# vmsnapd_start BUILD: the vmsnapd of BUILD on the private bus (the one running is stopped first).
vmsnapd_start() {
        if [ -n "$vmsnapd_pid" ]; then
                kill "$vmsnapd_pid"
                wait "$vmsnapd_pid" || true
        fi
        "$1/dbus/vmsnapd" --connect qemu:///system --state-dir "$work/state" --bus-address "$address" &
        vmsnapd_pid=$!
        for _ in $(seq 200); do
                "$1/cli/vmsnapctl" --bus-address "$address" list >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        echo "bench-cli: the vmsnapd of $1 did not answer"
        return 1
}
vmsnapd_start "$build"
ctl() { "$build/cli/vmsnapctl" --bus-address "$address" "$@"; }

echo "making $count libvirt snapshots (metadata only) and $count through vmsnapd, side by side..."
domxml=$(virsh -q -c qemu:///system dumpxml --inactive virsh-cli-bench)
commands=""
for i in $(seq "$count"); do
        parent=""
        [ "$i" -gt 1 ] && parent="<parent><name>s$((i - 1))</name></parent>"
        cat >"$work/snap$i.xml" <<EOF2
<domainsnapshot><name>s$i</name>$parent<state>shutoff</state><creationTime>$((1700000000 + i))</creationTime>
<memory snapshot='no'/><disks><disk name='vda' snapshot='internal'/></disks>$domxml</domainsnapshot>
EOF2
        commands+="snapshot-create virsh-cli-bench $work/snap$i.xml --redefine;"
done
start=$(date +%s.%N)
virsh -q -c qemu:///system "$commands" >/dev/null &
libvirt_side=$!
for i in $(seq "$count"); do
        ctl --no-wait create vmsnapctl-bench "s$i" >/dev/null
done
while [ "$(ctl --json list | python3 -c 'import json,sys
print(next(d["snapshot_count"] for d in json.load(sys.stdin) if d["name"] == "vmsnapctl-bench"))')" -lt "$count" ]; do
        sleep 0.5
done
wait "$libvirt_side"
echo "  done in $(echo "$(date +%s.%N) - $start" | bc) s"

# measure LABEL BUILD: one round of the three rows, with BUILD's vmsnapd and vmsnapctl.
measure() {
        vmsnapd_start "$2"
        echo
        echo "== $1: whole processes, $count snapshots (median of 30 runs each, output to /dev/null)"
        python3 - "$2/cli/vmsnapctl" "$address" <<'PY'
import subprocess, sys, time
ctl, address = sys.argv[1], sys.argv[2]
def median(args, n=30):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)  # warm
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return samples[len(samples) // 2]
virsh = ["virsh", "-q", "-c", "qemu:///system"]
vmsnapctl = [ctl, "--bus-address", address]
rows = [
    ("vmsnapctl tree", vmsnapctl + ["tree", "vmsnapctl-bench"], "virsh snapshot-list --tree",
     virsh + ["snapshot-list", "virsh-cli-bench", "--tree"]),
    ("vmsnapctl --json tree", vmsnapctl + ["--json", "tree", "vmsnapctl-bench"], "virsh snapshot-list --tree",
     virsh + ["snapshot-list", "virsh-cli-bench", "--tree"]),
    ("vmsnapctl list", vmsnapctl + ["list"], "virsh list --all", virsh + ["list", "--all"]),
]
worst = None
for name, args, anchor_name, anchor in rows:
    ours, theirs = median(args), median(anchor)
    ratio = theirs / ours
    worst = ratio if worst is None else min(worst, ratio)
    print(f"{name:24s} {ours:8.2f} ms   {anchor_name:28s} {theirs:8.2f} ms   {ratio:6.1f}x faster")
print(f"\nslowest ratio {worst:.1f}x (target: 5x) -> {'met' if worst >= 5 else 'NOT met'}")
PY
}
for round in $(seq "$rounds"); do
        measure "round $round, $build" "$build"
        [ -z "$baseline" ] || measure "round $round, baseline $baseline" "$baseline"
done
