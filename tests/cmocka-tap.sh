#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cmocka-tap.sh PROGRAM [ARGS...]: runs a cmocka test program with TAP output. cmocka
# reports a skipped case as "not ok N # SKIP reason", which TAP readers such as meson's
# count as a failure; this prints it as "ok N # SKIP reason". The exit status is the
# program's.
set -o pipefail
CMOCKA_MESSAGE_OUTPUT=TAP "$@" | sed -u 's/^not ok \([0-9][0-9]*\) # SKIP/ok \1 # SKIP/'
