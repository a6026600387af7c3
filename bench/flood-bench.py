# SPDX-License-Identifier: LGPL-2.1-or-later
"""flood-bench.py: run by bench-flood.sh inside tests/bus/harness.sh (a private bus,
the real polkitd, vmsnapd on the test driver). Root's ListSnapshots p50/p99, idle and
while FLOOD_USERS x 4 connections of the denied user vmsnap-no keep FLOOD_IN_FLIGHT
calls each in flight; prints both and their ratio (TAP comments, then one case)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ["VMSNAP_SOURCE_ROOT"], "tests", "bus"))
from bustest import ADDRESS, TEST_DIR, Client, case, check, finish  # noqa: E402

latency = os.environ["FLOOD_LATENCY"]
calls = int(os.environ.get("FLOOD_CALLS", "2000"))
connections = int(os.environ.get("FLOOD_CONNECTIONS", "4"))
in_flight = int(os.environ.get("FLOOD_IN_FLIGHT", "30"))
seconds = float(os.environ.get("FLOOD_SECONDS", "15"))
flood_script = os.path.join(TEST_DIR, "flood.py")
with open(os.path.join(os.environ["VMSNAP_SOURCE_ROOT"], "tests", "bus", "flood.py")) as source:
    with open(flood_script, "w") as copy:
        copy.write(source.read())
os.chmod(flood_script, 0o644)

client = Client()
for i in range(20):
    client.run_job(client.create("alpha", f"s{i}"))


def measure():
    out = subprocess.run([latency, ADDRESS, "alpha", str(calls)], check=True, capture_output=True, text=True)
    return [float(x) for x in out.stdout.split()]


idle = measure()
flooder = subprocess.Popen(["setpriv", "--reuid=vmsnap-no", "--regid=vmsnap-no", "--init-groups",
                            os.environ.get("VMSNAP_PYTHON", "/usr/bin/python3"), flood_script, ADDRESS,
                            str(connections), str(in_flight), str(seconds)],
                           stdout=subprocess.PIPE, text=True, cwd="/")
time.sleep(1.0)
flooded = measure()
still_flooding = flooder.poll() is None
summary, _ = flooder.communicate(timeout=seconds + 120)
print(f"# idle:    p50 {idle[0]:.3f} ms  p99 {idle[1]:.3f} ms  max {idle[2]:.3f} ms  ({calls} calls)")
print(f"# flooded: p50 {flooded[0]:.3f} ms  p99 {flooded[1]:.3f} ms  max {flooded[2]:.3f} ms  "
      f"({connections} connections x {in_flight} in flight of vmsnap-no; flood still running at the end: "
      f"{still_flooding})")
print(f"# ratio flooded/idle: p50 {flooded[0] / idle[0]:.2f}x  p99 {flooded[1] / idle[1]:.2f}x  (target p99 < 3x)")
print(f"# the flood's answers: {summary.strip()}")


@case("root's ListSnapshots p99 under the flood within 3x of its idle p99")
def _():
    check(still_flooding, "the flood lasted the whole measurement (raise FLOOD_SECONDS)")
    check(flooded[1] < 3 * idle[1], f"p99 {flooded[1]:.3f} ms flooded against {idle[1]:.3f} ms idle")


finish()
