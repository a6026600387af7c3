/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* history.c: the audit trail of each domain, <state_dir>/<uuid>.history: one JSON
 * object per line, oldest first, the last VMSNAP_HISTORY_MAX kept. What goes into an
 * entry (who asked, how it ended) is the caller's; the file and its bound are this file's.
 *
 * Why a sibling file of JSON lines and not a part of the domain's document: the document is
 * rewritten whole by every operation under the op lock, and a clone (which runs beside the
 * domain's other changes) or a failure before any metadata changed would have to take that
 * lock only to be recorded; an append is one write and one fdatasync, whatever the
 * history's length. The file grows to twice the bound and is then rewritten atomically
 * with the newest VMSNAP_HISTORY_MAX entries, so an append costs O(1) amortized. Keyed by
 * UUID like the document, it survives renames, undefines and restarts. A crash during an
 * append can leave a torn last line: readers skip lines that do not parse, and the next
 * append after a restart rewrites the file without it. */
#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "error.h"
#include "fileio.h"
#include "names.h"
#include "store.h"

static void json_object_putp(json_object **object)
{
        json_object_put(*object);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static char *history_path(const vmsnap_engine *engine, const char *uuid)
{
        char *path;
        path = xasprintf("%s/%s.history", engine->state_dir, uuid);
        return path;
}

static bool domain_kept(const vmsnap_engine *engine, const char *uuid)
{
        _cleanup_free_ char *history = history_path(engine, uuid), *document = NULL;

        document = xasprintf("%s/%s.json", engine->state_dir, uuid);
        return vmsnap_file_exists(history) || vmsnap_file_exists(document);
}

/* The UUID of the domain a reference names: the libvirt domain it names, else (for a
 * domain libvirt no longer defines) the UUID it spells when kept is false or vmsnap keeps
 * something of that domain. */
static int history_uuid(vmsnap_engine *engine, const char *domain, bool must_be_kept,
                        char uuid[VIR_UUID_STRING_BUFLEN], vmsnap_error *error)
{
        vmsnap_error lookup_error = {0};
        virDomainPtr found;
        int r;

        r = vmsnap_engine_lookup(engine, domain, &found, &lookup_error);
        if (r == 0) {
                r = virDomainGetUUIDString(found, uuid);
                virDomainFree(found);
                if (r < 0)
                        return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                                "cannot read the UUID of domain %s", domain);
                return 0;
        }
        if (lookup_error.kind == VMSNAP_ERROR_NOT_FOUND && vmsnap_uuid_parse(domain, uuid) &&
            (!must_be_kept || domain_kept(engine, uuid)))
                return 0;
        if (error)
                *error = lookup_error;
        return r;
}

static json_object *entry_to_json(const vmsnap_history_entry *entry)
{
        json_object *object = json_object_new_object(), *messages = json_object_new_array();

        if (!object || !messages)
                oom();
        for (char **m = entry->messages; m && *m; m++)
                json_object_array_add(messages, json_object_new_string(*m));
        json_object_object_add(object, "time", json_object_new_uint64(entry->time_usec));
        json_object_object_add(object, "operation", json_object_new_string(entry->operation ?: ""));
        json_object_object_add(object, "snapshot", json_object_new_string(entry->snapshot ?: ""));
        json_object_object_add(object, "uid", json_object_new_uint64(entry->uid));
        json_object_object_add(object, "result", json_object_new_string(entry->result ?: ""));
        json_object_object_add(object, "error", json_object_new_string(entry->error ?: ""));
        json_object_object_add(object, "error_name", json_object_new_string(entry->error_name ?: ""));
        json_object_object_add(object, "messages", messages);
        return object;
}

/* One line of the file; false for a line that is not an entry (a torn last line). */
static bool entry_from_line(const char *line, size_t length, vmsnap_history_entry *ret)
{
        _cleanup_json_ json_object *object = NULL;
        json_object *time, *uid, *messages;
        json_tokener *tokener = json_tokener_new();

        if (!tokener)
                oom();
        object = json_tokener_parse_ex(tokener, line, (int)length);
        if (json_tokener_get_error(tokener) != json_tokener_success) {
                json_object_put(object);
                object = NULL;
        }
        json_tokener_free(tokener);
        if (!object || !json_object_is_type(object, json_type_object) ||
            !json_object_object_get_ex(object, "time", &time) || !json_object_is_type(time, json_type_int) ||
            !json_object_object_get_ex(object, "uid", &uid) || !json_object_is_type(uid, json_type_int) ||
            !json_object_object_get_ex(object, "messages", &messages) ||
            !json_object_is_type(messages, json_type_array) || !vmsnap_json_string(object, "operation") ||
            !vmsnap_json_string(object, "snapshot") || !vmsnap_json_string(object, "result") ||
            !vmsnap_json_string(object, "error") || !vmsnap_json_string(object, "error_name"))
                return false;

        size_t n = json_object_array_length(messages);
        *ret = (vmsnap_history_entry){
                .time_usec = json_object_get_uint64(time),
                .uid = (uint32_t)json_object_get_uint64(uid),
                .operation = xstrdup(strempty(vmsnap_json_string(object, "operation"))),
                .snapshot = xstrdup(strempty(vmsnap_json_string(object, "snapshot"))),
                .result = xstrdup(strempty(vmsnap_json_string(object, "result"))),
                .error = xstrdup(strempty(vmsnap_json_string(object, "error"))),
                .error_name = xstrdup(strempty(vmsnap_json_string(object, "error_name"))),
                .messages = xcalloc(n + 1, sizeof(char *)),
        };
        for (size_t i = 0, k = 0; i < n; i++) {
                json_object *text = json_object_array_get_idx(messages, i);
                if (json_object_is_type(text, json_type_string))
                        ret->messages[k++] = xstrdup(strempty(json_object_get_string(text)));
        }
        return true;
}

/* The entries of data (a whole file), oldest first, at most the newest keep of them.
 * *torn: the file holds a line that is no entry, or its last line has no end. */
static void entries_parse(const char *data, size_t size, size_t keep, vmsnap_history_entry **ret,
                          size_t *n_ret, bool *torn)
{
        vmsnap_history_entry *entries = NULL;
        size_t n = 0, allocated = 0;

        *torn = size > 0 && data[size - 1] != '\n';
        for (const char *line = data; line < data + size;) {
                const char *end = memchr(line, '\n', (size_t)(data + size - line));
                size_t length = end ? (size_t)(end - line) : (size_t)(data + size - line);
                vmsnap_history_entry entry;

                if (length > 0 && entry_from_line(line, length, &entry)) {
                        if (n == allocated) {
                                allocated = allocated ? allocated * 2 : 64;
                                entries = xreallocarray(entries, allocated, sizeof(*entries));
                        }
                        entries[n++] = entry;
                } else if (length > 0)
                        *torn = true;
                line += length + 1;
        }
        if (n > keep) {
                for (size_t i = 0; i < n - keep; i++)
                        vmsnap_history_entry_clear(&entries[i]);
                memmove(entries, entries + (n - keep), keep * sizeof(*entries));
                n = keep;
        }
        *ret = entries;
        *n_ret = n;
}

static char *entry_line(const vmsnap_history_entry *entry)
{
        _cleanup_json_ json_object *object = entry_to_json(entry);
        char *line;

        line = xasprintf("%s\n", json_object_to_json_string_ext(
                                         object, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        return line;
}

/* Rewrites the file atomically with the newest keep entries of data and then line: how a
 * new file is made, how it is bounded, and how a torn line goes. *lines_ret: its lines. */
static int history_rewrite(const char *path, const char *data, size_t size, size_t keep, const char *line,
                           size_t *lines_ret, vmsnap_error *error)
{
        vmsnap_history_entry *entries = NULL;
        char *text = NULL;
        size_t n = 0, length = 0;
        bool torn;
        FILE *stream = open_memstream(&text, &length);
        int r;

        if (!stream)
                oom();
        entries_parse(data ? data : "", size, keep, &entries, &n, &torn);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *old = entry_line(&entries[i]);
                fputs(old, stream);
        }
        fputs(line, stream);
        if (fclose(stream) != 0)
                oom();
        vmsnap_history_entry_array_free(entries, n);
        r = vmsnap_file_write_atomic(path, text, length, error);
        free(text);
        if (r == 0)
                *lines_ret = n + 1;
        return r;
}

int vmsnap_history_append(vmsnap_engine *engine, const char *domain, const vmsnap_history_entry *entry,
                          vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        _cleanup_free_ char *path = NULL, *line = NULL, *data = NULL;
        vmsnap_history_entry stamped = *entry;
        vmsnap_domain_slot *slot;
        vmsnap_error read_error = {0};
        size_t size = 0;
        int r;

        vmsnap_error_clear(error);
        r = history_uuid(engine, domain, false, uuid, error);
        if (r < 0)
                return r;
        if (stamped.time_usec == 0) {
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                stamped.time_usec = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
        }
        path = history_path(engine, uuid);
        line = entry_line(&stamped);
        slot = vmsnap_engine_slot(engine, uuid);

        pthread_mutex_lock(&slot->history_lock);
        if (slot->history_counted && slot->history_lines > 0 &&
            slot->history_lines < 2 * VMSNAP_HISTORY_MAX) {
                r = vmsnap_file_append(path, line, strlen(line), error);
                if (r == 0)
                        slot->history_lines++;
                else
                        slot->history_counted = false; /* count again: the write may have left a part */
                goto out;
        }
        /* First append since the engine started, a file past its bound, or a file to make. */
        r = vmsnap_file_read_all(path, &data, &size, &read_error);
        if (r < 0 && r != -ENOENT) {
                if (error)
                        *error = read_error;
                goto out;
        }
        size_t lines = 0;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        bool torn = size > 0 && data[size - 1] != '\n';
        if (r == 0 && !torn && lines > 0 && lines < 2 * VMSNAP_HISTORY_MAX) {
                r = vmsnap_file_append(path, line, strlen(line), error);
                slot->history_counted = r == 0;
                slot->history_lines = lines + 1;
                goto out;
        }
        r = history_rewrite(path, data, size, VMSNAP_HISTORY_MAX - 1, line, &slot->history_lines, error);
        slot->history_counted = r == 0;
out:
        pthread_mutex_unlock(&slot->history_lock);
        if (r < 0)
                vmsnap_error_prefix(error, "cannot record the %s of domain %s in its history",
                                    entry->operation ? entry->operation : "change", domain);
        return r;
}

int vmsnap_history_list(vmsnap_engine *engine, const char *domain, vmsnap_history_entry **ret, size_t *n_ret,
                        vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        _cleanup_free_ char *path = NULL, *data = NULL;
        vmsnap_error read_error = {0};
        size_t size = 0;
        bool torn;
        int r;

        vmsnap_error_clear(error);
        r = history_uuid(engine, domain, true, uuid, error);
        if (r < 0)
                return r;
        path = history_path(engine, uuid);
        /* No lock: an append is one write at the end and a bound is a rename, so a read sees
         * whole entries and at most a torn last line, which it skips. */
        r = vmsnap_file_read_all(path, &data, &size, &read_error);
        if (r == -ENOENT) {
                *ret = xcalloc(1, sizeof(**ret));
                *n_ret = 0;
                return 0;
        }
        if (r < 0) {
                if (error)
                        *error = read_error;
                vmsnap_error_prefix(error, "cannot read the history of domain %s", domain);
                return r;
        }
        entries_parse(data, size, VMSNAP_HISTORY_MAX, ret, n_ret, &torn);
        if (!*ret) {
                *ret = xcalloc(1, sizeof(**ret));
        }
        return 0;
}

void vmsnap_history_entry_clear(vmsnap_history_entry *entry)
{
        if (!entry)
                return;
        free(entry->operation);
        free(entry->snapshot);
        free(entry->result);
        free(entry->error);
        free(entry->error_name);
        for (char **m = entry->messages; m && *m; m++)
                free(*m);
        free(entry->messages);
        *entry = (vmsnap_history_entry){0};
}

void vmsnap_history_entry_array_free(vmsnap_history_entry *array, size_t n)
{
        for (size_t i = 0; i < n; i++)
                vmsnap_history_entry_clear(&array[i]);
        free(array);
}
