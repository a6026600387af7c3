/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* failpoint.h: the tests' way to kill the engine at any instant without killing
 * the test. Two kinds:
 * - the countdown: the n-th failpoint an operation reaches from now on
 *   (vmsnap_op_failpoint in op.h, at each step of an operation) fails as a crash
 *   there would; or, armed by its step's name, the first failpoint of that step,
 *   wherever it falls in the count;
 * - death: once vmsnap_failpoint_die() is called the process counts as dead:
 *   every change that would outlive it (a file written, created, linked or
 *   removed, a child started, a definition given to libvirt) is refused, so what
 *   the next engine finds on disk is what a SIGKILL at that instant leaves.
 * They exist only in the engine the tests link (built with VMSNAP_FAILPOINTS);
 * in the installed library every check below is a constant the compiler drops. */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "vmsnap/vmsnap.h"

#ifdef VMSNAP_FAILPOINTS

/* Fail at the n-th failpoint reached from now on (0 disarms). */
void vmsnap_failpoint_arm(unsigned n);
/* Fail at the first failpoint of step reached from now on, however many come before it;
 * step is kept, not copied (a literal). */
void vmsnap_failpoint_arm_step(const char *step);
/* How many failpoints were reached since the last arm. */
unsigned vmsnap_failpoint_reached(void);
/* Counts one failpoint reached, at step; true when it is the one armed to fail. */
bool vmsnap_failpoint_fires(const char *step);

/* From now on the process acts as if it had been killed. */
void vmsnap_failpoint_die(void);
/* Back to life, for the next engine of the same test. */
void vmsnap_failpoint_revive(void);
bool vmsnap_failpoint_dead(void);
/* Fills error for a change refused because the process is dead; returns -EINTR. */
int vmsnap_failpoint_dead_error(vmsnap_error *error);

#else

static inline bool vmsnap_failpoint_fires(const char *step)
{
        (void)step;
        return false;
}

static inline bool vmsnap_failpoint_dead(void)
{
        return false;
}

static inline int vmsnap_failpoint_dead_error(vmsnap_error *error)
{
        (void)error;
        return -EINTR;
}

#endif
