#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-delete-all.sh: DeleteAll (vmsnap_snapshot_delete_all, through the engine) against the
# way a qemu-img or virsh user gets the same disk, side by side in one run, on the same chain:
# an original image holding most of the data, then LAYERS snapshots taken by vmsnap with
# LAYER_MIB written after each (1 MiB writes at random places, so later layers overwrite
# earlier data), the last ones into the active overlay. Four cases:
#
#   offline, into_original  the disk ends as its original image alone
#     vmsnap           DeleteAll into_original (shut-off domain)
#     commit one       qemu-img commit -d -b ORIGINAL TOP: the whole chain in one pass, the
#                      least qemu-img can write; then the domain is pointed at the original
#                      (virsh define) and the overlays removed
#     commit layers    qemu-img commit -d of each overlay into its backing file, top down, as
#                      people do it by hand (each layer's data is written again by every
#                      commit below it); then define and remove as above
#   offline, default        the disk ends as its original plus one overlay
#     vmsnap           DeleteAll (commits into the lowest overlay, or pulls into the active
#                      one when that writes clearly less)
#     commit one       qemu-img commit -d -b LOWEST TOP: the one qemu-img command that leaves
#                      original + one overlay, then define and remove
#     commit layers    qemu-img commit -d top down, stopping at the lowest overlay
#   live, into_original     the domain runs (TCG, idle in its firmware) on a real libvirtd
#     vmsnap           DeleteAll into_original: an active block commit with pivot
#     blockcommit      virsh blockcommit DOMAIN vda --active --pivot --wait (base: the
#                      original), then the overlays removed
#   live, default
#     vmsnap           DeleteAll: a block commit into the lowest overlay or a block pull
#     blockcommit      virsh blockcommit DOMAIN vda --active --base LOWEST --pivot --wait
#
# The references are the cheapest way each tool reaches the same result ("commit one") and,
# offline, the way it is usually done by hand ("commit layers"); live, one blockcommit is both
# (layer by layer with --top/--base writes every layer once as well, with a job per layer).
#
# Time: wall time of the operation up to the result on disk and in the domain's definition,
# a `sync -f` of the disk's file system included on both sides; vmsnap's is that of the whole
# delete-all-bench process, opening the engine included (the engine call alone, what vmsnapd
# spends with its engine open, is shown beside it), the references' that of every command
# they run (virsh and qemu-img starting included). Bytes written: write_bytes of /proc/PID/io, the bytes
# a process caused to reach the storage layer (a buffered write counts when it dirties a page
# cache page, a direct write when it is submitted). A process's figure includes the children
# it has reaped, so offline it is that of the delete-all-bench process (its qemu-img children
# and vmsnap's metadata writes) and of a subshell running the reference commands; live it is
# the delta of the QEMU process (the block job) plus that of the caller.
# Every measured run is checked: qemu-img compare of vmsnap's resulting disk against each
# reference's, qemu-img check, and the shape (one file, or the original and one overlay).
# Page cache warm and clean before each timed command (sync, the images read, 1 s rest);
# vmsnap runs first in odd rounds and last in even ones.
# To see where vmsnap's time goes, BENCH_WRAPPER prefixes its command, e.g.
# BENCH_WRAPPER="strace -f -tt -o /tmp/delete-all.strace" (its time is then no measurement).
#
# usage: bench-delete-all.sh [--rounds N] [--layers N] [--disk-mib N] [--data-mib N]
#        [--layer-mib N] [--dir DIR] [--build BUILD_DIR] [--offline-only | --live-only]
# Defaults (a quick run): 3 rounds, 20 layers, 1 GiB disk, 128 MiB of data, 2 MiB per layer.
# The issue's size: --disk-mib 4096 --data-mib 1024 --layer-mib 16 (20 layers: 704 MiB in the
# original, 320 MiB over the layers). Needs root (a real libvirtd, as bench-live.sh).
set -euo pipefail

source_root=$(cd "$(dirname "$0")/.." && pwd)
build=${VMSNAP_BUILD_ROOT:-$source_root/build}
rounds=3 layers=20 disk_mib=1024 data_mib=128 layer_mib=2 dir= offline=1 live=1
usage="usage: $0 [--rounds N] [--layers N] [--disk-mib N] [--data-mib N] [--layer-mib N] [--dir DIR] [--build BUILD_DIR] [--offline-only | --live-only]"
while [ $# -gt 0 ]; do
        case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --layers) layers=$2; shift 2 ;;
        --disk-mib) disk_mib=$2; shift 2 ;;
        --data-mib) data_mib=$2; shift 2 ;;
        --layer-mib) layer_mib=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --offline-only) live=0; shift ;;
        --live-only) offline=0; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
        esac
done
original_mib=$((data_mib - layers * layer_mib))
if [ "$original_mib" -lt 1 ] || [ "$data_mib" -gt "$disk_mib" ]; then
        echo "bench-delete-all: --data-mib must exceed layers x --layer-mib and fit the disk" >&2
        exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench-delete-all: needs root (a real libvirtd)" >&2; exit 1; }
build=$(realpath "$build")
dir=$(realpath -m "${dir:-$build/bench-delete-all}")
ninja -C "$build" bench/delete-all-bench >/dev/null
bench=$build/bench/delete-all-bench
uri=qemu:///system

. "$source_root/tests/libvirtd.sh"
libvirtd_lock
mkdir -p "$dir"
chmod 755 "$dir"
v() { virsh -q -c $uri "$@"; }
cleanup() {
        for d in dab-vmsnap dab-ref; do
                v destroy $d >/dev/null 2>&1 || true
                v undefine $d >/dev/null 2>&1 || true
        done
        libvirtd_stop
}
trap cleanup EXIT
libvirtd_running || libvirtd_start "$dir" || { echo "bench-delete-all: libvirtd did not start" >&2; exit 1; }
results=$dir/results.txt
: >"$results"
log=$dir/last-command.log

# define NAME IMAGE: a tiny TCG domain with one qcow2 disk, replacing one of that name.
define() {
        v destroy "$1" >/dev/null 2>&1 || true
        v undefine "$1" >/dev/null 2>&1 || true
        cat >"$dir/$1.xml" <<XML
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$2'/><target dev='vda' bus='virtio'/></disk>
<video><model type='none'/></video><memballoon model='none'/></devices>
<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>
XML
        v define "$dir/$1.xml" >/dev/null
}

source_of() { # DOMAIN [--inactive]: the file behind vda
        v domblklist "$@" | awk '$1 == "vda" {print $2}'
}

# qemu_io_write IMAGE SEED MIB [STRIDE]: MIB writes of 1 MiB, at every STRIDE-th MiB from 0
# when STRIDE is given, else at random MiB offsets; each with its own pattern.
qemu_io_write() {
        python3 - "$@" "$disk_mib" <<'EOF' | qemu-io -f qcow2 "$1" >/dev/null
import random, sys
image, seed, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stride = int(sys.argv[4]) if len(sys.argv) > 5 else 0
disk = int(sys.argv[-1])
rng = random.Random(seed)
for i in range(mib):
    offset = i * stride if stride else rng.randrange(disk)
    print(f"write -P {rng.randrange(1, 255)} {offset}M 1M")
print("quit")
EOF
}

# build_chain CASE_DIR: the original and LAYERS vmsnap snapshots of domain dab-vmsnap, data
# written after each; the list of the chain's files, bottom first, in CASE_DIR/chain.txt.
build_chain() {
        local case_dir=$1 leaf
        rm -rf "$case_dir"
        mkdir -p "$case_dir/vmsnap"
        qemu-img create -q -f qcow2 "$case_dir/vmsnap/disk.qcow2" "${disk_mib}M"
        qemu_io_write "$case_dir/vmsnap/disk.qcow2" 1 "$original_mib" $((disk_mib / original_mib))
        define dab-vmsnap "$case_dir/vmsnap/disk.qcow2"
        for i in $(seq "$layers"); do
                "$bench" $uri "$case_dir/state" dab-vmsnap create
                leaf=$(source_of dab-vmsnap)
                qemu_io_write "$leaf" $((100 + i)) "$layer_mib"
        done
        qemu-img info --backing-chain --output=json "$(source_of dab-vmsnap)" |
                python3 -c 'import json, sys; [print(i["filename"]) for i in reversed(json.load(sys.stdin))]' \
                        >"$case_dir/chain.txt"
}

# copy_chain CASE_DIR NAME: a copy of the chain for a reference, CASE_DIR/NAME/l00.qcow2 (the
# original) up to lLAYERS.qcow2 (the top), each rebased onto the copy below it.
copy_chain() {
        local n=0 copy
        mkdir -p "$1/$2"
        while read -r image; do
                copy=$1/$2/l$(printf %02d $n).qcow2
                cp --sparse=always "$image" "$copy"
                [ $n = 0 ] || qemu-img rebase -u -f qcow2 -b "$1/$2/l$(printf %02d $((n - 1))).qcow2" \
                        -F qcow2 "$copy"
                n=$((n + 1))
        done <"$1/chain.txt"
}

# warm_up CASE_DIR: an untimed qemu-img commit of a throwaway copy of the chain. The first
# commit after a chain is written and copied takes up to twice as long as the next ones,
# whichever side runs it (plain qemu-img commits of three copies, in either order), so
# without it the side that goes first carries that cost.
warm_up() {
        copy_chain "$1" warm
        qemu-img commit -q -f qcow2 -d -b "$1/warm/l00.qcow2" "$1/warm/l$(printf %02d "$layers").qcow2"
        sync -f "$1/warm"
        rm -rf "$1/warm"
}

# Before each timed command: nothing dirty, the images in the page cache, a rest.
prepare() { # CASE_DIR
        sync
        cat "$1"/*/*.qcow2 >/dev/null
        sleep 1
}

qemu_write_bytes() { # DOMAIN
        awk '/^write_bytes/ {print $2}' "/proc/$(cat "/run/libvirt/qemu/$1.pid")/io"
}

# run_vmsnap STATE MODE CASE_DIR: DeleteAll, appends "state|mode|vmsnap|seconds|bytes".
run_vmsnap() {
        local state=$1 mode=$2 case_dir=$3 qemu_before=0 qemu_after=0 start seconds bytes
        [ "$state" = live ] && qemu_before=$(qemu_write_bytes dab-vmsnap)
        start=$EPOCHREALTIME
        ${BENCH_WRAPPER:-} "$bench" $uri "$case_dir/state" dab-vmsnap delete-all $([ "$mode" = into_original ] && echo into_original) \
                >"$log" 2>"$case_dir/vmsnap-trace.txt" || { cat "$case_dir/vmsnap-trace.txt" >&2; exit 1; }
        sync -f "$case_dir/vmsnap"
        seconds=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.3f}')")
        [ "$state" = live ] && qemu_after=$(qemu_write_bytes dab-vmsnap)
        bytes=$(sed -n 's/.*write_bytes=\([0-9]*\).*/\1/p' "$log")
        echo "$state|$mode|vmsnap|$seconds|$((bytes + qemu_after - qemu_before))" >>"$results"
        # Which way the default mode went: the result is the top overlay (a pull into it) or the
        # lowest (a commit into it).
        local result how=commit
        result=$(source_of dab-vmsnap --inactive)
        [ "$result" = "$(tail -n 1 "$case_dir/chain.txt")" ] && how=pull
        [ "$mode" = default ] || how="commit into the original"
        echo "  vmsnap       ${seconds} s, $((bytes + qemu_after - qemu_before)) bytes (engine call $(sed -n 's/seconds=\([0-9.]*\).*/\1/p' "$log") s, $how)" >&2
}

# run_reference STATE MODE TOOL CASE_DIR COMMANDS: runs the shell commands in a subshell that
# reports what it and its children wrote; appends "state|mode|TOOL|seconds|bytes".
run_reference() {
        local state=$1 mode=$2 tool=$3 case_dir=$4 commands=$5 qemu_before=0 qemu_after=0 start seconds bytes
        [ "$state" = live ] && qemu_before=$(qemu_write_bytes dab-ref)
        start=$EPOCHREALTIME
        bytes=$( (eval "$commands" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
                sync -f "$case_dir/vmsnap"
                awk '/^write_bytes/ {print $2}' /proc/$BASHPID/io))
        seconds=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.3f}')")
        [ "$state" = live ] && qemu_after=$(qemu_write_bytes dab-ref)
        echo "$state|$mode|$tool|$seconds|$((bytes + qemu_after - qemu_before))" >>"$results"
        echo "  $(printf '%-12s' "$tool") ${seconds} s, $((bytes + qemu_after - qemu_before)) bytes" >&2
}

# repoint DOMAIN IMAGE: the domain's persistent definition reads IMAGE, as `virsh edit` does.
repoint() {
        v dumpxml --inactive "$1" | sed "s|<source file='[^']*'|<source file='$2'|" >"$dir/repoint.xml"
        v define "$dir/repoint.xml" >/dev/null
}

# check_result MODE CASE_DIR RESULT_OF_REFERENCE: vmsnap's disk reads what the reference's
# does, is sound, and has the shape the mode promises.
check_result() {
        local mode=$1 case_dir=$2 reference=$3 result backing original
        result=$(source_of dab-vmsnap --inactive)
        original=$case_dir/vmsnap/disk.qcow2
        qemu-img compare -q -U "$result" "$reference" ||
                { echo "bench-delete-all: vmsnap's $result differs from $reference" >&2; exit 1; }
        qemu-img check -q -U "$result"
        backing=$(qemu-img info -U --output=json "$result" | python3 -c \
                'import json, sys; print(json.load(sys.stdin).get("full-backing-filename", ""))')
        if [ "$mode" = into_original ]; then
                [ "$result" = "$original" ] && [ -z "$backing" ] ||
                        { echo "bench-delete-all: into_original left $result on '$backing'" >&2; exit 1; }
        else
                [ "$(realpath "$backing")" = "$original" ] ||
                        { echo "bench-delete-all: $result is not one overlay on $original" >&2; exit 1; }
        fi
}

overlays() { # REF_DIR FIRST: the reference's overlays from lFIRST up, as one string
        seq -f "$1/l%02g.qcow2" "$2" "$layers" | tr '\n' ' '
}

# One chain, vmsnap and each reference on its own copy of it. vmsnap goes first in odd
# rounds and last in even ones, so that neither side always meets what the other left
# behind (the page cache, writeback, the file system's free-space layout).
bench_offline() { # MODE CASE_DIR
        local mode=$1 case_dir=$2 keep side
        [ "$mode" = into_original ] && keep=0 || keep=1
        build_chain "$case_dir"
        copy_chain "$case_dir" one
        copy_chain "$case_dir" layers
        warm_up "$case_dir"
        echo "offline $mode (round $round):" >&2
        for side in $(side_order vmsnap one layers); do
                prepare "$case_dir"
                if [ "$side" = vmsnap ]; then
                        run_vmsnap offline "$mode" "$case_dir"
                        cp "$case_dir/vmsnap-trace.txt" "$dir/trace-offline-$mode.txt"
                else
                        run_offline_reference "$mode" "$case_dir" "$side" "$keep"
                fi
        done
        for side in one layers; do
                check_result "$mode" "$case_dir" "$case_dir/$side/l0$keep.qcow2"
        done
}

# side_order VMSNAP REFERENCE...: the sides in this round's order.
side_order() {
        if [ $((round % 2)) = 1 ]; then echo "$@"; else echo "${@:2}" "$1"; fi
}

run_offline_reference() { # MODE CASE_DIR one|layers KEEP
        local mode=$1 case_dir=$2 tool=$3 keep=$4 ref base commands
        ref=$case_dir/$tool
        base=$ref/l0$keep.qcow2
        define dab-ref "$ref/l$(printf %02d "$layers").qcow2"
        if [ "$tool" = one ]; then
                commands="qemu-img commit -q -f qcow2 -d -b $base $ref/l$(printf %02d "$layers").qcow2"
        else
                commands="for k in \$(seq $layers -1 $((keep + 1))); do
                        qemu-img commit -q -f qcow2 -d $ref/l\$(printf %02d \$k).qcow2; done"
        fi
        run_reference offline "$mode" "commit $tool" "$case_dir" \
                "$commands; repoint dab-ref $base; rm -f $(overlays "$ref" $((keep + 1)))"
        [ "$(source_of dab-ref --inactive)" = "$base" ] || { echo "dab-ref not on $base" >&2; exit 1; }
}

bench_live() { # MODE CASE_DIR
        local mode=$1 case_dir=$2 base keep
        [ "$mode" = into_original ] && keep=0 || keep=1
        build_chain "$case_dir"
        copy_chain "$case_dir" ref
        warm_up "$case_dir"
        base=$case_dir/ref/l0$keep.qcow2
        define dab-ref "$case_dir/ref/l$(printf %02d "$layers").qcow2"
        v start dab-vmsnap >/dev/null
        v start dab-ref >/dev/null
        echo "live $mode (round $round):" >&2
        for side in $(side_order vmsnap ref); do
                prepare "$case_dir"
                if [ "$side" = vmsnap ]; then
                        run_vmsnap live "$mode" "$case_dir"
                        cp "$case_dir/vmsnap-trace.txt" "$dir/trace-live-$mode.txt"
                else
                        run_reference live "$mode" blockcommit "$case_dir" \
                                "v blockcommit dab-ref vda --active --pivot --wait $([ $keep = 1 ] && echo "--base $base"); rm -f $(overlays "$case_dir/ref" $((keep + 1)))"
                fi
        done
        v destroy dab-vmsnap >/dev/null
        v destroy dab-ref >/dev/null
        [ "$(source_of dab-ref --inactive)" = "$base" ] || { echo "dab-ref not on $base" >&2; exit 1; }
        check_result "$mode" "$case_dir" "$base"
}

echo "chain: $layers snapshots on a ${disk_mib} MiB disk, ${data_mib} MiB of data (${original_mib} MiB in the original, ${layer_mib} MiB after each snapshot); in $dir" >&2
for round in $(seq "$rounds"); do
        for mode in default into_original; do
                [ $offline = 0 ] || bench_offline $mode "$dir/case"
                [ $live = 0 ] || bench_live $mode "$dir/case"
        done
done
rm -rf "$dir/case"

python3 - "$results" "$rounds" "$layers" "$disk_mib" "$data_mib" "$layer_mib" <<'EOF'
import os, statistics, sys
path, rounds, layers, disk, data, layer = sys.argv[1:7]
runs = {}
for line in open(path):
    state, mode, tool, seconds, written = line.rstrip("\n").split("|")
    runs.setdefault((state, mode), {}).setdefault(tool, []).append((float(seconds), int(written)))
print()
print(f"DeleteAll benchmark: {os.cpu_count()} CPUs, {rounds} rounds, medians; {layers} snapshots, "
      f"{disk} MiB disk, {data} MiB of data ({layer} MiB after each snapshot)")
print("bytes: write_bytes of /proc/PID/io (offline: the process and its reaped qemu-img children; "
      "live: the QEMU process's delta plus the caller's)")
print(f"{'case':<24} {'tool':<14} {'time':>9} {'written':>11}   runs (s)")
mib = lambda b: f"{b / 2**20:8.1f} MiB"
for (state, mode), tools in runs.items():
    for tool, values in tools.items():
        t = statistics.median(v[0] for v in values)
        b = statistics.median(v[1] for v in values)
        print(f"{state + ' ' + mode:<24} {tool:<14} {t:8.3f}s {mib(b)}   " + " ".join(f"{v[0]:g}" for v in values))
print()
print("ratios vmsnap / reference (median over median; < 1: vmsnap is faster or writes less)")
for (state, mode), tools in runs.items():
    vt = statistics.median(v[0] for v in tools["vmsnap"])
    vb = statistics.median(v[1] for v in tools["vmsnap"])
    for tool, values in tools.items():
        if tool == "vmsnap":
            continue
        rt = statistics.median(v[0] for v in values)
        rb = statistics.median(v[1] for v in values)
        print(f"{state + ' ' + mode:<24} vmsnap / {tool:<14} time {vt / rt:5.2f}   bytes {vb / rb if rb else float('nan'):5.2f}")
EOF
