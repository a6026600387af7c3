#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vendor-patternfly.py [VERSION]: rebuilds patternfly.css, the part of PatternFly's
CSS that the Snapshots page uses, from the @patternfly/patternfly package of the npm
registry (MIT). Cockpit 287, as shipped by Debian 12, keeps no PatternFly stylesheet
for other packages in base1/ (each of its pages bundles its own), so this page carries
the same PatternFly 4 release line its shell is built with. Fonts are not copied:
fonts.css points at the Red Hat fonts that cockpit-ws serves from static/fonts/.
Run it by hand when moving to another release and commit the result."""
import os
import re
import subprocess
import sys
import tarfile
import tempfile

VERSION = sys.argv[1] if len(sys.argv) > 1 else "4.224.5"
HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "patternfly.css")

# The base (variables, reset, dark theme variables) and every component the page shows.
PARTS = [
    "patternfly-base.css",
    "components/Page/page.css",
    "components/Card/card.css",
    "components/Title/title.css",
    "components/Content/content.css",
    "components/Button/button.css",
    "components/Table/table.css",
    "components/Table/table-tree-view.css",
    "components/Table/table-scrollable.css",
    "components/Toolbar/toolbar.css",
    "components/Label/label.css",
    "components/Alert/alert.css",
    "components/AlertGroup/alert-group.css",
    "components/Backdrop/backdrop.css",
    "components/ModalBox/modal-box.css",
    "components/Form/form.css",
    "components/FormControl/form-control.css",
    "components/Check/check.css",
    "components/Radio/radio.css",
    "components/HelperText/helper-text.css",
    "components/Progress/progress.css",
    "components/EmptyState/empty-state.css",
    "components/DescriptionList/description-list.css",
    "components/Spinner/spinner.css",
    "components/Divider/divider.css",
    "layouts/Flex/flex.css",
    "layouts/Stack/stack.css",
    "layouts/Split/split.css",
    "layouts/Bullseye/bullseye.css",
]

FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}\s*", re.S)


def main():
    with tempfile.TemporaryDirectory() as work:
        tarball = subprocess.run(["npm", "pack", "--silent", f"@patternfly/patternfly@{VERSION}"],
                                 cwd=work, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(work, tarball)) as archive:
            archive.extractall(work, filter="data") if hasattr(tarfile, "data_filter") else archive.extractall(work)
        package = os.path.join(work, "package")
        chunks = ["/* SPDX-License-Identifier: MIT */\n",
                  f"/* PatternFly {VERSION} (@patternfly/patternfly, MIT, https://www.patternfly.org):\n"
                  f" * the parts the Snapshots page uses, made by vendor-patternfly.py; do not edit.\n"
                  f" * @font-face rules are left out: fonts.css uses Cockpit's copies of the fonts. */\n"]
        for part in PARTS:
            with open(os.path.join(package, part), encoding="utf-8") as f:
                css = f.read()
            chunks.append(f"\n/* ---- {part} ---- */\n" + FONT_FACE.sub("", css))
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write("".join(chunks))
    print(f"wrote {OUTPUT} ({os.path.getsize(OUTPUT)} bytes) from PatternFly {VERSION}")


main()
