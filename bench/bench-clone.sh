#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-clone.sh: the collapse engine (what Clone spends its time on) against the anchors
# of DESIGN.md, measured in the same run on the same chains:
#   vmsnap            collapse-bench: vmsnap_collapse_run() on a pool of CPU-count workers,
#                     qcow2 target, fsync included
#   qemu-img          qemu-img convert -O qcow2 (default options)
#   qemu-img oVirt    qemu-img convert -p -t none -T none -O qcow2 -o compat=1.1, the command
#                     oVirt's vdsm runs to copy a disk (lib/vdsm/storage/qemuimg.py): O_DIRECT
#                     on both sides, so its data is on the disk when it exits
#   qemu-img -C       qemu-img convert -C -O qcow2 (copy offload)
#   limit buffered    dd of an allocated file as large as the chain's data, bs=4M, fdatasync
#   limit direct      the same with O_DIRECT, bs=16M: straight to the device
#                     the machine limit is the faster of the two: the bytes that must be
#                     written, written sequentially (on XFS vmsnap writes only metadata)
# qemu-img converts with cache=unsafe and never flushes; each qemu-img run is shown bare and
# "+flush" (a sync of its target timed right after), which is what vmsnap's time includes.
# Tools alternate within each round, N rounds (default 3), medians reported.
#
# Caches are warm and clean: before every timed command the previous output is deleted,
# dirty pages are flushed (sync), the source images are read once so they sit in the page
# cache, and the machine rests 1 s. With --cold (root), caches are dropped instead.
#
# Cases: one disk (4 GiB virtual, base + 4 overlays, ~2.2 GiB of data), and four disks
# (each 1 GiB virtual, base + 3 overlays) cloned in one vmsnap call against four qemu-img
# runs one after another. On the file system of the build directory, then (as root) on an
# XFS file system with reflink on a loop device.
#
# usage: bench-clone.sh [--rounds N] [--dir DIR] [--build BUILD_DIR] [--cold] [--no-xfs]
set -euo pipefail

source_root=$(cd "$(dirname "$0")/.." && pwd)
build=${VMSNAP_BUILD_ROOT:-$source_root/build}
rounds=3
dir=
cold=0
xfs=1
while [ $# -gt 0 ]; do
        case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --cold) cold=1; shift ;;
        --no-xfs) xfs=0; shift ;;
        *) echo "usage: $0 [--rounds N] [--dir DIR] [--build BUILD_DIR] [--cold] [--no-xfs]" >&2; exit 2 ;;
        esac
done
# Absolute: the chains name their backing files by these paths.
build=$(realpath "$build")
dir=$(realpath -m "${dir:-$build/bench-clone}")

if [ $cold = 1 ] && [ "$(id -u)" != 0 ]; then
        echo "--cold drops the page cache and needs root" >&2
        exit 2
fi

ninja -C "$build" bench/collapse-bench >/dev/null
bench=$build/bench/collapse-bench
mkdir -p "$dir"
results=$dir/results.txt
: >"$results"
log=$dir/last-command.log

# chain_build DIR VSIZE_MIB OVERLAYS SEED: base.qcow2 with every other MiB written, then
# overlays of 64 KiB writes at random places, some zero writes and some discards.
chain_build() {
        local chain_dir=$1 size=$2 overlays=$3 seed=$4
        [ -f "$chain_dir/l$overlays.qcow2" ] && return 0
        mkdir -p "$chain_dir"
        rm -f "$chain_dir"/*.qcow2
        python3 - "$chain_dir" "$size" "$overlays" "$seed" <<'EOF'
import random, subprocess, sys
chain_dir, size, overlays, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
def qemu_io(image, commands):
    p = subprocess.run(["qemu-io", "-f", "qcow2", image], input="\n".join(commands) + "\nquit\n",
                       text=True, capture_output=True)
    if p.returncode != 0:
        sys.exit(p.stderr)
base = f"{chain_dir}/base.qcow2"
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, f"{size}M"], check=True)
qemu_io(base, [f"write -P {rng.randrange(1, 255)} {mib}M 1M" for mib in range(0, size, 2)])
previous = base
for n in range(1, overlays + 1):
    image = f"{chain_dir}/l{n}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", previous, "-F", "qcow2", image], check=True)
    commands = []
    for _ in range(size // 2):
        offset = rng.randrange(0, size * 16) * 65536
        kind = rng.random()
        if kind < 0.9:
            commands.append(f"write -P {rng.randrange(1, 255)} {offset} 64k")
        elif kind < 0.95:
            commands.append(f"write -z {offset} 64k")
        else:
            commands.append(f"discard {offset} 64k")
    qemu_io(image, commands)
    previous = image
EOF
}

# Before each timed command: no output left, nothing dirty, sources cached (or nothing cached).
prepare() { # sources...
        rm -f "$work"/out*
        sync
        if [ $cold = 1 ]; then
                echo 3 >/proc/sys/vm/drop_caches
        else
                cat "$@" >/dev/null
        fi
        sleep 1
}

# timed FS CASE TOOL command...: runs the command, appends its wall time to the results.
timed() {
        local fs=$1 case=$2 tool=$3 start end
        shift 3
        start=$EPOCHREALTIME
        if ! "$@" >"$log" 2>&1; then
                echo "failed: $*" >&2
                cat "$log" >&2
                exit 1
        fi
        end=$EPOCHREALTIME
        echo "$fs|$case|$tool|$(python3 -c "print(f'{$end - $start:.3f}')")" >>"$results"
        last_seconds=$(python3 -c "print(f'{$end - $start:.3f}')")
}

flush() { # files...
        sync -f "$@"
}

# One disk: every tool, alternating, $rounds rounds.
bench_one_disk() { # FS CHAIN_DIR
        local fs=$1 chain=$2 top=$2/l4.qcow2 bytes
        work=$chain/work
        mkdir -p "$work"
        local sources=("$chain"/*.qcow2)

        # The data the chain holds, for the machine limit: an allocated file of that size.
        prepare "${sources[@]}"
        "$bench" "$top" "$work/out.qcow2" >"$log"
        bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$log")
        qemu-img compare -q "$top" "$work/out.qcow2"
        qemu-img check -q "$work/out.qcow2"
        if [ ! -f "$chain/limit.src" ] || [ "$(stat -c %s "$chain/limit.src")" != "$bytes" ]; then
                head -c "$bytes" /dev/zero >"$chain/limit.src"
        fi
        echo "$fs: one disk, $(python3 -c "print(f'{$bytes / 2**30:.2f}')") GiB of data in $(ls "$chain"/*.qcow2 | wc -l) images" >&2

        for round in $(seq "$rounds"); do
                prepare "${sources[@]}"
                timed "$fs" "1 disk" "vmsnap" "$bench" "$top" "$work/out.qcow2"
                echo "$fs|1 disk|vmsnap peak RSS KiB|$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' "$log")" >>"$results"

                prepare "${sources[@]}"
                timed "$fs" "1 disk" "qemu-img" qemu-img convert -O qcow2 "$top" "$work/out.qcow2"
                local bare=$last_seconds
                timed "$fs" "1 disk" "qemu-img flush only" flush "$work/out.qcow2"
                echo "$fs|1 disk|qemu-img +flush|$(python3 -c "print(f'{$bare + $last_seconds:.3f}')")" >>"$results"

                prepare "${sources[@]}"
                timed "$fs" "1 disk" "qemu-img oVirt" qemu-img convert -p -t none -T none -O qcow2 -o compat=1.1 \
                        "$top" "$work/out.qcow2"

                prepare "${sources[@]}"
                timed "$fs" "1 disk" "qemu-img -C" qemu-img convert -C -O qcow2 "$top" "$work/out.qcow2"
                bare=$last_seconds
                timed "$fs" "1 disk" "qemu-img -C flush only" flush "$work/out.qcow2"
                echo "$fs|1 disk|qemu-img -C +flush|$(python3 -c "print(f'{$bare + $last_seconds:.3f}')")" >>"$results"

                prepare "$chain/limit.src"
                timed "$fs" "1 disk" "limit buffered" dd if="$chain/limit.src" of="$work/out.limit" bs=4M conv=fdatasync status=none
                prepare "$chain/limit.src"
                timed "$fs" "1 disk" "limit direct" dd if="$chain/limit.src" of="$work/out.limit" bs=16M oflag=direct conv=fdatasync status=none
        done
        rm -f "$work"/out*
}

# Four disks: one vmsnap call with four items, against four qemu-img runs one after another.
bench_four_disks() { # FS SET_DIR
        local fs=$1 set=$2
        work=$set/work
        mkdir -p "$work"
        local sources=("$set"/d*/*.qcow2) pairs=()
        for d in 1 2 3 4; do
                pairs+=("$set/d$d/l3.qcow2" "$work/out$d.qcow2")
        done

        for round in $(seq "$rounds"); do
                prepare "${sources[@]}"
                timed "$fs" "4 disks" "vmsnap" "$bench" "${pairs[@]}"

                prepare "${sources[@]}"
                local start=$EPOCHREALTIME
                for d in 1 2 3 4; do
                        qemu-img convert -O qcow2 "$set/d$d/l3.qcow2" "$work/out$d.qcow2"
                done
                local converted=$EPOCHREALTIME
                sync -f "$work"/out*.qcow2
                local end=$EPOCHREALTIME
                echo "$fs|4 disks|qemu-img x4|$(python3 -c "print(f'{$converted - $start:.3f}')")" >>"$results"
                echo "$fs|4 disks|qemu-img x4 +flush|$(python3 -c "print(f'{$end - $start:.3f}')")" >>"$results"

                prepare "${sources[@]}"
                start=$EPOCHREALTIME
                for d in 1 2 3 4; do
                        qemu-img convert -p -t none -T none -O qcow2 -o compat=1.1 \
                                "$set/d$d/l3.qcow2" "$work/out$d.qcow2" >/dev/null
                done
                end=$EPOCHREALTIME
                echo "$fs|4 disks|qemu-img oVirt x4|$(python3 -c "print(f'{$end - $start:.3f}')")" >>"$results"
        done
        for d in 1 2 3 4; do
                "$bench" "$set/d$d/l3.qcow2" "$work/check$d.qcow2" >/dev/null
                qemu-img compare -q "$set/d$d/l3.qcow2" "$work/check$d.qcow2"
        done
        rm -f "$work"/out* "$work"/check*
}

build_sets() { # ROOT
        chain_build "$1/chain" 4096 4 7
        for d in 1 2 3 4; do
                chain_build "$1/set/d$d" 1024 3 $((10 + d))
        done
}

fs_name() {
        findmnt -n -o FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"
}

echo "building chains in $dir (kept for the next run)" >&2
build_sets "$dir"
main_fs=$(fs_name "$dir")
bench_one_disk "$main_fs" "$dir/chain"
bench_four_disks "$main_fs" "$dir/set"

xfs_note=
if [ $xfs = 0 ]; then
        xfs_note="XFS: not run (--no-xfs)"
elif [ "$(id -u)" != 0 ]; then
        xfs_note="XFS: skipped: mounting a loop device needs root"
elif ! command -v mkfs.xfs >/dev/null; then
        xfs_note="XFS: skipped: mkfs.xfs is not installed (xfsprogs)"
else
        mnt=$dir/xfs
        mkdir -p "$mnt"
        mountpoint -q "$mnt" && umount "$mnt"
        rm -f "$dir/xfs.img"
        truncate -s 16G "$dir/xfs.img"
        if mkfs.xfs -q -m reflink=1 "$dir/xfs.img" && mount -o loop "$dir/xfs.img" "$mnt"; then
                trap 'umount "$mnt" 2>/dev/null; rm -f "$dir/xfs.img"' EXIT
                echo "copying the chains onto XFS" >&2
                mkdir -p "$mnt/chain" "$mnt/set"
                cp -a "$dir/chain/"*.qcow2 "$mnt/chain/"
                for d in 1 2 3 4; do
                        mkdir -p "$mnt/set/d$d"
                        cp -a "$dir/set/d$d/"*.qcow2 "$mnt/set/d$d/"
                done
                # The overlays name their backing files by absolute path; point them at the copies.
                for image in "$mnt/chain"/l*.qcow2 "$mnt/set"/d*/l*.qcow2; do
                        n=$(basename "$image" .qcow2)
                        n=${n#l}
                        backing=$([ "$n" = 1 ] && echo base.qcow2 || echo "l$((n - 1)).qcow2")
                        qemu-img rebase -u -f qcow2 -b "$backing" -F qcow2 "$image"
                done
                bench_one_disk xfs "$mnt/chain"
                bench_four_disks xfs "$mnt/set"
        else
                xfs_note="XFS: skipped: mkfs.xfs or mount -o loop failed"
        fi
fi

python3 - "$results" "$rounds" "$cold" "$xfs_note" <<'EOF'
import statistics, sys, os
path, rounds, cold, xfs_note = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
runs = {}
for line in open(path):
    fs, case, tool, value = line.rstrip("\n").split("|")
    runs.setdefault((fs, case), {}).setdefault(tool, []).append(float(value))

print()
print(f"collapse benchmark: {os.cpu_count()} CPUs, {rounds} rounds, medians; caches {'dropped' if cold else 'warm and clean'} before each command")
print(f"{'file system':<12} {'case':<8} {'tool':<22} {'median':>9}   runs")
for (fs, case), tools in runs.items():
    for tool, values in tools.items():
        if "flush only" in tool:
            continue
        unit = " KiB" if "KiB" in tool else " s"
        shown = " ".join(f"{v:g}" for v in values)
        print(f"{fs:<12} {case:<8} {tool:<22} {statistics.median(values):>8.3f}{unit}  {shown}")
print()
print("ratios (median over median; > 1 means vmsnap is faster; +flush: qemu-img's time with a sync of its target)")
for (fs, case), tools in runs.items():
    v = statistics.median(tools["vmsnap"])
    for anchor in ("qemu-img", "qemu-img +flush", "qemu-img oVirt", "qemu-img -C", "qemu-img -C +flush",
                   "qemu-img x4", "qemu-img x4 +flush", "qemu-img oVirt x4"):
        if anchor in tools:
            print(f"{fs:<12} {case:<8} {anchor + ' / vmsnap':<30} {statistics.median(tools[anchor]) / v:6.2f}x")
    limits = [statistics.median(values) for tool, values in tools.items() if tool.startswith("limit")]
    if limits:
        print(f"{fs:<12} {case:<8} {'vmsnap / machine limit':<30} {v / min(limits):6.2f}x   (< 1: faster than writing the bytes)")
if xfs_note:
    print(xfs_note)
EOF
