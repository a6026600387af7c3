"""Trust: a caller polkit denies cannot starve others (each caller has its own queue,
served in turn, and a bound on its calls waiting), cannot read other users' jobs,
and what vmsnapd refuses is logged with the caller's UID. The harness's rule allows
everything to vmsnap-ok and nothing to vmsnap-no; root passes without polkit."""
import json
import os
import shutil
import subprocess
import time

from bustest import (ADDRESS, ERROR, HERE, PYTHON, TEST_DIR, Client, case, check, check_equal, finish)

client = Client()
OK, NO = "vmsnap-ok", "vmsnap-no"
NOT_AUTHORIZED = ERROR + "NotAuthorized"
BUSY = ERROR + "Busy"
BOUND = 64  # LANE_MAX_PENDING in dbus/lanes.h

client.run_job(client.create("alpha", "a1"))

_flood_script = os.path.join(TEST_DIR, "flood.py")
shutil.copy(os.path.join(HERE, "flood.py"), _flood_script)
os.chmod(_flood_script, 0o644)


def flood(user, connections, in_flight, seconds, total=0):
    """Starts flood.py as user; returns the process (its stdout is the JSON summary)."""
    return subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", PYTHON,
                             _flood_script, ADDRESS, str(connections), str(in_flight), str(seconds), str(total)],
                            stdout=subprocess.PIPE, text=True, cwd="/")


def flood_result(process):
    out, _ = process.communicate(timeout=120)
    check_equal(process.returncode, 0, "flood.py's exit status")
    return json.loads(out)


@case("A caller past its bound of calls waiting gets Busy with a sentence; the rest of its calls are answered "
      "(NotAuthorized for a denied user), none is lost")
def _():
    # Two connections: the bus itself allows one connection 128 calls awaiting replies.
    result = flood_result(flood(NO, 2, 3 * BOUND // 2, 30, 3 * BOUND // 2))
    answers = result["answers"]
    check_equal(sum(answers.values()), result["sent"], "answers for every call")
    check(answers.get(BUSY, 0) > 0, f"some calls refused as Busy: {answers}")
    check(answers.get(NOT_AUTHORIZED, 0) >= BOUND // 2, f"the calls within the bound answered: {answers}")
    check(set(answers) <= {BUSY, NOT_AUTHORIZED}, f"only Busy and NotAuthorized: {answers}")
    check("wait" in result["busy_message"], f"Busy says what to do: {result['busy_message']}")


@case("While a denied user floods vmsnapd from four connections, root's ListSnapshots calls are answered one "
      "after another, and the flooding user still gets Busy past its bound")
def _():
    process = flood(NO, 4, 40, 4)
    time.sleep(0.5)  # the flood is under way
    answered = 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        check("a1" in [s["name"] for s in client.list_snapshots("alpha")], "root reads alpha's snapshots")
        answered += 1
    still_flooding = process.poll() is None
    result = flood_result(process)
    check(still_flooding, "the flood lasted as long as root's calls")
    # Before per-caller queues each of root's calls waited behind the flood's polkit checks
    # (about 1.5 s each); served in turn they wait for at most a few checks.
    check(answered >= 25, f"root's calls answered during the flood: {answered}")
    print(f"# root's ListSnapshots answered during 2.5 s of flood: {answered}; the flood's: {result['answers']}")
    check(result["answers"].get(BUSY, 0) > 0, f"the flooding user got Busy: {result['answers']}")


finish()
