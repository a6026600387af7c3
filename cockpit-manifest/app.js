/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* app.js: the Snapshots page itself: the list of VMs (state, snapshot count, space),
 * with the VMs libvirt no longer defines whose snapshots vmsnap keeps (to purge), the
 * chosen VM's snapshot tree with its toolbar, the Commit / Undo banner of a preview,
 * the VM's history on request, and the job list; it reads everything again when vmsnapd
 * says SnapshotsChanged, whoever made the change. The tree, the dialogs, the history and
 * the jobs live in their own files;
 * the route is the URL fragment (#/alpha). Timings go to performance marks
 * (vmsnap:snapshots-changed, vmsnap:domains-read, vmsnap:snapshots-read,
 * vmsnap:tree-updated, vmsnap:tree-painted) for the tests. */
import * as bus from "./bus.js";
import { h, alert, button, label, replaceChildren, stateText, icon, spinner, formatBytes } from "./dom.js";
import { SnapshotTree } from "./tree.js";
import { HistoryView } from "./history.js";
import { JobList } from "./jobs.js";
import * as dialogs from "./dialogs.js";

const _ = cockpit.gettext;

/* Runs load() now, or once more after the run in progress: any number of requests
 * while one runs cost one more read, never a pile of them. */
class Refresh {
    constructor(load) {
        this.load = load;
        this.running = null;
        this.again = false;
    }

    request() {
        if (this.running) {
            this.again = true;
            return this.running;
        }
        this.running = (async () => {
            try {
                do {
                    this.again = false;
                    await this.load();
                } while (this.again);
            } finally {
                this.running = null;
            }
        })();
        return this.running;
    }
}

function mark(name, detail) {
    performance.mark(name, { detail });
}

class Page {
    constructor() {
        this.domains = null; // ListDomains' defined VMs, null until read
        this.undefinedDomains = []; // ListDomains' VMs libvirt no longer defines
        this.historyShown = false;
        this.domainsError = null;
        this.records = [];
        this.snapshotsError = null;
        this.snapshotsDomain = null; // uuid the records belong to
        this.recordsVersion = 0; // counts reads of the records, so the tree is drawn once per read
        this.selectedName = null;

        this.vmList = h("div", { class: "pf-c-card__body vmsnap-vm-list" });
        this.jobArea = h("section", { class: "pf-c-card pf-m-compact vmsnap-jobs-card", "aria-labelledby": "jobs-title" });
        this.domainCard = h("section", { class: "pf-c-card vmsnap-domain" });
        this.tree = new SnapshotTree(record => this.selectionChanged(record));
        this.shown = {}; // what the domain card shows now, to redraw only what changed
        this.actionErrors = h("div", { class: "vmsnap-action-errors" });
        this.history = new HistoryView();
        this.historyItem = h("div", { class: "pf-l-stack__item", hidden: true }, this.history.element);

        const main = document.getElementById("main");
        replaceChildren(main,
                        h("section", { class: "pf-c-page__main-section pf-m-light" },
                          h("div", { class: "pf-c-content" },
                            h("h1", {}, _("Snapshots")),
                            h("p", {}, _("Snapshot trees of the virtual machines on this host: preview, commit, revert, delete and clone.")))),
                        h("section", { class: "pf-c-page__main-section" },
                          h("div", { class: "pf-l-stack pf-m-gutter" },
                            h("div", { class: "pf-l-stack__item" },
                              h("section", { class: "pf-c-card", "aria-labelledby": "vm-list-title" },
                                h("div", { class: "pf-c-card__title" }, h("h2", { class: "pf-c-title pf-m-lg", id: "vm-list-title" }, _("Virtual machines"))),
                                this.vmList)),
                            h("div", { class: "pf-l-stack__item" }, this.domainCard),
                            this.historyItem,
                            // Last and sticky: bars that come and go never move what is above them.
                            h("div", { class: "pf-l-stack__item vmsnap-jobs-dock" }, this.jobArea))));

        this.jobs = new JobList(this.jobArea, () => this.domainsRefresh.request());
        this.domainsRefresh = new Refresh(() => this.loadDomains());
        this.snapshotsRefresh = new Refresh(() => this.loadSnapshots());
    }

    async start() {
        bus.connect();
        bus.onOwnerChanged(owner => {
            if (owner)
                this.refreshAll();
        });
        bus.onManagerSignal("SnapshotsChanged", ([uuid]) => {
            mark("vmsnap:snapshots-changed", { uuid });
            this.prefetch = null; // possibly older than this change
            this.domainsRefresh.request();
            if (this.domains && this.selectedDomain() && this.selectedDomain().uuid === uuid) {
                this.snapshotsRefresh.request();
                if (this.historyShown)
                    this.history.show(this.selectedDomain());
            }
        });
        cockpit.addEventListener("locationchanged", () => this.route());
        this.jobs.start().catch(() => {}); // without read access the lists below say why
        // The VM of the URL is known by name: its snapshots are asked for with the VMs, not after.
        const path = cockpit.location.path;
        if (path.length > 0) {
            this.prefetch = { name: path[0], snapshots: bus.listSnapshots(path[0]) };
            this.prefetch.snapshots.catch(() => {}); // its failure is reported where it is used
        }
        this.route();
        await this.domainsRefresh.request();
    }

    /* Try again, or the service came back: everything is read afresh (a snapshot list
     * read ahead at the start may have failed for what the retry is about). */
    refreshAll() {
        this.prefetch = null;
        this.domainsRefresh.request();
        this.snapshotsRefresh.request();
        this.jobs.reload().catch(() => {});
    }

    route() {
        const path = cockpit.location.path;
        this.selectedName = path.length > 0 ? path[0] : null;
        this.render();
        this.renderHistory();
        this.snapshotsRefresh.request();
    }

    selectedDomain() {
        if (!this.domains || this.domains.length === 0)
            return null;
        return this.domains.find(d => d.name === this.selectedName) || (this.selectedName ? null : this.domains[0]);
    }

    /* ---- reading ---- */

    async loadDomains() {
        try {
            // Domains libvirt no longer defines keep their trees on the bus (defined false); the
            // page lists the VMs one can act on, and below them those others, to purge: one
            // such name may be defined again anew.
            const all = await bus.listDomains();
            const domains = all.filter(d => d.defined !== false);
            this.undefinedDomains = all.filter(d => d.defined === false).sort((a, b) => a.name.localeCompare(b.name));
            mark("vmsnap:domains-read", { count: domains.length });
            domains.sort((a, b) => a.name.localeCompare(b.name));
            if (this.domainsError)
                this.jobs.reload().catch(() => {}); // allowed now: the jobs could not be read before
            const before = this.selectedDomain();
            this.domains = domains;
            this.domainsError = null;
            const after = this.selectedDomain();
            if (!before || !after || before.uuid !== after.uuid || before.in_preview !== after.in_preview ||
                before.state !== after.state || before.current_snapshot !== after.current_snapshot)
                this.snapshotsRefresh.request();
        } catch (error) {
            this.domains = null;
            this.domainsError = error;
        }
        this.renderVmList();
        this.renderDomain();
        this.renderHistory();
    }

    async loadSnapshots() {
        const domain = this.selectedDomain();
        if (!domain) {
            this.renderDomain();
            return;
        }
        try {
            const prefetched = this.prefetch && this.prefetch.name === domain.name ? this.prefetch.snapshots : null;
            this.prefetch = null;
            this.records = await (prefetched || bus.listSnapshots(domain.uuid));
            mark("vmsnap:snapshots-read", { domain: domain.name, rows: this.records.length });
            this.snapshotsError = null;
        } catch (error) {
            this.records = [];
            this.snapshotsError = error;
        }
        this.snapshotsDomain = domain.uuid;
        this.recordsVersion += 1;
        this.renderDomain();
        const rows = this.records.length;
        mark("vmsnap:tree-updated", { domain: domain.name, rows });
        requestAnimationFrame(() => requestAnimationFrame(() => mark("vmsnap:tree-painted", { domain: domain.name, rows })));
    }

    /* ---- rendering ---- */

    render() {
        this.renderVmList();
        this.renderDomain();
    }

    renderVmList() {
        if (this.domainsError) {
            replaceChildren(this.vmList, this.errorState(this.domainsError));
            return;
        }
        if (this.domains === null) {
            replaceChildren(this.vmList, h("div", { class: "pf-l-bullseye" }, spinner("lg")));
            return;
        }
        if (this.domains.length === 0) {
            replaceChildren(this.vmList, h("div", { class: "pf-c-empty-state pf-m-sm" },
                                           h("div", { class: "pf-c-empty-state__content" },
                                             h("h3", { class: "pf-c-title pf-m-md" }, _("No virtual machines")),
                                             h("div", { class: "pf-c-empty-state__body" }, _("libvirt has no VM defined on this host.")))),
                            this.renderUndefined());
            return;
        }
        // Redrawn on every change of any VM: whoever is on a link there stays on it.
        const focused = this.vmList.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
        const focusedVm = focused ? focused.dataset.vm : null;
        const selected = this.selectedDomain();
        const rows = this.domains.map(domain => {
            const isSelected = selected && selected.uuid === domain.uuid;
            const labels = [label(stateText(domain.state), domain.state === "running" ? "green" : domain.state === "paused" ? "gold" : null,
                                  { class: `pf-c-label pf-m-compact vmsnap-state-${domain.state}${domain.state === "running" ? " pf-m-green" : domain.state === "paused" ? " pf-m-gold" : ""}` })];
            if (domain.in_preview)
                labels.push(label(_("in preview"), "orange", { class: "pf-c-label pf-m-compact pf-m-orange vmsnap-state-preview" }));
            return h("tr", { class: `pf-m-hoverable${isSelected ? " pf-m-selected" : ""}`, dataset: { vm: domain.name } },
                     h("th", { scope: "row", "data-label": _("Name") },
                       h("a", { class: "vmsnap-vm-link", href: "#/" + encodeURIComponent(domain.name), "aria-current": isSelected ? "page" : null },
                         domain.name)),
                     h("td", { "data-label": _("State"), class: "vmsnap-vm-state" }, h("span", { class: "vmsnap-markers" }, labels)),
                     h("td", { "data-label": _("Snapshots"), class: "vmsnap-vm-count" }, String(domain.snapshot_count)),
                     h("td", { "data-label": _("Snapshot space"), class: "vmsnap-vm-size" }, formatBytes(domain.snapshot_bytes || 0)),
                     h("td", { "data-label": _("Current snapshot"), class: "vmsnap-vm-current" },
                       domain.current_snapshot || h("span", { class: "vmsnap-muted" }, _("none"))));
        });
        replaceChildren(this.vmList,
                        h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-vms", "aria-labelledby": "vm-list-title" },
                          h("thead", {}, h("tr", {},
                                           h("th", { scope: "col" }, _("Name")),
                                           h("th", { scope: "col" }, _("State")),
                                           h("th", { scope: "col" }, _("Snapshots")),
                                           h("th", { scope: "col" }, _("Snapshot space")),
                                           h("th", { scope: "col" }, _("Current snapshot")))),
                          h("tbody", {}, rows)),
                        this.renderUndefined());
        if (focusedVm) {
            const link = this.vmList.querySelector(`tr[data-vm="${CSS.escape(focusedVm)}"] a`);
            if (link)
                link.focus();
        }
    }

    /* VMs libvirt no longer defines: what vmsnap still keeps of each, and Purge. */
    renderUndefined() {
        if (this.undefinedDomains.length === 0)
            return null;
        const rows = this.undefinedDomains.map(domain =>
            h("tr", { dataset: { vm: domain.name, uuid: domain.uuid } },
              h("th", { scope: "row", "data-label": _("Name"), class: "vmsnap-vm-name" }, domain.name),
              h("td", { "data-label": _("Snapshots"), class: "vmsnap-vm-count" }, String(domain.snapshot_count)),
              h("td", { "data-label": _("Snapshot space"), class: "vmsnap-vm-size" }, formatBytes(domain.snapshot_bytes || 0)),
              h("td", { class: "pf-c-table__action" },
                button(_("Purge…"), "secondary", () => dialogs.purgeDialog(this.context(), domain),
                       { class: "pf-c-button pf-m-secondary pf-m-small vmsnap-purge", "aria-label": cockpit.format(_("Purge the snapshots of $0"), domain.name) }))));
        return h("div", { class: "vmsnap-undefined" },
                 h("h3", { class: "pf-c-title pf-m-md", id: "undefined-title" }, _("VMs no longer defined")),
                 h("p", { class: "vmsnap-muted" }, _("libvirt no longer defines these VMs. vmsnap keeps their snapshots and the files it made for them until they are purged; defining a VM again with the same UUID brings its snapshots back.")),
                 h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-undefined-vms", "aria-labelledby": "undefined-title" },
                   h("thead", {}, h("tr", {},
                                    h("th", { scope: "col" }, _("Name")),
                                    h("th", { scope: "col" }, _("Snapshots")),
                                    h("th", { scope: "col" }, _("Snapshot space")),
                                    h("td", {}))),
                   h("tbody", {}, rows)));
    }

    renderHistory() {
        const domain = this.historyShown ? this.selectedDomain() : null;
        this.historyItem.hidden = !domain;
        if (this.buttons)
            this.buttons.history.setAttribute("aria-pressed", String(this.historyShown));
        if (domain && (!this.history.domain || this.history.domain.uuid !== domain.uuid))
            this.history.show(domain);
    }

    toggleHistory() {
        this.historyShown = !this.historyShown;
        if (this.historyShown && this.selectedDomain())
            this.history.show(this.selectedDomain()); // read afresh on every opening
        this.renderHistory();
    }

    errorState(error) {
        const denied = bus.isNotAuthorized(error);
        return h("div", { class: "pf-c-empty-state pf-m-sm vmsnap-error-state", dataset: { error: error.name || error.problem || "" } },
                 h("div", { class: "pf-c-empty-state__content" },
                   h("div", { class: "pf-c-empty-state__icon vmsnap-danger-icon" }, icon(denied ? "locked" : "danger")),
                   h("h3", { class: "pf-c-title pf-m-md" }, denied ? _("Not authorized") : _("The snapshots cannot be read")),
                   h("div", { class: "pf-c-empty-state__body vmsnap-error-sentence" }, bus.errorSentence(error)),
                   h("div", { class: "pf-c-empty-state__primary" }, button(_("Try again"), "secondary", () => this.refreshAll()))));
    }

    /* The card is built once and then updated in place, so that a refresh while
     * someone works in it (focus in the toolbar or the tree) does not throw them out. */
    buildDomainCard() {
        this.domainTitle = h("h2", { class: "pf-c-title pf-m-xl", id: "domain-title" });
        this.domainState = h("span", { class: "vmsnap-markers" });
        this.bannerSlot = h("div", { class: "vmsnap-banner-slot" });
        this.contentSlot = h("div", { class: "vmsnap-content-slot" });
        this.toolbar = this.renderToolbar();
        this.domainCard.setAttribute("aria-labelledby", "domain-title");
        replaceChildren(this.domainCard,
                        h("div", { class: "pf-c-card__title vmsnap-domain-title" }, this.domainTitle, this.domainState),
                        h("div", { class: "pf-c-card__body" }, this.bannerSlot, this.actionErrors, this.toolbar, this.contentSlot));
    }

    renderDomain() {
        const domain = this.selectedDomain();
        if (!domain) {
            this.shownDomain = null;
            this.domainCard.hidden = Boolean(this.domainsError) || this.domains === null;
            replaceChildren(this.domainCard, h("div", { class: "pf-c-card__body" },
                                               this.selectedName
                                                   ? alert("warning", cockpit.format(_("There is no VM called $0"), this.selectedName))
                                                   : h("p", {}, _("Choose a virtual machine."))));
            return;
        }
        if (this.shownDomain !== domain.uuid) {
            this.shownDomain = domain.uuid;
            this.shown = {};
            replaceChildren(this.actionErrors);
            this.buildDomainCard();
        }
        this.domainCard.hidden = false;
        this.domainCard.dataset.vm = domain.name;
        this.domainCard.dataset.inPreview = String(domain.in_preview);
        this.domainTitle.textContent = cockpit.format(_("Snapshots of $0"), domain.name);
        replaceChildren(this.domainState,
                        label(stateText(domain.state), domain.state === "running" ? "green" : null,
                              { class: `pf-c-label pf-m-compact${domain.state === "running" ? " pf-m-green" : ""}` }));

        const bannerKey = domain.in_preview ? "preview:" + domain.current_snapshot : "";
        if (this.shown.banner !== bannerKey) {
            this.shown.banner = bannerKey;
            replaceChildren(this.bannerSlot, domain.in_preview
                ? alert("warning", cockpit.format(_("$0 is showing a preview of $1"), domain.name, domain.current_snapshot ? `“${domain.current_snapshot}”` : _("a snapshot")),
                        h("p", {}, _("Commit keeps the previewed state and discards the state from before the preview; Undo returns to the state from before the preview. Snapshots cannot be created or deleted until then.")),
                        [button(_("Commit…"), "link", () => dialogs.commitDialog(this.context()), { class: "pf-c-button pf-m-link pf-m-inline vmsnap-commit" }),
                         button(_("Undo"), "link", () => this.undo(), { class: "pf-c-button pf-m-link pf-m-inline vmsnap-undo" })],
                        { class: "pf-c-alert pf-m-inline pf-m-warning vmsnap-preview-banner" })
                : null);
        }

        let contentKey, content = null;
        if (this.snapshotsError && this.snapshotsDomain === domain.uuid) {
            contentKey = "error:" + this.recordsVersion;
            content = () => this.errorState(this.snapshotsError);
        } else if (this.snapshotsDomain !== domain.uuid) {
            contentKey = "loading";
            content = () => h("div", { class: "pf-l-bullseye vmsnap-tree-loading" }, spinner("lg"));
        } else if (this.records.length === 0) {
            contentKey = "empty";
            content = () => h("div", { class: "pf-c-empty-state vmsnap-empty" },
                              h("div", { class: "pf-c-empty-state__content" },
                                h("h3", { class: "pf-c-title pf-m-lg" }, _("No snapshots")),
                                h("div", { class: "pf-c-empty-state__body" }, cockpit.format(_("$0 has no snapshot yet."), domain.name))));
        } else {
            contentKey = "tree";
            const treeKey = `${this.recordsVersion}:${domain.in_preview}`;
            if (this.shown.tree !== treeKey) {
                this.shown.tree = treeKey;
                this.tree.update(domain, this.records, domain.in_preview);
            }
            content = () => h("div", { class: "vmsnap-tree-scroll" }, this.tree.element);
        }
        if (this.shown.content !== contentKey) {
            this.shown.content = contentKey;
            replaceChildren(this.contentSlot, content());
        }
        this.selectionChanged(contentKey === "tree" ? this.tree.selected : null);
    }

    renderToolbar() {
        const make = (text, className, onclick, variant) =>
            button(text, variant || "secondary", onclick, { class: `pf-c-button pf-m-${variant || "secondary"} ${className}` });
        this.buttons = {
            create: make(_("Create snapshot…"), "vmsnap-create", () => dialogs.createDialog(this.context()), "primary"),
            preview: make(_("Preview…"), "vmsnap-preview", () => dialogs.previewDialog(this.context(), this.tree.selected)),
            custom: make(_("Custom preview…"), "vmsnap-custom-preview", () => dialogs.customPreviewDialog(this.context(), this.tree.selected)),
            revert: make(_("Revert…"), "vmsnap-revert", () => dialogs.revertDialog(this.context(), this.tree.selected)),
            clone: make(_("Clone…"), "vmsnap-clone", () => dialogs.cloneDialog(this.context(), this.tree.selected)),
            edit: make(_("Edit…"), "vmsnap-edit", () => dialogs.editDialog(this.context(), this.tree.selected)),
            remove: make(_("Delete…"), "vmsnap-delete", () => dialogs.deleteDialog(this.context(), this.tree.selected), "danger"),
            deleteAll: make(_("Delete all…"), "vmsnap-delete-all", () => dialogs.deleteAllDialog(this.context())),
            history: make(_("History"), "vmsnap-history-toggle", () => this.toggleHistory(), "tertiary"),
        };
        this.buttons.history.setAttribute("aria-pressed", String(this.historyShown));
        this.selectionHint = h("p", { class: "vmsnap-selection-hint", id: "selection-hint", "aria-live": "polite" });
        const item = element => h("div", { class: "pf-c-toolbar__item" }, element);
        return h("div", { class: "pf-c-toolbar vmsnap-toolbar", role: "toolbar", "aria-label": _("Snapshot actions"), "aria-describedby": "selection-hint" },
                 h("div", { class: "pf-c-toolbar__content" },
                   h("div", { class: "pf-c-toolbar__content-section" },
                     item(this.buttons.create),
                     h("div", { class: "pf-c-toolbar__group pf-m-button-group" },
                       Object.entries(this.buttons).filter(([key]) => key !== "create").map(([, b]) => item(b))))),
                 h("div", { class: "pf-c-toolbar__content" }, this.selectionHint));
    }

    /* Enables what makes sense for the selection; vmsnapd checks again in any case. */
    selectionChanged(record) {
        const domain = this.selectedDomain();
        if (!this.buttons || !domain)
            return;
        const inPreview = domain.in_preview;
        // A running VM may be previewed: the dialog offers to stop it when vmsnapd refuses.
        const state = {
            create: inPreview ? _("Commit or undo the preview first.") : null,
            preview: !record ? "" : inPreview ? _("Commit or undo the preview first.") : null,
            custom: !record ? "" : inPreview ? _("Commit or undo the preview first.") : null,
            revert: !record ? "" : inPreview ? _("Commit or undo the preview first.") : null,
            clone: !record ? "" : null,
            edit: !record ? "" : null,
            remove: !record ? "" : inPreview ? _("Commit or undo the preview first.") : record.locked ? _("Locked while a clone copies it.") : null,
            deleteAll: this.records.length === 0 ? "" : inPreview ? _("Commit or undo the preview first.") : null,
            history: null,
        };
        for (const [key, reason] of Object.entries(state)) {
            this.buttons[key].disabled = reason !== null;
            if (reason)
                this.buttons[key].title = reason;
            else
                this.buttons[key].removeAttribute("title");
        }
        this.selectionHint.textContent = record
            ? cockpit.format(_("Selected: $0, taken $1."), `“${record.name}”`, new Date(record.created * 1000).toLocaleString(cockpit.language))
            : this.records.length ? _("Select a snapshot in the tree for more actions.") : "";
    }

    context() {
        return { domain: this.selectedDomain(), records: this.records, tree: this.tree.tree, jobs: this.jobs };
    }

    /* Undo has no dialog: a refusal because the VM runs offers, in its alert, to stop it. */
    async undo(values) {
        const domain = this.selectedDomain();
        replaceChildren(this.actionErrors);
        try {
            await this.jobs.track(await bus.undo(domain.name, values), { mine: true });
        } catch (error) {
            const retry = !values && bus.isDomainRunning(error)
                ? [button(_("Stop the VM and undo"), "link", () => this.undo({ stop: true }), { class: "pf-c-button pf-m-link pf-m-inline vmsnap-undo-stop" })]
                : null;
            replaceChildren(this.actionErrors,
                            alert("danger", _("The preview was not undone"), h("p", { class: "vmsnap-error-sentence" }, bus.errorSentence(error)), retry));
        }
    }
}

document.title = _("Snapshots");
const page = new Page();
page.start();
