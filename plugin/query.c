/* query.c: the read side: domains with their snapshot state, the snapshot
 * tree, one snapshot, and the configuration at a snapshot or now. Reads never take a
 * domain's operation lock, so a long merge does not delay them; they copy what
 * they need from the published metadata under the short data lock. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "create.h"
#include "engine.h"
#include "error.h"
#include "fileio.h"

static char *xstrdup(const char *s)
{
        char *copy = strdup(s ? s : "");
        if (!copy)
                abort();
        return copy;
}

/* Locks the slot's data and makes sure its metadata is loaded. The first load goes
 * through an operation, so that what a crash left unfinished is recovered before
 * anyone reads it. Unlock with pthread_mutex_unlock(&slot->data_lock). */
static int slot_read_lock(vmsnap_engine *engine, vmsnap_domain_slot *slot, virDomainPtr domain,
                          vmsnap_error *error)
{
        vmsnap_op *op;
        int r;

        pthread_mutex_lock(&slot->data_lock);
        if (slot->meta)
                return 0;
        pthread_mutex_unlock(&slot->data_lock);

        r = vmsnap_op_begin(engine, slot->uuid, 0, NULL, &op, error);
        if (r < 0)
                return r;
        vmsnap_op_end(op);
        pthread_mutex_lock(&slot->data_lock);
        if (!slot->meta) {
                pthread_mutex_unlock(&slot->data_lock);
                return vmsnap_error_set(error, -EAGAIN, VMSNAP_ERROR_BUSY,
                                        "the metadata of domain %s was just dropped; try again",
                                        virDomainGetName(domain));
        }
        return 0;
}

static vmsnap_domain_slot *slot_of(vmsnap_engine *engine, virDomainPtr domain)
{
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (virDomainGetUUIDString(domain, uuid) < 0)
                return NULL;
        return vmsnap_engine_slot(engine, uuid);
}

static int domain_info_fill(vmsnap_engine *engine, virDomainPtr domain, vmsnap_domain_info *info,
                            vmsnap_error *error)
{
        vmsnap_domain_slot *slot = slot_of(engine, domain);
        int r;

        if (!slot)
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "cannot read a domain's UUID");
        r = slot_read_lock(engine, slot, domain, error);
        if (r < 0)
                return r;
        const vmsnap_domain_meta *meta = slot->meta;
        const vmsnap_snapshot *current =
                meta->current_id ? vmsnap_domain_meta_find_id(meta, meta->current_id) : NULL;
        info->name = xstrdup(virDomainGetName(domain));
        info->uuid = xstrdup(slot->uuid);
        info->state = xstrdup(vmsnap_domain_state_name(domain));
        info->current_snapshot = xstrdup(current ? current->name : "");
        info->in_preview = meta->preview != NULL;
        info->snapshot_count = (unsigned)meta->n_snapshots;
        pthread_mutex_unlock(&slot->data_lock);
        return 0;
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
        infos = calloc((size_t)count + 1, sizeof(*infos));
        if (!infos)
                abort();
        for (int i = 0; i < count; i++) {
                if (r == 0)
                        r = domain_info_fill(engine, domains[i], &infos[n], error);
                if (r == 0)
                        n++;
                virDomainFree(domains[i]);
        }
        free(domains);
        if (r < 0) {
                vmsnap_domain_info_array_free(infos, n);
                return r;
        }
        *ret = infos;
        *n_ret = n;
        return 0;
}

int vmsnap_domain_get(vmsnap_engine *engine, const char *domain, vmsnap_domain_info *ret,
                      vmsnap_error *error)
{
        virDomainPtr found;
        int r;

        vmsnap_error_clear(error);
        r = vmsnap_engine_lookup(engine, domain, &found, error);
        if (r < 0)
                return r;
        r = domain_info_fill(engine, found, ret, error);
        virDomainFree(found);
        return r;
}

/* The targets attached to the domain now, for "partial". */
typedef struct attached {
        vmsnap_xml_disk *disks;
        size_t n;
} attached;

static bool attached_has(const attached *now, const char *target)
{
        for (size_t i = 0; i < now->n; i++)
                if (strcmp(now->disks[i].target, target) == 0)
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

/* The tree as index lists: children of each snapshot, sorted by creation time. */
typedef struct tree_index {
        size_t *parent;    /* index of the parent, or SIZE_MAX for a root */
        size_t *order;     /* snapshots sorted by (created, name) */
        size_t **children; /* per snapshot */
        size_t *n_children;
} tree_index;

static int compare_created(const void *a, const void *b, void *userdata)
{
        const vmsnap_domain_meta *meta = userdata;
        const vmsnap_snapshot *x = meta->snapshots[*(const size_t *)a];
        const vmsnap_snapshot *y = meta->snapshots[*(const size_t *)b];
        if (x->created != y->created)
                return x->created < y->created ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int compare_id(const void *a, const void *b, void *userdata)
{
        const vmsnap_domain_meta *meta = userdata;
        return strcmp(meta->snapshots[*(const size_t *)a]->id, meta->snapshots[*(const size_t *)b]->id);
}

static void tree_index_build(const vmsnap_domain_meta *meta, tree_index *tree)
{
        size_t n = meta->n_snapshots;
        size_t *by_id = calloc(n + 1, sizeof(size_t));

        tree->parent = calloc(n + 1, sizeof(size_t));
        tree->order = calloc(n + 1, sizeof(size_t));
        tree->children = calloc(n + 1, sizeof(size_t *));
        tree->n_children = calloc(n + 1, sizeof(size_t));
        if (!by_id || !tree->parent || !tree->order || !tree->children || !tree->n_children)
                abort();
        for (size_t i = 0; i < n; i++)
                by_id[i] = tree->order[i] = i;
        qsort_r(by_id, n, sizeof(size_t), compare_id, (void *)meta);
        qsort_r(tree->order, n, sizeof(size_t), compare_created, (void *)meta);

        for (size_t i = 0; i < n; i++) {
                const char *parent_id = meta->snapshots[i]->parent_id;
                size_t lo = 0, hi = n;
                tree->parent[i] = SIZE_MAX;
                while (parent_id && lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        int c = strcmp(meta->snapshots[by_id[mid]]->id, parent_id);
                        if (c == 0) {
                                tree->parent[i] = by_id[mid];
                                break;
                        }
                        if (c < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
        }
        /* Children in creation order: walk the sorted order and append. */
        for (size_t k = 0; k < n; k++) {
                size_t i = tree->order[k], p = tree->parent[i];
                if (p == SIZE_MAX)
                        continue;
                size_t *grown = realloc(tree->children[p], (tree->n_children[p] + 1) * sizeof(size_t));
                if (!grown)
                        abort();
                tree->children[p] = grown;
                tree->children[p][tree->n_children[p]++] = i;
        }
        free(by_id);
}

static void tree_index_clear(tree_index *tree, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(tree->children[i]);
        free(tree->children);
        free(tree->n_children);
        free(tree->parent);
        free(tree->order);
}

static void snapshot_info_fill(const vmsnap_domain_meta *meta, const tree_index *tree, size_t index,
                               const attached *now, bool locked, vmsnap_snapshot_info *info)
{
        const vmsnap_snapshot *s = meta->snapshots[index];

        info->id = xstrdup(s->id);
        info->name = xstrdup(s->name);
        info->description = xstrdup(s->description);
        info->created = s->created;
        info->parent_id = xstrdup(s->parent_id);
        info->state = xstrdup(s->state);
        info->memory = s->memory_file != NULL;
        info->current = meta->current_id && strcmp(meta->current_id, s->id) == 0;
        info->locked = locked;
        info->in_preview = in_preview(meta, s->id);
        info->disks = calloc(s->n_disks + 1, sizeof(*info->disks));
        if (!info->disks)
                abort();
        info->n_disks = s->n_disks;
        for (size_t i = 0; i < s->n_disks; i++) {
                const vmsnap_disk_entry *e = &s->disks[i];
                info->disks[i].target = xstrdup(e->target);
                info->disks[i].image = e->image ? xstrdup(e->image) : NULL;
                info->disks[i].format = e->format ? xstrdup(e->format) : NULL;
                info->disks[i].excluded_reason = e->excluded_reason ? xstrdup(e->excluded_reason) : NULL;
                if (e->image && now && !attached_has(now, e->target))
                        info->partial = true;
        }
        info->n_children = tree->n_children[index];
        info->children_ids = calloc(info->n_children + 1, sizeof(char *));
        if (!info->children_ids)
                abort();
        for (size_t i = 0; i < info->n_children; i++)
                info->children_ids[i] = xstrdup(meta->snapshots[tree->children[index][i]]->id);
}

/* Depth-first in creation order: every parent before its children. */
static void tree_walk(const tree_index *tree, size_t index, size_t *out, size_t *n_out)
{
        out[(*n_out)++] = index;
        for (size_t i = 0; i < tree->n_children[index]; i++)
                tree_walk(tree, tree->children[index][i], out, n_out);
}

/* Called with the slot's data lock held. */
static bool clone_locked(const vmsnap_domain_slot *slot, const char *id)
{
        for (size_t i = 0; i < slot->n_clone_locks; i++)
                if (strcmp(slot->clone_locked_ids[i], id) == 0)
                        return true;
        return false;
}

typedef struct read_context {
        virDomainPtr domain;
        vmsnap_domain_slot *slot;
        attached now;
} read_context;

static int read_begin(vmsnap_engine *engine, const char *domain, read_context *ctx, vmsnap_error *error)
{
        char *xml;
        int r;

        vmsnap_error_clear(error);
        *ctx = (read_context){0};
        r = vmsnap_engine_lookup(engine, domain, &ctx->domain, error);
        if (r < 0)
                return r;
        ctx->slot = slot_of(engine, ctx->domain);
        xml = virDomainGetXMLDesc(ctx->domain, VIR_DOMAIN_XML_INACTIVE);
        if (xml)
                vmsnap_xml_disks(xml, &ctx->now.disks, &ctx->now.n, NULL);
        free(xml);
        r = slot_read_lock(engine, ctx->slot, ctx->domain, error);
        if (r < 0) {
                vmsnap_xml_disks_free(ctx->now.disks, ctx->now.n);
                virDomainFree(ctx->domain);
        }
        return r;
}

static void read_end(read_context *ctx)
{
        pthread_mutex_unlock(&ctx->slot->data_lock);
        vmsnap_xml_disks_free(ctx->now.disks, ctx->now.n);
        virDomainFree(ctx->domain);
}

int vmsnap_snapshot_list(vmsnap_engine *engine, const char *domain, vmsnap_snapshot_info **ret,
                         size_t *n_ret, vmsnap_error *error)
{
        read_context ctx;
        tree_index tree;
        size_t *order, n_order = 0;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_domain_meta *meta = ctx.slot->meta;
        size_t n = meta->n_snapshots;
        tree_index_build(meta, &tree);
        order = calloc(n + 1, sizeof(size_t));
        vmsnap_snapshot_info *infos = calloc(n + 1, sizeof(*infos));
        if (!order || !infos)
                abort();
        for (size_t k = 0; k < n; k++)
                if (tree.parent[tree.order[k]] == SIZE_MAX)
                        tree_walk(&tree, tree.order[k], order, &n_order);
        for (size_t k = 0; k < n_order; k++)
                snapshot_info_fill(meta, &tree, order[k], &ctx.now,
                                   clone_locked(ctx.slot, meta->snapshots[order[k]]->id), &infos[k]);
        tree_index_clear(&tree, n);
        free(order);
        read_end(&ctx);
        *ret = infos;
        *n_ret = n_order;
        return 0;
}

int vmsnap_snapshot_get(vmsnap_engine *engine, const char *domain, const char *snapshot,
                        vmsnap_snapshot_info *ret, vmsnap_error *error)
{
        read_context ctx;
        tree_index tree;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_domain_meta *meta = ctx.slot->meta;
        const vmsnap_snapshot *found = snapshot ? vmsnap_domain_meta_find(meta, snapshot) : NULL;
        if (!found) {
                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                     "domain %s has no snapshot named \"%s\"", virDomainGetName(ctx.domain),
                                     snapshot ? snapshot : "");
                read_end(&ctx);
                return r;
        }
        tree_index_build(meta, &tree);
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (meta->snapshots[i] == found)
                        snapshot_info_fill(meta, &tree, i, &ctx.now, clone_locked(ctx.slot, found->id), ret);
        tree_index_clear(&tree, meta->n_snapshots);
        read_end(&ctx);
        return 0;
}

static int sum_allocated(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        *(uint64_t *)userdata += vmsnap_file_allocated(path);
        return 0;
}

/* The sizes of an image record from its file: virtual size from the header, allocated
 * over its whole backing chain. File I/O: never called under the data lock. Returns
 * false when the image cannot be read; its sizes then stay 0 (reads report what they can). */
static bool image_sizes_fill(vmsnap_image_info *info, vmsnap_image_format *format_ret)
{
        vmsnap_image_header header = {0};
        vmsnap_error ignored;

        if (vmsnap_image_header_read(info->image, &header, &ignored) < 0)
                return false;
        info->virtual_size = header.virtual_size;
        if (format_ret)
                *format_ret = header.format;
        vmsnap_image_header_clear(&header);
        vmsnap_chain_walk(info->image, sum_allocated, &info->allocated, &ignored);
        return true;
}

int vmsnap_snapshot_get_configuration(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                      char **xml_ret, vmsnap_image_info **disks_ret, size_t *n_disks_ret,
                                      vmsnap_error *error)
{
        vmsnap_snapshot *copy = NULL;
        vmsnap_image_info *disks;
        read_context ctx;
        size_t n = 0;
        int r;

        r = read_begin(engine, domain, &ctx, error);
        if (r < 0)
                return r;
        const vmsnap_snapshot *found = snapshot ? vmsnap_domain_meta_find(ctx.slot->meta, snapshot) : NULL;
        if (found)
                copy = vmsnap_snapshot_copy(found);
        else
                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                     "domain %s has no snapshot named \"%s\"", virDomainGetName(ctx.domain),
                                     snapshot ? snapshot : "");
        read_end(&ctx);
        if (r < 0)
                return r;

        /* Headers are read outside the lock: this is file I/O. */
        disks = calloc(copy->n_disks + 1, sizeof(*disks));
        if (!disks)
                abort();
        for (size_t i = 0; i < copy->n_disks; i++) {
                const vmsnap_disk_entry *e = &copy->disks[i];

                if (!e->image)
                        continue;
                disks[n].target = xstrdup(e->target);
                disks[n].image = xstrdup(e->image);
                disks[n].format = xstrdup(e->format);
                (void)image_sizes_fill(&disks[n], NULL);
                n++;
        }
        *xml_ret = xstrdup(copy->config_xml);
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

        disks = calloc(n + 1, sizeof(*disks));
        if (!disks)
                abort();
        for (size_t i = 0; i < n; i++) {
                const char *reason = vmsnap_disk_ineligible_reason(&now[i]);
                vmsnap_image_format format, declared;
                bool readable = false;

                disks[i].target = xstrdup(now[i].target);
                disks[i].ineligible_reason = reason ? xstrdup(reason) : NULL;
                if (now[i].source) {
                        disks[i].image = xstrdup(now[i].source);
                        readable = image_sizes_fill(&disks[i], &format);
                }
                /* The header tells qcow2 from raw, as when a snapshot is taken; a format it
                 * cannot tell (vmdk, ...) is reported as the domain declares it. */
                if (readable && (!now[i].format || vmsnap_image_format_parse(now[i].format, &declared) == 0))
                        disks[i].format = xstrdup(vmsnap_image_format_name(format));
                else
                        disks[i].format = xstrdup(now[i].format);
        }
        vmsnap_xml_disks_free(now, n);
        *xml_ret = xml;
        *disks_ret = disks;
        *n_disks_ret = n;
        return 0;
}

/* ---- freeing records ---- */

void vmsnap_domain_info_clear(vmsnap_domain_info *info)
{
        free(info->name);
        free(info->uuid);
        free(info->state);
        free(info->current_snapshot);
        *info = (vmsnap_domain_info){0};
}

void vmsnap_domain_info_array_free(vmsnap_domain_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++)
                vmsnap_domain_info_clear(&array[i]);
        free(array);
}

void vmsnap_snapshot_info_clear(vmsnap_snapshot_info *info)
{
        free(info->id);
        free(info->name);
        free(info->description);
        free(info->parent_id);
        free(info->state);
        for (size_t i = 0; i < info->n_disks; i++) {
                free(info->disks[i].target);
                free(info->disks[i].image);
                free(info->disks[i].format);
                free(info->disks[i].excluded_reason);
        }
        free(info->disks);
        for (size_t i = 0; i < info->n_children; i++)
                free(info->children_ids[i]);
        free(info->children_ids);
        *info = (vmsnap_snapshot_info){0};
}

void vmsnap_snapshot_info_array_free(vmsnap_snapshot_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++)
                vmsnap_snapshot_info_clear(&array[i]);
        free(array);
}

void vmsnap_image_info_array_free(vmsnap_image_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++) {
                free(array[i].target);
                free(array[i].image);
                free(array[i].format);
                free(array[i].ineligible_reason);
        }
        free(array);
}
