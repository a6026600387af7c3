/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* modal.js: one accessible PatternFly modal for every dialog of the page: focus moves
 * into it and stays there (Tab cycles, the page behind is inert), Escape or Cancel
 * closes it and focus returns to what opened it; Enter in a field submits. The primary
 * action runs with the buttons disabled and a spinner; when it throws, the dialog
 * stays open and shows the error's sentence (and the action may relabel the button for a
 * retry that does more, such as stopping the VM first). The form helpers at the end build
 * PatternFly form groups. */
import { h, icon, alert, replaceChildren, uniqueId } from "./dom.js";
import { errorSentence } from "./bus.js";

const _ = cockpit.gettext;

const FOCUSABLE = "button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), " +
    "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

export class Modal {
    /* title, description (text or node), body (node), size (sm, md, lg), primary
     * {label, danger, action: async () => {}}, errorTitle: headline of a failure,
     * onClose(). */
    constructor({ title, description, body, size, primary, errorTitle, dataset }) {
        this.primary = primary;
        this.errorTitle = errorTitle || _("The operation failed");
        this.titleId = uniqueId("modal-title");
        this.descriptionId = uniqueId("modal-description");
        this.errorArea = h("div", { class: "vmsnap-modal-error", "aria-live": "assertive" });
        this.primaryText = document.createTextNode(primary.label);
        this.primaryButton = h("button", {
            type: "submit",
            class: `pf-c-button ${primary.danger ? "pf-m-danger" : "pf-m-primary"} vmsnap-modal-primary`,
        }, this.primaryText);
        this.cancelButton = h("button", { type: "button", class: "pf-c-button pf-m-link vmsnap-modal-cancel", onclick: () => this.close() },
                              _("Cancel"));
        const closeButton = this.closeButton = h("button", { type: "button", class: "pf-c-button pf-m-plain", "aria-label": _("Close"), onclick: () => this.close() },
                              icon("close"));
        this.form = h("form", { class: "pf-c-form vmsnap-modal-form", novalidate: true, onsubmit: event => this.submit(event) },
                      h("div", { class: "pf-c-modal-box__body" }, this.errorArea, body),
                      h("footer", { class: "pf-c-modal-box__footer" }, this.primaryButton, this.cancelButton));
        this.box = h("div", {
            class: `pf-c-modal-box pf-m-${size || "md"} vmsnap-modal`,
            role: "dialog",
            "aria-modal": "true",
            "aria-labelledby": this.titleId,
            "aria-describedby": description ? this.descriptionId : null,
            dataset: dataset || {},
            onkeydown: event => this.keydown(event),
        },
        closeButton,
        h("header", { class: "pf-c-modal-box__header" },
          h("h1", { class: "pf-c-modal-box__title", id: this.titleId }, title),
          description ? h("div", { class: "pf-c-modal-box__description", id: this.descriptionId }, description) : null),
        this.form);
        this.backdrop = h("div", { class: "pf-c-backdrop" }, h("div", { class: "pf-l-bullseye" }, this.box));
    }

    open() {
        this.opener = document.activeElement;
        document.getElementById("app").inert = true;
        document.body.classList.add("pf-c-backdrop__open");
        document.body.append(this.backdrop);
        const first = this.box.querySelector("[data-autofocus]") ||
            this.form.querySelector(".pf-c-modal-box__body").querySelector(FOCUSABLE) ||
            this.primaryButton;
        first.focus();
        if (first.select && first.type === "text")
            first.select();
        return this;
    }

    close() {
        if (!this.backdrop.isConnected)
            return;
        this.backdrop.remove();
        document.body.classList.remove("pf-c-backdrop__open");
        document.getElementById("app").inert = false;
        const back = this.opener && this.opener.isConnected && !this.opener.disabled ? this.opener : document.getElementById("main");
        back.focus();
    }

    showError(error, title) {
        replaceChildren(this.errorArea,
                        alert("danger", title || this.errorTitle,
                              h("p", { class: "vmsnap-error-sentence" }, typeof error === "string" ? error : errorSentence(error))));
    }

    /* What the primary button offers now: a retry may do more than the first try did. */
    setPrimaryLabel(text) {
        this.primaryText.textContent = text;
    }

    clearError() {
        replaceChildren(this.errorArea);
    }

    setBusy(busy) {
        if (busy) {
            // Only what is enabled now is disabled, and later enabled again.
            this.disabledWhileBusy = Array.from(this.box.querySelectorAll("button, input, select, textarea"))
                    .filter(control => !control.disabled && control !== this.cancelButton && control !== this.closeButton);
            this.disabledWhileBusy.forEach(control => { control.disabled = true });
        } else {
            (this.disabledWhileBusy || []).forEach(control => { control.disabled = false });
            this.disabledWhileBusy = [];
        }
        this.primaryButton.classList.toggle("pf-m-progress", busy);
        this.primaryButton.classList.toggle("pf-m-in-progress", busy);
        if (busy) {
            this.primaryButton.prepend(h("span", { class: "pf-c-button__progress" },
                                         h("span", { class: "pf-c-spinner pf-m-md", role: "progressbar", "aria-valuetext": _("Working…") },
                                           h("span", { class: "pf-c-spinner__clipper" }),
                                           h("span", { class: "pf-c-spinner__lead-ball" }),
                                           h("span", { class: "pf-c-spinner__tail-ball" }))));
        } else {
            const progress = this.primaryButton.querySelector(".pf-c-button__progress");
            if (progress)
                progress.remove();
        }
    }

    async submit(event) {
        event.preventDefault();
        if (this.running)
            return;
        this.running = true;
        this.clearError();
        this.setBusy(true);
        try {
            await this.primary.action(this);
            this.close();
        } catch (error) {
            this.setBusy(false);
            this.showError(error);
            this.primaryButton.focus();
        } finally {
            this.running = false;
        }
    }

    keydown(event) {
        if (event.key === "Escape") {
            event.preventDefault();
            event.stopPropagation();
            this.close();
            return;
        }
        if (event.key !== "Tab")
            return;
        const focusable = Array.from(this.box.querySelectorAll(FOCUSABLE)).filter(e => e.offsetParent !== null);
        if (focusable.length === 0)
            return;
        const first = focusable[0];
        const last = focusable[focusable.length - 1];
        if (event.shiftKey && document.activeElement === first) {
            event.preventDefault();
            last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
            event.preventDefault();
            first.focus();
        }
    }
}

/* ---- form helpers ---- */

export function formGroup(labelText, control, helperText, attributes) {
    const controlId = control.id || uniqueId("field");
    control.id = controlId;
    const helperId = helperText ? uniqueId("helper") : null;
    if (helperId)
        control.setAttribute("aria-describedby", helperId);
    return h("div", { class: "pf-c-form__group", ...attributes },
             h("div", { class: "pf-c-form__group-label" },
               h("label", { class: "pf-c-form__label", for: controlId },
                 h("span", { class: "pf-c-form__label-text" }, labelText))),
             h("div", { class: "pf-c-form__group-control" },
               control,
               helperText ? h("p", { class: "pf-c-form__helper-text", id: helperId }, helperText) : null));
}

/* A group of checkboxes or radios under one legend. */
export function fieldset(legend, children, helperText) {
    return h("fieldset", { class: "pf-c-form__group vmsnap-fieldset" },
             h("legend", { class: "pf-c-form__group-label" },
               h("span", { class: "pf-c-form__label" }, h("span", { class: "pf-c-form__label-text" }, legend))),
             h("div", { class: "pf-c-form__group-control" }, children,
               helperText ? h("p", { class: "pf-c-form__helper-text" }, helperText) : null));
}

export function textInput(value, attributes) {
    const input = h("input", { class: "pf-c-form-control", type: "text", ...attributes });
    input.value = value || "";
    return input;
}

export function textArea(value, attributes) {
    const area = h("textarea", { class: "pf-c-form-control", rows: "3", ...attributes });
    area.value = value || "";
    return area;
}

export function select(options, value, attributes) {
    const element = h("select", { class: "pf-c-form-control", ...attributes },
                      options.map(([optionValue, text]) => h("option", { value: optionValue }, text)));
    element.value = value;
    return element;
}

/* kind: checkbox or radio; returns {element, input}. disabledReason disables it and says why. */
export function choice(kind, labelText, description, { name, value, checked, disabledReason, dataset } = {}) {
    const id = uniqueId(kind);
    const explanation = disabledReason || description;
    const descriptionId = explanation ? id + "-description" : null;
    const input = h("input", {
        class: `pf-c-${kind === "checkbox" ? "check" : "radio"}__input`,
        type: kind,
        id,
        name,
        value,
        "aria-describedby": descriptionId,
        dataset: dataset || {},
    });
    input.checked = Boolean(checked);
    input.disabled = Boolean(disabledReason);
    const prefix = kind === "checkbox" ? "pf-c-check" : "pf-c-radio";
    const element = h("div", { class: prefix },
                      input,
                      h("label", { class: `${prefix}__label${disabledReason ? " pf-m-disabled" : ""}`, for: id }, labelText),
                      explanation ? h("span", { class: `${prefix}__description`, id: descriptionId }, explanation) : null);
    return { element, input };
}
