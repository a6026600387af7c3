#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# unit-sandbox.sh UNIT COMMAND...: runs COMMAND (as root) with the file system as the
# systemd unit UNIT lets its service see it, where no systemd runs the unit: in a
# private mount namespace every mount is read-only (ProtectSystem=strict, which the
# unit must say) but the unit's ReadWritePaths=, RuntimeDirectory= (/run/NAME) and
# StateDirectory= (/var/lib/NAME), and the directories VMSNAP_SANDBOX_WRITABLE lists
# (what an administrator's drop-in would add). Those are bound onto themselves, so
# what COMMAND writes there is what the rest of the machine sees, as under systemd.
set -eu
unit=${1:?usage: unit-sandbox.sh UNIT COMMAND...}
shift
grep -qx 'ProtectSystem=strict' "$unit" || { echo "unit-sandbox.sh: $unit lacks ProtectSystem=strict" >&2; exit 1; }
writable=()
while IFS='=' read -r key value; do
        for item in $value; do
                case $key in
                ReadWritePaths) writable+=("${item#-}") ;;
                RuntimeDirectory) mkdir -p "/run/$item" && writable+=("/run/$item") ;;
                StateDirectory) mkdir -p "/var/lib/$item" && writable+=("/var/lib/$item") ;;
                esac
        done
done < <(grep -E '^(ReadWritePaths|RuntimeDirectory|StateDirectory)=' "$unit")
for item in ${VMSNAP_SANDBOX_WRITABLE:-}; do writable+=("$item"); done

exec unshare --mount --propagation private -- bash -eu -c '
n=$1; shift
writable=("${@:1:$n}"); shift "$n"
for path in "${writable[@]}"; do
        [ -e "$path" ] && mount --bind "$path" "$path"
done
# Every other mount read-only; the kernel'"'"'s own file systems stay as they are.
while read -r _ _ _ _ point _; do
        case $point in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
        keep=
        for path in "${writable[@]}"; do [ "$point" = "$path" ] && keep=1; done
        [ -n "$keep" ] || mount -o remount,bind,ro "$point" 2>/dev/null || true
done </proc/self/mountinfo
exec "$@"' - "${#writable[@]}" "${writable[@]}" "$@"
