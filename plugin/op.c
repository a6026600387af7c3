/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* op.c: the operation object (see op.h's vmsnap_op), once begun (begin.h): what every
 * operation asks of it on the way (its disks, its snapshots, progress, messages,
 * cancellation, failpoints), saving its metadata, defining its domain, and its end,
 * which publishes what it saved and lets the next operation of the domain begin. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "op.h"
#include "shared-tree.h"
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

int vmsnap_op_save(vmsnap_op *op)
{
        int r = vmsnap_store_save(op->engine->state_dir, op->meta, op->error);
        if (r == 0)
                r = vmsnap_shared_tree_publish(op, false);
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
        return vmsnap_shared_tree_publish(op, true);
}

void vmsnap_op_guard_clear(vmsnap_op *op)
{
        for (size_t i = 0; i < op->n_foreign_images; i++)
                free(op->foreign_images[i]);
        free(op->foreign_images);
        op->foreign_images = NULL;
        op->n_foreign_images = 0;
        op->foreign_loaded = false;
        for (size_t i = 0; i < op->n_forgotten_reads; i++) {
                free(op->forgotten_reads[i].path);
                free(op->forgotten_reads[i].forgotten);
        }
        free(op->forgotten_reads);
        op->forgotten_reads = NULL;
        op->n_forgotten_reads = 0;
        op->forgotten_loaded = false;
}

void *vmsnap_op_kept_value(const vmsnap_op *op, const char *key)
{
        for (size_t i = 0; i < op->n_kept; i++)
                if (strcmp(op->kept[i].key, key) == 0)
                        return op->kept[i].value;
        return NULL;
}

void vmsnap_op_keep(vmsnap_op *op, const char *key, void *value, void (*release)(void *value))
{
        op->kept = xreallocarray(op->kept, op->n_kept + 1, sizeof(*op->kept));
        op->kept[op->n_kept++] = (vmsnap_op_kept){xstrdup(key), value, release};
}

void vmsnap_op_kept_release(vmsnap_op *op)
{
        for (size_t i = op->n_kept; i-- > 0;) {
                op->kept[i].release(op->kept[i].value);
                free(op->kept[i].key);
        }
        free(op->kept);
        op->kept = NULL;
        op->n_kept = 0;
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
                vmsnap_shared_tree_end(op);
                pthread_mutex_unlock(&op->slot->op_lock);
                if (op->saved)
                        vmsnap_engine_notify(op->engine, op->slot->uuid);
        }
        if (op->domain)
                virDomainFree(op->domain);
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        vmsnap_op_guard_clear(op);
        vmsnap_domain_meta_free(op->meta);
        vmsnap_op_kept_release(op);
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
                canonical = vmsnap_path_canonical_or_copy(d->source);
                disks[n].target = xstrdup(d->target);
                disks[n].source = canonical;
                disks[n].format = xstrdup(d->format ? d->format : "raw");
                n++;
        }
        *ret = disks;
        *n_ret = n;
        return 0;
}
