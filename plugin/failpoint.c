/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* failpoint.c: the countdown and the process-wide "killed" flag of failpoint.h,
 * compiled into the tests' engine only. It sits below every other file of the
 * engine, so that fileio, subprocess and the operations can all consult it
 * without reaching up. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "error.h"
#include "failpoint.h"

static atomic_uint countdown;
static _Atomic(const char *) armed_step;
static atomic_uint reached;
static atomic_bool dead;

void vmsnap_failpoint_arm(unsigned n)
{
        atomic_store(&armed_step, NULL);
        atomic_store(&countdown, n);
        atomic_store(&reached, 0);
}

void vmsnap_failpoint_arm_step(const char *step)
{
        atomic_store(&countdown, 0);
        atomic_store(&armed_step, step);
        atomic_store(&reached, 0);
}

unsigned vmsnap_failpoint_reached(void)
{
        return atomic_load(&reached);
}

bool vmsnap_failpoint_fires(const char *step)
{
        const char *armed;
        unsigned left;

        atomic_fetch_add(&reached, 1);
        armed = atomic_load(&armed_step);
        /* Disarmed by the one that fires, so that a step reached twice fails once. */
        if (armed && strcmp(armed, step) == 0)
                return atomic_compare_exchange_strong(&armed_step, &armed, NULL);
        /* One step of the countdown per call, also when threads reach failpoints at once:
         * exactly one of them sees it go from 1 to 0 and fires. */
        left = atomic_load(&countdown);
        while (left > 0)
                if (atomic_compare_exchange_weak(&countdown, &left, left - 1))
                        return left == 1;
        return false;
}

void vmsnap_failpoint_die(void)
{
        atomic_store(&dead, true);
}

void vmsnap_failpoint_revive(void)
{
        atomic_store(&dead, false);
}

bool vmsnap_failpoint_dead(void)
{
        return atomic_load_explicit(&dead, memory_order_relaxed);
}

int vmsnap_failpoint_dead_error(vmsnap_error *error)
{
        return vmsnap_error_set(error, -EINTR, VMSNAP_ERROR_FAILED,
                                "simulated crash: the process was killed");
}
