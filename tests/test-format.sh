#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-format.sh: every C source and header of the tree is as .clang-format
# lays it out, so that layout never drifts again. The files are git's tracked
# files in a checkout, every file of the tree otherwise (a release tarball, a
# package build), less meson build directories whatever their names: a
# directory with a meson-private/ (their generated files are not ours). Speaks TAP: one case per top-level folder of C code, the files
# that differ as diagnostics; skipped (with the reason) without clang-format.
set -u
source=$(cd "$(dirname "$0")/.." && pwd)
cd "$source" || exit 1

if ! command -v clang-format >/dev/null 2>&1; then
        echo "1..0 # SKIP clang-format is not installed"
        exit 0
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files '*.c' '*.h')
else
        build_dirs=$(find . -path ./.git -prune -o -type d -name meson-private -print | sed 's|/meson-private$||')
        files=$(find . -path ./.git -prune -o -path ./debian -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print |
                awk -v dirs="$build_dirs" '
                        BEGIN { count = split(dirs, build, "\n") }
                        { for (i = 1; i <= count; i++) if (index($0, build[i] "/") == 1) next; print }' |
                sed 's|^\./||')
fi

folders="plugin dbus cli tests bench"
echo "1..$(echo $folders | wc -w)"
n=0
for folder in $folders; do
        n=$((n + 1))
        drifted=
        count=0
        for file in $files; do
                case $file in "$folder"/*) ;; *) continue ;; esac
                [ -f "$file" ] || continue
                count=$((count + 1))
                clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || drifted="$drifted $file"
        done
        if [ -z "$drifted" ]; then
                echo "ok $n - the $count C files of $folder/ are laid out as .clang-format says"
        else
                echo "not ok $n - files of $folder/ differ from .clang-format (clang-format -i fixes them):"
                for file in $drifted; do
                        echo "# $file"
                done
        fi
done
