/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.h: filling a vmsnap_error. Every engine function that fails sets one
 * sentence through vmsnap_error_set() and returns its negative code. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "vmsnap/vmsnap.h"

/* Sets *error (if non-NULL) and returns code (which must be negative). */
int vmsnap_error_set(vmsnap_error *error, int code, vmsnap_error_kind kind, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
/* Prefixes the existing message with "what: ". */
int vmsnap_error_prefix(vmsnap_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));
void vmsnap_error_clear(vmsnap_error *error);

/* Frees a pointer on scope exit, like systemd's _cleanup_free_. */
#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)
/* Closes a file descriptor (negative: none) on scope exit. */
static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)
