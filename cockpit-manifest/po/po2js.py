#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""po2js.py LANG.po OUTPUT.js: one translation as the po.LANG.js that Cockpit's bridge
serves for po.js (cockpit.locale() with msgid -> [null, msgstr...], plural forms as a
function), so that cockpit.gettext and cockpit.ngettext find it. Reads plain .po files
as msgfmt writes them; no dependency beyond Python."""
import ast
import json
import re
import sys


def parse(path):
    entries, entry, field = [], {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                if entry and not line:
                    entries.append(entry)
                    entry, field = {}, None
                continue
            match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")$", line)
            if match:
                if match.group(1) in ("msgctxt", "msgid") and ("msgstr" in entry or "msgstr[0]" in entry):
                    entries.append(entry)
                    entry = {}
                field = match.group(1)
                entry[field] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and field:
                entry[field] += ast.literal_eval(line)
    if entry:
        entries.append(entry)
    return entries


def main():
    source, output = sys.argv[1], sys.argv[2]
    language = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    header = {"language": language, "plural-forms": "(n) => n != 1"}
    messages = {}
    for entry in parse(source):
        msgid = entry.get("msgid")
        if msgid is None:
            continue
        if msgid == "":
            match = re.search(r"plural=([^;\n]+)", entry.get("msgstr", ""))
            if match:
                header["plural-forms"] = f"(n) => {match.group(1)}"
            continue
        key = (entry["msgctxt"] + "\u0004" + msgid) if "msgctxt" in entry else msgid
        if "msgid_plural" in entry:
            forms = [entry[k] for k in sorted(k for k in entry if k.startswith("msgstr["))]
            if any(forms):
                messages[key] = [entry["msgid_plural"], *forms]
        elif entry.get("msgstr"):
            messages[key] = [None, entry["msgstr"]]
    plural = header.pop("plural-forms")
    body = json.dumps({"": header, **messages}, ensure_ascii=False, indent=1)
    # The plural rule is code; it is spliced in after the header's opening.
    body = body.replace("{\n \"\": {", "{\n \"\": {\n  \"plural-forms\": " + plural + ",", 1)
    with open(output, "w", encoding="utf-8") as f:
        f.write(f"cockpit.locale({body});\n")


main()
