#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzz.sh [SECONDS]: a bounded libFuzzer run of tests/fuzz-qcow2.c (the qcow2 header
# check and cluster reader). Builds the target with clang in a build directory of its own
# (-Dfuzzing=true), makes a small seed corpus with qemu-img and qemu-io, and fuzzes for
# SECONDS (default 60). TAP on stdout; skips, saying why, when clang's libFuzzer or qemu-img
# is missing (Debian: apt-get install clang libclang-rt-14-dev qemu-utils).
set -uo pipefail

seconds=${1:-60}
source_root=${VMSNAP_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
build_root=${VMSNAP_BUILD_ROOT:-$source_root/build}

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

command -v clang >/dev/null || skip "clang is not installed"
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || skip "qemu-img and qemu-io are not installed"

work=$(mktemp -d "${TMPDIR:-/var/tmp}/vmsnap-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# Does this clang link a libFuzzer target at all?
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long s) { return 0; }\n' >"$work/probe.c"
clang -fsanitize=fuzzer,address "$work/probe.c" -o "$work/probe" 2>/dev/null ||
        skip "clang cannot link with -fsanitize=fuzzer (the libFuzzer runtime, libclang-rt-14-dev, is missing)"

echo "1..2"

fuzz_build=$build_root/fuzz-build
if [ -f "$fuzz_build/build.ninja" ]; then
        setup=(meson setup --reconfigure "$fuzz_build" "$source_root" -Dfuzzing=true)
else
        setup=(env CC=clang meson setup "$fuzz_build" "$source_root" -Dfuzzing=true -Dbuildtype=debugoptimized)
fi
if ! "${setup[@]}" >"$work/setup.log" 2>&1 || ! ninja -C "$fuzz_build" tests/fuzz-qcow2 >"$work/build.log" 2>&1; then
        echo "not ok 1 - build fuzz-qcow2 with clang"
        tail -n 20 "$work/setup.log" "$work/build.log" 2>/dev/null | sed 's/^/# /'
        echo "not ok 2 - fuzz qcow2 for $seconds s # SKIP not built"
        exit 1
fi
echo "ok 1 - build fuzz-qcow2 with clang"

# Seeds: small images of every kind the reader knows (512-byte clusters keep them tiny).
seeds=$work/seeds
corpus=$work/corpus
mkdir -p "$seeds" "$corpus"
make_seed() { # name options size qemu-io-commands...
        local name=$1 options=$2 size=$3
        shift 3
        qemu-img create -q -f qcow2 -o "$options" "$seeds/$name" "$size" || return 1
        local args=()
        for command in "$@"; do
                args+=(-c "$command")
        done
        [ ${#args[@]} -eq 0 ] || qemu-io -f qcow2 "${args[@]}" "$seeds/$name" >/dev/null
}
make_seed plain.qcow2 cluster_size=512 64k 'write -P 1 0 4k' 'write -z 8k 2k' 'write -P 2 30000 700' &&
        make_seed zlib.qcow2 cluster_size=512 64k 'write -c -P 3 0 1k' 'write -c -P 4 4k 512' &&
        make_seed zstd.qcow2 cluster_size=512,compression_type=zstd 64k 'write -c -P 5 0 1k' &&
        make_seed v2.qcow2 cluster_size=512,compat=0.10 64k 'write -P 6 512 2k' &&
        make_seed subclusters.qcow2 cluster_size=16384,extended_l2=on 128k 'write -P 7 0 1k' 'write -z 4k 2k' &&
        make_seed big-clusters.qcow2 cluster_size=65536 1M 'write -P 8 64k 4k' &&
        make_seed backing.qcow2 cluster_size=512,backing_file=plain.qcow2,backing_fmt=qcow2 64k 'write -P 9 0 512' ||
        {
                echo "not ok 2 - fuzz qcow2 for $seconds s # SKIP qemu-img could not make the seed corpus"
                exit 0
        }

if "$fuzz_build/tests/fuzz-qcow2" -max_total_time="$seconds" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" -print_final_stats=1 "$corpus" "$seeds" >"$work/fuzz.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
        echo "ok 2 - fuzz qcow2 for $seconds s without a crash (${runs:-?} inputs)"
        exit 0
fi

echo "not ok 2 - fuzz qcow2 for $seconds s"
grep -m1 -A40 -E '^==[0-9]+==|runtime error|deadly signal|timeout' "$work/fuzz.log" | sed 's/^/# /'
for artifact in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
        [ -f "$artifact" ] || continue
        kept=$build_root/$(basename "$artifact")
        cp "$artifact" "$kept" && echo "# input kept as $kept"
done
exit 1
