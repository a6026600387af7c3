/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* history.js: a VM's history (GetHistory), newest first, as a table: when, what, which
 * snapshot, who, how it ended, and the error or the messages it left. It reads again
 * when app.js says the VM changed; when to show it is left to app.js. */
import * as bus from "./bus.js";
import { h, label, replaceChildren, spinner, alert } from "./dom.js";

const _ = cockpit.gettext;

const OPERATIONS = {
    create: _("Create"),
    preview: _("Preview"),
    commit: _("Commit"),
    undo: _("Undo"),
    revert: _("Revert"),
    delete: _("Delete"),
    "delete-all": _("Delete all"),
    purge: _("Purge"),
    clone: _("Clone"),
    rename: _("Rename"),
    "set-description": _("Edit description"),
};

const RESULTS = {
    done: [_("Done"), "green"],
    failed: [_("Failed"), "red"],
    canceled: [_("Canceled"), null],
};

let timeFormat = null;
function formatMicroseconds(microseconds) {
    if (timeFormat === null)
        timeFormat = new Intl.DateTimeFormat(cockpit.language || undefined, { dateStyle: "medium", timeStyle: "medium" });
    return timeFormat.format(new Date(microseconds / 1000));
}

export class HistoryView {
    constructor() {
        this.domain = null; // {uuid, name} shown
        this.me = null; // cockpit.user(): the user's own UID reads as their name
        this.meRead = cockpit.user().then(user => { this.me = user }, () => {});
        this.body = h("div", { class: "vmsnap-history-body" });
        this.title = h("h2", { class: "pf-c-title pf-m-lg", id: "history-title" });
        this.element = h("section", { class: "pf-c-card vmsnap-history", "aria-labelledby": "history-title" },
                         h("div", { class: "pf-c-card__title" }, this.title),
                         h("div", { class: "pf-c-card__body" }, this.body));
        this.reading = null;
    }

    /* Shows domain's history (a ListDomains record), read afresh. */
    async show(domain) {
        if (!this.domain || this.domain.uuid !== domain.uuid)
            replaceChildren(this.body, h("div", { class: "pf-l-bullseye" }, spinner("lg")));
        this.domain = domain;
        this.title.textContent = cockpit.format(_("History of $0"), domain.name);
        const reading = this.reading = bus.getHistory(domain.uuid);
        let entries;
        try {
            [entries] = await Promise.all([reading, this.meRead]);
        } catch (error) {
            if (reading === this.reading)
                replaceChildren(this.body, alert("danger", _("The history cannot be read"), h("p", { class: "vmsnap-error-sentence" }, bus.errorSentence(error))));
            return;
        }
        if (reading !== this.reading)
            return; // a newer read answers
        this.element.dataset.vm = domain.name;
        this.render(entries.slice().reverse());
    }

    user(uid) {
        if (uid === 0)
            return "root";
        if (this.me && this.me.id === uid)
            return this.me.name;
        return cockpit.format(_("UID $0"), uid);
    }

    render(entries) {
        if (entries.length === 0) {
            replaceChildren(this.body, h("p", { class: "vmsnap-muted vmsnap-history-empty" }, _("Nothing has been changed yet.")));
            return;
        }
        const rows = entries.map(entry => {
            const [resultText, color] = RESULTS[entry.result] || [entry.result, null];
            const details = [];
            if (entry.error)
                details.push(h("p", { class: "vmsnap-history-error" }, entry.error));
            if ((entry.messages || []).length)
                details.push(h("ul", { class: "vmsnap-history-messages" }, entry.messages.map(message => h("li", {}, message))));
            return h("tr", { dataset: { operation: entry.operation, result: entry.result, snapshot: entry.snapshot || "" } },
                     h("td", { "data-label": _("Time"), class: "vmsnap-history-time" }, formatMicroseconds(entry.time)),
                     h("td", { "data-label": _("Operation"), class: "vmsnap-history-operation" }, OPERATIONS[entry.operation] || entry.operation),
                     h("td", { "data-label": _("Snapshot"), class: "vmsnap-history-snapshot" }, entry.snapshot || h("span", { class: "vmsnap-muted" }, "—")),
                     h("td", { "data-label": _("User"), class: "vmsnap-history-user" }, this.user(entry.uid)),
                     h("td", { "data-label": _("Result"), class: "vmsnap-history-result" }, label(resultText, color)),
                     h("td", { "data-label": _("Details"), class: "vmsnap-history-details" }, details));
        });
        replaceChildren(this.body,
                        h("div", { class: "vmsnap-history-scroll" },
                          h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-history-table", "aria-labelledby": "history-title" },
                            h("thead", {}, h("tr", {},
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("Time")),
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("Operation")),
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("Snapshot")),
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("User")),
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("Result")),
                                             h("th", { scope: "col", class: "pf-m-wrap" }, _("Details")))),
                            h("tbody", {}, rows))));
    }
}
