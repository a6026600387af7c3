#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh VMSNAPD TEST.py: the browser tests need, beyond what tests/bus/harness.sh
# checks (root, dbus-daemon, polkitd), a headless Chromium with its WebDriver,
# Python's selenium and Cockpit's web server; without one of them the run is a TAP
# skip. Then the bus harness starts the private system bus, polkitd and vmsnapd on
# libvirt's test driver, and runs TEST.py against them.
set -u

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

[ "$(id -u)" = 0 ] || skip "the browser tests need root (test users, polkit rules, a private system bus)"
for program in /usr/bin/chromium /usr/bin/chromedriver; do
        [ -x "$program" ] || skip "$program is missing (apt-get install chromium chromium-driver)"
done
for program in /usr/lib/cockpit/cockpit-ws /usr/bin/cockpit-bridge; do
        [ -x "$program" ] || skip "$program is missing (apt-get install cockpit-ws cockpit-bridge)"
done
/usr/bin/python3 -c 'import selenium.webdriver' 2>/dev/null ||
        skip "Python's selenium is missing (apt-get install python3-selenium)"

exec "$(dirname "$0")/../bus/harness.sh" "$@"
