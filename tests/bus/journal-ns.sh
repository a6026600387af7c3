#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# journal-ns.sh OUTPUT COMMAND...: run by harness.sh inside a private mount namespace
# (unshare --mount): hides the machine's /run/systemd under a tmpfs, binds the journal's
# socket path /run/systemd/journal/socket to journal-listen.py (which writes each entry it
# receives to OUTPUT as one JSON line), then becomes COMMAND (same pid), so that COMMAND's
# sd_journal_send() entries reach the listener and never the machine's journal.
set -eu
output=$1
shift
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/journal
python3 "$(dirname "$0")/journal-listen.py" /run/systemd/journal/socket "$output" &
for _ in $(seq 200); do
        [ -S /run/systemd/journal/socket ] && break
        sleep 0.025
done
[ -S /run/systemd/journal/socket ] || {
        echo "journal-ns.sh: journal-listen.py did not bind its socket" >&2
        exit 1
}
exec "$@"
