/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* theme.js: light or dark, as Cockpit's shell decides. Loaded as a classic script
 * in <head> so the right colours are there before the first paint. Follows the same
 * three inputs as Cockpit's own pages (pkg/lib/cockpit-dark-theme.js): the shell's
 * choice in localStorage "shell:style" (auto, light, dark), the "cockpit-style" event
 * the shell sends to its frames when the choice changes, and the system's
 * prefers-color-scheme when the choice is auto. PatternFly 4 (which this page
 * carries) switches on the class pf-theme-dark of <html>; PatternFly 5's name is set
 * as well, so a later PatternFly needs no change here. */
(function () {
    "use strict";

    const DARK_CLASSES = ["pf-theme-dark", "pf-v5-theme-dark"];
    const query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

    function shellStyle() {
        try {
            return window.localStorage.getItem("shell:style") || "auto";
        } catch (e) {
            return "auto"; // storage can be unavailable (privacy settings)
        }
    }

    function apply(style) {
        const chosen = style || shellStyle();
        const dark = chosen === "dark" || (chosen === "auto" && query !== null && query.matches);
        for (const name of DARK_CLASSES)
            document.documentElement.classList.toggle(name, dark);
    }

    window.addEventListener("storage", event => {
        if (event.key === "shell:style")
            apply();
    });
    window.addEventListener("cockpit-style", event => {
        apply(event.detail && event.detail.style);
    });
    if (query !== null)
        query.addEventListener("change", () => apply());
    apply();
})();
