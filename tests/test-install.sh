#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-install.sh BUILD_DIR: installs the build into a temporary DESTDIR and
# checks that the tree is a working system service (library, daemon, bus
# policy and activation, interface XML, polkit actions, systemd unit,
# tmpfiles, libvirt hook, man pages, Cockpit page, vmsnapctl and its
# completion). Speaks TAP.
set -u

build=${1:?usage: test-install.sh BUILD_DIR}
source=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

echo "1..24"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -z "${2:-}" ] || echo "$2" | sed 's/^/# /'; }
# check NAME CMD...: one test case from a command's exit status; its output
# becomes TAP diagnostics on failure.
check() {
        name=$1; shift
        if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(echo "$out" | tail -n 20)"; fi
}

# Where meson puts things: relative directory options hang off the prefix.
option() {
        meson introspect --buildoptions "$build" |
                python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(option prefix)
dir() { case $1 in /*) echo "$dest$1" ;; *) echo "$dest$prefix/$1" ;; esac; }
bindir=$(dir "$(option bindir)")
libdir=$(dir "$(option libdir)")
includedir=$(dir "$(option includedir)")
datadir=$(dir "$(option datadir)")

check "meson install --destdir succeeds" meson install -C "$build" --destdir "$dest" --no-rebuild --quiet

check "libvmsnap.so.0 is installed" test -f "$libdir/libvmsnap.so.0"
check "libvmsnap.so links to the shared object" test -e "$libdir/libvmsnap.so" -a -L "$libdir/libvmsnap.so"
check "libvmsnap.pc is installed and resolves" \
        env PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists --print-errors libvmsnap
check "vmsnap/vmsnap.h is installed" test -f "$includedir/vmsnap/vmsnap.h"

if [ -x "$bindir/vmsnapd" ]; then
        ok "vmsnapd is installed"
else
        not_ok "vmsnapd is installed" "no executable $bindir/vmsnapd: the daemon (dbus/meson.build) is not built or not installed"
fi

check "vmsnapctl is installed and runs" sh -c '"$1/vmsnapctl" --version | grep -q "^vmsnapctl "' - "$bindir"
mandir=$(dir "$(option mandir)")
check "man pages vmsnapctl(1) and vmsnapd(8) are installed and render without warnings" sh -c '
        for page in "$1/man1/vmsnapctl.1" "$1/man8/vmsnapd.8"; do
                test -f "$page" || { echo "missing $page"; exit 1; }
                if command -v man >/dev/null; then
                        out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) && [ -z "$out" ] ||
                                { echo "$page: $out"; exit 1; }
                fi
        done' - "$mandir"
check "bash completion is installed as completions/vmsnapctl and registers itself" sh -c '
        file=$(find "$1" -path "*/bash-completion/completions/vmsnapctl" | head -n 1)
        test -n "$file" && bash --norc -c ". \"\$1\" && complete -p vmsnapctl" - "$file"' - "$dest"

check "bus policy is installed and well-formed" \
        xmllint --noout "$datadir/dbus-1/system.d/org.example.Snapshots.conf"

activation=$datadir/dbus-1/system-services/org.example.Snapshots.service
check "activation file names the bus name, the daemon and the unit" sh -c '
        grep -qx "Name=org.example.Snapshots" "$1" &&
        grep -qx "Exec=$2/vmsnapd" "$1" &&
        grep -qx "SystemdService=vmsnapd.service" "$1"' - "$activation" "${bindir#"$dest"}"

check "interface XML is installed and well-formed" sh -c '
        test -f "$1" || { echo "missing $1 (installed by dbus/meson.build)"; exit 1; }
        xmllint --noout "$1"' - "$datadir/dbus-1/interfaces/org.example.Snapshots.xml"

policy=$datadir/polkit-1/actions/org.example.snapshots.policy
dtd=/usr/share/polkit-1/policyconfig-1.dtd
if [ -f "$dtd" ]; then
        check "polkit policy is valid against polkit's DTD" xmllint --noout --dtdvalid "$dtd" "$policy"
else
        check "polkit policy is well-formed (no polkit DTD here)" xmllint --noout "$policy"
fi
check "polkit policy declares the six actions" sh -c '
        for a in read create preview delete clone manage-jobs; do
                grep -q "<action id=\"org.example.snapshots.$a\">" "$1" || { echo "missing $a"; exit 1; }
        done' - "$policy"

# The unit directory comes from systemd.pc, so look for the unit rather than
# assume /lib or /usr/lib.
unit=$(find "$dest" -path '*/systemd/system/vmsnapd.service' | head -n 1)
check "systemd unit is installed" test -n "$unit"
# systemd-analyze verify wants ExecStart to exist: point it at the DESTDIR
# copy, or at a stand-in while the daemon is missing (reported above).
daemon=$bindir/vmsnapd
if [ ! -x "$daemon" ]; then daemon=$dest/stand-in-vmsnapd; printf '#!/bin/sh\n' >"$daemon"; chmod +x "$daemon"; fi
mkdir -p "$dest/verify"
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "${unit:-/dev/null}" >"$dest/verify/vmsnapd.service"
# verify exits 0 on unknown keys and bad values, so any output is a failure.
check "systemd-analyze verify accepts the unit silently" sh -c '
        out=$(systemd-analyze verify --man=no "$1" 2>&1) && [ -z "$out" ] || { echo "$out"; exit 1; }' \
        - "$dest/verify/vmsnapd.service"
# Guards the sandbox against quiet loosening: 1.6 when written (systemd 252).
check "systemd-analyze security rates the unit 2.0 or better" \
        systemd-analyze security --offline=true --threshold=20 --no-pager "$dest/verify/vmsnapd.service"

# The holds the libvirt hook reads must be writable under the unit's sandbox.
check "the unit gives vmsnapd /run/vmsnap, where the hook reads its holds" sh -c '
        grep -qx "RuntimeDirectory=vmsnap" "$1" &&
        grep -q "^hold_dir=/run/vmsnap/hold$" "$2" &&
        grep -q "define VMSNAP_RUN_DIR \"/run/vmsnap\"" "$3"' - "${unit:-/dev/null}" \
        "$source/packaging/libvirt-hook/vmsnap" "$source/plugin/live.c"

# The hook lives outside /etc: the packages link it into libvirt's qemu.d, so that
# removing them disables it.
check "the libvirt hook is installed as libexecdir/vmsnap/libvirt-hook, executable, and not into /etc" sh -c '
        test -x "$1/vmsnap/libvirt-hook" && ! find "$2" -path "*/hooks/qemu.d/*" | grep -q .' - \
        "$(dir "$(option libexecdir)")" "$dest"
check "vmsnapd(8) is installed" test -f "$(dir "$(option mandir)")/man8/vmsnapd.8"

# Cockpit reads "requires" (an unknown key such as "require" is ignored, silently).
manifest=$(find "$dest" -path '*/cockpit/*/manifest.json' | head -n 1)
check "the Cockpit package is installed as share/cockpit/vmsnap" test "$manifest" = "$datadir/cockpit/vmsnap/manifest.json"
check "the Cockpit manifest is installed and requires Cockpit 287 or later" python3 -c '
import json, sys
manifest = json.load(open(sys.argv[1]))
assert manifest.get("requires") == {"cockpit": "287"}, manifest
assert set(manifest) <= {"version", "requires", "menu", "tools", "dashboard", "content-security-policy"}, manifest
' "${manifest:-/dev/null}"

# Jobs end before systemd's SIGKILL, and an upgrade's SIGHUP restart comes back.
check "the unit lets jobs end before SIGKILL and starts vmsnapd again after its upgrade exit" sh -c '
        stop=$(sed -n "s/^ExecStart=.*--stop-timeout \([0-9]*\).*/\1/p" "$1")
        kill=$(sed -n "s/^TimeoutStopSec=\([0-9]*\)$/\1/p" "$1")
        [ -n "$stop" ] && [ -n "$kill" ] && [ "$stop" -lt "$kill" ] &&
        grep -qx "RestartForceExitStatus=75" "$1" && grep -qx "SuccessExitStatus=75" "$1"' - "${unit:-/dev/null}"

tmpfiles=$(find "$dest" -path '*/tmpfiles.d/vmsnap.conf' | head -n 1)
if [ "$(id -u)" = 0 ] && [ -n "$tmpfiles" ]; then
        # Apply it for real to an empty root: the directory must come out 0700.
        check "tmpfiles creates /var/lib/vmsnap 0700" sh -c '
                systemd-tmpfiles --root="$1" --create "$2" &&
                test "$(stat -c %a "$1/var/lib/vmsnap")" = 700' - "$dest/tmpfiles-root" "$tmpfiles"
else
        check "tmpfiles entry declares /var/lib/vmsnap 0700" \
                grep -q '^d /var/lib/vmsnap 0700 root root' "${tmpfiles:-/dev/null}"
fi
