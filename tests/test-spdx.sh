#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-spdx.sh: every source file (C, headers, JavaScript, CSS, HTML, Python,
# shell and other scripts, meson files) names its license with an
# SPDX-License-Identifier line among its first three lines, so that a file
# added later cannot miss it. The files are git's tracked files in a checkout,
# every file of the tree otherwise (a release tarball, a package build), less
# meson build directories, whatever their names (build*, Fedora's
# redhat-linux-build, obj-* of debhelper): a directory with a meson-private/.
# Speaks TAP: one case per file kind, the files without the line as diagnostics.
set -u
source=$(cd "$(dirname "$0")/.." && pwd)
cd "$source" || exit 1

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files)
else
        build_dirs=$(find . -path ./.git -prune -o -type d -name meson-private -print | sed 's|/meson-private$||')
        files=$(find . -path ./.git -prune -o -path ./debian -prune -o -type f -print |
                awk -v dirs="$build_dirs" '
                        BEGIN { count = split(dirs, build, "\n") }
                        { for (i = 1; i <= count; i++) if (index($0, build[i] "/") == 1) next; print }' |
                sed 's|^\./||')
fi

missing_c= missing_web= missing_script= missing_meson=
count_c=0 count_web=0 count_script=0 count_meson=0
for file in $files; do
        [ -f "$file" ] || continue
        case $file in
        *.c | *.h) kind=c ;;
        *.js | *.css | *.html) kind=web ;;
        meson.build | */meson.build | meson_options.txt) kind=meson ;;
        *.py | *.sh) kind=script ;;
        *)
                head -c 2 "$file" | grep -q '^#!' || continue
                kind=script
                ;;
        esac
        eval "count_$kind=\$((count_$kind + 1))"
        if ! head -n 3 "$file" | grep -q 'SPDX-License-Identifier: [A-Za-z0-9.+ -]*[A-Za-z0-9+]'; then
                eval "missing_$kind=\"\$missing_$kind \$file\""
        fi
done

echo "1..4"
n=0
report() { # report KIND WHAT COUNT MISSING
        n=$((n + 1))
        if [ "$3" -gt 0 ] && [ -z "$4" ]; then
                echo "ok $n - every $2 ($3 files) has an SPDX-License-Identifier line"
        else
                echo "not ok $n - every $2 ($3 files) has an SPDX-License-Identifier line"
                for file in $4; do echo "# no SPDX-License-Identifier in the first 3 lines: $file"; done
                [ "$3" -gt 0 ] || echo "# no such file found under $source"
        fi
}
report c "C source and header" "$count_c" "$missing_c"
report web "JavaScript, CSS and HTML file" "$count_web" "$missing_web"
report script "Python, shell or other script" "$count_script" "$missing_script"
report meson "meson file" "$count_meson" "$missing_meson"
