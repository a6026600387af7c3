# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization: every method is checked against its polkit action before it
does anything. The harness's rule allows everything to vmsnap-ok and nothing to
vmsnap-no, and makes vmsnap-ok authenticate (a challenge, no agent runs) for a
snapshot named needs-auth. Root passes without polkit."""
import os
import pwd
import signal
import time

from bustest import (ERROR, JOB_IFACE, Client, case, call_as, check, check_equal, expect_error, finish,
                     state_files)

client = Client()
OK, NO = "vmsnap-ok", "vmsnap-no"
NOT_AUTHORIZED = ERROR + "NotAuthorized"


def run(path, expect="done"):
    return client.run_job(path, expect=expect)


def as_user(user, method, signature="", args=(), **kwargs):
    return call_as(user, method, signature, args, **kwargs)


def denied(user, method, signature="", args=(), **kwargs):
    return expect_error(NOT_AUTHORIZED, as_user, user, method, signature, args, **kwargs)


# A tree to work on, made by root.
run(client.create("alpha", "a1"))
run(client.create("alpha", "a2"))
run(client.create("alpha", "needs-auth"))
run(client.create("beta", "b1"))


@case("Root passes every action without a polkit rule: read, create, preview, delete")
def _():
    check_equal(len(client.list_snapshots("alpha")), 3, "alpha's snapshots")
    run(client.create("beta", "by-root"))
    run(client.preview("beta", "b1"))
    run(client.undo("beta"))
    client.set_description("beta", "by-root", "root was here")
    run(client.delete("beta", "by-root"))


READ_CALLS = [
    ("ListDomains", "", ()),
    ("ListSnapshots", "s", ("alpha",)),
    ("GetSnapshot", "ss", ("alpha", "a1")),
    ("GetConfiguration", "ss", ("alpha", "a1")),
    ("GetConfiguration", "ss", ("alpha", "")),
    ("ListJobs", "", ()),
]


@case("org.example.snapshots.read allows vmsnap-ok ListDomains, ListSnapshots, GetSnapshot, GetConfiguration, "
      "ListJobs")
def _():
    check(any(d["name"] == "alpha" for d in as_user(OK, "ListDomains")[0]), "ListDomains")
    check_equal(sorted(s["name"] for s in as_user(OK, "ListSnapshots", "s", ("alpha",))[0]),
                ["a1", "a2", "needs-auth"], "ListSnapshots")
    check_equal(as_user(OK, "GetSnapshot", "ss", ("alpha", "a1"))[0]["name"], "a1", "GetSnapshot")
    check("<domain" in as_user(OK, "GetConfiguration", "ss", ("alpha", "a1"))[0], "GetConfiguration")
    check_equal([d["target"] for d in as_user(OK, "GetConfiguration", "ss", ("alpha", ""))[1]], ["vda", "vdb"],
                "GetConfiguration of the domain now")
    as_user(OK, "ListJobs")


@case("org.example.snapshots.read denies vmsnap-no every read with NotAuthorized and a sentence naming the domain")
def _():
    for method, signature, args in READ_CALLS:
        message = denied(NO, method, signature, args)
        if args:
            check_equal(message, "You are not allowed to read snapshots of alpha", f"{method}'s message")
        else:
            check(message.startswith("You are not allowed to "), f"{method}'s message: {message}")


@case("A denied caller does not learn whether a domain or snapshot exists: NotAuthorized, not NotFound")
def _():
    message = denied(NO, "ListSnapshots", "s", ("no-such-domain",))
    check_equal(message, "You are not allowed to read snapshots of no-such-domain", "message")
    denied(NO, "GetSnapshot", "ss", ("alpha", "no-such-snapshot"))
    expect_error(ERROR + "NotFound", as_user, OK, "GetSnapshot", "ss", ("alpha", "no-such-snapshot"))


@case("org.example.snapshots.create allows vmsnap-ok Create; the job records vmsnap-ok as StartedByUID")
def _():
    path = as_user(OK, "Create", "sssasa{sv}", ("beta", "by-ok", "", [], {}))[0]
    job = run(path)
    check_equal(job["StartedByUID"], pwd.getpwnam(OK).pw_uid, "StartedByUID")
    check("by-ok" in client.snapshot_names("beta"), "the snapshot exists")


@case("org.example.snapshots.create denies vmsnap-no Create: no job, no change")
def _():
    jobs, state = client.list_jobs(), state_files()
    message = denied(NO, "Create", "sssasa{sv}", ("beta", "by-no", "", [], {}))
    check_equal(message, "You are not allowed to create snapshots of beta", "message")
    check_equal(client.list_jobs(), jobs, "jobs")
    check_equal(state_files(), state, "metadata")


@case("org.example.snapshots.preview allows vmsnap-ok Preview, Commit, Undo and Revert")
def _():
    run(as_user(OK, "Preview", "ssa{ss}a{sv}", ("beta", "b1", {}, {}))[0])
    run(as_user(OK, "Undo", "sa{sv}", ("beta", {}))[0])
    run(as_user(OK, "Preview", "ssa{ss}a{sv}", ("beta", "b1", {}, {}))[0])
    run(as_user(OK, "Commit", "sa{sv}", ("beta", {}))[0])
    run(as_user(OK, "Revert", "ssa{sv}", ("beta", "by-ok", {}))[0])
    check_equal(client.domain("beta")["current_snapshot"], "by-ok", "current snapshot")


@case("org.example.snapshots.preview denies vmsnap-no Preview, Commit, Undo and Revert")
def _():
    check_equal(denied(NO, "Preview", "ssa{ss}a{sv}", ("beta", "b1", {}, {})),
                "You are not allowed to preview snapshots of beta", "Preview's message")
    run(client.preview("beta", "b1"))
    state = state_files()
    denied(NO, "Commit", "sa{sv}", ("beta", {}))
    denied(NO, "Undo", "sa{sv}", ("beta", {}))
    check_equal(state_files(), state, "metadata during the preview")
    run(client.undo("beta"))
    state = state_files()
    denied(NO, "Revert", "ssa{sv}", ("beta", "b1", {}))
    check_equal(state_files(), state, "metadata")


@case("org.example.snapshots.delete allows vmsnap-ok Delete, Rename and SetDescription")
def _():
    check_equal(as_user(OK, "SetDescription", "sss", ("beta", "by-ok", "words")), (), "SetDescription")
    check_equal(as_user(OK, "Rename", "sss", ("beta", "by-ok", "renamed-by-ok")), (), "Rename")
    run(client.revert("beta", "b1"))
    run(as_user(OK, "Delete", "ssa{sv}", ("beta", "renamed-by-ok", {}))[0])
    check("renamed-by-ok" not in client.snapshot_names("beta"), "deleted")


@case("org.example.snapshots.delete denies vmsnap-no Delete, Rename and SetDescription")
def _():
    state = state_files()
    check_equal(denied(NO, "Delete", "ssa{sv}", ("beta", "b1", {})), "You are not allowed to delete snapshots of beta",
                "Delete's message")
    denied(NO, "Rename", "sss", ("beta", "b1", "mine"))
    denied(NO, "SetDescription", "sss", ("beta", "b1", "mine"))
    check_equal(state_files(), state, "metadata")


@case("org.example.snapshots.clone lets vmsnap-ok clone and denies vmsnap-no")
def _():
    path = as_user(OK, "Clone", "sssa{sv}", ("alpha", "a1", "clone-by-ok", {}))[0]
    run(path)
    check_equal(denied(NO, "Clone", "sssa{sv}", ("alpha", "a1", "", {})),
                "You are not allowed to clone snapshots of alpha", "message")


@case("A challenge (auth_admin without an agent) is refused with a sentence saying authentication is required")
def _():
    message = denied(OK, "GetSnapshot", "ss", ("alpha", "needs-auth"))
    check(message.startswith("Authentication is required to read snapshots of alpha"), f"message: {message}")
    message = denied(OK, "GetSnapshot", "ss", ("alpha", "needs-auth"), interactive=True)
    check(message.startswith("Authentication is required"), f"interactive, no agent: {message}")


@case("polkit sees the snapshot's name as the detail even when the caller names it by id")
def _():
    snapshot_id = client.get_snapshot("alpha", "needs-auth")["id"]
    message = denied(OK, "GetSnapshot", "ss", ("alpha", snapshot_id))
    check(message.startswith("Authentication is required"), f"message: {message}")


def queued_job_behind_long_one(starter=None, name=""):
    """A long create on gamma, and a second create queued behind it (started by starter)."""
    long_one = client.create("gamma")
    if starter:
        queued = as_user(starter, "Create", "sssasa{sv}", ("gamma", name, "", [], {}))[0]
    else:
        queued = client.create("gamma", name)
    return long_one, queued


@case("The starter of a job may cancel it without polkit (org.example.snapshots.manage-jobs is not asked)")
def _():
    # The rule would make vmsnap-ok authenticate for a job on a snapshot called needs-auth.
    long_one, queued = queued_job_behind_long_one(OK, "needs-auth")
    check_equal(client.job(queued)["Snapshot"], "needs-auth", "the queued job's Snapshot")
    check_equal(as_user(OK, "Cancel", path=queued, interface=JOB_IFACE), (), "Cancel")
    check_equal(run(queued, expect=None)["State"], "canceled", "queued job")
    run(long_one)


@case("org.example.snapshots.manage-jobs lets vmsnap-ok cancel root's job")
def _():
    long_one, queued = queued_job_behind_long_one()
    check_equal(as_user(OK, "Cancel", path=queued, interface=JOB_IFACE), (), "Cancel")
    check_equal(run(queued, expect=None)["State"], "canceled", "queued job")
    run(long_one)


@case("vmsnap-no, who may not read the domain, cannot cancel root's job, which goes on: to it the job does not "
      "exist")
def _():
    long_one, queued = queued_job_behind_long_one()
    message = denied(NO, "Cancel", path=queued, interface=JOB_IFACE)
    check_equal(message, f"There is no job {queued} that you may read", "message")
    run(long_one)
    check_equal(run(queued)["State"], "done", "the job was not canceled")


@case("When polkit cannot be reached, other callers are refused with NotAuthorized and the reason; root still "
      "passes")
def _():
    os.kill(int(os.environ["POLKITD_PID"]), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(os.environ["POLKITD_PID"]), 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    message = denied(OK, "ListSnapshots", "s", ("alpha",))
    check("polkit" in message and "read snapshots of alpha" in message, f"message: {message}")
    check_equal(len(client.list_snapshots("alpha")), 3, "root's ListSnapshots")


finish()
