# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trust: a caller polkit denies cannot starve others (each caller has its own queue,
served in turn, and a bound on its calls waiting), cannot read other users' jobs,
and what vmsnapd refuses is logged with the caller's UID. The harness's rule allows
everything to vmsnap-ok and nothing to vmsnap-no; root passes without polkit."""
import json
import os
import shutil
import subprocess
import time

import atexit
import pwd

from bustest import (ADDRESS, DOMAIN_UUIDS, ERROR, HERE, JOB_IFACE, PATH, PYTHON, TEST_DIR, BusError, Client,
                     SignalRecorder, call_as, case, check, check_equal, expect_error, finish, pump)

client = Client()
OK, NO = "vmsnap-ok", "vmsnap-no"
NOT_AUTHORIZED = ERROR + "NotAuthorized"
BUSY = ERROR + "Busy"
BOUND = 64  # LANE_MAX_PENDING in dbus/lanes.h

client.run_job(client.create("alpha", "a1"))

# One more rule for this program: vmsnap-ok may not read beta, nor manage other users' jobs on
# alpha, which it may read (everything else stays as the harness's rule says). polkitd picks
# rules up within a second.
RULE = f"/etc/polkit-1/rules.d/40-vmsnap-bus-trust-{os.getpid()}.rules"
with open(RULE, "w") as rule:
    rule.write("""polkit.addRule(function(action, subject) {
        if (action.id == "org.example.snapshots.read" && subject.user == "vmsnap-ok" &&
            action.lookup("domain") == "beta")
                return polkit.Result.NO;
        if (action.id == "org.example.snapshots.manage-jobs" && subject.user == "vmsnap-ok" &&
            action.lookup("domain") == "alpha")
                return polkit.Result.NO;
        return polkit.Result.NOT_HANDLED;
});
""")
os.chmod(RULE, 0o644)
atexit.register(os.remove, RULE)
time.sleep(1.5)

_flood_script = os.path.join(TEST_DIR, "flood.py")
shutil.copy(os.path.join(HERE, "flood.py"), _flood_script)
os.chmod(_flood_script, 0o644)
_listen_script = os.path.join(TEST_DIR, "listen.py")
shutil.copy(os.path.join(HERE, "listen.py"), _listen_script)
os.chmod(_listen_script, 0o644)


def flood(user, connections, in_flight, seconds, total=0):
    """Starts flood.py as user; returns the process (its stdout is the JSON summary)."""
    return subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", PYTHON,
                             _flood_script, ADDRESS, str(connections), str(in_flight), str(seconds), str(total)],
                            stdout=subprocess.PIPE, text=True, cwd="/")


def listener(user, mode):
    """Starts listen.py as user (root when None) and waits until it has subscribed."""
    as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
    process = subprocess.Popen(as_user + [PYTHON, _listen_script, ADDRESS, mode], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd="/")
    check_equal(process.stdout.readline().strip(), "ready", f"listen.py as {user or 'root'} subscribed")
    return process


def heard(process):
    """Stops a listener; returns its events ([path, interface or "read", member or State])."""
    out, _ = process.communicate(input="", timeout=60)
    return json.loads(out)


def flood_result(process):
    out, _ = process.communicate(timeout=120)
    check_equal(process.returncode, 0, "flood.py's exit status")
    return json.loads(out)


def job_as(user, path):
    return call_as(user, "GetAll", "s", (JOB_IFACE,), path=path, interface="org.freedesktop.DBus.Properties")[0]


ALPHA_JOB = client.create("alpha", "by-root")
BETA_JOB = client.create("beta", "by-root")
client.run_job(ALPHA_JOB)
failed = client.run_job(client.create("beta", "b-bad", "", ["vdz"]), expect="failed")
BETA_FAILED = [p for p in client.list_jobs() if client.job(p)["Error"] == failed["Error"]][-1]


@case("A job is private: vmsnap-no (denied read) gets NotAuthorized for its properties, one property and its "
      "introspection, with the same sentence as for a job that does not exist, naming no domain or path")
def _():
    for path in (ALPHA_JOB, BETA_FAILED):
        for function in (lambda: job_as(NO, path),
                         lambda: call_as(NO, "Get", "ss", (JOB_IFACE, "Domain"), path=path,
                                         interface="org.freedesktop.DBus.Properties"),
                         lambda: call_as(NO, "Introspect", path=path,
                                         interface="org.freedesktop.DBus.Introspectable")):
            message = expect_error(NOT_AUTHORIZED, function)
            check_equal(message, f"There is no job {path} that you may read", "the sentence")
    gone = PATH + "/job/999999"
    check_equal(expect_error(NOT_AUTHORIZED, job_as, NO, gone), f"There is no job {gone} that you may read",
                "the sentence for a job that does not exist")
    expect_error("org.freedesktop.DBus.Error.UnknownObject", client.job, gone)
    listing = call_as(NO, "Introspect", path=PATH + "/job", interface="org.freedesktop.DBus.Introspectable")[0]
    check(f'node name="{ALPHA_JOB.rsplit("/", 1)[1]}"' not in listing, f"no job node listed: {listing}")
    expect_error(NOT_AUTHORIZED, call_as, NO, "Cancel", path=ALPHA_JOB, interface=JOB_IFACE)


@case("A job is readable by its starter, by root, and by a caller polkit allows to read its domain; ListJobs "
      "lists only those")
def _():
    check_equal(client.job(ALPHA_JOB)["Domain"], "alpha", "root reads")
    check_equal(job_as(OK, ALPHA_JOB)["Domain"], "alpha", "vmsnap-ok may read alpha")
    expect_error(NOT_AUTHORIZED, job_as, OK, BETA_JOB)
    expect_error(NOT_AUTHORIZED, job_as, OK, BETA_FAILED)
    own = call_as(OK, "Create", "sssasa{sv}", ("beta", "by-ok", "", [], {}))[0]
    check_equal(client.run_job(own)["StartedByUID"], pwd.getpwnam(OK).pw_uid, "StartedByUID")
    check_equal(job_as(OK, own)["State"], "done", "the starter reads its job on beta")
    listed = call_as(OK, "ListJobs")[0]
    check(ALPHA_JOB in listed and own in listed, f"alpha's job and its own listed: {listed}")
    check(BETA_JOB not in listed and BETA_FAILED not in listed, f"root's beta jobs not listed: {listed}")
    everything = client.list_jobs()
    check(all(p in everything for p in (ALPHA_JOB, BETA_JOB, BETA_FAILED, own)), f"root lists all: {everything}")


@case("Reading a job and canceling it are two permissions: vmsnap-ok, allowed org.example.snapshots.read on "
      "alpha but not org.example.snapshots.manage-jobs, reads root's job there and is refused its Cancel")
def _():
    job = job_as(OK, ALPHA_JOB)
    check_equal(job["Domain"], "alpha", "vmsnap-ok reads root's job on alpha")
    job_id = ALPHA_JOB.rsplit("/", 1)[1]
    message = expect_error(NOT_AUTHORIZED, call_as, OK, "Cancel", path=ALPHA_JOB, interface=JOB_IFACE)
    check_equal(message, f"You are not allowed to cancel job {job_id}, which another user started", "the sentence")
    check_equal(client.job(ALPHA_JOB)["State"], job["State"], "the job's state after the refused Cancel")


@case("A refusal of a domain named by UUID echoes the UUID and never the domain's name")
def _():
    for method, signature, args in (("ListSnapshots", "s", (DOMAIN_UUIDS["alpha"],)),
                                    ("GetSnapshot", "ss", (DOMAIN_UUIDS["alpha"], "a1")),
                                    ("Create", "sssasa{sv}", (DOMAIN_UUIDS["alpha"], "x", "", [], {}))):
        message = expect_error(NOT_AUTHORIZED, call_as, NO, method, signature, args)
        check("alpha" not in message and DOMAIN_UUIDS["alpha"] in message, f"{method}: {message}")
    message = expect_error(NOT_AUTHORIZED, call_as, OK, "ListSnapshots", "s", (DOMAIN_UUIDS["beta"],))
    check_equal(message, f"You are not allowed to read snapshots of {DOMAIN_UUIDS['beta']}", "message")


def daemon_log():
    with open(os.path.join(TEST_DIR, "vmsnapd.log")) as log:
        return log.read().splitlines()


@case("vmsnapd's stderr has one start line (libvirt URI, state directory, workers) and one line for each refused "
      "or failed change: method, domain, the caller's UID, error name and sentence; a refused read is not logged")
def _():
    starts = [line for line in daemon_log() if ": starting: " in line]
    check_equal(len(starts), 1, "start lines")
    check(os.path.join(TEST_DIR, "state") in starts[0] and "libvirt test://" in starts[0] and " workers" in starts[0],
          f"start line: {starts[0]}")
    no_uid = pwd.getpwnam(NO).pw_uid
    expect_error(NOT_AUTHORIZED, call_as, NO, "Delete", "ssa{sv}", ("alpha", "a1", {}))
    expect_error(NOT_AUTHORIZED, call_as, NO, "ListSnapshots", "s", ("gamma",))
    failed = client.run_job(client.create("alpha", "log-bad", "", ["vdz"]), expect="failed")
    lines = daemon_log()
    refused = [line for line in lines if line.startswith("vmsnapd: Delete of alpha ")]
    check_equal(refused, [f"vmsnapd: Delete of alpha by uid {no_uid} failed: {NOT_AUTHORIZED}: "
                          "You are not allowed to delete snapshots of alpha"], "the refusal's line")
    check(not [line for line in lines if "ListSnapshots" in line and "gamma" in line], "a read is not logged")
    job_lines = [line for line in lines if line.startswith("vmsnapd: Create of alpha by uid 0 (job ")]
    check(job_lines and job_lines[-1].endswith(f"failed: {failed['ErrorName']}: {failed['Error']}"),
          f"the failed job's line: {job_lines}")


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


@case("A job's own signals (PropertiesChanged, Progress, Completed) reach only its starter and connections that "
      "read it: a denied user, and root's connection that never read the job, hear its JobNew and nothing else")
def _():
    _, disks = client.get_configuration("alpha", "")
    for disk in disks:  # 128 MiB to copy: the clone runs long enough to be read while it runs
        subprocess.run(["qemu-io", "-f", disk["format"], "-c", "write -P 0x5a 0 64M", disk["image"]], check=True,
                       stdout=subprocess.DEVNULL)
    client.run_job(client.create("alpha", "heard"))
    denied, bystander, reader = listener(NO, "passive"), listener(None, "passive"), listener(OK, "read")
    starter = SignalRecorder(client.connection, interface=JOB_IFACE)
    path = client.clone("alpha", "heard", "heard-clone")
    client.run_job(path)
    pump(0.3)
    events = {"denied": heard(denied), "bystander": heard(bystander), "reader": heard(reader)}
    for who in ("denied", "bystander"):
        check([e for e in events[who] if e[2] == "JobNew"], f"the {who} heard JobNew: {events[who]}")
        check_equal([e for e in events[who] if e[0] == path], [], f"the job's signals the {who} heard")
    reads = [e[2] for e in events["reader"] if e[0] == path and e[1] == "read"]
    check(reads and reads[0] in ("queued", "running"), f"vmsnap-ok read the job while it ran: {reads}")
    own = [e[1:] for e in events["reader"] if e[0] == path and e[1] != "read"]
    check([JOB_IFACE, "Completed"] in own, f"the reader heard Completed: {own}")
    check(["org.freedesktop.DBus.Properties", "PropertiesChanged"] in own, f"the reader heard changes: {own}")
    check(starter.of("Completed", path) and starter.of("Progress", path), "the starter heard Progress and Completed")
    starter.close()


finish()
