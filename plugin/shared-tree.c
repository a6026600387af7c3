/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* shared-tree.c: see shared-tree.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "shared-tree.h"
#include "util.h"

#if HAVE_RBD
#include "document.h"
#include "engine.h"
#include "rbd-disk.h"
#include "rbd.h"
#include "store.h"

#define DEFAULT_LEASE_SECONDS 30
/* How long a read trusts its copy of a shared tree before it looks at the cluster again. */
#define READ_FRESH_USEC (2 * 1000 * 1000)

struct vmsnap_shared_tree {
        vmsnap_rbd_disk *disk; /* its cluster outlives the lease */
        char *pool;
        vmsnap_rbd_lease *lease; /* NULL for a read */
};

static void shared_tree_free(struct vmsnap_shared_tree *shared)
{
        if (!shared)
                return;
        vmsnap_rbd_disk_close(shared->disk);
        free(shared->pool);
        free(shared);
}

/* The domain's first RBD disk when every disk that holds data is an RBD one, else NULL. */
static const vmsnap_xml_disk *rbd_only_first(const vmsnap_op *op)
{
        const vmsnap_xml_disk *first = NULL;

        for (size_t i = 0; i < op->n_disks; i++) {
                if (strcmp(op->disks[i].device, "disk") != 0)
                        continue;
                if (!op->disks[i].rbd)
                        return NULL;
                if (!first)
                        first = &op->disks[i];
        }
        return first;
}

/* The document as the cluster should hold it: model and intent. */
static char *document_text(const vmsnap_domain_meta *meta)
{
        json_object *object = vmsnap_store_to_json(meta);
        char *text = xstrdup(json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN));
        json_object_put(object);
        return text;
}

/* Makes the cluster's document (text) the local one when they differ; the slot then
 * loads it anew. A local document the cluster does not have yet goes there (leased). */
static int sync_local(vmsnap_op *op, struct vmsnap_shared_tree *shared, const char *text)
{
        vmsnap_domain_meta *local = NULL, *remote = NULL;
        int r = vmsnap_store_load(op->engine->state_dir, op->slot->uuid, &local, op->error);

        if (r == -ENOENT) { /* a domain this host never changed */
                vmsnap_error_clear(op->error);
                local = NULL;
                r = 0;
        } else if (r < 0)
                return r;
        if (!text) {
                if (local && shared->lease) {
                        _cleanup_free_ char *mine = document_text(local);
                        r = vmsnap_rbd_document_write(shared->lease, mine, op->error);
                }
                vmsnap_domain_meta_free(local);
                return r;
        }
        json_object *object = json_tokener_parse(text);
        if (!object) {
                vmsnap_domain_meta_free(local);
                return vmsnap_error_set(op->error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                        "the tree of domain %s in its Ceph cluster (pool %s) is not JSON",
                                        op->slot->uuid, shared->pool);
        }
        r = vmsnap_store_from_json(object, &remote, op->error);
        json_object_put(object);
        if (r < 0) {
                vmsnap_domain_meta_free(local);
                return vmsnap_error_prefix(op->error, "the tree of domain %s in its Ceph cluster",
                                           op->slot->uuid);
        }
        _cleanup_free_ char *mine = local ? document_text(local) : NULL;
        _cleanup_free_ char *theirs = document_text(remote);
        if (!mine || strcmp(mine, theirs) != 0) {
                remote->generation = local ? local->generation : 0;
                r = vmsnap_store_save(op->engine->state_dir, remote, op->error);
                if (r == 0) {
                        pthread_mutex_lock(&op->slot->data_lock);
                        vmsnap_domain_meta *old = vmsnap_slot_publish(op->slot, NULL);
                        pthread_mutex_unlock(&op->slot->data_lock);
                        vmsnap_domain_meta_free(old);
                }
        }
        vmsnap_domain_meta_free(local);
        vmsnap_domain_meta_free(remote);
        return r;
}

/* A read whose cluster cannot be reached answers from this host's copy, and says so in
 * the log: a change, which needs the cluster, fails instead. */
static int read_from_copy(vmsnap_op *op)
{
        vmsnap_engine_log(op->engine,
                          "domain %s: its tree in the cluster cannot be read (%s); reads use this "
                          "host's copy",
                          op->name ? op->name : op->slot->uuid, op->error->message);
        vmsnap_error_clear(op->error);
        return 0;
}

int vmsnap_shared_tree_begin(vmsnap_op *op, bool lease)
{
        const vmsnap_xml_disk *first = op->xml ? rbd_only_first(op) : NULL;
        _cleanup_free_ char *text = NULL;
        struct vmsnap_shared_tree *shared;
        uint64_t version = 0;
        char holder[300], host[256] = "";
        int r;

        pthread_mutex_lock(&op->slot->data_lock);
        op->slot->shared = first != NULL;
        pthread_mutex_unlock(&op->slot->data_lock);
        if (!first)
                return 0;
        shared = xcalloc(1, sizeof(*shared));
        r = vmsnap_rbd_disk_open(op, op->xml, first->target, &shared->disk);
        if (r < 0) {
                shared_tree_free(shared);
                return lease ? r : read_from_copy(op);
        }
        shared->pool = vmsnap_rbd_disk_pool(shared->disk);
        if (lease) {
                gethostname(host, sizeof(host) - 1);
                snprintf(holder, sizeof(holder), "host %s, vmsnap %d", host, (int)getpid());
                r = vmsnap_rbd_lease_acquire(vmsnap_rbd_disk_cluster(shared->disk), shared->pool,
                                             op->slot->uuid, holder,
                                             op->engine->rbd_lease_seconds ? op->engine->rbd_lease_seconds
                                                                           : DEFAULT_LEASE_SECONDS,
                                             &shared->lease, op->error);
                if (r < 0) {
                        vmsnap_error_prefix(op->error, "domain %s", op->name ? op->name : op->slot->uuid);
                        shared_tree_free(shared);
                        return r;
                }
        }
        op->shared = shared;
        r = vmsnap_rbd_document_read(vmsnap_rbd_disk_cluster(shared->disk), shared->pool, op->slot->uuid,
                                     &text, &version, op->error);
        if (r < 0 && !lease)
                return read_from_copy(op);
        if (r == 0)
                r = sync_local(op, shared, text);
        if (r == 0) {
                pthread_mutex_lock(&op->slot->data_lock);
                op->slot->shared_synced_usec = now_usec(CLOCK_MONOTONIC);
                pthread_mutex_unlock(&op->slot->data_lock);
        }
        return r;
}

bool vmsnap_shared_tree_leased(const vmsnap_op *op)
{
        return !op->shared || op->shared->lease;
}

int vmsnap_shared_tree_publish(vmsnap_op *op, bool intent_only)
{
        vmsnap_domain_meta *published = NULL;
        char *text;
        int r;

        if (!op->shared || !op->shared->lease)
                return 0;
        if (intent_only) {
                /* The model saved last, with the intent in force now: never a model the
                 * operation has not committed yet. */
                pthread_mutex_lock(&op->slot->data_lock);
                published = op->slot->meta ? vmsnap_domain_meta_copy(op->slot->meta) : NULL;
                pthread_mutex_unlock(&op->slot->data_lock);
                if (!published)
                        return 0;
        }
        text = document_text(published ? published : op->meta);
        r = vmsnap_rbd_document_write(op->shared->lease, text, op->error);
        free(text);
        vmsnap_domain_meta_free(published);
        return r;
}

void vmsnap_shared_tree_end(vmsnap_op *op)
{
        if (!op->shared)
                return;
        if (op->crashed)
                vmsnap_rbd_lease_abandon(op->shared->lease);
        else
                vmsnap_rbd_lease_release(op->shared->lease);
        shared_tree_free(op->shared);
        op->shared = NULL;
}

bool vmsnap_shared_tree_stale(vmsnap_domain_slot *slot)
{
        /* While an operation of this host runs, it holds the lease: nobody else changes the tree. */
        return slot->shared && !slot->op_running &&
               now_usec(CLOCK_MONOTONIC) - slot->shared_synced_usec > READ_FRESH_USEC;
}

#else /* !HAVE_RBD */

bool vmsnap_shared_tree_leased(const vmsnap_op *op)
{
        (void)op;
        return true;
}

int vmsnap_shared_tree_begin(vmsnap_op *op, bool lease)
{
        (void)op;
        (void)lease;
        return 0;
}

int vmsnap_shared_tree_publish(vmsnap_op *op, bool intent_only)
{
        (void)op;
        (void)intent_only;
        return 0;
}

void vmsnap_shared_tree_end(vmsnap_op *op)
{
        (void)op;
}

bool vmsnap_shared_tree_stale(vmsnap_domain_slot *slot)
{
        (void)slot;
        return false;
}

#endif
