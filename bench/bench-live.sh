#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-live.sh BUILD_DIR [COUNT]: live snapshots of a running 2-disk TCG domain
# (64 MiB, qcow2 disks) on a real libvirtd, vmsnap's engine against virsh, same
# run, alternating so that both see the same chain depth:
#  * disk-only: vmsnap (overlays made by vmsnap, then DISK_ONLY|ATOMIC|NO_METADATA|
#    REUSE_EXT) against `virsh snapshot-create-as --disk-only --atomic --no-metadata`;
#  * with memory: vmsnap (external memory file, LIVE: the domain runs while its RAM
#    is written) against libvirt's default (`--memspec`, no --live: paused while
#    RAM is written); the pause is the completed job's downtime (virDomainGetJobStats)
#    for vmsnap, and for both the time between libvirt's suspended and resumed events.
# Prints medians in ms and the ratios. Needs root; starts libvirtd when none runs.
set -euo pipefail
build=$(realpath "${1:?usage: bench-live.sh BUILD_DIR [COUNT]}")
count=${2:-7}
here=$(dirname "$(realpath "$0")")
[ "$(id -u)" = 0 ] || { echo "bench-live: needs root"; exit 1; }
. "$here/../tests/libvirtd.sh"
libvirtd_lock
work=$(mktemp -d /var/tmp/vmsnap-bench-live-XXXXXX)
chmod 755 "$work"
cleanup() {
        virsh -q -c qemu:///system destroy live-bench >/dev/null 2>&1 || true
        virsh -q -c qemu:///system undefine live-bench >/dev/null 2>&1 || true
        libvirtd_stop
        rm -rf "$work"
}
trap cleanup EXIT
libvirtd_running || libvirtd_start "$work" || { echo "bench-live: libvirtd did not start"; exit 1; }
qemu-img create -q -f qcow2 "$work/a.qcow2" 64M
qemu-img create -q -f qcow2 "$work/b.qcow2" 64M
cat >"$work/domain.xml" <<XML
<domain type='qemu'><name>live-bench</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>
<video><model type='none'/></video><memballoon model='none'/></devices>
<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>
XML
v() { virsh -q -c qemu:///system "$@"; }
v define "$work/domain.xml" >/dev/null
v start live-bench >/dev/null
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq "$count"); do
        "$build/bench/live-bench" qemu:///system "$work/state" live-bench disk 1 | awk '{print $2}' >>"$work/vmsnap-disk"
        t=$(date +%s%N)
        v snapshot-create-as live-bench --disk-only --atomic --no-metadata \
                --diskspec "vda,file=$work/va$i.qcow2" --diskspec "vdb,file=$work/vb$i.qcow2" >/dev/null
        ms "$t" >>"$work/virsh-disk"
done
# pauses PROGRAM...: runs it while watching the domain's pauses; appends their sum to $work/$1.
pauses() {
        out=$1; shift
        "$build/bench/live-bench" qemu:///system watch live-bench 30 >"$work/watch" &
        watcher=$!
        until grep -q ready "$work/watch" 2>/dev/null; do sleep 0.05; done
        "$@"
        sleep 0.3
        kill "$watcher"; wait "$watcher" 2>/dev/null || true
        awk '/^paused_ms/ {s += $2} END {print s + 0}' "$work/watch" >>"$work/$out"
}
for i in $(seq "$count"); do
        pauses vmsnap-paused eval '"$build/bench/live-bench" qemu:///system "$work/state" live-bench memory 1 >>"$work/vmsnap-memory"'
        t=$(date +%s%N)
        pauses virsh-paused v snapshot-create-as live-bench --no-metadata --atomic \
                --memspec "file=$work/m$i.mem,snapshot=external" \
                --diskspec "vda,file=$work/ma$i.qcow2" --diskspec "vdb,file=$work/mb$i.qcow2"
        ms "$t" >>"$work/virsh-memory"
done
vd=$(median <"$work/vmsnap-disk"); xd=$(median <"$work/virsh-disk")
vm=$(awk '{print $2}' "$work/vmsnap-memory" | median); vp=$(awk '{print $4}' "$work/vmsnap-memory" | median)
xm=$(median <"$work/virsh-memory"); xp=$(median <"$work/virsh-paused"); ve=$(median <"$work/vmsnap-paused")
echo "disk-only snapshot of 2 disks, median of $count: vmsnap ${vd} ms, virsh ${xd} ms (vmsnap/virsh $(awk "BEGIN {printf \"%.2f\", $vd / $xd}"))"
echo "memory snapshot, median of $count: vmsnap ${vm} ms, paused ${vp} ms (job downtime) / ${ve} ms (events); virsh default ${xm} ms (incl. ~0.3 s watcher wait), paused ${xp} ms (events)"
