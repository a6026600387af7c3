# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Cockpit page in a real browser, end to end: headless Chromium → cockpit-ws (a
local session as vmsnap-ok, or vmsnap-no whom polkit denies) → cockpit-bridge →
the private system bus → vmsnapd → polkitd, libvirt's test driver and real qcow2
images. Each case is one behaviour a person sees; the bus (as root) is the oracle.
Screenshots of every step go to VMSNAP_BROWSER_ARTIFACTS. The setup has vmsnapd build a
tree of 500 snapshots on beta, for the timing case near the end (timings are TAP
comments, not assertions), and waits until every one of those jobs has finished before
the first case: the cases then wait only for what they do themselves, which holds
however slow the build is (the sanitizers make everything several times slower). Every
wait is for a condition, with a generous limit."""
import atexit
import json
import os
import subprocess
import time

from browsertest import WAIT_SECONDS, Browser, CockpitSession
from bustest import (ADDRESS, DOMAIN_UUIDS, TERMINAL_STATES, TEST_DIR, BusError, Client, call_as, case, check,
                     check_equal, finish, make_undefined_domain, skip)

client = Client()
IMAGES = os.path.join(TEST_DIR, "images")
# Enough data that a clone takes about a second here: long enough to see its bar move.
CLONE_MIB = int(os.environ.get("VMSNAP_BROWSER_CLONE_MIB", "1536"))
BETA_BRANCHES, BETA_PER_BRANCH = 25, 20  # 1 root + 25 × 20 - 1 = 500 snapshots
# How long the 500 snapshots may take to make: 55 s here, several times that under the sanitizers.
BETA_SETUP_SECONDS = 1200
# VMSNAP_BROWSER_ONLY=word,word: only the cases whose names contain one of the words run (the
# others are skipped, and the 500 snapshots are made only for their case): for working on a
# few cases. Cases may rely on what earlier ones did.
ONLY = [word for word in os.environ.get("VMSNAP_BROWSER_ONLY", "").split(",") if word]
TREE_500_CASE = "a tree of 500 snapshots opens and follows a change (timings as comments)"


def selected(name):
    return not ONLY or any(word in name for word in ONLY)

cleanups = []
atexit.register(lambda: [cleanup() for cleanup in reversed(cleanups)])


def comment(text):
    print(f"# {text}", flush=True)


def until(condition, timeout=WAIT_SECONDS, what="a condition"):
    """Polls a condition outside the page (the bus, files) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def unfinished_jobs():
    paths = []
    for path in client.list_jobs():
        try:
            if client.job(path)["State"] not in TERMINAL_STATES:
                paths.append(path)
        except BusError:  # removed meanwhile: finished
            pass
    return paths


def snapshot(domain, name):
    return next((s for s in client.list_snapshots(domain) if s["name"] == name), None)


def domain_record(name):
    return client.domain(name)


def backing_of(image):
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", image], check=True,
                                     capture_output=True, text=True).stdout)
    return os.path.realpath(os.path.join(os.path.dirname(image), info["backing-filename"]))


# ---- the page ----

def row(name):
    return f'.vmsnap-tree tr[data-name="{name}"]'


def select_snapshot(name):
    browser.click(row(name))
    try:
        browser.wait(f"q('{row(name)}').getAttribute('aria-selected') === 'true'", what=f"{name} selected")
    except AssertionError as error:
        selected = browser.js("return Array.from(document.querySelectorAll('.vmsnap-tree tr[aria-selected=true]'))"
                              ".map(r => r.dataset.name)")
        raise AssertionError(f"{error}; selected instead: {selected}") from None


def open_dialog(button, dialog):
    browser.click(f".vmsnap-toolbar .vmsnap-{button}")
    browser.element(f'.vmsnap-modal[data-dialog="{dialog}"]')


def disk_checkboxes():
    """The create dialog's disks, once GetConfiguration answered: [target, checked, disabled, description]."""
    browser.wait("qa('.vmsnap-disk-choices input').length > 0", what="the disks of the create dialog")
    return browser.js("""return Array.from(document.querySelectorAll('.vmsnap-disk-choices input')).map(i => [
        i.dataset.target, i.checked, i.disabled,
        (document.getElementById(i.getAttribute('aria-describedby')) || {}).textContent || ''])""")


def submit_dialog():
    """Clicks the dialog's primary button; the dialog must close. Its error sentence, if
    it shows one instead, is the failure."""
    browser.click(".vmsnap-modal .vmsnap-modal-primary")
    outcome = browser.wait("!q('.vmsnap-modal') ? 'closed' : "
                           "(q('.vmsnap-modal .vmsnap-error-sentence') || {}).textContent",
                           timeout=2 * WAIT_SECONDS, what="the dialog to close")
    if outcome != "closed":
        browser.screenshot("dialog-error")
        browser.click(".vmsnap-modal .vmsnap-modal-cancel")  # the next case starts on the page
        raise AssertionError(f"the dialog showed an error instead of closing: {outcome}")


def go(vm):
    browser.js("window.location.hash = arguments[0]", "#/" + vm)
    browser.wait(f"(q('.vmsnap-domain') || {{}}).dataset && q('.vmsnap-domain').dataset.vm === '{vm}' && "
                 "!q('.vmsnap-tree-loading')", what=f"the snapshots of {vm}")


def tree_rows():
    return browser.js("""return Array.from(document.querySelectorAll('.vmsnap-tree tbody tr.vmsnap-row')).map(r => ({
        name: r.dataset.name, level: +r.getAttribute('aria-level'), hidden: r.hidden,
        current: !!r.querySelector('.vmsnap-marker-current'), preview: !!r.querySelector('.vmsnap-marker-preview'),
        excluded: Array.from(r.querySelectorAll('.vmsnap-excluded')).map(e => e.textContent),
        description: r.querySelector('.vmsnap-description').textContent,
        consistency: r.querySelector('.vmsnap-state').dataset.consistency,
        consistency_text: r.querySelector('.vmsnap-state').title}))""")


def tree_row(name):
    return next((r for r in tree_rows() if r["name"] == name), None)


def scroll_through_tree():
    """Scrolls the page from the top of the tree to its end, most of a window at a time,
    as a person reading it would. Returns the snapshots' names in the order their rows
    were first drawn, the most rows the page held at once, and every moment a spacer
    (the stand-in for rows not drawn) showed inside the window: each is a gap a reader
    would have seen."""
    browser.driver.set_script_timeout(WAIT_SECONDS)
    return browser.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const names = [], seen = new Set(), gaps = [];
        let mostDrawn = 0;
        const tree = document.querySelector('.vmsnap-tree');
        let scroller = tree.parentElement;
        while (scroller && !(['auto', 'scroll'].includes(getComputedStyle(scroller).overflowY) &&
                             scroller.scrollHeight > scroller.clientHeight))
            scroller = scroller.parentElement;
        scroller = scroller || document.scrollingElement;
        const view = scroller === document.scrollingElement
            ? {top: 0, bottom: window.innerHeight} : scroller.getBoundingClientRect();
        tree.scrollIntoView({block: 'start'});
        const look = () => requestAnimationFrame(() => requestAnimationFrame(() => {
            const rows = Array.from(document.querySelectorAll('.vmsnap-tree tbody tr.vmsnap-row'));
            mostDrawn = Math.max(mostDrawn, rows.length);
            for (const row of rows) {
                if (!seen.has(row.dataset.id)) {
                    seen.add(row.dataset.id);
                    names.push(row.dataset.name);
                }
            }
            for (const spacer of document.querySelectorAll('.vmsnap-tree tr.vmsnap-spacer')) {
                const box = spacer.getBoundingClientRect();
                if (!spacer.hidden && box.height > 0 && box.bottom > view.top && box.top < view.bottom)
                    gaps.push({scrollTop: scroller.scrollTop, top: box.top, bottom: box.bottom});
            }
            const body = tree.tBodies[0].getBoundingClientRect();
            if (body.bottom <= view.bottom + 1 || scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1)
                return done({names, mostDrawn, gaps});
            scroller.scrollBy(0, Math.floor((view.bottom - view.top) * 0.9));
            look();
        }));
        look();""")


def record_job_bars(job):
    """From now on, records in the page what the bars of the jobs matching the CSS selector
    job show as they change: the percentages, and while running the status lines and
    progress units. recorded_job_bars() returns them."""
    browser.js("""const job = arguments[0];
        const seen = window.vmsnapBars = {values: [], statuses: [], units: []};
        const remember = (list, value) => { if (list[list.length - 1] !== value) list.push(value); };
        window.vmsnapBarsObserver && window.vmsnapBarsObserver.disconnect();
        window.vmsnapBarsObserver = new MutationObserver(() => {
            for (const element of document.querySelectorAll(job)) {
                remember(seen.values, +element.querySelector('.pf-c-progress__bar').getAttribute('aria-valuenow'));
                if (element.dataset.state !== 'running')
                    continue;
                const status = element.querySelector('.vmsnap-job-status');
                remember(seen.statuses, status ? status.textContent : '');
                remember(seen.units, element.dataset.progressUnit);
            }
        });
        window.vmsnapBarsObserver.observe(document.querySelector('.vmsnap-jobs'),
                                          {subtree: true, childList: true, attributes: true});""", job)


def recorded_job_bars():
    return browser.js("window.vmsnapBarsObserver.disconnect(); return window.vmsnapBars")


def job_ended(job):
    """A JavaScript expression: the state of the job matching the selector once it ended, else null."""
    return f"(j => j && ['done', 'failed', 'canceled'].includes(j.dataset.state) ? j.dataset.state : null)(q({json.dumps(job)}))"


def page_case(name):
    """A case that starts on the page as a person left it: a dialog a failed case left
    open is closed first."""
    def decorate(function):
        if not selected(name):
            skip(name, "not in VMSNAP_BROWSER_ONLY")
            return function

        def run():
            browser.js("const c = document.querySelector('.vmsnap-modal .vmsnap-modal-cancel'); if (c) c.click();")
            function()
        return case(name)(run)
    return decorate


# ---- setup: the 500-snapshot tree, data to clone, the browser ----


def beta_names_in_tree_order():
    """root, then its branches one after another, each a chain (created in name order)."""
    names = ["root"]
    for branch in range(BETA_BRANCHES):
        names += [f"b{branch:02d}-{i:02d}" for i in range(BETA_PER_BRANCH if branch else BETA_PER_BRANCH - 1)]
    return names


def wait_for_beta_jobs(jobs):
    """Every job of beta's tree must end done; their number is what the tree needs."""
    deadline = time.monotonic() + BETA_SETUP_SECONDS
    for path in jobs:
        properties = client.run_job(path, timeout=max(1, deadline - time.monotonic()))
        check_equal(properties["State"], "done", f"{properties['Operation']} job {path} of beta")
    check_equal(domain_record("beta")["snapshot_count"], 500, "beta's snapshots")


def set_up():
    global session, browser
    # Branches of 20 from one root (what a person makes by going back to a good state),
    # not one chain of 500: vmsnapd took 95 s here for such a chain (each change checks
    # every snapshot's chain of parents), and 30-60 s for this tree. Submitted first, so
    # that they run while the rest of the setup does.
    beta_started = time.monotonic()
    beta_jobs = []
    if selected(TREE_500_CASE):
        beta_jobs.append(client.create("beta", "root", "the root of a tree of 500"))
        client.run_job(beta_jobs[0], timeout=BETA_SETUP_SECONDS)
        for branch in range(BETA_BRANCHES):
            if branch:
                beta_jobs.append(client.revert("beta", "root"))
            for i in range(BETA_PER_BRANCH if branch else BETA_PER_BRANCH - 1):
                beta_jobs.append(client.create("beta", f"b{branch:02d}-{i:02d}"))
        comment(f"setup: {len(beta_jobs)} jobs for beta's 500 snapshots submitted in "
                f"{time.monotonic() - beta_started:.2f} s")

    started = time.monotonic()
    alpha_vdb = os.path.join(IMAGES, "alpha-vdb.qcow2")
    subprocess.run(["qemu-img", "resize", "-q", alpha_vdb, f"{CLONE_MIB + 64}M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x33 0 {CLONE_MIB}M", alpha_vdb], check=True,
                   stdout=subprocess.DEVNULL)
    comment(f"setup: {CLONE_MIB} MiB written into alpha's vdb (what the clone copies) in "
            f"{time.monotonic() - started:.1f} s")

    session = CockpitSession("vmsnap-ok")
    cleanups.append(session.stop)
    browser = Browser()
    cleanups.append(browser.quit)
    browser.dark(None)

    if not beta_jobs:
        return
    wait_for_beta_jobs(beta_jobs)
    comment(f"setup: 500 snapshots on beta through vmsnapd ({len(beta_jobs)} Create and Revert jobs, all done) "
            f"in {time.monotonic() - beta_started:.1f} s")


try:
    set_up()
except Exception as error:  # nothing below can run
    print(f"Bail out! setting up the browser tests failed: {error}", flush=True)
    raise SystemExit(1)


@page_case("the page lists every VM with its state and snapshot count, and opens the one in the URL")
def _():
    browser.open(session.url("alpha"))
    browser.wait(f"qa('.vmsnap-vms tbody tr').length === {len(DOMAIN_UUIDS)}", what=f"{len(DOMAIN_UUIDS)} VMs")
    for name in ("alpha", "gamma"):
        record = domain_record(name)
        shown = browser.js("const r = document.querySelector(`.vmsnap-vms tr[data-vm='${arguments[0]}']`);"
                           "return [r.querySelector('.vmsnap-vm-state').textContent, "
                           "        r.querySelector('.vmsnap-vm-count').textContent]",
                           name)
        check_equal(shown, ["Shut off", str(record["snapshot_count"])], f"state and count of {name}")
    browser.wait("q('.vmsnap-domain').dataset.vm === 'alpha' && q('.vmsnap-empty')", what="alpha's empty tree")
    check_equal(browser.text(".vmsnap-vm-link[aria-current='page']"), "alpha", "the VM of the URL")
    browser.screenshot("vm-list")


@page_case("Create takes a snapshot with the name and description typed in the dialog, and the tree shows it; "
           "before the first snapshot the dialog already lists the VM's disks")
def _():
    open_dialog("create", "create")
    check_equal(browser.js("return document.querySelector('[data-field=name]').value"), "snapshot-1",
                "the default name")
    _, disks = client.get_configuration("alpha", "")
    shown = disk_checkboxes()
    check_equal([c[:3] for c in shown], [[d["target"], True, False] for d in disks], "a checked checkbox per disk")
    for (target, _, _, description), disk in zip(shown, disks):
        check(description.startswith(f"{disk['image']} (qcow2, "), f"{target} names its image and format: {description}")
    check(not browser.js("return document.querySelector('[data-field=memory]')"),
          "no memory option for a shut-off VM")
    browser.screenshot("create-dialog")
    browser.fill("[data-field=name]", "base")
    browser.fill("[data-field=description]", "clean install")
    submit_dialog()
    browser.wait(f"q('{row('base')}')", what="base in the tree")
    record = snapshot("alpha", "base")
    check(record is not None, "base exists on the bus")
    check_equal((record["description"], record["disks"]), ("clean install", ["vda", "vdb"]), "description, disks")
    check(tree_row("base")["current"], "base is marked current")
    browser.screenshot("created-base", show=".vmsnap-domain")


@page_case("the create dialog has a checkbox per disk; a disk left unchecked is recorded as excluded, and the tree "
           "says so")
def _():
    open_dialog("create", "create")
    check_equal([c[:3] for c in disk_checkboxes()], [["vda", True, False], ["vdb", True, False]], "disk checkboxes")
    browser.fill("[data-field=name]", "before-upgrade")
    browser.click('.vmsnap-disk-choices input[data-target="vdb"]')
    submit_dialog()
    browser.wait(f"q('{row('before-upgrade')}')", what="before-upgrade in the tree")
    record = snapshot("alpha", "before-upgrade")
    check_equal((record["disks"], record["excluded"]), (["vda"], [("vdb", "not selected")]), "disks, excluded")
    check_equal(tree_row("before-upgrade")["excluded"], ["vdb excluded: not selected"], "the tree's disks cell")
    check_equal(tree_row("before-upgrade")["consistency"], "offline", "the state cell's consistency")
    check("not running" in tree_row("before-upgrade")["consistency_text"], "the state cell's tooltip says why")


@page_case("the create dialog lists every disk of the VM: those a snapshot cannot include are disabled with the "
           "reason; the snapshot includes the checked disks and records the others as excluded")
def _():
    go("delta")
    open_dialog("create", "create")
    shown = disk_checkboxes()
    check_equal([c[:3] for c in shown], [["vda", True, False], ["vdb", True, False], ["vdc", False, True],
                                         ["vdd", False, True], ["vde", False, True], ["hdc", False, True]],
                "target, checked, disabled of each disk, in the VM's order")
    check_equal({c[0]: c[3] for c in shown if c[2]},
                {"vdc": "Cannot be included: read-only", "vdd": "Cannot be included: shareable",
                 "vde": "Cannot be included: not a file disk", "hdc": "Cannot be included: CD-ROM"},
                "the reason under each disabled disk")
    check(not browser.js("return document.querySelector('[data-field=memory]')"), "no memory option: delta is shut off")
    browser.screenshot("create-dialog-disks")
    browser.dark("shell")
    browser.wait("document.documentElement.classList.contains('pf-theme-dark')", what="the dark class")
    browser.screenshot("create-dialog-disks-dark")
    browser.dark(None)
    browser.wait("!document.documentElement.classList.contains('pf-theme-dark')", what="light again")
    browser.fill("[data-field=name]", "vda-only")
    browser.click('.vmsnap-disk-choices input[data-target="vdb"]')
    submit_dialog()
    browser.wait(f"q('{row('vda-only')}')", what="vda-only in the tree")
    record = snapshot("delta", "vda-only")
    check_equal(record["disks"], ["vda"], "the disks it includes")
    check_equal(sorted(record["excluded"]), [("hdc", "cdrom"), ("vdb", "not selected"), ("vdc", "read-only"),
                                             ("vdd", "shareable"), ("vde", "not a file disk")], "excluded, with reasons")


@page_case("the create dialog offers the memory state and quiesce for a running VM only")
def _():
    vm_state = "q(\".vmsnap-vms tr[data-vm='delta'] .vmsnap-state-{}\")"
    client.run_job(client.revert("delta", "vda-only", {"start": True}))
    browser.wait(vm_state.format("running"), what="delta running in the list")
    open_dialog("create", "create")
    browser.element("[data-field=memory]")
    check_equal(browser.js("return [document.querySelector('[data-field=memory]').checked, "
                           "        !!document.querySelector('[data-field=quiesce]')]"), [False, True],
                "memory (unchecked) and quiesce")
    check_equal([c[0] for c in disk_checkboxes()], ["vda", "vdb", "vdc", "vdd", "vde", "hdc"], "the same disks")
    browser.js("document.querySelector('[data-field=memory]').scrollIntoView({block: 'center'})")
    browser.screenshot("create-dialog-running")
    browser.driver.switch_to.active_element.send_keys("\ue00c")  # Escape
    browser.wait("!q('.vmsnap-modal')", what="the dialog to close")
    client.run_job(client.revert("delta", "vda-only", {"stop": True}))
    browser.wait(vm_state.format("shutoff"), what="delta shut off in the list")
    open_dialog("create", "create")
    disk_checkboxes()
    check(not browser.js("return document.querySelector('[data-field=memory], [data-field=quiesce]')"),
          "no memory or quiesce option once shut off")
    browser.driver.switch_to.active_element.send_keys("\ue00c")
    browser.wait("!q('.vmsnap-modal')", what="the dialog to close")
    go("alpha")


@page_case("Revert returns the VM to the chosen snapshot and the tree moves the current marker there")
def _():
    client.run_job(client.create("alpha", "after-upgrade", "upgraded"))  # made elsewhere: the tree follows
    browser.wait(f"q('{row('after-upgrade')}') && q('{row('after-upgrade')} .vmsnap-marker-current')",
                 what="after-upgrade, current, in the tree")
    select_snapshot("base")
    open_dialog("revert", "revert")
    browser.screenshot("revert-dialog")
    submit_dialog()
    browser.wait(f"q('{row('base')} .vmsnap-marker-current')", what="base marked current")
    check_equal(domain_record("alpha")["current_snapshot"], "base", "current snapshot on the bus")


@page_case("dialogs work from the keyboard: focus starts in the first field, Tab stays inside, Escape closes and "
      "focus returns to the button; Enter in the name field creates the snapshot")
def _():
    browser.js("document.querySelector('.vmsnap-toolbar .vmsnap-create').focus()")
    browser.driver.switch_to.active_element.send_keys("\n")
    browser.element('.vmsnap-modal[data-dialog="create"]')
    check_equal(browser.js("return document.activeElement.dataset.field"), "name", "focus in the name field")
    for _ in range(12):
        browser.driver.switch_to.active_element.send_keys("\t")
        check(browser.js("return !!document.activeElement.closest('.vmsnap-modal')"), "focus stays in the dialog")
    browser.driver.switch_to.active_element.send_keys("\ue00c")  # Escape
    browser.wait("!q('.vmsnap-modal')", what="the dialog to close on Escape")
    check(browser.js("return document.activeElement.classList.contains('vmsnap-create')"),
          "focus back on the Create button")
    browser.driver.switch_to.active_element.send_keys(" ")
    browser.element('.vmsnap-modal[data-dialog="create"]')
    field = browser.driver.switch_to.active_element
    field.send_keys("\ue009a")  # Ctrl+A
    field.send_keys("experiment\n")
    browser.wait(f"!q('.vmsnap-modal') && q('{row('experiment')}')", what="experiment in the tree")
    # base now has two children: its branches are nested one level below it.
    levels = {r["name"]: r["level"] for r in tree_rows()}
    check_equal(levels, {"base": 1, "before-upgrade": 2, "after-upgrade": 2, "experiment": 2}, "tree levels")
    browser.screenshot("tree-with-branches", show=".vmsnap-domain")


@page_case("the tree is usable with the keyboard: arrows move the selection, Left folds a branch, Right opens it")
def _():
    select_snapshot("base")
    browser.driver.switch_to.active_element.send_keys("\ue015")  # ArrowDown
    check_equal(browser.js("return document.activeElement.dataset.name"), "before-upgrade", "ArrowDown")
    browser.driver.switch_to.active_element.send_keys("\ue012")  # ArrowLeft: to the parent
    check_equal(browser.js("return document.activeElement.dataset.name"), "base", "ArrowLeft to the parent")
    browser.driver.switch_to.active_element.send_keys("\ue012")  # ArrowLeft: fold
    check_equal([r["name"] for r in tree_rows()], ["base"], "folded: the branches' rows are gone")
    check_equal(browser.js("return document.querySelector('.vmsnap-tree').getAttribute('aria-rowcount')"), "2",
                "aria-rowcount when folded (the header and base)")
    browser.driver.switch_to.active_element.send_keys("\ue014")  # ArrowRight: open
    check_equal([r["name"] for r in tree_rows()],
                ["base", "before-upgrade", "after-upgrade", "experiment"], "open again")
    check_equal(browser.js("return document.activeElement.dataset.name"), "base", "focus stays on base")


@page_case("Custom preview takes the configuration from one snapshot and each disk from the snapshot chosen in the "
      "matrix; the Commit / Undo banner appears")
def _():
    select_snapshot("base")
    open_dialog("custom-preview", "custom-preview")
    matrix = browser.js("""return Array.from(document.querySelectorAll('.vmsnap-matrix tbody tr')).map(r => [
        r.dataset.snapshot, Array.from(r.querySelectorAll('td')).map(c => c.querySelector('input') ?
        (c.querySelector('input').checked ? 'x' : 'o') + (c.querySelector('input').disabled ? '-' : '') :
        c.textContent.trim())])""")
    check_equal(matrix, [["base", ["x", "x", "x"]],
                         ["before-upgrade", ["o", "o", "excluded"]],
                         ["after-upgrade", ["o", "o", "o"]],
                         ["experiment", ["o", "o", "o"]],
                         ["", ["", "o-", "o-"]]],
                "the matrix: configuration, vda, vdb per snapshot")
    browser.click('.vmsnap-matrix input[name="disk-vdb"][data-snapshot="after-upgrade"]')
    check(browser.text(".vmsnap-modal .pf-c-form__helper-text").endswith("vdb from after-upgrade."),
          "the summary names the mix")
    browser.screenshot("custom-preview-dialog")
    submit_dialog()
    browser.wait("q('.vmsnap-preview-banner')", what="the preview banner")
    record = domain_record("alpha")
    check_equal((record["in_preview"], record["current_snapshot"]), (True, "base"), "in preview of base")
    # The banner comes with the VM list, the marker with the tree: two reads.
    browser.wait(f"q('{row('base')} .vmsnap-marker-preview')", what="base marked in preview")
    check(browser.js("return document.querySelector('.vmsnap-toolbar .vmsnap-create').disabled"),
          "no Create during a preview")
    browser.screenshot("preview-banner", show=".vmsnap-domain")


@page_case("Commit makes the custom preview the VM's state: the banner goes, and each disk now reads the snapshot "
      "chosen for it")
def _():
    browser.click(".vmsnap-preview-banner .vmsnap-commit")
    browser.element('.vmsnap-modal[data-dialog="commit"]')
    submit_dialog()
    browser.wait("!q('.vmsnap-preview-banner') && q('.vmsnap-domain').dataset.inPreview === 'false'",
                 what="the banner to go")
    check_equal(domain_record("alpha")["in_preview"], False, "in_preview on the bus")
    # A snapshot now freezes the committed disks: their backing files are the images chosen.
    client.run_job(client.create("alpha", "after-commit"))
    _, frozen = client.get_configuration("alpha", "after-commit")
    _, base_disks = client.get_configuration("alpha", "base")
    _, upgrade_disks = client.get_configuration("alpha", "after-upgrade")
    image = {d["target"]: d["image"] for d in frozen}
    chosen = {"vda": next(d["image"] for d in base_disks if d["target"] == "vda"),
              "vdb": next(d["image"] for d in upgrade_disks if d["target"] == "vdb")}
    check_equal(backing_of(image["vda"]), os.path.realpath(chosen["vda"]), "vda reads base")
    check_equal(backing_of(image["vdb"]), os.path.realpath(chosen["vdb"]), "vdb reads after-upgrade")
    browser.wait(f"q('{row('after-commit')}')", what="after-commit in the tree")


@page_case("Undo ends a preview and returns the VM to the state before it")
def _():
    select_snapshot("experiment")
    open_dialog("preview", "preview")
    submit_dialog()
    browser.wait("q('.vmsnap-preview-banner')", what="the preview banner")
    check_equal(domain_record("alpha")["current_snapshot"], "experiment", "previewing experiment")
    browser.click(".vmsnap-preview-banner .vmsnap-undo")
    browser.wait("!q('.vmsnap-preview-banner') && q('.vmsnap-domain').dataset.inPreview === 'false'",
                 what="the banner to go")
    record = domain_record("alpha")
    check_equal((record["in_preview"], record["current_snapshot"]), (False, "after-commit"), "back where it was")
    browser.wait(f"q('{row('after-commit')} .vmsnap-marker-current')", what="after-commit current again")


@page_case("Delete merges by default and says what it keeps: the snapshot goes, its child moves to its parent, the "
      "others stay")
def _():
    before = {s["name"] for s in client.list_snapshots("alpha")}
    select_snapshot("before-upgrade")
    open_dialog("delete", "delete")
    text = browser.text('.vmsnap-modal[data-dialog="delete"] .pf-c-modal-box__body')
    check("its child moves to “base”" in text, f"the merge choice says where the child goes: {text}")
    check(browser.js("return document.querySelector('input[value=merge]').checked"), "merge is the default")
    browser.screenshot("delete-dialog")
    submit_dialog()
    browser.wait(f"!q('{row('before-upgrade')}')", what="before-upgrade to leave the tree")
    check_equal({s["name"] for s in client.list_snapshots("alpha")}, before - {"before-upgrade"}, "snapshots left")
    check_equal(snapshot("alpha", "after-upgrade")["parent"], snapshot("alpha", "base")["id"], "new parent")


@page_case("Edit renames a snapshot and replaces its description")
def _():
    select_snapshot("experiment")
    open_dialog("edit", "edit")
    browser.fill('.vmsnap-modal [data-field="name"]', "kernel-test")
    browser.fill('.vmsnap-modal [data-field="description"]', "trying kernel 6.1")
    submit_dialog()
    browser.wait(f"q('{row('kernel-test')}')", what="the new name in the tree")
    check_equal(snapshot("alpha", "kernel-test")["description"], "trying kernel 6.1", "description")
    check_equal(tree_row("kernel-test")["description"], "trying kernel 6.1", "description in the tree")


@page_case("a snapshot made with busctl elsewhere appears in the tree (SnapshotsChanged); the rows that did not "
           "change keep their elements, so a click on one during the refresh is not lost")
def _():
    environment = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": ADDRESS}
    before = domain_record("alpha")["current_snapshot"]
    browser.js("document.querySelectorAll('.vmsnap-tree tr.vmsnap-row').forEach(r => { r.vmsnapProbe = true; })")
    started = time.time()
    subprocess.run(["busctl", "--system", "call", "org.example.Snapshots", "/org/example/Snapshots",
                    "org.example.Snapshots", "Create", "sssasa{sv}", "alpha", "from-busctl", "made elsewhere", "0",
                    "0"], check=True, env=environment, capture_output=True)
    browser.wait(f"q('{row('from-busctl')}')", what="from-busctl in the tree")
    comment(f"busctl Create to the row in the tree: {(time.time() - started) * 1000:.0f} ms (job included)")
    check_equal(tree_row("from-busctl")["description"], "made elsewhere", "its description")
    kept = browser.js("return Array.from(document.querySelectorAll('.vmsnap-tree tr.vmsnap-row'))"
                      ".filter(r => r.vmsnapProbe).map(r => r.dataset.name)")
    check("base" in kept, f"base did not change and kept its row element: {kept}")
    check(before not in kept, f"{before}, no longer current, was drawn again: {kept}")
    browser.screenshot("tree-after-busctl", show=".vmsnap-domain")


@page_case("a snapshot job advances in steps: its bar moves to 100 % with no bytes, rate or time left beside it")
def _():
    go("gamma")
    ours = '.vmsnap-job[data-domain="gamma"][data-snapshot="stepped"]'
    record_job_bars(ours)
    open_dialog("create", "create")
    browser.fill("[data-field=name]", "stepped")
    submit_dialog()
    check_equal(browser.wait(job_ended(ours), timeout=2 * WAIT_SECONDS, what="the job to end"), "done", "the job")
    bars = recorded_job_bars()
    comment(f"progress values of a snapshot of gamma's 48 disks: {bars['values']}")
    check(len([v for v in bars["values"] if 0 < v < 100]) >= 2, f"the bar moved through two values: {bars}")
    check(bars["values"] == sorted(bars["values"]) and bars["values"][-1] == 100, f"forward, to 100: {bars}")
    check_equal(set(bars["units"]), {"steps"}, "the job's progress unit")
    check(not [s for s in bars["statuses"] if " of " in s or "/s" in s or "left" in s],
          f"no bytes, rate or time left: {bars['statuses']}")
    check_equal(snapshot("gamma", "stepped")["name"], "stepped", "the snapshot exists")


@page_case("Cancel stops a job: its bar says it was canceled, and the tree does not change")
def _():
    go("gamma")
    names_before = client.snapshot_names("gamma")
    open_dialog("create", "create")
    browser.fill("[data-field=name]", "to-cancel")
    # Two changes of gamma made elsewhere (48 disks each: most of a second here, longer under
    # the sanitizers) keep ours queued behind them until the Cancel arrives.
    elsewhere = [client.create("gamma", f"from-elsewhere-{i}") for i in (1, 2)]
    browser.click(".vmsnap-modal .vmsnap-modal-primary")
    ours = '.vmsnap-job[data-domain="gamma"][data-snapshot="to-cancel"]'
    browser.click(f"{ours} .vmsnap-job-cancel")
    browser.screenshot("jobs-running")
    check_equal(browser.wait(job_ended(ours), what="the job to end"), "canceled", "how the job ended")
    status = browser.text(f"{ours} .vmsnap-job-status")
    check("canceled" in status, f"the bar says why: {status}")
    browser.screenshot("job-canceled")
    for path in elsewhere:
        client.run_job(path)
    check_equal(client.snapshot_names("gamma"), sorted(names_before + ["from-elsewhere-1", "from-elsewhere-2"]),
                "gamma's snapshots")
    go("alpha")


# ---- a running VM, sizes, children only, Delete all, history, Purge: on delta, each
# case starting from what the one before left ----

def vm_state(vm, state):
    return f"q(\".vmsnap-vms tr[data-vm='{vm}'] .vmsnap-state-{state}\")"


def cockpit_sizes(values):
    """Sizes as Cockpit writes them (format_bytes, powers of 1024), in the page; a number
    below a KiB, which Cockpit 287 leaves bare, with its unit."""
    return browser.js("return arguments[0].map(v => (s => /\\d$/.test(s) ? s + ' B' : s)(cockpit.format_bytes(v, 1024)))",
                      values)


def dismiss_finished_jobs():
    browser.js("document.querySelectorAll('.vmsnap-job-dismiss').forEach(b => b.click())")


@page_case("Revert of a running VM: the dialog says it runs and offers \"Stop the VM and revert\", which stops it "
           "and reverts")
def _():
    client.run_job(client.create("delta", "running-base"))
    client.run_job(client.revert("delta", "running-base", {"start": True}))
    go("delta")
    browser.wait(vm_state("delta", "running"), what="delta running in the list")
    select_snapshot("running-base")
    open_dialog("revert", "revert")
    check_equal(browser.text(".vmsnap-modal .vmsnap-modal-primary"), "Revert", "the button before")
    browser.click(".vmsnap-modal .vmsnap-modal-primary")
    offered = browser.wait("(b => !b.disabled && b.textContent)(q('.vmsnap-modal .vmsnap-modal-primary'))"
                           " === 'Stop the VM and revert' && q('.vmsnap-modal .vmsnap-error-sentence').textContent",
                           what="the offer to stop the VM")
    check("running" in offered, f"vmsnapd's sentence says why: {offered}")
    check(not browser.js("return document.querySelector('.vmsnap-job[data-domain=delta][data-state=failed]')"),
          "the refused job's bar is left to the dialog")
    check_equal(domain_record("delta")["state"], "running", "nothing stopped before asked")
    browser.screenshot("revert-stop-offered")
    submit_dialog()
    browser.wait(vm_state("delta", "shutoff"), what="delta shut off in the list")
    until(lambda: not unfinished_jobs(), what="the revert to end")
    record = domain_record("delta")
    check_equal((record["state"], record["current_snapshot"]), ("shutoff", "running-base"), "stopped and reverted")


@page_case("sizes: the VM list shows each VM's snapshot space and the tree each snapshot's size, as Cockpit writes "
           "sizes")
def _():
    domains = {d["name"]: d for d in client.list_domains() if d["defined"]}
    expected = dict(zip(domains, cockpit_sizes([d["snapshot_bytes"] for d in domains.values()])))
    browser.wait(f"""Object.entries({json.dumps(expected)}).every(([vm, size]) =>
            (r => r && r.querySelector('.vmsnap-vm-size').textContent === size)(q(`.vmsnap-vms tr[data-vm='${{vm}}']`)))""",
                 what=f"the VMs' snapshot space {expected}")
    comment(f"snapshot space per VM: {expected}")
    check(domains["delta"]["snapshot_bytes"] > 1024 and not expected["delta"].endswith(" B"),
          f"delta's space in a unit above bytes: {expected['delta']}")
    records = client.list_snapshots("delta")
    expected = dict(zip([r["name"] for r in records], cockpit_sizes([r["size"] for r in records])))
    browser.wait(f"""Object.entries({json.dumps(expected)}).every(([name, size]) =>
            (r => r && r.querySelector('.vmsnap-size').textContent === size)(q(`.vmsnap-tree tr[data-name='${{name}}']`)))""",
                 what=f"delta's snapshot sizes {expected}")


@page_case("Delete says how much the merge frees (ListSnapshots' reclaimable), and \"children only\" deletes the "
           "snapshots below and keeps the snapshot")
def _():
    client.run_job(client.create("delta", "keep"))
    client.run_job(client.create("delta", "below-keep"))
    client.run_job(client.revert("delta", "keep"))
    names = client.snapshot_names("delta")
    browser.wait(f"q('{row('below-keep')}') && q('{row('keep')} .vmsnap-marker-current')",
                 what="keep, current, and below-keep in the tree")
    select_snapshot("keep")
    open_dialog("delete", "delete")
    reclaimable = snapshot("delta", "keep")["reclaimable"]
    expected = f"Frees about {cockpit_sizes([reclaimable])[0]}." if reclaimable else "Frees no disk space."
    check_equal(browser.text(".vmsnap-modal .vmsnap-reclaimable"), expected, f"what a merge frees ({reclaimable} bytes)")
    option = "input[value=children_only]"
    check_equal(browser.js("const i = document.querySelector(arguments[0]);"
                           "return [i.disabled, document.querySelector(`label[for='${i.id}']`).textContent]",
                           f".vmsnap-modal {option}"),
                [False, "Delete the 1 snapshot below it, keep this one"], "the children only choice")
    browser.click(f".vmsnap-modal {option}")
    browser.screenshot("delete-dialog-children-only")
    submit_dialog()
    job_title = browser.wait("(e => e && e.textContent)(q('.vmsnap-job[data-operation=delete][data-snapshot=keep] "
                             ".vmsnap-job-title'))", what="the task's bar")
    check_equal(job_title, "Deleting the snapshots below “keep” of delta", "the task's title")
    browser.wait(f"!q('{row('below-keep')}') && q('{row('keep')}')", what="below-keep to leave the tree, keep to stay")
    until(lambda: not unfinished_jobs(), what="the delete to end")
    check_equal(client.snapshot_names("delta"), [n for n in names if n != "below-keep"], "delta's snapshots")


@page_case("Delete all with \"Merge into the original images\" leaves the VM no snapshot, the tree shows none, and "
           "each disk is its original image again")
def _():
    count = domain_record("delta")["snapshot_count"]
    browser.click(".vmsnap-toolbar .vmsnap-delete-all")
    browser.element('.vmsnap-modal[data-dialog="delete-all"]')
    summary = browser.text(".vmsnap-modal .vmsnap-delete-all-summary")
    check(summary.startswith(f"All {count} snapshots of delta ("), f"the dialog says what goes: {summary}")
    browser.click(".vmsnap-modal [data-field=into_original]")
    browser.screenshot("delete-all-dialog")
    submit_dialog()
    browser.wait("q('.vmsnap-domain').dataset.vm === 'delta' && q('.vmsnap-empty')", what="delta's empty tree")
    until(lambda: not unfinished_jobs(), what="the job to end")
    check_equal(client.list_snapshots("delta"), [], "delta's snapshots on the bus")
    _, disks = client.get_configuration("delta", "")
    images = {d["target"]: d["image"] for d in disks if d["target"] in ("vda", "vdb")}
    check_equal(images, {"vda": os.path.join(IMAGES, "delta-vda.qcow2"), "vdb": os.path.join(IMAGES, "delta-vdb.img")},
                "the disks are their originals")
    check(browser.js("return document.querySelector('.vmsnap-toolbar .vmsnap-delete-all').disabled"),
          "no Delete all without snapshots")
    dismiss_finished_jobs()


@page_case("History lists the VM's changes newest first: what, which snapshot, who, how it ended, and why it failed; "
           "it follows changes while shown")
def _():
    browser.click(".vmsnap-toolbar .vmsnap-history-toggle")
    entries = list(reversed(client.call("GetHistory", "s", ("delta",))[0]))
    check_equal(entries[0]["operation"], "delete-all", "the newest change on the bus")
    browser.wait(f"q('.vmsnap-history').dataset.vm === 'delta' && qa('.vmsnap-history tbody tr').length === {len(entries)}",
                 what=f"{len(entries)} rows of history")
    shown = browser.js("""return Array.from(document.querySelectorAll('.vmsnap-history tbody tr')).map(r => [
        r.dataset.operation, r.dataset.result, r.dataset.snapshot,
        r.querySelector('.vmsnap-history-user').textContent, r.querySelector('.vmsnap-history-details').textContent])""")
    users = {0: "root", int(subprocess.run(["id", "-u", "vmsnap-ok"], capture_output=True, text=True).stdout): "vmsnap-ok"}
    check_equal([s[:4] for s in shown],
                [[e["operation"], e["result"], e["snapshot"], users.get(e["uid"], f"UID {e['uid']}")] for e in entries],
                "operation, result, snapshot and user of each change, newest first")
    check_equal([s[0] for s in shown[:4]], ["delete-all", "delete", "revert", "create"], "the last changes made here")
    refused = next(s for s, e in zip(shown, entries) if e["error_name"].endswith(".DomainRunning"))
    check(refused[1] == "failed" and "running" in refused[4], f"the refused revert, with its sentence: {refused}")
    browser.screenshot("history", show=".vmsnap-history")
    # While shown, it follows changes made elsewhere.
    client.run_job(client.create("delta", "after-history"))
    browser.wait("(r => r && r.dataset.operation === 'create' && r.dataset.snapshot === 'after-history')"
                 "(q('.vmsnap-history tbody tr'))", what="the new change on top of the history")
    browser.click(".vmsnap-toolbar .vmsnap-history-toggle")
    browser.wait("!q('.vmsnap-history') || q('.vmsnap-history').offsetParent === null", what="the history to close")


@page_case("a VM libvirt no longer defines is listed with what vmsnap keeps of it; Purge, confirmed, removes it "
           "and its files, keeps the original, and the task names it")
def _():
    uuid = "66666666-6666-4666-8666-666666666666"
    original, frozen, leaf, _ = make_undefined_domain("ghost", uuid)
    record = next(d for d in client.list_domains() if d["uuid"] == uuid)
    browser.driver.refresh()  # nothing signals metadata written behind vmsnapd's back
    ghost = f".vmsnap-undefined-vms tr[data-uuid='{uuid}']"
    browser.wait(f"q(\"{ghost}\")", what="ghost among the VMs no longer defined")
    check_equal(browser.js(f"""const r = document.querySelector("{ghost}");
        return [r.dataset.vm, r.querySelector('.vmsnap-vm-count').textContent, r.querySelector('.vmsnap-vm-size').textContent]"""),
                ["ghost", "2", cockpit_sizes([record["snapshot_bytes"]])[0]], "name, snapshots, space")
    check(not browser.js("return document.querySelector(\".vmsnap-vms tr[data-vm='ghost']\")"),
          "not among the VMs to act on")
    browser.screenshot("undefined-vm", show=".vmsnap-undefined")
    browser.click(f"{ghost} .vmsnap-purge")
    browser.element('.vmsnap-modal[data-dialog="purge"]')
    text = browser.text(".vmsnap-modal .pf-c-modal-box__body")
    check("Its 2 snapshots and every file vmsnap made for them" in text and "original disk images" in text and
          "are kept" in text, f"the dialog says what goes and what stays: {text}")
    browser.screenshot("purge-dialog")
    submit_dialog()
    job = ".vmsnap-job[data-operation=purge]"
    check_equal(browser.wait(job_ended(job), what="the purge to end"), "done", "the purge job")
    browser.wait(f"!q(\"{ghost}\")", what="ghost to leave the list")
    messages = browser.wait(f"(m => m && m.textContent)(q('{job} .vmsnap-job-messages'))", what="the job's messages")
    check(original in messages, f"the task names the original it kept: {messages}")
    check(uuid not in [d["uuid"] for d in client.list_domains()], "gone from ListDomains")
    check(os.path.exists(original) and not os.path.exists(frozen) and not os.path.exists(leaf),
          "vmsnap's files gone, the original kept")
    browser.screenshot("purge-done", show=job)
    browser.click(f"{job} .vmsnap-job-dismiss")
    browser.wait(f"!q('{job}')", what="the task dismissed")
    go("alpha")


@page_case("Clone: the dialog's defaults come from GetConfiguration, the progress bar moves and completes, and the "
      "new VM is listed")
def _():
    select_snapshot("base")
    open_dialog("clone", "clone")
    browser.wait("qa('.vmsnap-clone-table tbody tr').length === 2", what="the disks of the clone")
    check_equal(browser.js("return document.querySelector('.vmsnap-modal [data-field=name]').value"), "copy_of_alpha",
                "default name")
    _, disks = client.get_configuration("alpha", "base")
    for disk in disks:
        shown = browser.js("""const r = document.querySelector(`.vmsnap-clone-table tr[data-target='${arguments[0]}']`);
            return [r.querySelector('[data-field=target_dir]').value, r.querySelector('[data-field=format]').value]""",
                           disk["target"])
        check_equal(shown, [os.path.dirname(disk["image"]), disk["format"]], f"defaults of {disk['target']}")
    browser.screenshot("clone-dialog")
    clone_job = ".vmsnap-job[data-operation=clone]"
    record_job_bars(clone_job)
    submit_dialog()
    # A screenshot half-way, if the page shows the bar half-way before the clone ends.
    midway = browser.wait(f"""(j => j && (['done', 'failed', 'canceled'].includes(j.dataset.state) ||
            (j.dataset.state === 'running' &&
             (v => v > 0 && v < 100)(+j.querySelector('.pf-c-progress__bar').getAttribute('aria-valuenow'))))
            ? j.dataset.state : null)(q('{clone_job}'))""", timeout=5 * WAIT_SECONDS, what="the clone to run or end")
    if midway == "running":
        browser.screenshot("clone-progress")
    state = browser.wait(job_ended(clone_job), timeout=5 * WAIT_SECONDS, what="the clone to end")
    bars = recorded_job_bars()
    comment(f"clone progress values seen: {bars['values']}")
    check_equal(state, "done", f"how the clone job ended: {browser.text(clone_job + ' .vmsnap-job-status')}")
    check(len([v for v in bars["values"] if 0 < v < 100]) >= 2, f"the bar moved through at least two values: {bars}")
    check(bars["values"] == sorted(bars["values"]) and bars["values"][-1] == 100,
          f"the bar only went forward, to 100: {bars}")
    check_equal(set(bars["units"]) - {"steps"}, {"bytes"}, "the clone counts bytes")  # "steps" until the total is known
    status = next((s for s in reversed(bars["statuses"]) if "left" in s), "")
    comment(f"a status line while it ran: {status}")
    check(" of " in status and "/s" in status and "left" in status, f"bytes, rate and time left: {bars['statuses']}")
    # The job still names the snapshot it copied; the new VM is its result.
    check_equal(browser.text(f"{clone_job} .vmsnap-job-title"), "Cloning alpha from “base”", "the job's title")
    check_equal(browser.js(f"return document.querySelector('{clone_job}').dataset.snapshot"), "base",
                "the job's Snapshot")
    check_equal(browser.text(f"{clone_job} .vmsnap-job-status"), "Created virtual machine “copy_of_alpha”.",
                "the job's result")
    browser.wait("q(\".vmsnap-vms tr[data-vm='copy_of_alpha']\")", what="copy_of_alpha in the VM list")
    browser.screenshot("clone-done")


@page_case("a user whom polkit denies sees the authorization error, and nothing changes")
def _():
    denied = CockpitSession("vmsnap-no")
    cleanups.append(denied.stop)
    first_tab = browser.driver.current_window_handle
    state_file = os.path.join(TEST_DIR, "state", DOMAIN_UUIDS["alpha"] + ".json")
    with open(state_file, "rb") as f:
        state_before = f.read()
    images_before = sorted(n for n in os.listdir(IMAGES) if n.startswith("alpha-"))
    browser.driver.switch_to.new_window("tab")
    try:
        browser.open(denied.url("alpha"))
        browser.wait("q('.vmsnap-error-state')", what="the error state")
        sentence = browser.text(".vmsnap-vm-list .vmsnap-error-sentence")
        check("not allowed" in sentence, f"the sentence says so: {sentence}")
        browser.screenshot("denied-read")
        # Now let vmsnap-no read, so that it can try to change something.
        rules = f"/etc/polkit-1/rules.d/40-vmsnap-browser-test-{os.getpid()}.rules"
        with open(rules, "w") as f:
            f.write('polkit.addRule(function(action, subject) {\n'
                    '    if (action.id == "org.example.snapshots.read" && subject.user == "vmsnap-no")\n'
                    '        return polkit.Result.YES;\n'
                    '    return polkit.Result.NOT_HANDLED;\n'
                    '});\n')
        cleanups.append(lambda: os.path.exists(rules) and os.remove(rules))

        def may_read():
            try:
                call_as("vmsnap-no", "ListDomains")
                return True
            except BusError:
                return False

        until(may_read, what="polkitd to load the read rule")
        # Nothing changed that would make the page read again by itself: one Try again reads
        # the VM list and the tree afresh.
        browser.click(".vmsnap-vm-list .vmsnap-error-state button")
        browser.wait(f"q('{row('base')}') && !q('.vmsnap-error-state')", what="alpha's tree for vmsnap-no")
        browser.screenshot("denied-may-read")
        open_dialog("create", "create")
        browser.click(".vmsnap-modal .vmsnap-modal-primary")
        sentence = browser.wait("(q('.vmsnap-modal .vmsnap-error-sentence') || {}).textContent",
                                what="the authorization error")
        check_equal(sentence, "You are not allowed to create snapshots of alpha", "the error sentence")
        browser.screenshot("denied-create")
        browser.driver.switch_to.active_element.send_keys("\ue00c")
        with open(state_file, "rb") as f:
            check(f.read() == state_before, "alpha's metadata did not change")
        check_equal(sorted(n for n in os.listdir(IMAGES) if n.startswith("alpha-")), images_before, "alpha's images")
    finally:
        browser.driver.close()
        browser.driver.switch_to.window(first_tab)
        denied.stop()


@page_case("the page follows Cockpit's dark theme and the system's preference, and back to light")
def _():
    browser.dark("shell")
    browser.wait("document.documentElement.classList.contains('pf-theme-dark')", what="the dark class")
    browser.screenshot("tree-dark", show=".vmsnap-domain")
    select_snapshot("base")
    open_dialog("delete", "delete")
    browser.screenshot("delete-dialog-dark")
    browser.driver.switch_to.active_element.send_keys("\ue00c")
    browser.dark("system")
    browser.wait("document.documentElement.classList.contains('pf-theme-dark')",
                 what="the dark class from prefers-color-scheme")
    browser.dark(None)
    browser.wait("!document.documentElement.classList.contains('pf-theme-dark')", what="light again")
    background = browser.js("return getComputedStyle(document.querySelector('.pf-c-card')).backgroundColor")
    check_equal(background, "rgb(255, 255, 255)", "a light card")


SHELL_CASE = "in Cockpit's shell the page is in the menu, and the shell's own Dark style switch reaches it"
if not os.path.exists("/usr/share/cockpit/shell/manifest.json"):
    skip(SHELL_CASE, "Cockpit's shell is not installed (apt-get install cockpit-system)")
else:
    @page_case(SHELL_CASE)
    def _():
        frame = "iframe[name='cockpit1:localhost/vmsnap']"
        try:
            browser.open(f"http://127.0.0.1:{session.port}/vmsnap#/alpha")
            link = browser.wait("(a => a && a.textContent.trim())(q('nav a[href$=\"/vmsnap\"]'))",
                                what="the menu entry")
            check_equal(link, "Snapshots", "the menu entry")
            browser.driver.switch_to.frame(browser.element(frame))
            browser.wait(f"q('{row('base')}')", what="alpha's tree in the shell's frame")
            browser.driver.switch_to.default_content()
            for style, dark in (("dark", True), ("auto", False)):
                browser.click("#toggle-menu")
                browser.click(f"button#{style}")
                browser.driver.switch_to.frame(browser.element(frame))
                browser.wait(f"document.documentElement.classList.contains('pf-theme-dark') === {str(dark).lower()}",
                             what=f"the page's style after the shell's {style}")
                browser.driver.switch_to.default_content()
                if dark:
                    browser.screenshot("shell-dark")
        finally:
            browser.driver.switch_to.default_content()
            browser.open(session.url("alpha"))
            browser.dark(None)
            browser.wait(f"q('{row('base')}')", what="alpha's tree outside the shell")


@page_case(TREE_500_CASE)
def _():
    until(lambda: not unfinished_jobs(), what="every job of the earlier cases to end before the timings")
    painted_500 = "performance.getEntriesByName('vmsnap:tree-painted').find(e => e.detail.rows === 500)"
    started = time.time()
    browser.js("window.location.hash = '#/beta'")  # from alpha's tree to beta's, in the open page
    browser.wait(painted_500, timeout=2 * WAIT_SECONDS, what="the tree of 500")
    comment(f"switch from alpha to beta's tree of 500 in the open page: {(time.time() - started) * 1000:.0f} ms")
    started = time.time()
    browser.driver.refresh()  # a fresh page: its clock starts at the navigation
    browser.wait(painted_500, timeout=2 * WAIT_SECONDS, what="the tree of 500 after a reload")
    opened = browser.js(f"return {painted_500}.startTime")
    comment(f"open the page to a painted tree of 500 snapshots: {opened:.0f} ms "
            f"(WebDriver's view, reload to seen: {(time.time() - started) * 1000:.0f} ms)")
    phases = browser.js("""
        const at = (name, test) => (performance.getEntriesByName(name).find(test || (() => true)) || {}).startTime;
        const nav = performance.getEntriesByType('navigation')[0];
        return [nav.domContentLoadedEventEnd, at('vmsnap:domains-read'),
                at('vmsnap:snapshots-read', e => e.detail.rows === 500),
                at('vmsnap:tree-updated', e => e.detail.rows === 500)];""")
    comment("  of which: scripts and styles loaded at {:.0f} ms, VMs read at {:.0f} ms, 500 snapshots read at "
            "{:.0f} ms, tree in the DOM at {:.0f} ms".format(*phases))
    check_equal(browser.js("return document.querySelector('.vmsnap-tree').getAttribute('aria-rowcount')"), "501",
                "aria-rowcount (the header and 500 snapshots)")
    drawn = browser.js("return document.querySelectorAll('.vmsnap-tree tbody tr.vmsnap-row').length")
    check(0 < drawn < 150, f"only the rows near the window are drawn ({drawn} of 500)")
    browser.screenshot("tree-500", show=".vmsnap-domain")
    read = scroll_through_tree()
    comment(f"scrolled through the tree of 500: at most {read['mostDrawn']} rows drawn at once")
    check_equal(len(read["names"]), 500, "every snapshot's row was drawn on the way down")
    check_equal(read["names"], beta_names_in_tree_order(), "in the tree's order")
    check_equal(read["gaps"][:3], [], "a spacer inside the window (rows missing where the reader looks)")
    browser.screenshot("tree-500-end", show=".vmsnap-tree tbody tr.vmsnap-row:last-of-type")

    # End and Home with the keyboard reach rows that were not drawn.
    browser.js("document.querySelector('.vmsnap-tree').scrollIntoView({block: 'start'})")  # back to the top
    select_snapshot("root")
    browser.driver.switch_to.active_element.send_keys("\ue010")  # End
    check_equal(browser.js("return document.activeElement.dataset.name"), "b24-19", "End: the last row, focused")
    check(browser.js("const b = document.activeElement.getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight"),
          "the last row is in the window")
    browser.driver.switch_to.active_element.send_keys("\ue011")  # Home
    check_equal(browser.js("return document.activeElement.dataset.name"), "root", "Home: the first row, focused")

    changed_at = time.time()
    client.rename("beta", "b12-07", "renamed-from-the-bus")
    browser.wait("(s => s && performance.getEntriesByName('vmsnap:tree-painted').some(e => e.startTime > s.startTime))"
                 "(performance.getEntriesByName('vmsnap:snapshots-changed').pop())", what="the tree painted after the rename")
    timings = browser.js("""const signal = performance.getEntriesByName('vmsnap:snapshots-changed').pop();
        const painted = performance.getEntriesByName('vmsnap:tree-painted')
            .filter(e => e.startTime > signal.startTime)[0];
        return [painted.startTime - signal.startTime, performance.timeOrigin + painted.startTime];""")
    comment(f"SnapshotsChanged to the updated tree of 500: {timings[0]:.0f} ms "
            f"(Rename call to painted: {timings[1] - changed_at * 1000:.0f} ms)")
    names = scroll_through_tree()["names"]
    check("renamed-from-the-bus" in names and "b12-07" not in names, "the renamed row, found by scrolling")


@page_case("the pages never passed the bus's limit of pending calls per connection, although hundreds of finished "
           "jobs lingered when they opened")
def _():
    # dbus-daemon fails every further call of a connection with 128 calls awaiting replies.
    with open(os.path.join(TEST_DIR, "dbus-daemon.log")) as f:
        refused = [line.strip() for line in f if "maximum number of pending replies" in line]
    check_equal(refused[:3], [], f"calls refused by the bus ({len(refused)})")


@page_case("the browser console shows no script error and no content security policy violation")
def _():
    # The page's own messages only: the shell's other pages complain about what this test bed lacks.
    problems = [entry["message"] for entry in browser.collect_console()
                if (entry["level"] == "SEVERE" and "/vmsnap/" in entry["message"])
                or "Content Security Policy" in entry["message"]]
    check(not problems, "\n".join(problems))


finish()
