#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-bus.sh BUILD_DIR [SNAPSHOTS]: vmsnapd's read path against virsh, in one run.
#
# On a real libvirtd (qemu:///system; started for the run when none is running):
#  * vmsnap: a shut-off domain with one qcow2 disk and SNAPSHOTS (default 1000)
#    snapshots made through vmsnapd; then ListSnapshots and GetSnapshot latency
#    (p50/p99) and reads per second with 8 concurrent clients, on a private bus:
#    dbus-daemon, then dbus-broker (private-dbus-broker.py) when it is installed;
#    with two anchors on the same bus: a Peer.Ping round trip, and a "floor"
#    server answering ListSnapshots with the same records serialized by vmsnapd's
#    code and nothing else (what the reply's 13,000 dictionary entries cost);
#  * libvirt: a second domain with the same number of snapshots in libvirt's own
#    metadata (redefined, linear like vmsnap's); then `virsh snapshot-list --tree`
#    and `virsh snapshot-info`, timed the same way (each a process, as users run it).
# Needs root. Targets (issue 3): ListSnapshots p99 < 5 ms; > 5,000 reads/s.
set -euo pipefail
build=$(realpath "${1:?usage: bench-bus.sh BUILD_DIR [SNAPSHOTS]}")
count=${2:-1000}
here=$(dirname "$(realpath "$0")")
[ "$(id -u)" = 0 ] || { echo "bench-bus: needs root (it starts libvirtd and a private bus)"; exit 1; }
. "$here/../tests/libvirtd.sh"
. "$here/../tests/private-bus.sh"
libvirtd_lock

work=$(mktemp -d /var/tmp/vmsnap-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
        for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
        for vm in vmsnap-bench virsh-bench; do
                virsh -q -c qemu:///system undefine "$vm" --snapshots-metadata >/dev/null 2>&1 || true
        done
        libvirtd_stop
        rm -rf "$work"
}
trap cleanup EXIT

libvirtd_running || libvirtd_start "$work" || { echo "bench-bus: libvirtd did not start"; exit 1; }

define() { # NAME DISK
        # A run that was interrupted may have left its domain behind.
        virsh -q -c qemu:///system undefine "$1" --snapshots-metadata >/dev/null 2>&1 || true
        qemu-img create -q -f qcow2 "$2" 64M
        cat >"$work/$1.xml" <<EOF
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>
EOF
        virsh -q -c qemu:///system define "$work/$1.xml" >/dev/null
}
define vmsnap-bench "$work/vmsnap.qcow2"
define virsh-bench "$work/virsh.qcow2"

# vmsnapd on a private bus; the caller is root, so no polkit round trip is involved.
private_bus_start "$work" && bus_started=0 || bus_started=$?
pids+=($private_bus_pid)
[ "$bus_started" = 0 ] || { echo "bench-bus: dbus-daemon did not start (no socket $work/bus)"; exit 1; }
address=$private_bus_address
bus() { busctl --address="$address" "$@"; }
start_vmsnapd() { # on $address; its pid is the last of pids
        "$build/dbus/vmsnapd" --connect qemu:///system --state-dir "$work/state" --bus-address "$address" &
        pids+=($!)
        for _ in $(seq 100); do bus status org.example.Snapshots >/dev/null 2>&1 && break; sleep 0.05; done
}
start_vmsnapd

echo "making $count snapshots through vmsnapd..."
start=$(date +%s.%N)
for i in $(seq "$count"); do
        bus call org.example.Snapshots /org/example/Snapshots org.example.Snapshots Create \
                "sssasa{sv}" vmsnap-bench "s$i" "" 0 0 >/dev/null
        [ $((i % 250)) = 0 ] && echo "  $i submitted at $(echo "$(date +%s.%N) - $start" | bc) s"
done
while :; do
        made=$(bus --json=short call org.example.Snapshots /org/example/Snapshots org.example.Snapshots \
                ListDomains | python3 -c 'import json,sys
for d in json.load(sys.stdin)["data"][0]:
    if d["name"]["data"] == "vmsnap-bench": print(d["snapshot_count"]["data"])')
        [ "$made" -ge "$count" ] && break
        sleep 0.5
done
echo "  done in $(echo "$(date +%s.%N) - $start" | bc) s"

echo "making $count libvirt snapshots (metadata only)..."
domxml=$(virsh -q -c qemu:///system dumpxml --inactive virsh-bench)
commands=""
for i in $(seq "$count"); do
        parent=""
        [ "$i" -gt 1 ] && parent="<parent><name>s$((i - 1))</name></parent>"
        cat >"$work/snap$i.xml" <<EOF
<domainsnapshot><name>s$i</name>$parent<state>shutoff</state><creationTime>$((1700000000 + i))</creationTime>
<memory snapshot='no'/><disks><disk name='vda' snapshot='internal'/></disks>$domxml</domainsnapshot>
EOF
        commands+="snapshot-create virsh-bench $work/snap$i.xml --redefine;"
done
virsh -q -c qemu:///system "$commands" >/dev/null

echo
echo "== vmsnapd over dbus-daemon, Debian's system bus ($count snapshots)"
"$build/bench/bus-latency" "$address" vmsnap-bench "s$((count / 2))" 500 8 5

# The same vmsnapd (same state, same libvirtd) on dbus-broker, which has no part of
# dbus-daemon's code (dbus-daemon relays 2,048 bytes per turn of its main loop).
if command -v dbus-broker-launch >/dev/null && command -v systemd-socket-activate >/dev/null; then
        kill "${pids[1]}"
        wait "${pids[1]}" 2>/dev/null || true
        sed 's|<listen>[^<]*</listen>||' "$work/bus.conf" >"$work/broker.conf"
        "$here/private-dbus-broker.py" "$work/broker" "$work/broker.conf" &
        pids+=($!)
        address="unix:path=$work/broker"
        for _ in $(seq 100); do bus list >/dev/null 2>&1 && break; sleep 0.05; done
        start_vmsnapd
        echo
        echo "== vmsnapd over dbus-broker ($count snapshots)"
        "$build/bench/bus-latency" "$address" vmsnap-bench "s$((count / 2))" 500 8 5
else
        echo
        echo "== vmsnapd over dbus-broker: skipped (apt-get install dbus-broker to compare)"
fi

echo
echo "== virsh ($count snapshots; each call a virsh process, as users run it)"
python3 - "$count" <<'PY'
import subprocess, sys, time
def timed(args, n):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, len(samples) * 99 // 100)]
count = int(sys.argv[1])
p50, p99 = timed(["virsh", "-q", "-c", "qemu:///system", "snapshot-list", "virsh-bench", "--tree"], 30)
print(f"snapshot-list --tree  p50 {p50:8.3f} ms   p99 {p99:8.3f} ms   (30 runs)")
p50, p99 = timed(["virsh", "-q", "-c", "qemu:///system", "snapshot-info", "virsh-bench", f"s{count // 2}"], 30)
print(f"snapshot-info         p50 {p50:8.3f} ms   p99 {p99:8.3f} ms   (30 runs)")
PY
