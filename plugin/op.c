/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* op.c: the life of an operation (see engine.h's vmsnap_op): begin (resolve the
 * domain, take its lock, load its metadata, recover what a crash interrupted, check
 * what the operation requires), save, end; and what every operation asks of it on
 * the way (its disks, its snapshots, progress, messages, cancellation, failpoints). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "guard.h"
#include "journal.h"
#include "op.h"
#include "store.h"

/* ---- failpoints (tests) ---- */

#ifdef VMSNAP_FAILPOINTS
int vmsnap_op_failpoint(vmsnap_op *op, const char *step)
{
        if (!vmsnap_failpoint_fires(step))
                return 0;
        op->crashed = true;
        return vmsnap_error_set(op->error, -EINTR, VMSNAP_ERROR_FAILED, "simulated crash at %s", step);
}
#endif

int vmsnap_op_reload_xml(vmsnap_op *op)
{
        char *xml;
        int r;

        xml = virDomainGetXMLDesc(op->domain, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        if (!xml)
                return vmsnap_libvirt_error(op->error, VMSNAP_ERROR_FAILED,
                                            "cannot read the domain's configuration");
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        op->disks = NULL;
        op->n_disks = 0;
        free(op->xml);
        op->xml = xml;
        r = vmsnap_xml_disks(xml, &op->disks, &op->n_disks, op->error);
        if (r < 0)
                return r;
        free(op->name);
        op->name = xstrdup(virDomainGetName(op->domain));
        return 0;
}

int vmsnap_op_define(vmsnap_op *op, const char *xml)
{
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(op->error);
        virDomainPtr defined = virDomainDefineXML(virDomainGetConnect(op->domain), xml);
        if (!defined)
                return vmsnap_libvirt_error(op->error, VMSNAP_ERROR_FAILED,
                                            "libvirt refused the new configuration");
        virDomainFree(defined);
        return vmsnap_op_reload_xml(op);
}

/* The rest of vmsnap_op_begin for a domain libvirt no longer defines: its metadata from
 * the store (a purge may have removed it since the lookup), and the recovery of an
 * unfinished purge; any other unfinished operation needs the domain and waits for it. */
static int begin_kept(vmsnap_op *op, const char *domain)
{
        json_object *operation;
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
        if (!op->meta->intent || !json_object_object_get_ex(op->meta->intent, "operation", &operation) ||
            strcmp(json_object_get_string(operation), "purge") != 0)
                return 0;
        op->recovering = true;
        r = vmsnap_journal_recover(op);
        op->recovering = false;
        if (r < 0) {
                vmsnap_engine_log(op->engine,
                                  "domain %s: the interrupted operation could not be completed: %s",
                                  op->name, op->error->message);
                return vmsnap_error_prefix(op->error,
                                           "domain %s has an unfinished purge that could not be completed",
                                           op->name);
        }
        vmsnap_engine_log(op->engine, "domain %s: the interrupted operation is completed", op->name);
        return 0;
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

        r = vmsnap_engine_slot_load(engine, op->slot, op->domain, error);
        if (r < 0)
                goto fail;
        pthread_mutex_lock(&op->slot->data_lock);
        op->meta = vmsnap_domain_meta_copy(op->slot->meta);
        pthread_mutex_unlock(&op->slot->data_lock);

        r = vmsnap_op_reload_xml(op);
        if (r < 0)
                goto fail;
        if (op->meta->name == NULL || strcmp(op->meta->name, op->name) != 0) {
                free(op->meta->name);
                op->meta->name = xstrdup(op->name);
        }

        if (op->meta->intent) {
                op->recovering = true;
                r = vmsnap_journal_recover(op);
                op->recovering = false;
                if (r < 0)
                        vmsnap_engine_log(engine,
                                          "domain %s: the interrupted operation could not be completed: %s",
                                          op->name, error->message);
                else
                        vmsnap_engine_log(engine, "domain %s: the interrupted operation is completed",
                                          op->name);
                if (r < 0) {
                        vmsnap_error_prefix(error,
                                            "domain %s has an unfinished operation that could not be "
                                            "completed",
                                            op->name);
                        goto fail;
                }
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
        if (flags & VMSNAP_OP_NO_FOREIGN_SNAPSHOTS) {
                r = vmsnap_guard_no_foreign_snapshots(op);
                if (r < 0)
                        goto fail;
        }
        *ret = op;
        return 0;
fail:
        vmsnap_op_end(op);
        return r;
}

int vmsnap_op_save(vmsnap_op *op)
{
        int r = vmsnap_store_save(op->engine->state_dir, op->meta, op->error);
        if (r < 0)
                return r;
        op->saved = true;
        vmsnap_domain_meta *published = vmsnap_domain_meta_copy(op->meta);
        pthread_mutex_lock(&op->slot->data_lock);
        vmsnap_domain_meta *old = vmsnap_slot_publish(op->slot, published);
        pthread_mutex_unlock(&op->slot->data_lock);
        vmsnap_domain_meta_free(old);
        return 0;
}

int vmsnap_op_save_intent(vmsnap_op *op)
{
        /* A document this store never wrote (a new domain's, or one of an earlier version
         * that may hold an intent itself) is written whole once, so that the journal has a
         * generation to name. */
        if (op->meta->generation == 0)
                return vmsnap_op_save(op);
        int r = vmsnap_store_save_intent(op->engine->state_dir, op->meta, op->error);
        if (r < 0)
                return r;
        op->saved = true;
        /* The next operation starts from the published model and its intent. */
        json_object *intent = NULL;
        if (op->meta->intent && json_object_deep_copy(op->meta->intent, &intent, NULL) < 0)
                oom();
        pthread_mutex_lock(&op->slot->data_lock);
        if (op->slot->meta) {
                json_object *old = op->slot->meta->intent;
                op->slot->meta->intent = intent;
                intent = old;
        }
        pthread_mutex_unlock(&op->slot->data_lock);
        json_object_put(intent);
        return 0;
}

void vmsnap_op_end(vmsnap_op *op)
{
        if (!op)
                return;
        if (op->slot) {
                vmsnap_domain_meta *dropped = NULL;
                pthread_mutex_lock(&op->slot->data_lock);
                /* As after a real crash, the next operation starts from the store. */
                if (op->crashed)
                        dropped = vmsnap_slot_publish(op->slot, NULL);
                /* The operation may have changed the configuration or started the domain. */
                vmsnap_slot_domain_changed(op->slot);
                op->slot->op_running = false;
                vmsnap_slot_files_changed(op->slot);
                pthread_mutex_unlock(&op->slot->data_lock);
                vmsnap_domain_meta_free(dropped);
                pthread_mutex_unlock(&op->slot->op_lock);
                if (op->saved)
                        vmsnap_engine_notify(op->engine, op->slot->uuid);
        }
        if (op->domain)
                virDomainFree(op->domain);
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        vmsnap_op_guard_clear(op);
        vmsnap_domain_meta_free(op->meta);
        free(op->xml);
        free(op->name);
        free(op);
}

void vmsnap_op_progress(vmsnap_op *op, uint64_t done, uint64_t total)
{
        if (op->hooks && op->hooks->progress)
                op->hooks->progress(op->hooks->userdata, done, total);
}

void vmsnap_op_step_progress(void *userdata, uint64_t done, uint64_t total)
{
        const vmsnap_op_steps *steps = userdata;
        uint64_t scale = 10000;

        vmsnap_op_progress(steps->op, steps->index * scale + (total ? done * scale / total : 0),
                           steps->count * scale);
}

void vmsnap_op_message(vmsnap_op *op, const char *format, ...)
{
        char text[2048];
        va_list ap;

        if (!op->recovering && (!op->hooks || !op->hooks->message))
                return;
        va_start(ap, format);
        vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        if (op->recovering)
                vmsnap_engine_log(op->engine, "%s", text);
        if (op->hooks && op->hooks->message)
                op->hooks->message(op->hooks->userdata, text);
}

bool vmsnap_op_canceled(vmsnap_op *op)
{
        return op->hooks && op->hooks->is_canceled && op->hooks->is_canceled(op->hooks->userdata);
}

void vmsnap_op_past_point_of_no_return(vmsnap_op *op)
{
        if (op->hooks && op->hooks->past_point_of_no_return)
                op->hooks->past_point_of_no_return(op->hooks->userdata);
}

int vmsnap_op_find_snapshot(vmsnap_op *op, const char *snapshot, vmsnap_snapshot **ret)
{
        vmsnap_snapshot *found;

        if (!snapshot || !*snapshot)
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no snapshot given: name a snapshot of %s by its name or id",
                                        op->name);
        found = vmsnap_domain_meta_find(op->meta, snapshot);
        if (!found)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "domain %s has no snapshot named \"%s\"", op->name, snapshot);
        *ret = found;
        return 0;
}

void vmsnap_active_disks_free(vmsnap_active_disk *disks, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(disks[i].target);
                free(disks[i].source);
                free(disks[i].format);
        }
        free(disks);
}

int vmsnap_op_active_disks(vmsnap_op *op, vmsnap_active_disk **ret, size_t *n_ret)
{
        vmsnap_active_disk *disks = xcalloc(op->n_disks + 1, sizeof(*disks));
        size_t n = 0;

        for (size_t i = 0; i < op->n_disks; i++) {
                const vmsnap_xml_disk *d = &op->disks[i];
                char *canonical = NULL;

                if (!d->source || strcmp(d->type, "file") != 0 || strcmp(d->device, "disk") != 0)
                        continue;
                if (vmsnap_path_canonical(d->source, &canonical, NULL) < 0)
                        canonical = xstrdup(d->source);
                disks[n].target = xstrdup(d->target);
                disks[n].source = canonical;
                disks[n].format = xstrdup(d->format ? d->format : "raw");
                n++;
        }
        *ret = disks;
        *n_ret = n;
        return 0;
}

/* ---- the engine with its recoveries ---- */

static bool intent_is(json_object *intent, const char *operation)
{
        json_object *value;

        return intent && json_object_object_get_ex(intent, "operation", &value) &&
               json_object_is_type(value, json_type_string) &&
               strcmp(json_object_get_string(value), operation) == 0;
}

/* Finishes, or rolls back, the purges a crash interrupted, also of domains libvirt no
 * longer defines (purge.c does the work, as the recovery of an operation). */
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
