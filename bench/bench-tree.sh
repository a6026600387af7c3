#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-tree.sh BUILD_DIR [SIZES [SNAPSHOTS]]: the cost of one change as a domain's snapshot
# tree grows, in one run.
#
#  * engine: bench/tree-bench on libvirt's test driver (in its own process, no libvirtd):
#    linear and bushy trees of each of SIZES snapshots (default 10,100,300; the target's
#    sizes are 10,100,1000), tiny qcow2 images, every size's tree built first and the
#    rounds taken by the sizes in turns; the median of Create, of a merge of a snapshot in
#    the middle and of the newest snapshot, and each one's ratio to the smallest size's. Target (issue 16): a change at 1,000 costs at most 1.5x one at 10.
#  * vmsnapd (root; a real libvirtd, qemu:///system, started for the run when none runs):
#    SNAPSHOTS snapshots (default 200; the target's size is 1000) of a shut-off domain with
#    one qcow2 disk, made through vmsnapd on a private bus one `vmsnapctl create` after
#    another, each waiting for its job, as people make them: the total, and the mean
#    Create of the first and the last tenth. Target: 1,000 in under a quarter of the time
#    the build before the change takes, measured beside it (VMSNAP_BENCH_BASELINE).
# Environment:
#  VMSNAP_BENCH_BASELINE=DIR  also measure another build (say, the one before a change) in
#                             the same run: its vmsnapd and vmsnapctl on a domain of its own,
#                             right before or after BUILD_DIR's (the order alternates by
#                             round), and its libvmsnap.so under BUILD_DIR's tree-bench (the
#                             bench uses the public API only, so any build's library serves);
#                             the ratios BUILD_DIR / baseline are printed;
#  VMSNAP_BENCH_ROUNDS=N      measure vmsnapd N times (default 1), each round reported;
#  VMSNAP_BENCH_SHAPES=S      the engine's trees, linear,bushy by default;
#  VMSNAP_BENCH_PARTS=P       engine,bus by default; engine alone needs no root;
#  VMSNAP_BENCH_DIR=DIR       where the engine's trees go (default a new directory in
#                             /var/tmp): the file system counts, see the README.
# Building 1,000 snapshots takes minutes on a loaded 2-core machine (a linear tree about
# 4 minutes through the engine today, a bushy one twice that: each snapshot follows a revert).
set -euo pipefail
build=$(realpath "${1:?usage: bench-tree.sh BUILD_DIR [SIZES [SNAPSHOTS]]}")
sizes=${2:-10,100,300}
count=${3:-200}
rounds=${VMSNAP_BENCH_ROUNDS:-1}
shapes=${VMSNAP_BENCH_SHAPES:-linear,bushy}
parts=${VMSNAP_BENCH_PARTS:-engine,bus}
baseline=${VMSNAP_BENCH_BASELINE:+$(realpath "$VMSNAP_BENCH_BASELINE")}
here=$(dirname "$(realpath "$0")")
ninja -C "$build" bench/tree-bench >/dev/null || { echo "bench-tree: cannot build bench/tree-bench in $build"; exit 1; }

if [[ $parts == *engine* ]]; then
        echo "== engine: $build"
        dir_option=()
        [ -z "${VMSNAP_BENCH_DIR:-}" ] || dir_option=(--dir "$VMSNAP_BENCH_DIR")
        "$build/bench/tree-bench" --sizes "$sizes" --shapes "$shapes" "${dir_option[@]}"
        if [ -n "$baseline" ]; then
                echo
                echo "== engine: baseline $baseline (its libvmsnap.so under this tree-bench)"
                LD_LIBRARY_PATH=$baseline/plugin "$build/bench/tree-bench" --sizes "$sizes" --shapes "$shapes" \
                        "${dir_option[@]}"
        fi
fi
[[ $parts == *bus* ]] || exit 0
if [ "$(id -u)" != 0 ]; then
        echo
        echo "== vmsnapd: skipped (needs root: it starts libvirtd and a private bus)"
        exit 0
fi

. "$here/../tests/libvirtd.sh"
. "$here/../tests/private-bus.sh"
libvirtd_lock
work=$(mktemp -d /var/tmp/vmsnap-bench-tree-XXXXXX)
chmod 755 "$work"
bus_pid=
vmsnapd_pid=
cleanup() {
        for pid in $vmsnapd_pid $bus_pid; do kill "$pid" 2>/dev/null || true; done
        virsh -q -c qemu:///system undefine tree-bus-bench --snapshots-metadata >/dev/null 2>&1 || true
        libvirtd_stop
        rm -rf "$work"
}
trap cleanup EXIT
libvirtd_running || libvirtd_start "$work" || { echo "bench-tree: libvirtd did not start"; exit 1; }

# vmsnapd on a private bus; the caller is root, so polkit is not asked.
private_bus_start "$work" && bus_started=0 || bus_started=$?
bus_pid=$private_bus_pid
[ "$bus_started" = 0 ] || { echo "bench-tree: dbus-daemon did not start (no socket $work/bus)"; exit 1; }
address=$private_bus_address

# make_snapshots LABEL BUILD: a fresh domain and state, BUILD's vmsnapd, COUNT snapshots made
# one vmsnapctl create after another; appends "LABEL total first_tenth_ms last_tenth_ms".
make_snapshots() {
        local label=$1 side=$2 dir=$work/side times
        rm -rf "$dir"
        mkdir -p "$dir"
        qemu-img create -q -f qcow2 "$dir/disk.qcow2" 1M
        virsh -q -c qemu:///system undefine tree-bus-bench --snapshots-metadata >/dev/null 2>&1 || true
        cat >"$dir/domain.xml" <<EOF
<domain type='qemu'><name>tree-bus-bench</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$dir/disk.qcow2'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>
EOF
        virsh -q -c qemu:///system define "$dir/domain.xml" >/dev/null
        "$side/dbus/vmsnapd" --connect qemu:///system --state-dir "$dir/state" --bus-address "$address" &
        vmsnapd_pid=$!
        for _ in $(seq 200); do
                "$side/cli/vmsnapctl" --bus-address "$address" list >/dev/null 2>&1 && break
                sleep 0.05
        done
        times=$dir/times
        : >"$times"
        echo "  $label: making $count snapshots through vmsnapd..."
        for i in $(seq "$count"); do
                local start=$EPOCHREALTIME
                "$side/cli/vmsnapctl" --bus-address "$address" create tree-bus-bench "s$i" >/dev/null 2>"$dir/create.log" ||
                        { cat "$dir/create.log"; exit 1; }
                echo "$start $EPOCHREALTIME" >>"$times"
        done
        kill "$vmsnapd_pid"
        wait "$vmsnapd_pid" || true
        vmsnapd_pid=
        virsh -q -c qemu:///system undefine tree-bus-bench --snapshots-metadata >/dev/null
        python3 - "$label" "$times" <<'PY' | tee -a "$work/results"
import sys
label, path = sys.argv[1:3]
spans = [tuple(map(float, line.split())) for line in open(path)]
tenth = max(1, len(spans) // 10)
each = [(end - start) * 1000 for start, end in spans]
print(f"{label} {spans[-1][1] - spans[0][0]:.1f} {sum(each[:tenth]) / tenth:.1f} {sum(each[-tenth:]) / tenth:.1f}")
PY
}

echo
echo "== vmsnapd: $count snapshots, one vmsnapctl create after another (qemu:///system, private dbus-daemon)"
: >"$work/results"
for round in $(seq "$rounds"); do
        sides=("this $build")
        [ -z "$baseline" ] || sides+=("baseline $baseline")
        # The baseline goes first in even rounds, so that neither side always runs second.
        [ $((round % 2)) = 1 ] || [ ${#sides[@]} = 1 ] || sides=("${sides[1]}" "${sides[0]}")
        for side in "${sides[@]}"; do
                make_snapshots "${side%% *}" "${side#* }"
        done
done
python3 - "$work/results" "$count" <<'PY'
import statistics, sys
path, count = sys.argv[1], int(sys.argv[2])
runs = {}
for line in open(path):
    label, total, first, last = line.split()
    runs.setdefault(label, []).append((float(total), float(first), float(last)))
print(f"\n{'build':<10} {'total (s), each round':<28} {'first tenth':>14} {'last tenth':>14}  (mean Create)")
for label, values in runs.items():
    totals = " ".join(f"{v[0]:.1f}" for v in values)
    print(f"{label:<10} {totals:<28} {statistics.median(v[1] for v in values):11.1f} ms "
          f"{statistics.median(v[2] for v in values):11.1f} ms")
if "baseline" in runs:
    this = statistics.median(v[0] for v in runs["this"])
    base = statistics.median(v[0] for v in runs["baseline"])
    ratio = this / base
    print(f"\n{count} snapshots: this build {this:.1f} s, baseline {base:.1f} s: {ratio:.2f}x "
          f"(target at 1,000: under 0.25x) -> {'met' if ratio < 0.25 else 'NOT met'}")
PY
