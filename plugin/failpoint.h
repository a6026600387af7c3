/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* failpoint.h: the tests' way to kill the engine at any instant without killing
 * the test. Once vmsnap_failpoint_die() is called the process counts as dead:
 * every change that would outlive it (a file written, created, linked or
 * removed, a child started, a definition given to libvirt) is refused, so what
 * the next engine finds on disk is what a SIGKILL at that instant leaves. The
 * countdown failpoints of operations (vmsnap_op_failpoint) are in engine.h. */
#pragma once

#include <stdbool.h>

#include "vmsnap/vmsnap.h"

/* From now on the process acts as if it had been killed. */
void vmsnap_failpoint_die(void);
/* Back to life, for the next engine of the same test. */
void vmsnap_failpoint_revive(void);
bool vmsnap_failpoint_dead(void);
/* Fills error for a change refused because the process is dead; returns -EINTR. */
int vmsnap_failpoint_dead_error(vmsnap_error *error);
