/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* query.c: the read side: domains with their snapshot state, the snapshot
 * tree, one snapshot, and the configuration at a snapshot or now. Reads never take a
 * domain's operation lock, so a long merge does not delay them; they copy what
 * they need from the published metadata under the short data lock. */
#include <dirent.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "begin.h"
#include "chain.h"
#include "eligibility.h"
#include "error.h"
#include "facts.h"
#include "fileio.h"
#include "names.h"
#include "sizes.h"
#include "store.h"
#include "shared-tree.h"
#include "tree.h"
#include "undefined.h"
#include "util.h"

/* Locks the slot's data and makes sure its metadata is loaded. The first load goes
 * through an operation, so that what a crash left unfinished is recovered before
 * anyone reads it. Unlock with pthread_mutex_unlock(&slot->data_lock). */
static int slot_read_lock(vmsnap_engine *engine, vmsnap_domain_slot *slot, const char *domain_name,
                          vmsnap_error *error)
{
        vmsnap_op *op;
        int r;

        pthread_mutex_lock(&slot->data_lock);
        if (slot->meta && !vmsnap_shared_tree_stale(slot))
                return 0;
        pthread_mutex_unlock(&slot->data_lock);

        r = vmsnap_op_begin(engine, slot->uuid, VMSNAP_OP_READ, NULL, &op, error);
        if (r < 0)
                return r;
        vmsnap_op_end(op);
        pthread_mutex_lock(&slot->data_lock);
        if (!slot->meta) {
                pthread_mutex_unlock(&slot->data_lock);
                return vmsnap_error_set(error, -EAGAIN, VMSNAP_ERROR_BUSY,
                                        "the metadata of domain %s was just dropped; try again",
                                        domain_name);
        }
        return 0;
}

/* With the slot's data lock held: the tree of its metadata, built on first use. */
static const vmsnap_tree *slot_tree(vmsnap_domain_slot *slot)
{
        if (!slot->tree)
                slot->tree = vmsnap_tree_build(slot->meta);
        return slot->tree;
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The owned files split in two: frozen (a snapshot's image or memory state) and live
 * (the rest: the active overlays, a preview's). Copies, for I/O outside the lock. */
static void owned_files_split(const vmsnap_domain_meta *meta, char ***frozen, size_t *n_frozen, char ***live,
                              size_t *n_live)
{
        size_t n_held = 0;
        const char **held = NULL;

        for (size_t i = 0; i < meta->n_snapshots; i++) {
                const vmsnap_snapshot *snapshot = meta->snapshots[i];
                held = xreallocarray(held, n_held + snapshot->n_disks + 1, sizeof(*held));
                for (size_t d = 0; d < snapshot->n_disks; d++)
                        if (snapshot->disks[d].image)
                                held[n_held++] = snapshot->disks[d].image;
                if (snapshot->memory_file)
                        held[n_held++] = snapshot->memory_file;
        }
        if (n_held)
                qsort(held, n_held, sizeof(*held), compare_strings);
        *frozen = xcalloc(meta->n_owned + 1, sizeof(char *));
        *live = xcalloc(meta->n_owned + 1, sizeof(char *));
        *n_frozen = *n_live = 0;
        for (size_t i = 0; i < meta->n_owned; i++) {
                const char *path = meta->owned[i];
                bool is_frozen = n_held && bsearch(&path, held, n_held, sizeof(*held), compare_strings);
                if (is_frozen)
                        (*frozen)[(*n_frozen)++] = xstrdup(path);
                else
                        (*live)[(*n_live)++] = xstrdup(path);
        }
        free(held);
}

/* The domain's snapshot_bytes: a stat(2) of every file vmsnap made for it. A guest writes
 * only the live files, so those are measured on every call; the frozen files' total (1,000
 * files with 1,000 snapshots) is kept in the slot until an operation may have changed them
 * (engine.h). Called with the slot's data lock held; returns with it released. */
static uint64_t slot_snapshot_bytes(vmsnap_domain_slot *slot)
{
        const vmsnap_domain_meta *meta = slot->meta;
        char **frozen = NULL, **live;
        size_t n_frozen = 0, n_live;
        uint64_t frozen_bytes;

        if (slot->frozen_known && slot->frozen_epoch == slot->files_epoch && !slot->op_running) {
                frozen_bytes = slot->frozen_bytes;
                live = strv_copy(slot->live_files);
                n_live = slot->n_live_files;
                pthread_mutex_unlock(&slot->data_lock);
                /* File I/O: outside the lock. */
                uint64_t total = frozen_bytes + vmsnap_files_allocated(live, n_live);
                strv_free(live);
                return total;
        }
        unsigned epoch = slot->files_epoch;
        bool keep = !slot->op_running;
        owned_files_split(meta, &frozen, &n_frozen, &live, &n_live);
        pthread_mutex_unlock(&slot->data_lock);
        frozen_bytes = vmsnap_files_allocated(frozen, n_frozen);
        uint64_t total = frozen_bytes + vmsnap_files_allocated(live, n_live);
        strv_free(frozen);
        if (keep) {
                pthread_mutex_lock(&slot->data_lock);
                /* Kept only when no operation began (or ended) while the files were measured. */
                if (slot->files_epoch == epoch && !slot->op_running) {
                        strv_free(slot->live_files);
                        slot->live_files = live;
                        slot->n_live_files = n_live;
                        live = NULL;
                        slot->frozen_bytes = frozen_bytes;
                        slot->frozen_epoch = epoch;
                        slot->frozen_known = true;
                }
                pthread_mutex_unlock(&slot->data_lock);
        }
        strv_free(live);
        return total;
}

/* measure: also snapshot_bytes (slot_snapshot_bytes); without it the record only says
 * who the domain is. */
static int domain_info_fill(vmsnap_engine *engine, vmsnap_domain_slot *slot,
                            const vmsnap_domain_facts *facts, bool measure, vmsnap_domain_info *info,
                            vmsnap_error *error)
{
        int r = slot_read_lock(engine, slot, facts->name, error);
        if (r < 0)
                return r;
        const vmsnap_domain_meta *meta = slot->meta;
        const vmsnap_snapshot *current =
                meta->current_id ? vmsnap_domain_meta_find_id(meta, meta->current_id) : NULL;
        info->name = xstrdup(strempty(facts->name));
        info->uuid = xstrdup(strempty(slot->uuid));
        info->state = xstrdup(strempty(facts->state));
        info->current_snapshot = xstrdup(current ? current->name : "");
        info->in_preview = meta->preview != NULL;
        info->snapshot_count = (unsigned)meta->n_snapshots;
        info->defined = true;
        if (measure)
                info->snapshot_bytes = slot_snapshot_bytes(slot);
        else
                pthread_mutex_unlock(&slot->data_lock);
        return 0;
}

/* The record of a domain libvirt no longer defines, from its kept metadata. */
static void undefined_info_fill(const char *uuid, const vmsnap_domain_meta *meta, bool measure,
                                vmsnap_domain_info *info)
{
        const vmsnap_snapshot *current =
                meta->current_id ? vmsnap_domain_meta_find_id(meta, meta->current_id) : NULL;

        *info = (vmsnap_domain_info){
                .name = xstrdup(strempty(meta->name && *meta->name ? meta->name : uuid)),
                .uuid = xstrdup(strempty(uuid)),
                .state = xstrdup("undefined"),
                .current_snapshot = xstrdup(current ? current->name : ""),
                .in_preview = meta->preview != NULL,
                .snapshot_count = (unsigned)meta->n_snapshots,
                .defined = false,
                .snapshot_bytes = measure ? vmsnap_files_allocated(meta->owned, meta->n_owned) : 0,
        };
}

int vmsnap_domain_list(vmsnap_engine *engine, vmsnap_domain_info **ret, size_t *n_ret, vmsnap_error *error)
{
        virDomainPtr *domains = NULL;
        vmsnap_domain_info *infos;
        size_t n = 0;
        int count, r = 0;

        vmsnap_error_clear(error);
        virConnectPtr connection = vmsnap_engine_connection(engine, error);
        if (!connection)
                return error ? error->code : -EIO;
        count = virConnectListAllDomains(connection, &domains, 0);
        virConnectClose(connection);
        if (count < 0) {
                virErrorPtr last = virGetLastError();
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "cannot list domains: %s",
                                        last && last->message ? last->message : "unknown libvirt error");
        }
        infos = xcalloc((size_t)count + 1, sizeof(*infos));
        for (int i = 0; i < count; i++) {
                vmsnap_domain_facts facts = {0};
                vmsnap_domain_slot *slot;
                if (r == 0)
                        r = vmsnap_domain_facts_get_for(engine, domains[i], &facts, &slot, error);
                if (r == 0)
                        r = domain_info_fill(engine, slot, &facts, true, &infos[n], error);
                if (r == 0)
                        n++;
                vmsnap_domain_facts_clear(&facts);
                virDomainFree(domains[i]);
        }
        free(domains);
        if (r < 0) {
                vmsnap_domain_info_array_free(infos, n);
                return r;
        }
        vmsnap_undefined_append(engine->undefined, engine->state_dir, &infos, &n);
        *ret = infos;
        *n_ret = n;
        return 0;
}

static int domain_get(vmsnap_engine *engine, const char *domain, bool measure, vmsnap_domain_info *ret,
                      vmsnap_error *error)
{
        vmsnap_domain_facts facts = {0};
        vmsnap_domain_slot *slot;
        int r;

        vmsnap_error_clear(error);
        r = vmsnap_domain_facts_get(engine, domain, &facts, &slot, error);
        if (r < 0)
                return r;
        r = domain_info_fill(engine, slot, &facts, measure, ret, error);
        vmsnap_domain_facts_clear(&facts);
        return r;
}

int vmsnap_domain_get(vmsnap_engine *engine, const char *domain, vmsnap_domain_info *ret,
                      vmsnap_error *error)
{
        return domain_get(engine, domain, true, ret, error);
}

static int domain_get_including_undefined(vmsnap_engine *engine, const char *domain, bool measure,
                                          vmsnap_domain_info *ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_domain_meta *meta = NULL;
        virDomainPtr found = NULL;
        int r;

        vmsnap_error_clear(error);
        r = vmsnap_engine_lookup_kept(engine, domain, uuid, &found, error);
        if (r < 0)
                return r;
        if (found) {
                virDomainFree(found);
                return domain_get(engine, uuid, measure, ret, error);
        }
        r = vmsnap_store_load(engine->state_dir, uuid, &meta, error);
        if (r == -ENOENT)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no domain named \"%s\" is defined on %s, and vmsnap keeps no "
                                        "metadata of a domain of that name or UUID",
                                        domain, engine->uri);
        if (r < 0)
                return r;
        undefined_info_fill(uuid, meta, measure, ret);
        vmsnap_domain_meta_free(meta);
        return 0;
}

int vmsnap_domain_get_including_undefined(vmsnap_engine *engine, const char *domain, vmsnap_domain_info *ret,
                                          vmsnap_error *error)
{
        return domain_get_including_undefined(engine, domain, true, ret, error);
}

int vmsnap_domain_identify(vmsnap_engine *engine, const char *domain, bool including_undefined,
                           vmsnap_domain_info *ret, vmsnap_error *error)
{
        return including_undefined ? domain_get_including_undefined(engine, domain, false, ret, error)
                                   : domain_get(engine, domain, false, ret, error);
}

static bool attached_has(const vmsnap_domain_facts *now, const char *target)
{
        for (size_t i = 0; i < now->n_targets; i++)
                if (strcmp(now->targets[i], target) == 0)
                        return true;
        return false;
}

static bool in_preview(const vmsnap_domain_meta *meta, const char *id)
{
        if (!meta->preview)
                return false;
        if (strcmp(meta->preview->config_snapshot_id, id) == 0)
                return true;
        for (size_t i = 0; i < meta->preview->n_disks; i++)
                if (meta->preview->disks[i].snapshot_id &&
                    strcmp(meta->preview->disks[i].snapshot_id, id) == 0)
                        return true;
        return false;
}

/* Called with the slot's data lock held. */
static bool clone_locked(const vmsnap_domain_slot *slot, const char *id)
{
        for (size_t i = 0; i < slot->n_clone_locks; i++)
                if (strcmp(slot->clone_locked_ids[i], id) == 0)
                        return true;
        return false;
}

/* Called with the slot's data lock held. */
static void snapshot_info_fill(const vmsnap_domain_slot *slot, const vmsnap_tree *tree, size_t index,
                               const vmsnap_domain_facts *now, vmsnap_snapshot_info *info)
{
        const vmsnap_domain_meta *meta = slot->meta;
        const vmsnap_snapshot *s = meta->snapshots[index];

        info->id = xstrdup(strempty(s->id));
        info->name = xstrdup(strempty(s->name));
        info->description = xstrdup(strempty(s->description));
        info->created = s->created;
        info->parent_id = xstrdup(strempty(s->parent_id));
        info->state = xstrdup(strempty(s->state));
        info->consistency = xstrdup(strempty(s->consistency));
        info->memory = s->memory_file != NULL;
        info->current = meta->current_id && strcmp(meta->current_id, s->id) == 0;
        info->locked = slot->n_clone_locks > 0 && clone_locked(slot, s->id);
        info->in_preview = in_preview(meta, s->id);
        info->disks = xcalloc(s->n_disks + 1, sizeof(*info->disks));
        info->n_disks = s->n_disks;
        for (size_t i = 0; i < s->n_disks; i++) {
                const vmsnap_disk_entry *e = &s->disks[i];
                info->disks[i].target = xstrdup(strempty(e->target));
                /* An RBD snapshot as QEMU names it, read as raw. */
                info->disks[i].image =
                        e->rbd_snapshot ? xasprintf("rbd:%s", e->rbd_snapshot) : xstrdup(e->image);
                info->disks[i].format = xstrdup(e->rbd_snapshot ? "raw" : e->format);
                info->disks[i].excluded_reason = xstrdup(e->excluded_reason);
                if (e->image && now->targets_known && !attached_has(now, e->target))
                        info->partial = true;
        }
        info->n_children = tree->n_children[index];
        info->children_ids = xcalloc(info->n_children + 1, sizeof(char *));
        for (size_t i = 0; i < info->n_children; i++)
                info->children_ids[i] = xstrdup(strempty(meta->snapshots[tree->children[index][i]]->id));
}

/* A read: the domain's facts, and its slot with the data lock held. */
typedef struct read_context {
        vmsnap_domain_slot *slot;
        vmsnap_domain_facts now;
} read_context;

static int read_begin(vmsnap_engine *engine, const char *domain, read_context *ctx, vmsnap_error *error)
{
        int r;

        vmsnap_error_clear(error);
        *ctx = (read_context){0};
        r = vmsnap_domain_facts_get(engine, domain, &ctx->now, &ctx->slot, error);
        if (r < 0)
                return r;
        r = slot_read_lock(engine, ctx->slot, ctx->now.name, error);
        if (r < 0)
                vmsnap_domain_facts_clear(&ctx->now);
        return r;
}

static void read_end(read_context *ctx)
{
        pthread_mutex_unlock(&ctx->slot->data_lock);
        vmsnap_domain_facts_clear(&ctx->now);
}

int vmsnap_snapshot_list(vmsnap_engine *engine, const char *domain, vmsnap_snapshot_info **ret,
                         size_t *n_ret, vmsnap_error *error)
{
        read_context ctx;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_tree *tree = slot_tree(ctx.slot);
        vmsnap_snapshot_info *infos = xcalloc(tree->n_depth_first + 1, sizeof(*infos));
        for (size_t k = 0; k < tree->n_depth_first; k++)
                snapshot_info_fill(ctx.slot, tree, tree->depth_first[k], &ctx.now, &infos[k]);
        size_t n = tree->n_depth_first;
        vmsnap_domain_meta *meta = vmsnap_domain_meta_copy(ctx.slot->meta);
        read_end(&ctx);
        /* Sizes read images and ask libvirt: outside the lock, on the copy. */
        vmsnap_sizes_fill(engine, ctx.slot->uuid, meta, infos, n);
        vmsnap_domain_meta_free(meta);
        *ret = infos;
        *n_ret = n;
        return 0;
}

/* measure: also size and reclaimable (sizes.c: a dry run of the merges a delete would
 * make); without it the record only says which snapshot it is. */
static int snapshot_get(vmsnap_engine *engine, const char *domain, const char *snapshot, bool measure,
                        vmsnap_snapshot_info *ret, vmsnap_error *error)
{
        read_context ctx;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_domain_meta *meta = ctx.slot->meta;
        const vmsnap_snapshot *found = snapshot ? vmsnap_domain_meta_find(meta, snapshot) : NULL;
        if (!found) {
                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                     "domain %s has no snapshot named \"%s\"", ctx.now.name,
                                     snapshot ? snapshot : "");
                read_end(&ctx);
                return r;
        }
        const vmsnap_tree *tree = slot_tree(ctx.slot);
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (meta->snapshots[i] == found)
                        snapshot_info_fill(ctx.slot, tree, i, &ctx.now, ret);
        if (!measure) {
                read_end(&ctx);
                return 0;
        }
        vmsnap_domain_meta *copy = vmsnap_domain_meta_copy(meta);
        read_end(&ctx);
        vmsnap_sizes_fill(engine, ctx.slot->uuid, copy, ret, 1);
        vmsnap_domain_meta_free(copy);
        return 0;
}

int vmsnap_snapshot_get(vmsnap_engine *engine, const char *domain, const char *snapshot,
                        vmsnap_snapshot_info *ret, vmsnap_error *error)
{
        return snapshot_get(engine, domain, snapshot, true, ret, error);
}

int vmsnap_snapshot_identify(vmsnap_engine *engine, const char *domain, const char *snapshot,
                             vmsnap_snapshot_info *ret, vmsnap_error *error)
{
        return snapshot_get(engine, domain, snapshot, false, ret, error);
}

static int sum_allocated(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        *(uint64_t *)userdata += vmsnap_file_allocated(path);
        return 0;
}

/* The sizes of an image record from its file: virtual size from the header, allocated
 * over its whole backing chain. The image is read as the format it is declared or recorded
 * to be (a raw disk is raw whatever its guest wrote at its start); only a format vmsnap does
 * not read (vmdk, ...) is probed, for its size. File I/O: never called under the data lock.
 * Returns false when the image cannot be read; its sizes then stay 0. */
static bool image_sizes_fill(vmsnap_image_info *info, const char *format)
{
        vmsnap_image_header header = {0};
        vmsnap_image_format known;
        const vmsnap_image_format *as = vmsnap_image_format_parse(format, &known) == 0 ? &known : NULL;
        vmsnap_error ignored;

        if (vmsnap_image_header_read_as(info->image, as, &header, &ignored) < 0)
                return false;
        info->virtual_size = header.virtual_size;
        vmsnap_image_header_clear(&header);
        vmsnap_chain_walk_as(info->image, as, sum_allocated, &info->allocated, &ignored);
        return true;
}

int vmsnap_snapshot_get_configuration(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                      char **xml_ret, vmsnap_image_info **disks_ret, size_t *n_disks_ret,
                                      vmsnap_error *error)
{
        vmsnap_snapshot *copy = NULL;
        vmsnap_domain_meta *meta = NULL; /* to reach the clusters of RBD disks */
        vmsnap_image_info *disks;
        read_context ctx;
        size_t n = 0;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_snapshot *found = snapshot ? vmsnap_domain_meta_find(ctx.slot->meta, snapshot) : NULL;
        if (found) {
                copy = vmsnap_snapshot_copy(found);
                if (vmsnap_snapshot_has_rbd_disk(found))
                        meta = vmsnap_domain_meta_copy(ctx.slot->meta);
        } else
                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                     "domain %s has no snapshot named \"%s\"", ctx.now.name,
                                     snapshot ? snapshot : "");
        read_end(&ctx);
        if (r < 0)
                return r;

        /* Any reader may ask: the snapshot's configuration without its secrets. */
        r = vmsnap_xml_without_secrets(copy->config_xml, xml_ret, error);
        if (r < 0) {
                vmsnap_snapshot_free(copy);
                vmsnap_domain_meta_free(meta);
                return r;
        }

        /* Headers are read outside the lock: this is file I/O. */
        disks = xcalloc(copy->n_disks + 1, sizeof(*disks));
        for (size_t i = 0; i < copy->n_disks; i++) {
                const vmsnap_disk_entry *e = &copy->disks[i];

                if (e->rbd_snapshot) {
                        /* As QEMU names it, read as raw; sized below, through its cluster. */
                        disks[n].target = xstrdup(strempty(e->target));
                        disks[n].image = xasprintf("rbd:%s", e->rbd_snapshot);
                        disks[n++].format = xstrdup("raw");
                        continue;
                }
                if (!e->image)
                        continue;
                disks[n].target = xstrdup(strempty(e->target));
                disks[n].image = xstrdup(strempty(e->image));
                disks[n].format = xstrdup(strempty(e->format));
                (void)image_sizes_fill(&disks[n], e->format);
                n++;
        }
        if (meta)
                vmsnap_sizes_fill_rbd_images(engine, ctx.slot->uuid, meta, disks, n);
        vmsnap_domain_meta_free(meta);
        *disks_ret = disks;
        *n_disks_ret = n;
        vmsnap_snapshot_free(copy);
        return 0;
}

int vmsnap_domain_get_configuration(vmsnap_engine *engine, const char *domain, char **xml_ret,
                                    vmsnap_image_info **disks_ret, size_t *n_disks_ret, vmsnap_error *error)
{
        vmsnap_xml_disk *now = NULL;
        vmsnap_image_info *disks;
        virDomainPtr found;
        char *xml;
        size_t n = 0;
        int r;

        vmsnap_error_clear(error);
        r = vmsnap_engine_lookup(engine, domain, &found, error);
        if (r < 0)
                return r;
        /* Not VIR_DOMAIN_XML_SECURE: any reader may ask for this. */
        xml = virDomainGetXMLDesc(found, VIR_DOMAIN_XML_INACTIVE);
        if (!xml) {
                virErrorPtr last = virGetLastError();
                r = vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                     "cannot read the configuration of %s: %s", virDomainGetName(found),
                                     last && last->message ? last->message : "unknown libvirt error");
                virDomainFree(found);
                return r;
        }
        virDomainFree(found);
        r = vmsnap_xml_disks(xml, &now, &n, error);
        if (r < 0) {
                free(xml);
                return r;
        }

        disks = xcalloc(n + 1, sizeof(*disks));
        for (size_t i = 0; i < n; i++) {
                const char *reason = vmsnap_disk_ineligible_reason(&now[i]);

                disks[i].target = xstrdup(strempty(now[i].target));
                disks[i].ineligible_reason = xstrdup(reason);
                /* The domain's <driver type> is the disk's format, raw when it declares none,
                 * as libvirt reads it and as a snapshot records it. */
                disks[i].format = xstrdup(now[i].format ? now[i].format : "raw");
                if (now[i].source) {
                        disks[i].image = xstrdup(strempty(now[i].source));
                        (void)image_sizes_fill(&disks[i], disks[i].format);
                } else if (now[i].rbd)
                        disks[i].image = xasprintf("rbd:%s", now[i].rbd); /* as QEMU names it */
        }
        vmsnap_xml_disks_free(now, n);
        *xml_ret = xml;
        *disks_ret = disks;
        *n_disks_ret = n;
        return 0;
}
