/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.h: filling a vmsnap_error. Every engine function that fails sets one
 * sentence through vmsnap_error_set() and returns its negative code. */
#pragma once

#include <errno.h>

#include "util.h"
#include "vmsnap/vmsnap.h"

/* Sets *error (if non-NULL) and returns code (which must be negative). */
int vmsnap_error_set(vmsnap_error *error, int code, vmsnap_error_kind kind, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
/* Prefixes the existing message with "what: ". */
int vmsnap_error_prefix(vmsnap_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));
void vmsnap_error_clear(vmsnap_error *error);
