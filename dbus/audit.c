/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audit.c: what vmsnapd records of each change that ran: the history entry it hands
 * to the engine (the engine owns the file and its bound) and the journal entry it
 * sends itself (sd_journal_sendv). The operations and their MESSAGE_IDs are listed
 * once, below; README.md lists them for administrators. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "util.h"

/* One line per operation; an operation missing here is still recorded, under
 * AUDIT_OTHER_ID. Fixed ids (systemd-id128 new): never change one. */
static const struct {
        const char *operation;
        const char *message_id;
} operations[] = {
        {"create", "781d3968365f4004ab94ed5be8c87f0b"},
        {"preview", "f92fc40f12ba43aaa5abf0291c1322b4"},
        {"commit", "6a4d7bb2d81c436896822396da8008c2"},
        {"undo", "cc9e35f8f826464d94e9f8c01f511f12"},
        {"revert", "5f2d1c88716e4d30a2f36c8e9f995f24"},
        {"delete", "4eaab48319134ee29ae78dafe0adf582"},
        {"clone", "3e5f491e09d74076b89050909577e82e"},
        {"rename", "c3f8dae6a83a4f4681152d7e1e10b8b7"},
        {"set-description", "d5630cd7e6df430fa1bd83278cde13a5"},
        {"delete-all", "2c83acb0c4a9438ab334d7880d4fd8ba"},
        {"purge", "bffe61de3e0e46d49609eabead9bbe8a"},
};
#define AUDIT_OTHER_ID "b5ccdf269872463fbed716fd448af002"

static const char *message_id(const char *operation)
{
        for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++)
                if (strcmp(operations[i].operation, operation) == 0)
                        return operations[i].message_id;
        return AUDIT_OTHER_ID;
}

/* Is stderr the journal (systemd's JOURNAL_STREAM names its device and inode)? */
static bool stderr_is_journal(void)
{
        const char *stream = getenv("JOURNAL_STREAM");
        unsigned long long device, inode;
        struct stat st;

        if (!stream || sscanf(stream, "%llu:%llu", &device, &inode) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == device && (unsigned long long)st.st_ino == inode;
}

/* Appends a formatted string to a vector: a journal field, a message. */
static void push_sentence(char ***fields, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void push_sentence(char ***fields, const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        char *text = xvasprintf(format, ap);
        va_end(ap);
        strv_push(fields, text);
        free(text);
}

/* Returns whether the journal took the entry. */
static bool journal_send(const audit_change *change)
{
        const vmsnap_history_entry *entry = change->entry;
        char **fields = NULL;
        int r;

        push_sentence(&fields, "MESSAGE_ID=%s", message_id(entry->operation));
        if (strcmp(entry->result, "done") == 0)
                push_sentence(&fields, "MESSAGE=%s of %s%s%s%s by uid %" PRIu32 " done", entry->operation,
                              change->domain_name, entry->snapshot[0] ? " (snapshot \"" : "",
                              entry->snapshot, entry->snapshot[0] ? "\")" : "", entry->uid);
        else
                push_sentence(&fields, "MESSAGE=%s of %s%s%s%s by uid %" PRIu32 " %s: %s", entry->operation,
                              change->domain_name, entry->snapshot[0] ? " (snapshot \"" : "",
                              entry->snapshot, entry->snapshot[0] ? "\")" : "", entry->uid, entry->result,
                              entry->error);
        push_sentence(&fields, "PRIORITY=%d", strcmp(entry->result, "done") == 0 ? LOG_INFO : LOG_WARNING);
        push_sentence(&fields, "VMSNAP_OPERATION=%s", entry->operation);
        push_sentence(&fields, "VMSNAP_DOMAIN=%s", change->domain_name);
        push_sentence(&fields, "VMSNAP_DOMAIN_UUID=%s", change->domain_uuid);
        push_sentence(&fields, "VMSNAP_SNAPSHOT=%s", entry->snapshot);
        push_sentence(&fields, "VMSNAP_CALLER_UID=%" PRIu32, entry->uid);
        push_sentence(&fields, "VMSNAP_RESULT=%s", entry->result);
        if (change->job_id)
                push_sentence(&fields, "VMSNAP_JOB=%" PRIu32, change->job_id);
        if (entry->error[0])
                push_sentence(&fields, "VMSNAP_ERROR=%s", entry->error);
        if (entry->error_name[0])
                push_sentence(&fields, "VMSNAP_ERROR_NAME=%s", entry->error_name);
        /* A field may repeat in a journal entry: one per message, in order. */
        for (char **m = entry->messages; m && *m; m++)
                push_sentence(&fields, "VMSNAP_MESSAGE=%s", *m);

        size_t n = strv_length(fields);
        _cleanup_free_ struct iovec *iov = xcalloc(n, sizeof(*iov));
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){.iov_base = fields[i], .iov_len = strlen(fields[i])};
        r = sd_journal_sendv(iov, (int)n);
        strv_free(fields);
        return r >= 0;
}

bool audit_record(vmsnap_engine *engine, const audit_change *change)
{
        vmsnap_error error = {0};

        if (vmsnap_history_append(engine, change->domain_uuid, change->entry, &error) < 0)
                fprintf(stderr, "vmsnapd: %s\n", error.message);
        return journal_send(change) && stderr_is_journal();
}
