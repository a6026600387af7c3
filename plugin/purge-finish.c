/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* purge-finish.c: the half of a purge past its point of no return (see purge-finish.h):
 * the files its intent lists go, each checked again right before, then the domain's
 * metadata; and the recovery of a purge a crash interrupted. Planning the purge and the
 * undefine are purge.c's; the intent's layout is described there. */
#include <string.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "guard.h"
#include "path-set.h"
#include "prepared.h"
#include "purge-finish.h"
#include "rbd-disk.h"
#include "store.h"

static int add_chain_file(const char *path, const vmsnap_image_header *header, unsigned depth,
                          void *userdata)
{
        vmsnap_path_set_add(userdata, vmsnap_path_canonical_or_copy(path));
        return 0;
}

/* A domain defined again with the same UUID after its undefine, before a recovery
 * finished the purge: what its disks read now stays. */
static void collect_read_now(vmsnap_op *op, vmsnap_path_set *set)
{
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;

        if (!op->domain || vmsnap_op_active_disks(op, &active, &n_active) < 0)
                return;
        for (size_t i = 0; i < n_active; i++) {
                vmsnap_error ignored;
                vmsnap_path_set_add(set, vmsnap_path_canonical_or_copy(active[i].source));
                if (vmsnap_file_exists(active[i].source))
                        vmsnap_chain_walk(active[i].source, add_chain_file, set, &ignored);
        }
        vmsnap_active_disks_free(active, n_active);
}

/* Whether path must stay after all: checked again right before each removal. */
static int must_stay(vmsnap_op *op, const char *path, const vmsnap_path_set *read_now, bool *ret)
{
        _cleanup_free_ char *canonical = vmsnap_path_canonical_or_copy(path);
        int r;

        *ret = vmsnap_op_forgotten_reader(op, path) != NULL; /* named by the plan */
        if (*ret)
                return 0;
        r = vmsnap_op_used_elsewhere(op, path, ret);
        if (r < 0)
                return r;
        if (*ret)
                vmsnap_op_message(op, "%s stays: another domain's chain contains it", path);
        else if (vmsnap_path_set_contains(read_now, canonical)) {
                vmsnap_op_message(op, "%s stays: domain %s, defined again, uses it", path, op->name);
                *ret = true;
        }
        return 0;
}

/* The planned RBD snapshots, then the images vmsnap made for the domain that are left
 * without snapshots; what another domain reads now stays. Each can run again: what is
 * gone already is fine. */
static int remove_rbd(vmsnap_op *op, json_object *rbd_remove, size_t done, size_t total)
{
        size_t n = rbd_remove ? json_object_array_length(rbd_remove) : 0;
        int r = 0;

        for (size_t i = 0; r == 0 && i < n; i++) {
                json_object *entry = json_object_array_get_idx(rbd_remove, i);
                const char *snapshot = vmsnap_json_string(entry, "rbd_snapshot");
                const char *image = vmsnap_json_string(entry, "rbd_image");
                json_object *reach = vmsnap_json_object(entry, "reach");
                bool elsewhere = false;

                if (!snapshot && !image)
                        continue;
                r = vmsnap_op_rbd_used_elsewhere(op, snapshot ? snapshot : image, &elsewhere);
                if (r == 0 && elsewhere)
                        vmsnap_op_message(op, "%s stays: another domain's RBD disk reads it",
                                          snapshot ? snapshot : image);
                else if (r == 0)
                        r = snapshot ? vmsnap_rbd_snapshot_drop(op, reach, snapshot)
                                     : vmsnap_rbd_image_drop(op, reach, image);
                if (r == 0)
                        r = vmsnap_op_failpoint(op, "purge: after an RBD removal");
                vmsnap_op_progress(op, done + i + 1, total);
        }
        return r;
}

/* Past the point of no return: removes the planned files, then the metadata. Every
 * removal can run again: a file already gone is fine. */
int vmsnap_purge_finish(vmsnap_op *op)
{
        json_object *remove = vmsnap_json_array(op->meta->intent, "remove");
        json_object *prepared = vmsnap_json_array(op->meta->intent, "prepared");
        json_object *rbd_remove = vmsnap_json_array(op->meta->intent, "rbd_remove");
        size_t n_remove = remove ? json_object_array_length(remove) : 0;
        size_t n_prepared = prepared ? json_object_array_length(prepared) : 0;
        size_t n_rbd = rbd_remove ? json_object_array_length(rbd_remove) : 0;
        size_t total = n_remove + n_prepared + n_rbd + 1;
        vmsnap_path_set read_now = {0};
        bool stay;
        int r = 0;

        if (op->recovering)
                collect_read_now(op, &read_now);
        for (size_t i = 0; r == 0 && i < n_remove + n_prepared; i++) {
                json_object *entry = i < n_remove ? json_object_array_get_idx(remove, i)
                                                  : json_object_array_get_idx(prepared, i - n_remove);
                const char *path =
                        i < n_remove ? json_object_get_string(entry) : vmsnap_json_string(entry, "path");

                if (!path)
                        continue;
                r = must_stay(op, path, &read_now, &stay);
                if (r == 0 && !stay) {
                        if (i < n_remove)
                                r = vmsnap_file_remove(path, op->error);
                        else
                                vmsnap_prepared_file_remove(op, entry);
                }
                if (r == 0)
                        r = vmsnap_op_failpoint(op, "purge: after a removal");
                vmsnap_op_progress(op, i + 1, total);
        }
        vmsnap_path_set_clear(&read_now);
        if (r == 0)
                r = remove_rbd(op, rbd_remove, n_remove + n_prepared, total);
        if (r < 0)
                return r;
        r = vmsnap_op_failpoint(op, "purge: before the metadata goes");
        if (r < 0)
                return r;
        r = vmsnap_store_remove(op->engine->state_dir, op->slot->uuid, op->error);
        if (r < 0)
                return r;
        /* The domain is new to vmsnap from here: what readers saw goes, and an operation
         * that recovered this purge on a domain defined again starts from nothing. */
        pthread_mutex_lock(&op->slot->data_lock);
        vmsnap_domain_meta *old = vmsnap_slot_publish(op->slot, NULL);
        pthread_mutex_unlock(&op->slot->data_lock);
        vmsnap_domain_meta_free(old);
        vmsnap_domain_meta_free(op->meta);
        op->meta = vmsnap_domain_meta_new(op->slot->uuid, op->name);
        op->saved = true;
        op->purged = true;
        vmsnap_op_progress(op, total, total);
        return 0;
}

/* ---- recovery ---- */

int vmsnap_purge_recover(vmsnap_op *op)
{
        const char *phase = vmsnap_json_string(op->meta->intent, "phase");
        /* Before its point of no return a purge only waited for the undefine: whether
         * libvirt still defines the domain tells whether it happened. */
        bool forward = (phase && strcmp(phase, "finish") == 0) || !op->domain;
        int r;

        vmsnap_engine_log(op->engine,
                          forward ? "domain %s: the interrupted purge had passed its point of no return; "
                                    "finishing it"
                                  : "domain %s: the interrupted purge had not undefined the domain; rolling "
                                    "it back",
                          op->name);
        if (forward) {
                vmsnap_op_past_point_of_no_return(op);
                return vmsnap_purge_finish(op);
        }
        json_object_put(op->meta->intent);
        op->meta->intent = NULL;
        r = vmsnap_op_save(op);
        return r;
}
