/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* subprocess.h: the one way vmsnap runs a child process: an argv (never a shell),
 * stdin from /dev/null, stderr collected for the error sentence, optional
 * qemu-img "-p" progress parsed from stdout, cancellation by SIGTERM. */
#pragma once

#include "vmsnap/vmsnap.h"

/* Runs argv[0] (looked up in PATH) and waits. If hooks has progress, lines of the
 * form "    (12.34/100%)" on stdout are reported as progress in units of
 * 1/10000 (done, 10000). If hooks->is_canceled turns true the child is killed and
 * -ECANCELED returned. A non-zero exit returns -EIO with an error naming the
 * program and the last line of its stderr. */
int vmsnap_spawn(const char *const *argv, const vmsnap_hooks *hooks, vmsnap_error *error);
