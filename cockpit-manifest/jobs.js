/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* jobs.js: the live jobs of vmsnapd as PatternFly progress bars: one per job, fed by
 * the job's Progress, PropertiesChanged and Completed signals (percent; bytes, rate and
 * time left only for a job that counts bytes, which is a clone: the others advance in
 * steps), with Cancel while it runs and the error sentence when it fails; a job that
 * left messages (an original image kept, say) stays until dismissed. Jobs
 * started elsewhere (busctl, another browser) appear too. What a finished job changed
 * reaches the tree through SnapshotsChanged, not through here. */
import * as bus from "./bus.js";
import { h, icon, button, replaceChildren, formatBytes, formatRate, formatDuration, uniqueId } from "./dom.js";

const _ = cockpit.gettext;

const FINISHED = ["done", "failed", "canceled"];

/* At most this many job reads in flight. Finished jobs linger on the bus for minutes,
 * so a page may open to hundreds of them; reading them all at once would pass the bus's
 * limit of pending calls per connection (128 in dbus-daemon's default configuration),
 * and every other call of the page, the snapshot tree's too, would fail meanwhile. */
const READS_IN_FLIGHT = 8;

class ReadQueue {
    constructor(limit) {
        this.limit = limit;
        this.active = 0;
        this.waiting = [];
    }

    /* Runs read() when a place is free; urgent reads (a job this page started, an
     * outcome) go before the others. */
    run(read, urgent) {
        return new Promise((resolve, reject) => {
            const entry = { read, resolve, reject };
            if (urgent)
                this.waiting.unshift(entry);
            else
                this.waiting.push(entry);
            this.next();
        });
    }

    next() {
        while (this.active < this.limit && this.waiting.length > 0) {
            const { read, resolve, reject } = this.waiting.shift();
            this.active += 1;
            read().then(resolve, reject).finally(() => {
                this.active -= 1;
                this.next();
            });
        }
    }
}
const KEEP_DONE_MS = 10000; // a successful job this page started stays this long, then its bar goes

/* vmsnapd fills BytesTotal only for a job whose progress counts bytes (a clone); a job
 * that advances in steps has a fraction and nothing more to say. */
function countsBytes(props) {
    return props.BytesTotal > 0;
}

function title(props) {
    const snapshot = props.Snapshot;
    switch (props.Operation) {
    case "create":
        return snapshot ? cockpit.format(_("Creating snapshot “$0” of $1"), snapshot, props.Domain)
            : cockpit.format(_("Creating a snapshot of $0"), props.Domain);
    case "preview":
        return cockpit.format(_("Previewing “$0” on $1"), snapshot, props.Domain);
    case "commit":
        return cockpit.format(_("Committing the preview of $0"), props.Domain);
    case "undo":
        return cockpit.format(_("Undoing the preview of $0"), props.Domain);
    case "revert":
        return cockpit.format(_("Reverting $0 to “$1”"), props.Domain, snapshot);
    case "delete":
        return cockpit.format(_("Deleting snapshot “$0” of $1"), snapshot, props.Domain);
    case "clone":
        return cockpit.format(_("Cloning $0 from “$1”"), props.Domain, snapshot);
    case "delete-all":
        return cockpit.format(_("Deleting every snapshot of $0"), props.Domain);
    case "purge":
        return cockpit.format(_("Purging the snapshots of $0"), props.Domain);
    default:
        return cockpit.format(_("$0 of $1"), props.Operation, props.Domain);
    }
}

function finishedText(props) {
    if (props.State === "done") {
        if (props.Operation === "create" && props.Result)
            return cockpit.format(_("Created snapshot “$0”."), props.Result);
        if (props.Operation === "clone" && props.Result)
            return cockpit.format(_("Created virtual machine “$0”."), props.Result);
        return _("Done.");
    }
    if (props.State === "canceled")
        return props.Error || _("Canceled.");
    return props.Error || _("The job failed.");
}

/* A clone: "1.2 GiB of 2.0 GiB · 512 MiB/s · about 3 seconds left"; a job counted in
 * steps shows its percentage beside the bar and no line here. */
function runningText(props) {
    if (props.State === "queued")
        return cockpit.format(_("Waiting for an earlier change of $0"), props.Domain);
    if (!props.ProgressValid)
        return _("Starting…");
    if (!countsBytes(props))
        return "";
    const parts = [cockpit.format(_("$0 of $1"), formatBytes(props.BytesDone), formatBytes(props.BytesTotal))];
    if (props.Rate > 0) {
        parts.push(formatRate(props.Rate));
        const left = Math.max(0, props.BytesTotal - props.BytesDone) / props.Rate;
        parts.push(left < 1 ? _("less than a second left") : cockpit.format(_("about $0 left"), formatDuration(left)));
    }
    return parts.join(" · ");
}

class JobView {
    constructor(path, list) {
        this.path = path;
        this.list = list;
        this.props = null;
        this.pending = {}; // values that arrived before GetAll answered
        this.removeTimer = null;
        this.titleId = uniqueId("job-title");
        this.element = h("li", { class: "vmsnap-job", dataset: { jobPath: path } });
        this.waiters = []; // outcome() callers
    }

    settle(props) {
        const waiters = this.waiters;
        this.waiters = [];
        waiters.forEach(resolve => resolve(props));
    }

    merge(values) {
        if (this.props === null)
            Object.assign(this.pending, values);
        else
            Object.assign(this.props, values);
    }

    async load(urgent) {
        const props = await this.list.reads.run(() => bus.jobProperties(this.path), urgent || this.mine);
        this.props = Object.assign(props, this.pending);
        this.pending = {};
    }

    get title() {
        return this.ownTitle || title(this.props);
    }

    get finished() {
        return this.props !== null && FINISHED.includes(this.props.State);
    }

    render() {
        const props = this.props;
        if (props === null)
            return;
        const percent = Math.round(Math.min(1, Math.max(0, props.Progress)) * 100);
        const finished = FINISHED.includes(props.State);
        const variant = props.State === "done" ? "pf-m-success" : finished ? "pf-m-danger" : "";

        const indicator = h("div", { class: "pf-c-progress__indicator" });
        indicator.style.width = `${props.State === "done" ? 100 : percent}%`;
        const statusIcon = props.State === "done" ? icon("success") : finished ? icon("danger") : null;

        const actions = [];
        if (!finished && props.Cancelable)
            actions.push(button(_("Cancel"), "secondary", () => this.cancel(),
                                { "aria-label": cockpit.format(_("Cancel: $0"), this.title), class: "pf-c-button pf-m-secondary pf-m-small vmsnap-job-cancel" }));
        if (finished)
            actions.push(h("button", {
                type: "button",
                class: "pf-c-button pf-m-plain vmsnap-job-dismiss",
                "aria-label": cockpit.format(_("Dismiss: $0"), this.title),
                onclick: () => this.list.drop(this.path),
            }, icon("close")));

        const helper = finished ? finishedText(props) : runningText(props);
        const messages = (props.Messages || []).map(message => h("li", {}, message));

        this.element.dataset.state = props.State;
        this.element.dataset.operation = props.Operation;
        this.element.dataset.domain = props.Domain;
        this.element.dataset.snapshot = props.Snapshot;
        this.element.dataset.progressUnit = countsBytes(props) ? "bytes" : "steps";
        const shownPercent = props.State === "done" ? 100 : percent;
        // One line per job: title, bar, percent, Cancel; what it is doing underneath.
        replaceChildren(this.element,
                        h("div", { class: "vmsnap-job-title", id: this.titleId }, this.title),
                        h("div", { class: `pf-c-progress pf-m-sm pf-m-singleline ${variant}` },
                          h("div", { class: "pf-c-progress__status", "aria-hidden": "true" },
                            h("span", { class: "pf-c-progress__measure" }, finished && props.State !== "done" ? "" : `${shownPercent}%`),
                            statusIcon ? h("span", { class: "pf-c-progress__status-icon" }, statusIcon) : null),
                          h("div", {
                              class: "pf-c-progress__bar",
                              role: "progressbar",
                              "aria-valuemin": "0",
                              "aria-valuemax": "100",
                              "aria-valuenow": String(shownPercent),
                              "aria-labelledby": this.titleId,
                              "aria-describedby": helper ? this.titleId + "-status" : null,
                          }, indicator)),
                        h("div", { class: "vmsnap-job-actions" }, actions),
                        helper ? h("div", { class: "vmsnap-job-status", id: this.titleId + "-status" }, helper) : null,
                        messages.length ? h("ul", { class: "vmsnap-job-messages" }, messages) : null);
    }

    async cancel() {
        try {
            await bus.cancelJob(this.path);
        } catch (error) {
            this.merge({ Error: bus.errorSentence(error) });
            this.list.announce(bus.errorSentence(error));
            this.render();
        }
    }
}

/* Per domain, at most this many unfinished jobs get a bar; the rest wait in one line. */
const BARS_PER_DOMAIN = 3;

export class JobList {
    /* container: the card to fill, hidden while there is no job; onFinished(props): after a job ended. */
    constructor(container, onFinished) {
        this.container = container;
        this.onFinished = onFinished;
        this.views = new Map();
        this.reads = new ReadQueue(READS_IN_FLIGHT);
        this.summaries = new Map(); // domain -> <li> "n more waiting"
        this.layoutPending = false;
        this.list = h("ul", { class: "vmsnap-jobs", "aria-labelledby": "jobs-title" });
        // Outside the container, which hides itself when there is no job.
        this.liveRegion = h("div", { class: "pf-screen-reader", "aria-live": "polite" });
        document.body.append(this.liveRegion);
        replaceChildren(container,
                        h("div", { class: "pf-c-card__title" }, h("h2", { class: "pf-c-title pf-m-md", id: "jobs-title" }, _("Tasks"))),
                        h("div", { class: "pf-c-card__body" }, this.list));
        this.layout();
    }

    start() {
        bus.onManagerSignal("JobNew", ([, path]) => this.track(path));
        bus.onManagerSignal("JobRemoved", ([, path]) => this.removed(path));
        bus.onJobSignals((path, member, args) => this.signal(path, member, args));
        return this.reload();
    }

    /* The jobs that run now (at the start, and again when the service or the user's
     * permissions may have changed). */
    async reload() {
        const paths = await bus.listJobs();
        // Newest first: the running ones are among them, the many finished ones before.
        await Promise.all(paths.reverse().map(path => this.track(path, { onlyUnfinished: true })));
    }

    /* Shows the job at path (idempotent): mine, a job this page started (it stays a
     * while when done, and is announced), or one of JobNew, or one that was running
     * when the page opened. ownTitle: what this page knows better than the job's
     * properties say (a delete of only the snapshots below one). */
    async track(path, { onlyUnfinished, mine, ownTitle } = {}) {
        const known = this.views.get(path);
        if (known) {
            known.mine = known.mine || Boolean(mine);
            if (ownTitle) {
                known.ownTitle = ownTitle;
                known.render();
            }
            return;
        }
        const view = new JobView(path, this);
        view.mine = Boolean(mine);
        view.ownTitle = ownTitle || null;
        this.views.set(path, view);
        try {
            await view.load();
        } catch (error) {
            this.views.delete(path); // gone already, or not ours to read
            view.settle(null);
            return;
        }
        if (onlyUnfinished && view.finished) {
            this.views.delete(path);
            return;
        }
        if (this.views.get(path) !== view) { // dropped while it was read
            view.settle(null);
            return;
        }
        this.list.append(view.element);
        view.render();
        this.scheduleLayout();
        if (view.finished)
            this.finished(view);
    }

    signal(path, member, args) {
        const view = this.views.get(path);
        if (!view)
            return;
        const wasFinished = view.finished;
        if (member === "Progress") {
            // ProgressValid comes with PropertiesChanged: a job counted in steps sends done = total = 0.
            const [fraction, done, total] = args;
            view.merge({ Progress: fraction, BytesDone: done, BytesTotal: total });
            if (view.props && view.props.State === "queued")
                view.merge({ State: "running" });
        } else if (member === "PropertiesChanged") {
            view.merge(args[0]);
        } else if (member === "Completed") {
            // The final State, Error and Result come with GetAll: canceled and failed look alike here.
            view.load(true).then(() => {
                view.render();
                if (!wasFinished)
                    this.finished(view);
            }, () => {});
            return;
        } else {
            return;
        }
        view.render();
        if (!wasFinished && view.finished)
            this.finished(view);
        if (member === "PropertiesChanged" && "State" in args[0])
            this.scheduleLayout();
    }

    /* The job's properties once it has ended; null when it cannot be read or its bar
     * went first. For a dialog that says more than the bar about some failures. */
    outcome(path) {
        const view = this.views.get(path);
        if (!view)
            return Promise.resolve(null);
        if (view.finished)
            return Promise.resolve(view.props);
        return new Promise(resolve => view.waiters.push(resolve));
    }

    finished(view) {
        if (view.announced)
            return;
        view.announced = true;
        const props = view.props;
        view.settle(props);
        if (view.mine)
            this.announce(`${view.title}: ${finishedText(props)}`);
        // Someone else's finished job says nothing the tree does not show: it goes at once.
        // Messages of one's own job are read before it goes.
        const kept = view.mine && (props.Messages || []).length > 0;
        if (props.State === "done" && !kept)
            view.removeTimer = window.setTimeout(() => this.drop(view.path), view.mine ? KEEP_DONE_MS : 0);
        this.scheduleLayout();
        if (this.onFinished)
            this.onFinished(props);
    }

    /* JobRemoved: the job's object is gone; a failed one (or one of mine with messages)
     * stays on the page until dismissed. */
    removed(path) {
        const view = this.views.get(path);
        if (view && (!view.finished || (view.props.State === "done" && !(view.mine && (view.props.Messages || []).length))))
            this.drop(path);
    }

    drop(path) {
        const view = this.views.get(path);
        if (!view)
            return;
        window.clearTimeout(view.removeTimer);
        view.settle(view.finished ? view.props : null);
        const hadFocus = view.element.contains(document.activeElement);
        view.element.remove();
        this.views.delete(path);
        this.scheduleLayout();
        if (hadFocus)
            document.getElementById("main").focus();
    }

    announce(text) {
        this.liveRegion.textContent = text;
    }

    scheduleLayout() {
        if (this.layoutPending)
            return;
        this.layoutPending = true;
        window.requestAnimationFrame(() => {
            this.layoutPending = false;
            this.layout();
        });
    }

    /* Which bars show: every finished one, and per domain the first unfinished ones;
     * a line says how many more wait. The card hides when there is nothing. */
    layout() {
        // Running and waiting jobs first, in the order they came; finished ones below, newest first.
        const ordered = Array.from(this.views.values()).filter(view => view.props !== null)
                .sort((a, b) => (a.finished - b.finished) || (a.finished ? b.props.Id - a.props.Id : a.props.Id - b.props.Id));
        for (const view of ordered) {
            if (this.list.lastElementChild !== view.element)
                this.list.append(view.element);
        }
        const waiting = new Map(); // domain -> unfinished views in job order
        for (const view of this.views.values()) {
            if (view.props === null)
                continue;
            if (view.finished) {
                view.element.hidden = false;
                continue;
            }
            const domain = view.props.Domain;
            if (!waiting.has(domain))
                waiting.set(domain, []);
            waiting.get(domain).push(view);
        }
        for (const [domain, views] of waiting) {
            views.sort((a, b) => a.props.Id - b.props.Id);
            views.forEach((view, index) => { view.element.hidden = index >= BARS_PER_DOMAIN });
            const more = views.length - BARS_PER_DOMAIN;
            let summary = this.summaries.get(domain);
            if (more > 0) {
                if (!summary) {
                    summary = h("li", { class: "vmsnap-job-summary", dataset: { domain } });
                    this.summaries.set(domain, summary);
                }
                summary.textContent = cockpit.format(cockpit.ngettext("$0 more task waits for $1", "$0 more tasks wait for $1", more), more, domain);
                views[BARS_PER_DOMAIN - 1].element.after(summary);
            } else if (summary) {
                summary.remove();
                this.summaries.delete(domain);
            }
        }
        for (const [domain, summary] of this.summaries) {
            if (!waiting.has(domain)) {
                summary.remove();
                this.summaries.delete(domain);
            }
        }
        this.container.hidden = !Array.from(this.views.values()).some(view => view.props !== null);
    }
}
