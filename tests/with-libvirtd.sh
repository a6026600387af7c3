#!/bin/bash
# with-libvirtd.sh PROGRAM [ARGS...]: runs a test program against a real libvirtd
# (qemu:///system). Starts virtlogd and libvirtd for the run when none is running and
# stops them afterwards; reports the test as skipped (TAP) where that is impossible.
set -u

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

[ "$(id -u)" = 0 ] || skip "starting libvirtd needs root"
command -v libvirtd >/dev/null || skip "libvirtd is not installed (apt-get install libvirt-daemon-system)"
command -v virtlogd >/dev/null || skip "virtlogd is not installed"

# One real libvirtd at a time: test runs of several build trees (and the benchmarks)
# take turns instead of stopping each other's daemon.
exec 9>/run/lock/vmsnap-libvirtd.lock
flock 9

work=$(mktemp -d /tmp/vmsnap-libvirtd-XXXXXX)
started=()
cleanup() {
        for pidfile in "${started[@]}"; do
                [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
        done
        for _ in $(seq 100); do
                [ -e /run/libvirt/libvirt-sock ] || [ -e /run/libvirt/virtlogd-sock ] || break
                [ ${#started[@]} -eq 0 ] && break
                sleep 0.1
        done
        [ -n "$hook_installed" ] && rm -f "$hook_installed"
        rm -rf "$work"
}
hook_installed=
trap cleanup EXIT

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
        if [ ! -S /run/libvirt/virtlogd-sock ]; then
                virtlogd -d --pid-file "$work/virtlogd.pid" || skip "virtlogd did not start"
                started+=("$work/virtlogd.pid")
        fi
        # libvirtd finds hooks only when it starts: vmsnap's hook (tests/test-live.c) is
        # installed for the run unless one is there already.
        hook=/etc/libvirt/hooks/qemu.d/vmsnap
        if [ -n "${VMSNAP_SOURCE_ROOT:-}" ] && [ ! -e "$hook" ] && mkdir -p "${hook%/*}" &&
                install -m 0755 "$VMSNAP_SOURCE_ROOT/packaging/libvirt-hook/vmsnap" "$hook"; then
                hook_installed=$hook
        fi
        printf 'log_outputs="3:file:%s/libvirtd.log"\n' "$work" >"$work/libvirtd.conf"
        libvirtd -d -f "$work/libvirtd.conf" --pid-file "$work/libvirtd.pid" || skip "libvirtd did not start"
        started+=("$work/libvirtd.pid")
        ok=
        for _ in $(seq 600); do
                if virsh -c qemu:///system version >/dev/null 2>&1; then
                        ok=1
                        break
                fi
                sleep 0.1
        done
        [ -n "$ok" ] || skip "libvirtd did not answer within 60 s"
fi

VMSNAP_TEST_URI=qemu:///system "$(dirname "$0")/cmocka-tap.sh" "$@"
