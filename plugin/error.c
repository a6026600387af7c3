/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.c: storing a sentence and a kind in a vmsnap_error, and naming the kinds.
 * The sentences themselves are written where the failure is understood; this
 * file only formats, prefixes and clears them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

const char *vmsnap_error_kind_name(vmsnap_error_kind kind)
{
        switch (kind) {
        case VMSNAP_ERROR_NONE:
                return "None";
        case VMSNAP_ERROR_NOT_FOUND:
                return "NotFound";
        case VMSNAP_ERROR_BUSY:
                return "Busy";
        case VMSNAP_ERROR_INVALID_ARGUMENT:
                return "InvalidArgument";
        case VMSNAP_ERROR_DOMAIN_RUNNING:
                return "DomainRunning";
        case VMSNAP_ERROR_IN_PREVIEW:
                return "InPreview";
        case VMSNAP_ERROR_NO_SPACE:
                return "NoSpace";
        case VMSNAP_ERROR_LOCKED:
                return "Locked";
        case VMSNAP_ERROR_UNSUPPORTED:
                return "Unsupported";
        case VMSNAP_ERROR_CANCELED:
                return "Canceled";
        case VMSNAP_ERROR_FAILED:
                return "Failed";
        }
        /* A value outside the enum is still a failure; the bus needs some name for it. */
        return "Failed";
}

int vmsnap_error_set(vmsnap_error *error, int code, vmsnap_error_kind kind, const char *format, ...)
{
        va_list ap;

        /* Callers sometimes hand over errno itself; a failure must never read as success. */
        if (code > 0)
                code = -code;
        else if (code == 0)
                code = -EIO;

        if (!error)
                return code;

        error->code = code;
        error->kind = kind;
        /* "%m" in a message names the error being reported, whatever errno says by now. */
        errno = -code;
        va_start(ap, format);
        vsnprintf(error->message, sizeof(error->message), format, ap);
        va_end(ap);
        return code;
}

/* Appends text to buffer (holding *used bytes), truncating at size - 1. */
static void append_truncated(char *buffer, size_t size, size_t *used, const char *text)
{
        size_t length = strlen(text);

        if (length > size - 1 - *used)
                length = size - 1 - *used;
        memcpy(buffer + *used, text, length);
        *used += length;
        buffer[*used] = '\0';
}

/* Returns the code already stored in error (-EIO when there is none), so that a
 * caller can write "return vmsnap_error_prefix(error, "disk %s", target);". */
int vmsnap_error_prefix(vmsnap_error *error, const char *format, ...)
{
        char combined[sizeof(error->message)];
        size_t used = 0;
        va_list ap;

        if (!error)
                return -EIO;

        va_start(ap, format);
        vsnprintf(combined, sizeof(combined), format, ap);
        va_end(ap);
        used = strlen(combined);

        if (error->message[0] != '\0') {
                append_truncated(combined, sizeof(combined), &used, ": ");
                append_truncated(combined, sizeof(combined), &used, error->message);
        }
        memcpy(error->message, combined, sizeof(error->message));

        return error->code < 0 ? error->code : -EIO;
}

void vmsnap_error_clear(vmsnap_error *error)
{
        if (!error)
                return;
        error->code = 0;
        error->kind = VMSNAP_ERROR_NONE;
        error->message[0] = '\0';
}
