/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* begin.c: the beginning of an operation (see begin.h): resolve the domain, take its
 * lock, load its metadata, finish or roll back what a crash interrupted (a purge's
 * intent is purge-finish.c's, any other the journal's), check what the operation
 * requires; and the engine's start, which does the same for clones and purges before
 * any operation asks. The operation object itself, and its end, are op.c's. */
#include <string.h>
#include <libvirt/virterror.h>

#include "begin.h"
#include "error.h"
#include "guard.h"
#include "journal.h"
#include "purge-finish.h"
#include "shared-tree.h"
#include "store.h"

static bool intent_is(json_object *intent, const char *operation)
{
        json_object *value;

        return intent && json_object_object_get_ex(intent, "operation", &value) &&
               json_object_is_type(value, json_type_string) &&
               strcmp(json_object_get_string(value), operation) == 0;
}

/* Finishes or rolls back what op->meta->intent records, saying in the engine's log how it
 * ended; what: the word for it in the operation's error ("purge", "operation"). */
static int recover(vmsnap_op *op, const char *what)
{
        int r;

        op->recovering = true;
        /* A purge decides with libvirt, and may run while libvirt no longer defines the domain. */
        if (intent_is(op->meta->intent, "purge"))
                r = vmsnap_purge_recover(op);
        else
                r = vmsnap_journal_recover(op);
        op->recovering = false;
        if (r < 0) {
                vmsnap_engine_log(op->engine,
                                  "domain %s: the interrupted operation could not be completed: %s",
                                  op->name, op->error->message);
                vmsnap_error_prefix(op->error, "domain %s has an unfinished %s that could not be completed",
                                    op->name, what);
                return r;
        }
        vmsnap_engine_log(op->engine, "domain %s: the interrupted operation is completed", op->name);
        return 0;
}

/* The rest of vmsnap_op_begin for a domain libvirt no longer defines: its metadata from
 * the store (a purge may have removed it since the lookup), and the recovery of an
 * unfinished purge; any other unfinished operation needs the domain and waits for it. */
static int begin_kept(vmsnap_op *op, const char *domain)
{
        int r;

        r = vmsnap_store_load(op->engine->state_dir, op->slot->uuid, &op->meta, op->error);
        if (r == -ENOENT)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no domain named \"%s\" is defined on %s, and vmsnap keeps no "
                                        "metadata of a domain of that name or UUID",
                                        domain, op->engine->uri);
        if (r < 0)
                return r;
        op->name = xstrdup(op->meta->name && *op->meta->name ? op->meta->name : op->slot->uuid);
        if (!intent_is(op->meta->intent, "purge"))
                return 0;
        return recover(op, "purge");
}

int vmsnap_op_begin(vmsnap_engine *engine, const char *domain, unsigned flags, const vmsnap_hooks *hooks,
                    vmsnap_op **ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_op *op;
        int r;

        vmsnap_error_clear(error);
        op = xcalloc(1, sizeof(*op));
        op->engine = engine;
        op->hooks = hooks;
        op->error = error;

        if (flags & VMSNAP_OP_UNDEFINED_OK)
                r = vmsnap_engine_lookup_kept(engine, domain, uuid, &op->domain, error);
        else {
                r = vmsnap_engine_lookup(engine, domain, &op->domain, error);
                if (r == 0 && virDomainGetUUIDString(op->domain, uuid) < 0)
                        r = vmsnap_libvirt_error(error, VMSNAP_ERROR_FAILED,
                                                 "cannot read the domain's UUID");
        }
        if (r < 0)
                goto fail;
        op->slot = vmsnap_engine_slot(engine, uuid);
        pthread_mutex_lock(&op->slot->op_lock);
        /* From here on the operation may write any of the domain's files. */
        pthread_mutex_lock(&op->slot->data_lock);
        op->slot->op_running = true;
        vmsnap_slot_files_changed(op->slot);
        pthread_mutex_unlock(&op->slot->data_lock);
        if (!op->domain) {
                r = begin_kept(op, domain);
                if (r < 0)
                        goto fail;
                *ret = op;
                return 0;
        }

        r = vmsnap_op_reload_xml(op);
        if (r < 0)
                goto fail;
        r = vmsnap_shared_tree_begin(op, !(flags & VMSNAP_OP_READ));
        if (r < 0)
                goto fail;
        r = vmsnap_engine_slot_load(engine, op->slot, op->domain, error);
        if (r < 0)
                goto fail;
        pthread_mutex_lock(&op->slot->data_lock);
        op->meta = vmsnap_domain_meta_copy(op->slot->meta);
        pthread_mutex_unlock(&op->slot->data_lock);
        if (op->meta->name == NULL || strcmp(op->meta->name, op->name) != 0) {
                free(op->meta->name);
                op->meta->name = xstrdup(op->name);
        }

        if (op->meta->intent && vmsnap_shared_tree_leased(op)) {
                r = recover(op, "operation");
                if (r < 0)
                        goto fail;
        }

        if ((flags & VMSNAP_OP_SHUT_OFF) && virDomainIsActive(op->domain) == 1) {
                r = vmsnap_error_set(error, -EBUSY, VMSNAP_ERROR_DOMAIN_RUNNING,
                                     "domain %s is running; shut it down first (virsh shutdown %s)",
                                     op->name, op->name);
                goto fail;
        }
        if ((flags & VMSNAP_OP_NO_PREVIEW) && op->meta->preview) {
                vmsnap_snapshot *c =
                        vmsnap_domain_meta_find_id(op->meta, op->meta->preview->config_snapshot_id);
                r = vmsnap_error_set(
                        error, -EBUSY, VMSNAP_ERROR_IN_PREVIEW,
                        "domain %s is previewing snapshot \"%s\"; commit or undo the preview first",
                        op->name, c ? c->name : "?");
                goto fail;
        }
        if ((flags & VMSNAP_OP_IN_PREVIEW) && !op->meta->preview) {
                r = vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "domain %s is not previewing a snapshot; there is nothing to commit or undo",
                        op->name);
                goto fail;
        }
        if (flags & (VMSNAP_OP_NO_FOREIGN_SNAPSHOTS | VMSNAP_OP_NO_FOREIGN_IN_CHAINS)) {
                r = vmsnap_guard_no_foreign_snapshots(op, flags & VMSNAP_OP_NO_FOREIGN_IN_CHAINS);
                if (r < 0)
                        goto fail;
        }
        *ret = op;
        return 0;
fail:
        vmsnap_op_end(op);
        return r;
}

/* ---- the engine, which recovers as it starts ---- */

/* Finishes, or rolls back, the purges a crash interrupted, also of domains libvirt no
 * longer defines (as the beginning of an operation recovers them). */
static void recover_purges(vmsnap_engine *engine)
{
        char **uuids = NULL;
        size_t n = 0;

        if (vmsnap_store_list(engine->state_dir, &uuids, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                vmsnap_domain_meta *meta = NULL;
                vmsnap_error error = {0};
                vmsnap_op *op;
                bool purge = false;

                if (vmsnap_store_load(engine->state_dir, uuids[i], &meta, NULL) == 0)
                        purge = intent_is(meta->intent, "purge");
                vmsnap_domain_meta_free(meta);
                /* The beginning of an operation recovers it, and says so in the log. */
                if (purge &&
                    vmsnap_op_begin(engine, uuids[i], VMSNAP_OP_UNDEFINED_OK, NULL, &op, &error) == 0)
                        vmsnap_op_end(op);
                free(uuids[i]);
        }
        free(uuids);
}

/* What a crash interrupted is finished or rolled back once libvirt can be asked. */
static void recover_at_start(vmsnap_engine *engine)
{
        vmsnap_journal_recover_clones(engine);
        recover_purges(engine);
}

int vmsnap_engine_new(const char *uri, const char *state_dir, vmsnap_engine **ret, vmsnap_error *error)
{
        return vmsnap_engine_open(uri, state_dir, recover_at_start, ret, error);
}
