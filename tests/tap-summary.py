#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tap-summary.py TESTLOG.json...: counts test cases (not executables) from the TAP
output meson recorded, and prints one line per failure and per skip, then
"N passed, N failed, N skipped". A test program that failed without reporting a
failing case (a crash, a timeout) counts as one failed case."""
import json
import re
import sys

passed = failed = skipped = 0
notes = []
for path in sys.argv[1:]:
    with open(path) as log:
        for line in log:
            if not line.strip():
                continue
            entry = json.loads(line)
            name = entry.get("name", "?")
            result = entry.get("result", "")
            out = entry.get("stdout") or ""
            failed_here = 0
            for tap in out.splitlines():
                m = re.match(r"^(not ok|ok)\b(.*)$", tap)
                if not m:
                    continue
                if re.search(r"#\s*SKIP", m.group(2), re.I):
                    skipped += 1
                    notes.append(f"skipped: {name}{m.group(2)}")
                elif m.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
                    failed_here += 1
                    notes.append(f"FAILED: {name}{m.group(2)}")
            plan_skip = re.search(r"^1\.\.0\s*#\s*SKIP\s*(.*)$", out, re.M | re.I)
            if plan_skip:
                skipped += 1
                notes.append(f"skipped: {name}: {plan_skip.group(1)}")
            if result not in ("OK", "SKIP", "EXPECTEDFAIL") and failed_here == 0:
                failed += 1
                notes.append(f"FAILED: {name}: {result} without a failing case (crash or timeout?)")
for note in notes:
    print(note)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
