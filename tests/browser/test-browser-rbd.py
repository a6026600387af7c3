# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Cockpit page's Clone dialog on a VM with an RBD disk, end to end: headless
Chromium → cockpit-ws (a local session as vmsnap-ok) → the private system bus →
vmsnapd → a single-node Ceph cluster that tests/with-ceph.sh started for the run. The
harness's vmsnapd serves node.xml, whose domains have file disks only: this program
stops it and starts one on a node of its own, the domain rho with vda (a qcow2 file) and
vdb (an RBD image). Through the dialog it clones rho once linked and once standalone
into the cluster's second pool; the cluster (rbd info, qemu-io) is the oracle. Without
a cluster every case is skipped with the reason."""
import atexit
import json
import os
import signal
import subprocess
import time

from browsertest import WAIT_SECONDS, Browser, CockpitSession
from bustest import (TEST_DIR, VMSNAPD_PID, Client, case, check, check_equal, daemon_alive, finish, skip,
                     start_daemon)

CEPH_CONF = os.environ.get("VMSNAP_TEST_CEPH_CONF")
CEPH_MON_HOST = os.environ.get("VMSNAP_TEST_CEPH_MON_HOST")
POOL = os.environ.get("VMSNAP_TEST_CEPH_POOL")
OTHER_POOL = os.environ.get("VMSNAP_TEST_CEPH_OTHER_POOL")
IMAGES = os.path.join(TEST_DIR, "images")
DOMAIN, DOMAIN_UUID = "rho", "55555555-5555-4555-8555-555555555555"
RBD_IMAGE = f"{POOL}/{DOMAIN}-vdb"
RBD_MIB, WRITTEN_MIB = 64, 16

client = Client()
cleanups = []
atexit.register(lambda: [cleanup() for cleanup in reversed(cleanups)])
CASES = [
    "the Clone dialog of a snapshot with an RBD disk offers a linked clone (off by default) and the disk's target "
    "pool (the image's own by default); the file disk keeps its directory and format",
    "a linked clone made through the dialog is a copy-on-write clone of the snapshot in the image's pool",
    "a standalone clone made through the dialog into the second pool has no parent, reads the snapshot, and its "
    "task ends as other clones' do",
    "the browser console shows no script error and no content security policy violation",
]


def comment(text):
    print(f"# {text}", flush=True)


def rbd_case(name):
    """A case run against this program's vmsnapd (the harness's is stopped), which must
    still run afterwards. It starts on the page as a person left it: a dialog a failed case
    left open is closed first."""
    def decorate(function):
        def run():
            browser.js("const c = document.querySelector('.vmsnap-modal .vmsnap-modal-cancel'); if (c) c.click();")
            function()
            check(daemon.poll() is None, f"vmsnapd exited with status {daemon.returncode}")
        return case(name, stops_daemon=True)(run)
    return decorate


def rbd_url(image):
    return f"rbd:{image}:conf={CEPH_CONF}"


def rbd_info(image):
    return json.loads(subprocess.run(["rbd", "-c", CEPH_CONF, "info", "--format", "json", image], check=True,
                                     capture_output=True, text=True).stdout)


def reads_pattern(image, pattern):
    """Whether the first WRITTEN_MIB of the RBD image hold the byte pattern."""
    result = subprocess.run(["qemu-io", "-f", "raw", "-c", f"read -P {pattern} 0 {WRITTEN_MIB}M", rbd_url(image)],
                            capture_output=True, text=True)
    return result.returncode == 0 and "failed" not in result.stdout + result.stderr


# ---- the page ----

def select_snapshot(name):
    row = f'.vmsnap-tree tr[data-name="{name}"]'
    browser.click(row)
    browser.wait(f"q('{row}').getAttribute('aria-selected') === 'true'", what=f"{name} selected")


def open_clone_dialog():
    select_snapshot("base")
    browser.click(".vmsnap-toolbar .vmsnap-clone")
    browser.wait("qa('.vmsnap-clone-rbd-table tbody tr').length === 1", what="the RBD disk of the clone dialog")


def clone_through_dialog(name, pool=None, linked=False):
    """Fills the open Clone dialog, submits it and waits for its job to end; returns the
    job's properties from the bus and the selector of its task in the page."""
    browser.fill(".vmsnap-modal [data-field=name]", name)
    if pool:
        browser.fill(".vmsnap-clone-rbd-table [data-field=rbd_pool][data-target=vdb]", pool)
    if linked:
        browser.click(".vmsnap-modal [data-field=linked]")
    check_equal(browser.js("return document.querySelector('.vmsnap-modal [data-field=linked]').checked"), linked,
                "the linked checkbox")
    before = set(client.list_jobs())
    browser.click(".vmsnap-modal .vmsnap-modal-primary")
    outcome = browser.wait("!q('.vmsnap-modal') ? 'closed' : "
                           "(q('.vmsnap-modal .vmsnap-error-sentence') || {}).textContent",
                           timeout=2 * WAIT_SECONDS, what="the dialog to close")
    check_equal(outcome, "closed", "the dialog closed (else its error)")
    path = next(p for p in client.list_jobs() if p not in before)
    task = f'.vmsnap-job[data-job-path="{path}"]'
    state = browser.wait(f"(j => j && ['done', 'failed', 'canceled'].includes(j.dataset.state) ? j.dataset.state "
                         f": null)(q({json.dumps(task)}))", timeout=5 * WAIT_SECONDS, what=f"the clone {name} to end")
    check_equal(state, "done", f"how the clone ended: {browser.text(task + ' .vmsnap-job-status')}")
    check_equal(browser.text(f"{task} .vmsnap-job-status"), f"Created virtual machine “{name}”.", "the task's result")
    return client.job(path), task


def clone_disk_images(name):
    _, disks = client.get_configuration(name, "")
    return {disk["target"]: disk["image"] for disk in disks}


# ---- setup: the domain with an RBD disk on a vmsnapd of its own, a snapshot, the browser ----

def node_xml():
    host, port = CEPH_MON_HOST.rsplit(":", 1)
    return f"""<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{DOMAIN}</name>
    <uuid>{DOMAIN_UUID}</uuid>
    <memory unit='MiB'>64</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='{IMAGES}/{DOMAIN}-vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
      <disk type='network' device='disk'><driver name='qemu' type='raw'/>
        <source protocol='rbd' name='{RBD_IMAGE}'><host name='{host}' port='{port}'/>
          <config file='{CEPH_CONF}'/></source><target dev='vdb' bus='virtio'/></disk>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
</node>
"""


def stop_daemon(daemon):
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def set_up():
    global session, browser, daemon
    started = time.monotonic()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", os.path.join(IMAGES, f"{DOMAIN}-vda.qcow2"), "16M"],
                   check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", rbd_url(RBD_IMAGE), f"{RBD_MIB}M"], check=True)
    subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P 0x11 0 {WRITTEN_MIB}M", rbd_url(RBD_IMAGE)], check=True,
                   stdout=subprocess.DEVNULL)
    node = os.path.join(TEST_DIR, "rbd-node.xml")
    with open(node, "w") as f:
        f.write(node_xml())

    os.kill(VMSNAPD_PID, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while daemon_alive():
        check(time.monotonic() < deadline, "the harness's vmsnapd still runs 30 s after SIGTERM")
        time.sleep(0.05)
    daemon = start_daemon(uri=f"test://{node}", log_name="vmsnapd-rbd.log")
    cleanups.append(lambda: stop_daemon(daemon))

    properties = client.run_job(client.create(DOMAIN, "base", "before the clones"))
    check_equal(properties["State"], "done", "the snapshot base")
    # The VM moves on after the snapshot: the clones must read base, not this.
    subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P 0x22 0 {WRITTEN_MIB}M", rbd_url(RBD_IMAGE)], check=True,
                   stdout=subprocess.DEVNULL)
    comment(f"setup: {DOMAIN} with an RBD disk on vmsnapd of its own, snapshot base, in "
            f"{time.monotonic() - started:.1f} s")

    session = CockpitSession("vmsnap-ok")
    cleanups.append(session.stop)
    browser = Browser()
    cleanups.append(browser.quit)
    browser.open(session.url(DOMAIN))
    browser.wait("q('.vmsnap-tree tr[data-name=\"base\"]')", what=f"{DOMAIN}'s tree")


if not (CEPH_CONF and CEPH_MON_HOST and POOL and OTHER_POOL):
    for name in CASES:
        skip(name, "no Ceph cluster: run through tests/with-ceph.sh")
    finish()

try:
    set_up()
except Exception as error:  # nothing below can run
    print(f"Bail out! setting up the RBD browser tests failed: {error}", flush=True)
    raise SystemExit(1)


@rbd_case(CASES[0])
def _():
    open_clone_dialog()
    check_equal(browser.js("return Array.from(document.querySelectorAll('.vmsnap-clone-table tbody tr'))"
                           ".map(r => r.dataset.target)"), ["vda"], "the file disks' rows")
    check_equal(browser.js("return document.querySelector('.vmsnap-clone-table [data-field=target_dir]').value"),
                IMAGES, "vda's target directory")
    shown = browser.js("""const r = document.querySelector('.vmsnap-clone-rbd-table tr[data-target=vdb]');
        const pool = r.querySelector('[data-field=rbd_pool]');
        return [r.querySelector('.vmsnap-clone-rbd-image').textContent, pool.value, pool.getAttribute('aria-label'),
                r.querySelector('.vmsnap-clone-file').textContent, r.querySelector('input[type=checkbox]').checked]""")
    check_equal(shown, [RBD_IMAGE, POOL, "Target pool of vdb", f"Image: {POOL}/copy_of_{DOMAIN}-vdb", True],
                "vdb's image, target pool (its label), the new image's name, included")
    linked = browser.js("""const i = document.querySelector('.vmsnap-modal [data-field=linked]');
        return [i.checked, document.querySelector(`label[for='${i.id}']`).textContent,
                document.getElementById(i.getAttribute('aria-describedby')).textContent]""")
    check_equal(linked[:2], [False, "Linked clone (copy-on-write, instant)"], "the linked checkbox and its label")
    check("standalone" in linked[2].lower() and "linked" in linked[2].lower(), f"it explains both: {linked[2]}")
    description = browser.text(".vmsnap-modal .pf-c-modal-box__description")
    check("RBD disk cloned in its Ceph cluster" in description, f"the dialog's description: {description}")
    browser.fill(".vmsnap-clone-rbd-table [data-field=rbd_pool]", OTHER_POOL)
    check_equal(browser.text(".vmsnap-clone-rbd-table .vmsnap-clone-file"), f"Image: {OTHER_POOL}/copy_of_{DOMAIN}-vdb",
                "the new image's name follows the pool typed")
    browser.screenshot("clone-rbd-dialog", show=".vmsnap-modal")
    browser.click(".vmsnap-modal .vmsnap-modal-cancel")
    browser.wait("!q('.vmsnap-modal')", what="the dialog closed")


@rbd_case(CASES[1])
def _():
    open_clone_dialog()
    started = time.monotonic()
    _, task = clone_through_dialog("rho-linked", linked=True)
    comment(f"linked clone, dialog submitted to task done: {time.monotonic() - started:.2f} s")
    image = f"{POOL}/rho-linked-vdb"
    check_equal(clone_disk_images("rho-linked"),
                {"vda": os.path.join(IMAGES, "rho-linked-vda.qcow2"), "vdb": f"rbd:{image}"},
                "the new VM's disks")
    snapshot_id = next(s["id"] for s in client.list_snapshots(DOMAIN) if s["name"] == "base")
    parent = rbd_info(image).get("parent", {})
    check_equal([parent.get("pool"), parent.get("image"), parent.get("snapshot")],
                [POOL, f"{DOMAIN}-vdb", f"vmsnap-{snapshot_id}"], "the clone's parent in the cluster")
    check(reads_pattern(image, "0x11"), f"{image} reads the snapshot's data")
    browser.screenshot("clone-rbd-linked-done", show=task)
    # Dismissed, so that the next clone's task is the only one (a done task also goes by itself).
    browser.js("const b = document.querySelector(arguments[0]); if (b) b.click();", f"{task} .vmsnap-job-dismiss")
    browser.wait(f"!q('{task}')", what="the task dismissed")


@rbd_case(CASES[2])
def _():
    open_clone_dialog()
    started = time.monotonic()
    job, task = clone_through_dialog("rho-standalone", pool=OTHER_POOL)
    comment(f"standalone clone, dialog submitted to task done: {time.monotonic() - started:.2f} s, "
            f"{job['BytesTotal']} bytes counted")
    check_equal(browser.js(f"return +document.querySelector('{task} .pf-c-progress__bar').getAttribute('aria-valuenow')"),
                100, "the task's bar at the end")
    check_equal(browser.text(f"{task} .vmsnap-job-title"), f"Cloning {DOMAIN} from “base”", "the task's title")
    browser.screenshot("clone-rbd-standalone-done", show=task)
    browser.wait("q(\".vmsnap-vms tr[data-vm='rho-standalone']\")", what="rho-standalone in the VM list")
    check(job["BytesTotal"] >= WRITTEN_MIB << 20 and job["BytesDone"] == job["BytesTotal"],
          f"the job counted the bytes it copied: {job['BytesDone']} of {job['BytesTotal']}")
    image = f"{OTHER_POOL}/rho-standalone-vdb"
    check_equal(clone_disk_images("rho-standalone")["vdb"], f"rbd:{image}", "the new VM's RBD disk, in the second pool")
    check("parent" not in rbd_info(image), f"{image} stands alone: {rbd_info(image)}")
    check(reads_pattern(image, "0x11"), f"{image} reads the snapshot's data")


@rbd_case(CASES[3])
def _():
    problems = [entry["message"] for entry in browser.collect_console()
                if (entry["level"] == "SEVERE" and "/vmsnap/" in entry["message"])
                or "Content Security Policy" in entry["message"]]
    check(not problems, "\n".join(problems))


@case("the vmsnapd of this test exits with status 0 on SIGTERM, with no sanitizer report", stops_daemon=True)
def _():
    stop_daemon(daemon)
    check_equal(daemon.returncode, 0, "its exit status")
    with open(os.path.join(TEST_DIR, "vmsnapd-rbd.log")) as log:
        text = log.read()
    check("Sanitizer" not in text and "runtime error:" not in text, text)


finish()
