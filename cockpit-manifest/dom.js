/* SPDX-License-Identifier: LGPL-2.1-or-later AND MIT */
/* dom.js: building the page's elements without innerHTML (names and descriptions
 * are user text), PatternFly's icons as inline SVG, and the formatting of times,
 * sizes and states that every part of the page shares. */
const _ = cockpit.gettext;

/* h("button", {class: "pf-c-button", onclick: f}, "text", child, ...): attributes
 * starting with "on" are listeners, booleans set or drop the attribute, null and
 * undefined are skipped; children may be strings, nodes, arrays or null. */
export function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
        if (value === null || value === undefined || value === false)
            continue;
        if (key.startsWith("on") && typeof value === "function")
            element.addEventListener(key.slice(2), value);
        else if (key === "dataset")
            Object.assign(element.dataset, value);
        else
            element.setAttribute(key, value === true ? "" : String(value));
    }
    append(element, children);
    return element;
}

export function append(parent, children) {
    for (const child of [children].flat(Infinity)) {
        if (child === null || child === undefined || child === false)
            continue;
        parent.append(child instanceof Node ? child : String(child));
    }
    return parent;
}

export function replaceChildren(parent, ...children) {
    parent.replaceChildren();
    return append(parent, children);
}

let nextId = 0;
/* A document-unique id for label/aria references. */
export function uniqueId(prefix) {
    nextId += 1;
    return `${prefix}-${nextId}`;
}

/* PatternFly's icons (@patternfly/patternfly icons/pf-icons.json, MIT); "toggle" is
 * a plain chevron (pointing down; PatternFly turns it) for the tree's expand buttons. */
const ICONS = {
    close: { viewBox: "0 0 730 1024", path:
        "M725.499315,767.757345 L469.242169,511.500499 L725.499315,255.243653 " +
        "C729.196254,251.545719 731.096195,247.248119 731,242.4498 C731,237.653479 " +
        "728.997365,233.35588 725.299427,229.558002 L647.542773,151.701495 " +
        "C643.743891,147.903617 639.446287,146 634.64996,146 C629.852635,146 " +
        "625.55503,147.803673 621.857092,151.500607 L365.5,407.857398 " +
        "L109.241857,151.500607 C105.544917,147.803673 101.246314,145.904733 " +
        "96.4499876,146 C91.6526619,146.104622 87.3550577,148.002562 " +
        "83.5571748,151.701495 L5.7005771,229.457058 C1.90269428,233.255936 0,237.553535 " +
        "0,242.350855 C0,247.148175 1.80175055,251.444775 5.50068853,255.143709 " +
        "L261.857779,511.500499 L5.50068853,767.757345 C1.80175055,771.454279 " +
        "-0.0961914123,775.752878 0,779.750645 C0.103697157,784.547965 " +
        "2.00263857,788.845564 5.7005771,792.642443 L83.4572306,871.299502 " +
        "C87.2541139,875.096381 91.5527176,877 96.3500433,877 C101.147369,877 " +
        "105.444973,875.197325 109.142912,871.499391 L365.400058,615.241545 " +
        "L621.657203,871.499391 C625.355142,875.197325 629.652746,877.095265 " +
        "634.449072,877 C639.246398,877 643.545002,874.997437 647.342885,871.299502 " +
        "L725.099538,793.54294 C728.896421,789.745062 730.796362,785.446463 " +
        "730.796362,780.649143 C731.096195,775.752878 729.196254,771.454279 " +
        "725.499315,767.757345" },
    success: { viewBox: "0 0 1024 1024", path:
        "M668.3,361.4 L465.1,564.6 L352.2,451.7 C346.210177,445.698444 " +
        "338.079189,442.325817 329.6,442.325817 C321.120811,442.325817 " +
        "312.989823,445.698444 307,451.7 L261.8,496.9 C255.798444,502.889823 " +
        "252.425817,511.020811 252.425817,519.5 C252.425817,527.979189 " +
        "255.798444,536.110177 261.8,542.1 L442.4,722.7 C448.389823,728.701556 " +
        "456.520811,732.074183 465,732.074183 C473.479189,732.074183 " +
        "481.610177,728.701556 487.6,722.7 L758.6,451.7 C764.601556,445.710177 " +
        "767.974183,437.579189 767.974183,429.1 C767.974183,420.620811 " +
        "764.601556,412.489823 758.6,406.5 L713.4,361.3 C700.916226,348.87879 " +
        "680.728569,348.923552 668.3,361.4 M512.1,127.9 C300.3,127.9 128.1,300.2 " +
        "128.1,511.9 C128.1,723.8 300.3,895.9 512.1,895.9 C723.9,895.9 896.1,723.7 " +
        "896.1,511.9 C896.1,300.1 723.8,127.9 512.1,127.9 M512.1,1024 C229.7,1024 0,794.3 " +
        "0,512 C0,229.7 229.7,0 512.1,0 C794.3,0 1024,229.7 1024,512 C1024,794.3 " +
        "794.3,1024 512.1,1024" },
    danger: { viewBox: "0 0 1024 1024", path:
        "M409.5,319 C406.699326,316.168774 402.882413,314.575614 398.9,314.575614 " +
        "C394.917587,314.575614 391.100674,316.168774 388.3,319 L319,388.3 " +
        "C316.168774,391.100674 314.575614,394.917587 314.575614,398.9 " +
        "C314.575614,402.882413 316.168774,406.699326 319,409.5 L421.5,512 L319,614.5 " +
        "C316.168774,617.300674 314.575614,621.117587 314.575614,625.1 " +
        "C314.575614,629.082413 316.168774,632.899326 319,635.7 L388.3,705 " +
        "C391.100674,707.831226 394.917587,709.424386 398.9,709.424386 " +
        "C402.882413,709.424386 406.699326,707.831226 409.5,705 L512,602.5 L614.5,705 " +
        "C620.367618,710.877435 629.877455,710.922082 635.8,705.1 L705.1,635.8 " +
        "C707.926508,632.970191 709.505822,629.128746 709.48721,625.129169 " +
        "C709.468267,621.129592 707.852954,617.303145 705,614.5 L602.5,512 L705,409.5 " +
        "C707.821142,406.720523 709.417879,402.93109 709.436648,398.97079 " +
        "C709.455417,395.01049 707.89467,391.206092 705.1,388.4 L635.8,319 " +
        "C629.932382,313.122565 620.422545,313.077918 614.5,318.9 L512,421.5 L409.5,319 Z " +
        "M512,896 C300.2,896 128,723.9 128,512 C128,300.3 300.2,128 512,128 C723.8,128 " +
        "896,300.2 896,512 C896,723.8 723.7,896 512,896 Z M512.1,0 C229.7,0 0,229.8 0,512 " +
        "C0,794.2 229.8,1024 512.1,1024 C794.4,1024 1024,794.3 1024,512 C1024,229.7 " +
        "794.4,0 512.1,0 Z" },
    info: { viewBox: "0 0 1024 1024", path:
        "M592,369 L592,289 C592.013862,284.755109 590.320137,280.682962 587.3,277.7 " +
        "C584.338831,274.647672 580.252355,272.947987 576,273 L464,273 " +
        "C459.755109,272.986138 455.682962,274.679863 452.7,277.7 C449.647672,280.661169 " +
        "447.947987,284.747645 447.99884,289 L447.99884,369 C447.986138,373.244891 " +
        "449.679863,377.317038 452.7,380.3 C455.661169,383.352328 459.747645,385.052013 " +
        "464,385 L576,385 C580.244891,385.013862 584.317038,383.320137 587.3,380.3 " +
        "C590.359349,377.343612 592.060354,373.253963 592,369 Z M592,705 L592,465 " +
        "C592,456.163444 584.836556,449 576,449 L432,449 C423.163444,449 416,456.163444 " +
        "416,465 L416,497 C416,505.836556 423.163444,513 432,513 L448,513 L448,705 " +
        "L416,705 C407.163444,705 400,712.163444 400,721 L400,753 C400,761.836556 " +
        "407.163444,769 416,769 L624,769 C632.836556,769 640,761.836556 640,753 L640,721 " +
        "C640,712.163444 632.836556,705 624,705 L592,705 Z M512,896 C300.2,896 128,723.9 " +
        "128,512 C128,300.3 300.2,128 512,128 C723.8,128 896,300.2 896,512 C896,723.8 " +
        "723.7,896 512,896 Z M512.1,0 C229.7,0 0,229.8 0,512 C0,794.2 229.8,1024 " +
        "512.1,1024 C794.4,1024 1024,794.3 1024,512 C1024,229.7 794.4,0 512.1,0 Z" },
    locked: { viewBox: "0 0 1024 1024", path:
        "M896,624 C896,650.509668 874.509668,672 848,672 L368,672 C341.490332,672 " +
        "320,650.509668 320,624 C320,597.490332 341.490332,576 368,576 L848,576 " +
        "C874.509668,576 896,597.490332 896,624 L896,624 Z M896,816 C896,842.509668 " +
        "874.509668,864 848,864 L368,864 C341.490332,864 320,842.509668 320,816 " +
        "C320,789.490332 341.490332,768 368,768 L848,768 C874.509668,768 896,789.490332 " +
        "896,816 L896,816 Z M320,320 C320,214 406,128 512,128 C618,128 704,214 704,320 " +
        "L704,448 L320,448 L320,320 Z M960,448 L832,448 L832,320 C832,143.3 688.7,0 512,0 " +
        "C335.3,0 192,143.3 192,320 L192,448 L64,448 C28.6674863,448.033078 " +
        "0.0330777378,476.667486 0,512 L0,960 C0.0330777378,995.332514 " +
        "28.6674863,1023.96692 64,1024 L960,1024 C995.332514,1023.96692 " +
        "1023.96692,995.332514 1024,960 L1024,512 C1023.96692,476.667486 " +
        "995.332514,448.033078 960,448 Z" },
    warning: { viewBox: "0 0 1088 1024", path:
        "M1057.10141,663.5 L845.101405,215.4 C787.101405,71.8 665.401405,0 542.901405,0 " +
        "C420.201405,0 296.701405,71.9 235.001405,215.6 L31.7014051,648.5 C10.4014051,700 " +
        "-0.0985948775,752.3 0.000697596367,800.8 C0.301405123,924.8 70.2014051,1024 " +
        "209.101405,1024 L868.401405,1024 C1005.80141,1024 1087.70141,918.6 " +
        "1088.00215,795.5 C1088.10141,752.4 1078.20141,707.2 1057.10141,663.5 Z " +
        "M959.401405,800.3 C958.701405,822.9 952.901405,843.5 942.601405,859.7 " +
        "C926.801405,884.6 902.601405,896.7 868.301405,896.7 L209.101405,896.7 " +
        "C191.201405,896.7 176.601405,893.8 165.401405,888.2 C157.301405,884 " +
        "150.801405,878.4 145.401405,870.3 C135.101405,855 129.101405,832 " +
        "128.401405,805.6 C127.601405,772.8 134.901405,736.5 149.401405,700.5 " +
        "L353.001405,266.7 C363.201405,242.9 376.101405,221.5 391.101405,203.2 " +
        "C404.801405,186.6 420.301405,172.4 437.401405,161.1 C469.201405,139.9 " +
        "505.701405,128.8 542.901405,128.8 C579.701405,128.8 615.401405,139.8 " +
        "646.001405,160.5 C662.401405,171.6 677.101405,185.4 690.101405,201.6 " +
        "C704.501405,219.6 716.401405,240.6 725.901405,264 L940.901405,718.9 " +
        "L941.101405,719.3 L941.301405,719.7 C953.901405,746 960.201405,773.9 " +
        "959.401405,800.3 Z M586.601405,832 L501.301405,832 C489.501405,831.8 " +
        "480.201405,821.5 480.001405,808.7 L480.001405,727.3 C480.201405,714.5 " +
        "489.601405,704.3 501.301405,704 L586.601405,704 C598.401405,704.2 " +
        "607.701405,714.5 607.901405,727.3 L607.901405,808.7 L608.001405,808.7 " +
        "C607.701405,821.5 598.301405,831.8 586.601405,832 M639.901405,290.7 " +
        "L613.201405,610.4 C611.801405,626.9 598.001405,640 581.301405,640 " +
        "L506.601405,640 C490.001405,640 476.101405,627.2 474.701405,610.7 " +
        "L448.101405,291 C446.501405,272.3 461.301405,256.3 480.001405,256.3 " +
        "L608.001405,256 C626.701405,256 641.401405,272 639.901405,290.7" },
    toggle: { viewBox: "0 0 512 512", path: "M96 176l45-45 115 115 115-115 45 45-160 160z" },
};

export function icon(name, extraClass) {
    const svgNs = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", ICONS[name].viewBox);
    svg.setAttribute("fill", "currentColor");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "vmsnap-icon" + (extraClass ? " " + extraClass : ""));
    const path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", ICONS[name].path);
    svg.append(path);
    return svg;
}

export function button(label, variant, onclick, attributes) {
    return h("button", { type: "button", class: `pf-c-button pf-m-${variant}`, onclick, ...attributes }, label);
}

/* An inline PatternFly alert: variant is info, success, warning or danger. */
export function alert(variant, title, description, actions, attributes) {
    const icons = { info: "info", success: "success", warning: "warning", danger: "danger" };
    const screenReader = {
        info: _("Info alert:"),
        success: _("Success alert:"),
        warning: _("Warning alert:"),
        danger: _("Danger alert:"),
    };
    return h("div", { class: `pf-c-alert pf-m-inline pf-m-${variant}`, ...attributes },
             h("div", { class: "pf-c-alert__icon" }, icon(icons[variant])),
             h("p", { class: "pf-c-alert__title" },
               h("span", { class: "pf-screen-reader" }, screenReader[variant]), title),
             description ? h("div", { class: "pf-c-alert__description" }, description) : null,
             actions && actions.length ? h("div", { class: "pf-c-alert__action-group" }, actions) : null);
}

export function label(text, color, attributes) {
    return h("span", { class: `pf-c-label pf-m-compact${color ? " pf-m-" + color : ""}`, ...attributes },
             h("span", { class: "pf-c-label__content" }, text));
}

export function spinner(size) {
    return h("span", { class: `pf-c-spinner pf-m-${size || "md"}`, role: "progressbar", "aria-valuetext": _("Loading…") },
             h("span", { class: "pf-c-spinner__clipper" }),
             h("span", { class: "pf-c-spinner__lead-ball" }),
             h("span", { class: "pf-c-spinner__tail-ball" }));
}

/* ---- formatting ---- */

const STATE_TEXT = {
    running: _("Running"),
    paused: _("Paused"),
    shutoff: _("Shut off"),
    other: _("Other"),
};

export function stateText(state) {
    return STATE_TEXT[state] || state;
}

let timeFormat = null; // one formatter: making one per row costs more than the row
export function formatTime(unixSeconds) {
    if (timeFormat === null)
        timeFormat = new Intl.DateTimeFormat(cockpit.language || undefined, { dateStyle: "medium", timeStyle: "medium" });
    return timeFormat.format(new Date(unixSeconds * 1000));
}

/* "1.2 GiB", as Cockpit writes sizes; below a KiB Cockpit 287 gives a bare number, which
 * gets its unit here ("0 B", "512 B"). */
export function formatBytes(bytes) {
    const [number, unit] = cockpit.format_bytes(bytes, 1024, { separate: true });
    return `${number} ${unit || "B"}`;
}

export function formatRate(bytesPerSecond) {
    return cockpit.format_bytes_per_sec(bytesPerSecond, 1024);
}

export function formatDuration(seconds) {
    if (seconds < 1)
        return _("less than a second");
    if (seconds < 90)
        return cockpit.format(cockpit.ngettext("$0 second", "$0 seconds", Math.round(seconds)), Math.round(seconds));
    const minutes = Math.round(seconds / 60);
    if (minutes < 90)
        return cockpit.format(cockpit.ngettext("$0 minute", "$0 minutes", minutes), minutes);
    const hours = Math.round(minutes / 60);
    return cockpit.format(cockpit.ngettext("$0 hour", "$0 hours", hours), hours);
}
