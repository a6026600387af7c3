# SPDX-License-Identifier: LGPL-2.1-or-later
"""The audit trail: every change that ran is in GetHistory (oldest first, with the
caller's UID, the result, the error's name and the job's messages), also once its
job is gone, and is sent to the journal with a MESSAGE_ID per operation and the
VMSNAP_* fields. vmsnapd runs with --job-linger 1 and, in a private mount namespace,
with journal-listen.py as the journal (harness.sh, VMSNAP_BUS_PRIVATE_JOURNAL)."""
import json
import os
import pwd
import time

from bustest import (DOMAIN_UUIDS, ERROR, TEST_DIR, Client, call_as, case, check, check_equal, expect_error,
                     finish)

client = Client()
OK, NO = "vmsnap-ok", "vmsnap-no"
OK_UID = pwd.getpwnam(OK).pw_uid
NOT_AUTHORIZED = ERROR + "NotAuthorized"
JOURNAL = os.path.join(TEST_DIR, "journal.jsonl")
# The fixed ids of README.md ("The audit trail").
MESSAGE_IDS = {
    "create": "781d3968365f4004ab94ed5be8c87f0b",
    "clone": "3e5f491e09d74076b89050909577e82e",
    "rename": "c3f8dae6a83a4f4681152d7e1e10b8b7",
    "delete": "4eaab48319134ee29ae78dafe0adf582",
    "delete-all": "2c83acb0c4a9438ab334d7880d4fd8ba",
    "purge": "bffe61de3e0e46d49609eabead9bbe8a",
}


def history(domain, as_user=None):
    if as_user:
        return call_as(as_user, "GetHistory", "s", (domain,))[0]
    return client.call("GetHistory", "s", (domain,))[0]


def wait_jobs_gone(paths, timeout=30):
    deadline = time.monotonic() + timeout
    while set(paths) & set(client.list_jobs()):
        check(time.monotonic() < deadline, f"jobs {paths} still listed after {timeout} s")
        time.sleep(0.1)


def journal_entries():
    with open(JOURNAL) as journal:
        return [json.loads(line) for line in journal]


# The changes whose trail the cases read, in this order.
started = int(time.time() * 1e6)
jobs = []
jobs.append(client.create("alpha", "h1"))
client.run_job(jobs[-1])
jobs.append(client.create("alpha", "h-bad", "", ["vdz"]))
FAILED = client.run_job(jobs[-1], expect="failed")
jobs.append(call_as(OK, "Create", "sssasa{sv}", ("alpha", "h2", "", ["vda"], {}))[0])
client.run_job(jobs[-1])
client.rename("alpha", "h1", "h1-renamed")
client.set_description("alpha", "h2", "vda only")
jobs.append(client.clone("alpha", "h2", "alpha-copy"))
CLONED = client.run_job(jobs[-1])
jobs.append(client.delete("alpha", "h1-renamed"))
DELETED = client.run_job(jobs[-1])
ended = int(time.time() * 1e6)
wait_jobs_gone(jobs)


@case("GetHistory lists every change that ran, oldest first, with the operation, the snapshot, the caller's "
      "UID, the result and the time, after the jobs are gone")
def _():
    entries = history("alpha")
    check_equal([(e["operation"], e["snapshot"], e["uid"], e["result"]) for e in entries],
                [("create", "h1", 0, "done"), ("create", "h-bad", 0, "failed"), ("create", "h2", OK_UID, "done"),
                 ("rename", "h1", 0, "done"), ("set-description", "h2", 0, "done"),
                 ("clone", "h2", 0, "done"), ("delete", "h1-renamed", 0, "done")], "the entries")
    times = [e["time"] for e in entries]
    check(times == sorted(times) and started <= times[0] and times[-1] <= ended,
          f"times in order within the run: {started} {times} {ended}")
    check_equal(set(entries[0]), {"time", "operation", "snapshot", "uid", "result", "error", "error_name",
                                  "messages"}, "the keys of an entry")
    check_equal(history(DOMAIN_UUIDS["alpha"]), entries, "the history by UUID")


@case("A failed job's entry carries its error and error name, as its job said; a done one carries neither")
def _():
    entries = history("alpha")
    check_equal((entries[1]["error"], entries[1]["error_name"]), (FAILED["Error"], FAILED["ErrorName"]),
                "the failed create")
    check(FAILED["ErrorName"].startswith(ERROR) and "vdz" in FAILED["Error"], f"the job failed on vdz: {FAILED}")
    check_equal((entries[0]["error"], entries[0]["error_name"]), ("", ""), "the done create")


@case("The history keeps the job's messages once the job is gone: a clone's missing disk, a delete's original "
      "image left in place; a clone's new domain and a rename's new name are told")
def _():
    entries = history("alpha")
    clone, delete, rename = entries[5]["messages"], entries[6]["messages"], entries[3]["messages"]
    check(CLONED["Messages"] and all(m in clone for m in CLONED["Messages"]), f"the clone's {clone}")
    check([m for m in clone if "disk vdb was not part of snapshot \"h2\"" in m], f"the clone's warning: {clone}")
    check_equal(clone[-1], 'the new domain is "alpha-copy"', "the clone's last message")
    check([m for m in delete if "original image" in m and "left in place" in m], f"the delete's: {delete}")
    check_equal(delete, DELETED["Messages"], "the delete's messages, as its job had them")
    check_equal(rename, ['the new name is "h1-renamed"'], "the rename's message")
    check_equal(history("beta"), [], "beta, never changed, has no history")


@case("GetHistory is a read: vmsnap-ok may, vmsnap-no gets NotAuthorized naming the domain as given")
def _():
    check_equal(history("alpha", OK), history("alpha"), "vmsnap-ok's answer")
    message = expect_error(NOT_AUTHORIZED, history, "alpha", NO)
    check_equal(message, "You are not allowed to read the history of alpha", "the refusal")
    expect_error(NOT_AUTHORIZED, history, DOMAIN_UUIDS["alpha"], NO)
    expect_error(ERROR + "NotFound", history, "no-such-domain")


@case("Each change is a journal entry with its operation's MESSAGE_ID and the VMSNAP_* fields: info when done, "
      "warning with VMSNAP_ERROR_NAME when failed")
def _():
    entries = [e for e in journal_entries() if "VMSNAP_OPERATION" in e]
    check_equal(len(entries), 7, f"one entry per change: {entries}")
    done, failed, clone = entries[0], entries[1], entries[5]

    def field(entry, key):
        return entry.get(key, [None])[0]

    check_equal({k: field(done, k) for k in ("MESSAGE_ID", "PRIORITY", "VMSNAP_OPERATION", "VMSNAP_DOMAIN",
                                              "VMSNAP_SNAPSHOT", "VMSNAP_CALLER_UID", "VMSNAP_RESULT",
                                              "VMSNAP_ERROR_NAME")},
                {"MESSAGE_ID": MESSAGE_IDS["create"], "PRIORITY": "6", "VMSNAP_OPERATION": "create",
                 "VMSNAP_DOMAIN": "alpha", "VMSNAP_SNAPSHOT": "h1", "VMSNAP_CALLER_UID": "0",
                 "VMSNAP_RESULT": "done", "VMSNAP_ERROR_NAME": None}, "the done create's fields")
    check_equal({k: field(failed, k) for k in ("MESSAGE_ID", "PRIORITY", "VMSNAP_OPERATION", "VMSNAP_SNAPSHOT",
                                                "VMSNAP_RESULT", "VMSNAP_ERROR_NAME", "VMSNAP_ERROR")},
                {"MESSAGE_ID": MESSAGE_IDS["create"], "PRIORITY": "4", "VMSNAP_OPERATION": "create",
                 "VMSNAP_SNAPSHOT": "h-bad", "VMSNAP_RESULT": "failed", "VMSNAP_ERROR_NAME": FAILED["ErrorName"],
                 "VMSNAP_ERROR": FAILED["Error"]}, "the failed create's fields")
    check("failed" in field(failed, "MESSAGE") and FAILED["Error"] in field(failed, "MESSAGE"),
          f"the failed create's MESSAGE: {field(failed, 'MESSAGE')}")
    check_equal(field(entries[2], "VMSNAP_CALLER_UID"), str(OK_UID), "vmsnap-ok's create")
    check_equal([field(e, "MESSAGE_ID") for e in (entries[3], clone, entries[6])],
                [MESSAGE_IDS["rename"], MESSAGE_IDS["clone"], MESSAGE_IDS["delete"]], "the other operations' ids")
    check_equal(clone.get("VMSNAP_MESSAGE"), history("alpha")[5]["messages"], "the clone's messages, each a field")
    check_equal(field(clone, "VMSNAP_DOMAIN_UUID"), DOMAIN_UUIDS["alpha"], "the domain's UUID")


@case("Outside journald (stderr a file here) the failed job's stderr line stays")
def _():
    with open(os.path.join(TEST_DIR, "vmsnapd.log")) as log:
        lines = log.read().splitlines()
    check([line for line in lines if line.startswith("vmsnapd: Create of alpha by uid 0 (job ") and
           line.endswith(f"failed: {FAILED['ErrorName']}: {FAILED['Error']}")], f"the line: {lines}")


@case("DeleteAll and Purge are recorded too, and a purged domain's history stays readable by its UUID, its last "
      "entry the purge itself")
def _():
    client.run_job(client.delete_all("alpha"))
    copy_uuid = client.domain("alpha-copy")["uuid"]
    client.run_job(client.create("alpha-copy", "c1"))
    client.run_job(client.purge("alpha-copy", {"undefine": True}))
    check("alpha-copy" not in [d["name"] for d in client.list_domains()], "the purged domain left ListDomains")
    check_equal(history("alpha")[-1]["operation"], "delete-all", "alpha's last entry")
    check_equal([(e["operation"], e["snapshot"], e["result"]) for e in history(copy_uuid)],
                [("create", "c1", "done"), ("purge", "", "done")], "the purged domain's history by UUID")
    expect_error(ERROR + "NotFound", history, "alpha-copy")
    ids = [e.get("MESSAGE_ID", [None])[0] for e in journal_entries() if "VMSNAP_OPERATION" in e]
    check_equal(ids[-3:], [MESSAGE_IDS["delete-all"], MESSAGE_IDS["create"], MESSAGE_IDS["purge"]],
                "the journal's last entries")


finish()
