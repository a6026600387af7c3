/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone.c: a new domain from a snapshot (oVirt's "clone VM from snapshot"):
 * every check up front (name, target paths, free space, partial snapshots),
 * the snapshot locked against deletes, each disk's chain collapsed into a
 * standalone image by the collapse engine, then the new domain defined from
 * the snapshot's configuration with a new name, UUID and MAC addresses. A
 * clone journal in the state directory lets a restart remove the copies of a
 * clone that never got defined. */
#include <dirent.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "begin.h"
#include "collapse.h"
#include "confine.h"
#include "create.h"
#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "journal.h"
#include "names.h"
#include "rbd-disk.h"

/* Why an excluded disk still belongs in the clone as it is: it is shared read-only. */
static bool shared_as_is(const char *reason)
{
        return strcmp(reason, "cdrom") == 0 || strcmp(reason, "read-only") == 0 ||
               strcmp(reason, "shareable") == 0 || strcmp(reason, "no source file") == 0;
}

typedef struct clone_disk_plan {
        char *target;
        char *source;        /* frozen image, top of the chain to collapse */
        char *source_format; /* as the snapshot recorded it */
        char *copy;          /* the new file */
        struct stat dir;     /* the directory it goes into, as confine.c found it */
        vmsnap_image_format format;
} clone_disk_plan;

/* An RBD disk of the clone: a copy-on-write clone of the snapshot's RBD snapshot, in the
 * same cluster, flattened unless the clone is linked. */
typedef struct clone_rbd_plan {
        char *target;
        char *rbd_snapshot; /* the snapshot's state of the disk */
        char *image;        /* the new image, "pool[/namespace]/name" */
        json_object *reach; /* its cluster, reached while planning */
        bool made;
} clone_rbd_plan;

typedef struct clone_plan {
        char *name;
        char uuid[37];
        vmsnap_snapshot *snapshot; /* a copy: the model may change while the copy runs */
        clone_disk_plan *disks;
        size_t n_disks;
        clone_rbd_plan *rbd;
        size_t n_rbd;
        char **dropped; /* targets left out of the clone */
        size_t n_dropped;
        char *nvram_source;
        char *nvram_copy;
        struct stat nvram_dir;
        char *journal;
} clone_plan;

static void clone_plan_clear(clone_plan *plan)
{
        for (size_t i = 0; i < plan->n_disks; i++) {
                free(plan->disks[i].target);
                free(plan->disks[i].source);
                free(plan->disks[i].source_format);
                free(plan->disks[i].copy);
        }
        free(plan->disks);
        for (size_t i = 0; i < plan->n_rbd; i++) {
                free(plan->rbd[i].target);
                free(plan->rbd[i].rbd_snapshot);
                free(plan->rbd[i].image);
                json_object_put(plan->rbd[i].reach);
        }
        free(plan->rbd);
        for (size_t i = 0; i < plan->n_dropped; i++)
                free(plan->dropped[i]);
        free(plan->dropped);
        vmsnap_snapshot_free(plan->snapshot);
        free(plan->name);
        free(plan->nvram_source);
        free(plan->nvram_copy);
        free(plan->journal);
}

static void drop_disk(clone_plan *plan, const char *target)
{
        plan->dropped = xreallocarray(plan->dropped, plan->n_dropped + 1, sizeof(char *));
        plan->dropped[plan->n_dropped++] = xstrdup(target);
}

static const vmsnap_clone_disk *disk_choice(const vmsnap_clone_options *options, const char *target)
{
        for (size_t i = 0; i < options->n_disks; i++)
                if (options->disks[i].target && strcmp(options->disks[i].target, target) == 0)
                        return &options->disks[i];
        return NULL;
}

static int parse_format(vmsnap_op *op, const char *text, vmsnap_image_format *ret)
{
        if (!text || !*text) {
                *ret = VMSNAP_FORMAT_QCOW2;
                return 0;
        }
        if (vmsnap_image_format_parse(text, ret) < 0)
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "format \"%s\" is not supported for a clone; use qcow2 or raw",
                                        text);
        return 0;
}

/* Safety rule 6: the directory a copy goes into must be one of places. A directory
 * vmsnap chose (an image's, a pool's) is first resolved as libvirt names it; one the
 * caller gave is walked as given, and a symlink in it is refused. */
static int place_check(vmsnap_op *op, const vmsnap_places *places, const char *dir, bool chosen_by_caller,
                       const char *what, char **canonical_ret, struct stat *st_ret)
{
        _cleanup_free_ char *resolved = NULL;

        if (!chosen_by_caller && vmsnap_path_canonical(dir, &resolved, NULL) == 0)
                dir = resolved;
        return vmsnap_places_check(places, dir, what, canonical_ret, st_ret, op->error);
}

/* The clone's image of an RBD disk: "<clone>-<target>" in the pool asked for, else in the
 * snapshot image's; its cluster is reached and the name free before anything is made. */
static int plan_rbd_disk(vmsnap_op *op, const vmsnap_clone_disk *choice, const vmsnap_disk_entry *entry,
                         clone_plan *plan)
{
        clone_rbd_plan *p = &plan->rbd[plan->n_rbd++];
        vmsnap_rbd_disk *disk = NULL;
        _cleanup_free_ char *pool = NULL;
        int r;

        p->target = xstrdup(entry->target);
        p->rbd_snapshot = xstrdup(entry->rbd_snapshot);
        r = vmsnap_rbd_disk_open_image(op, NULL, entry->rbd_snapshot, &disk);
        if (r < 0)
                return r;
        p->reach = vmsnap_rbd_disk_reach(disk);
        vmsnap_rbd_disk_close(disk);
        if (choice && choice->rbd_pool) {
                if (!*choice->rbd_pool || strchr(choice->rbd_pool, '@') ||
                    strspn(choice->rbd_pool, "/") == strlen(choice->rbd_pool))
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "\"%s\" is not an RBD pool for disk %s; give \"pool\" or "
                                                "\"pool/namespace\"",
                                                choice->rbd_pool, entry->target);
                pool = xstrdup(choice->rbd_pool);
        } else {
                /* The snapshot image's pool: its name up to the image's. */
                const char *at = strrchr(entry->rbd_snapshot, '@');
                _cleanup_free_ char *image_name =
                        xstrndup(entry->rbd_snapshot, (size_t)(at - entry->rbd_snapshot));
                pool = xstrndup(image_name, (size_t)(strrchr(image_name, '/') - image_name));
        }
        p->image = xasprintf("%s/%s-%s", pool, plan->name, entry->target);
        return vmsnap_rbd_image_check_free(op, p->reach, p->image);
}

static int plan_disks(vmsnap_op *op, const vmsnap_clone_options *options, const vmsnap_places *places,
                      const char *pool_dir, clone_plan *plan)
{
        const vmsnap_snapshot *s = plan->snapshot;
        vmsnap_image_format default_format;
        int r;

        r = parse_format(op, options->format, &default_format);
        if (r < 0)
                return r;
        for (size_t i = 0; i < options->n_disks; i++) {
                const vmsnap_clone_disk *d = &options->disks[i];
                if (!d->target || !*d->target)
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "a disk target must not be empty; name a disk of snapshot "
                                                "\"%s\" such as vda",
                                                s->name);
                if (!vmsnap_snapshot_find_disk(s, d->target))
                        return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "snapshot \"%s\" has no disk %s", s->name, d->target);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(options->disks[j].target, d->target) == 0)
                                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                        "disk %s has two sets of clone options", d->target);
        }

        plan->disks = xcalloc(s->n_disks + 1, sizeof(*plan->disks));
        plan->rbd = xcalloc(s->n_disks + 1, sizeof(*plan->rbd));
        for (size_t i = 0; i < s->n_disks; i++) {
                const vmsnap_disk_entry *entry = &s->disks[i];
                const vmsnap_clone_disk *choice = disk_choice(options, entry->target);
                _cleanup_free_ char *dir = NULL, *canonical = NULL;
                clone_disk_plan *p;

                if (choice && choice->include == 0) {
                        drop_disk(plan, entry->target);
                        continue;
                }
                if (entry->rbd_snapshot) {
                        r = plan_rbd_disk(op, choice, entry, plan);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!entry->image) {
                        if (shared_as_is(entry->excluded_reason))
                                continue;
                        drop_disk(plan, entry->target);
                        vmsnap_op_message(
                                op, "disk %s was not part of snapshot \"%s\" (%s); the clone has no %s",
                                entry->target, s->name, entry->excluded_reason, entry->target);
                        continue;
                }
                if (!vmsnap_file_exists(entry->image)) {
                        if (!options->allow_partial)
                                return vmsnap_error_set(
                                        op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "snapshot \"%s\" is partial: image %s of disk %s is gone; "
                                        "allow a partial clone to clone it without that disk",
                                        s->name, entry->image, entry->target);
                        drop_disk(plan, entry->target);
                        vmsnap_op_message(op,
                                          "snapshot \"%s\" is partial: image %s of disk %s is gone, so the "
                                          "clone has no %s",
                                          s->name, entry->image, entry->target, entry->target);
                        continue;
                }

                p = &plan->disks[plan->n_disks++];
                p->target = xstrdup(entry->target);
                p->source = xstrdup(entry->image);
                p->source_format = xstrdup(entry->format);
                p->format = default_format;
                if (choice && choice->format) {
                        r = parse_format(op, choice->format, &p->format);
                        if (r < 0)
                                return r;
                }
                _cleanup_free_ char *what = NULL;
                bool by_caller = true;
                if (choice && choice->target_dir) {
                        dir = xstrdup(choice->target_dir);
                        what = xasprintf("the target directory of disk %s", entry->target);
                } else if (options->target_dir) {
                        dir = xstrdup(options->target_dir);
                        what = xstrdup("the target directory");
                } else if (pool_dir) {
                        dir = xstrdup(pool_dir);
                        what = xasprintf("the directory of pool \"%s\"", options->pool);
                        by_caller = false;
                } else {
                        dir = path_dirname(entry->image);
                        what = xasprintf("the directory of disk %s's image", entry->target);
                        by_caller = false;
                }

                r = place_check(op, places, dir, by_caller, what, &canonical, &p->dir);
                if (r < 0)
                        return r;
                p->copy = xasprintf("%s/%s-%s.%s", canonical, plan->name, p->target,
                                    p->format == VMSNAP_FORMAT_RAW ? "img" : "qcow2");
                if (vmsnap_file_exists(p->copy))
                        return vmsnap_error_set(
                                op->error, -EEXIST, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "%s already exists; choose another name or directory for the "
                                "clone",
                                p->copy);
        }
        if (plan->n_disks + plan->n_rbd == 0)
                return vmsnap_error_set(
                        op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "the clone would have no disk: snapshot \"%s\" includes none that can be "
                        "copied",
                        s->name);
        return 0;
}

static int plan_nvram(vmsnap_op *op, const vmsnap_places *places, clone_plan *plan)
{
        _cleanup_free_ char *dir = NULL, *canonical = NULL;
        int r;

        if (!plan->nvram_source)
                return 0;
        if (!vmsnap_file_exists(plan->nvram_source)) {
                /* libvirt creates NVRAM from the template on first start. */
                free(plan->nvram_source);
                plan->nvram_source = NULL;
                return 0;
        }
        dir = path_dirname(plan->nvram_source);
        r = place_check(op, places, dir, false, "the directory of the NVRAM file", &canonical,
                        &plan->nvram_dir);
        if (r < 0)
                return r;
        plan->nvram_copy = xasprintf("%s/%s_VARS.fd", canonical, plan->name);
        if (vmsnap_file_exists(plan->nvram_copy))
                return vmsnap_error_set(op->error, -EEXIST, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s already exists; choose another name for the clone",
                                        plan->nvram_copy);
        return 0;
}

/* Refuses up front when a file system cannot hold what the clone writes to it. */
static int check_space(vmsnap_op *op, clone_plan *plan)
{
        uint64_t needed[plan->n_disks + 1];
        dev_t devices[plan->n_disks + 1];
        int r;

        for (size_t i = 0; i < plan->n_disks; i++) {
                uint64_t bytes = 0, virtual_size = 0;
                _cleanup_free_ char *dir = path_dirname(plan->disks[i].copy);
                struct stat st;

                r = vmsnap_collapse_estimate(plan->disks[i].source, plan->disks[i].source_format, &bytes,
                                             &virtual_size, op->error);
                if (r < 0)
                        return vmsnap_error_prefix(op->error, "disk %s", plan->disks[i].target);
                if (stat(dir, &st) < 0)
                        return vmsnap_error_set(op->error, -errno, VMSNAP_ERROR_FAILED, "cannot read %s",
                                                dir);
                devices[i] = st.st_dev;
                needed[i] = bytes;
        }
        for (size_t i = 0; i < plan->n_disks; i++) {
                uint64_t total = 0, available = 0;
                _cleanup_free_ char *dir = path_dirname(plan->disks[i].copy);
                for (size_t j = 0; j < plan->n_disks; j++)
                        if (devices[j] == devices[i])
                                total += needed[j];
                r = vmsnap_dir_free_bytes(dir, &available, op->error);
                if (r < 0)
                        return r;
                if (total > available)
                        return vmsnap_error_set(
                                op->error, -ENOSPC, VMSNAP_ERROR_NO_SPACE,
                                "the clone needs up to %llu MiB in %s but only %llu MiB are free; "
                                "free some space or choose another directory",
                                (unsigned long long)((total + (1 << 20) - 1) >> 20), dir,
                                (unsigned long long)(available >> 20));
        }
        return 0;
}

static void remove_copies(vmsnap_op *op, clone_plan *plan)
{
        vmsnap_error ignored = {0}, *saved = op->error;

        for (size_t i = 0; i < plan->n_disks; i++)
                vmsnap_file_remove(plan->disks[i].copy, NULL);
        if (plan->nvram_copy)
                vmsnap_file_remove(plan->nvram_copy, NULL);
        op->error = &ignored;
        for (size_t i = 0; i < plan->n_rbd; i++)
                if (plan->rbd[i].made && vmsnap_rbd_image_remove_owned(op, plan->rbd[i].reach,
                                                                       plan->rbd[i].image, plan->uuid) < 0)
                        vmsnap_engine_log(op->engine, "clone %s: RBD image %s was left in place: %s",
                                          plan->name, plan->rbd[i].image, ignored.message);
        op->error = saved;
        vmsnap_error_clear(&ignored);
}

static int build_xml(clone_plan *plan, char **ret, vmsnap_error *error)
{
        vmsnap_xml_disk_source sources[plan->n_disks + plan->n_rbd + 1];
        _cleanup_free_ char *without = NULL, *with_copies = NULL;
        int r;

        r = vmsnap_xml_remove_disks(plan->snapshot->config_xml, (const char *const *)plan->dropped,
                                    plan->n_dropped, &without, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < plan->n_disks; i++)
                sources[i] = (vmsnap_xml_disk_source){plan->disks[i].target, plan->disks[i].copy,
                                                      vmsnap_image_format_name(plan->disks[i].format)};
        for (size_t i = 0; i < plan->n_rbd; i++)
                sources[plan->n_disks + i] = (vmsnap_xml_disk_source){.target = plan->rbd[i].target,
                                                                      .rbd_image = plan->rbd[i].image};
        r = vmsnap_xml_set_disk_sources(without, sources, plan->n_disks + plan->n_rbd, &with_copies, error);
        if (r < 0)
                return r;
        return vmsnap_xml_rename_domain(with_copies, plan->name, plan->uuid, plan->nvram_copy, ret, error);
}

int vmsnap_engine_set_clone_targets(vmsnap_engine *engine, const char *path, vmsnap_error *error)
{
        vmsnap_error_clear(error);
        if (path && path[0] != '/')
                return vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "the clone-targets file must be given by an absolute path, not \"%s\"", path);
        free(engine->clone_targets);
        engine->clone_targets = xstrdup(path);
        return 0;
}

static void lock_snapshot(vmsnap_domain_slot *slot, const char *id)
{
        pthread_mutex_lock(&slot->data_lock);
        slot->clone_locked_ids =
                xreallocarray(slot->clone_locked_ids, slot->n_clone_locks + 1, sizeof(char *));
        slot->clone_locked_ids[slot->n_clone_locks++] = xstrdup(id);
        pthread_mutex_unlock(&slot->data_lock);
}

static void unlock_snapshot(vmsnap_domain_slot *slot, const char *id)
{
        pthread_mutex_lock(&slot->data_lock);
        for (size_t i = 0; i < slot->n_clone_locks; i++)
                if (strcmp(slot->clone_locked_ids[i], id) == 0) {
                        free(slot->clone_locked_ids[i]);
                        slot->clone_locked_ids[i] = slot->clone_locked_ids[--slot->n_clone_locks];
                        break;
                }
        pthread_mutex_unlock(&slot->data_lock);
}

/* The places the clone may write into (safety rule 6): beside the domain's disk images now
 * (not a cdrom's file, which may sit anywhere), the snapshot's images and its NVRAM,
 * libvirt's active dir pools, and the configured ones. */
static int gather_places(vmsnap_op *op, const clone_plan *plan, vmsnap_places *ret)
{
        const char *images[op->n_disks + plan->snapshot->n_disks + 2];
        size_t n = 0;

        for (size_t i = 0; i < op->n_disks; i++)
                if (op->disks[i].source && strcmp(op->disks[i].type, "file") == 0 &&
                    strcmp(op->disks[i].device, "disk") == 0)
                        images[n++] = op->disks[i].source;
        for (size_t i = 0; i < plan->snapshot->n_disks; i++)
                if (plan->snapshot->disks[i].image)
                        images[n++] = plan->snapshot->disks[i].image;
        if (plan->nvram_source)
                images[n++] = plan->nvram_source;
        return vmsnap_places_gather(virDomainGetConnect(op->domain), images, n, op->engine->clone_targets,
                                    ret, op->error);
}

/* Everything that can be checked before the first byte is written. */
static int clone_prepare(vmsnap_op *op, const char *snapshot, const char *new_name,
                         const vmsnap_clone_options *options, clone_plan *plan)
{
        _cleanup_free_ char *pool_dir = NULL;
        vmsnap_places places = {0};
        vmsnap_snapshot *found;
        virDomainPtr existing;
        int r;

        r = vmsnap_op_find_snapshot(op, snapshot, &found);
        if (r < 0)
                return r;
        plan->snapshot = vmsnap_snapshot_copy(found);
        if (new_name && *new_name)
                plan->name = xstrdup(new_name);
        else
                plan->name = xasprintf("copy_of_%s", op->name);
        r = vmsnap_name_check(plan->name, VMSNAP_NAME_DOMAIN, op->error);
        if (r < 0)
                return r;
        existing = virDomainLookupByName(virDomainGetConnect(op->domain), plan->name);
        if (existing) {
                virDomainFree(existing);
                return vmsnap_error_set(
                        op->error, -EEXIST, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "a domain named \"%s\" already exists; choose another name for the clone",
                        plan->name);
        }
        if (options->target_dir && options->pool)
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "give a target directory or a storage pool, not both");
        if (options->pool) {
                r = vmsnap_pool_dir(virDomainGetConnect(op->domain), options->pool, &pool_dir, op->error);
                if (r < 0)
                        return r;
        }
        r = vmsnap_xml_nvram(plan->snapshot->config_xml, &plan->nvram_source, op->error);
        if (r < 0)
                return r;
        r = gather_places(op, plan, &places);
        if (r < 0)
                return r;
        vmsnap_uuid_generate(plan->uuid);
        r = plan_disks(op, options, &places, pool_dir, plan);
        if (r == 0)
                r = plan_nvram(op, &places, plan);
        if (r == 0)
                r = check_space(op, plan);
        vmsnap_places_clear(&places);
        return r;
}

/* The RBD disks' images: each a clone of the snapshot, marked as the new domain's, then,
 * unless linked, flattened so that it stands alone. */
static int clone_rbd_disks(vmsnap_op *op, clone_plan *plan, bool linked, const vmsnap_hooks *hooks)
{
        for (size_t i = 0; i < plan->n_rbd; i++) {
                clone_rbd_plan *p = &plan->rbd[i];
                int r = vmsnap_op_failpoint(op, "clone: before rbd clone");
                if (r == 0)
                        r = vmsnap_rbd_snapshot_clone(op, p->reach, p->rbd_snapshot, p->image, plan->uuid);
                if (r < 0)
                        return r;
                p->made = true;
                r = vmsnap_op_failpoint(op, "clone: after rbd clone");
                if (r == 0 && !linked)
                        r = vmsnap_rbd_image_flatten_named(op, p->reach, p->image, hooks);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int clone_copy_and_define(vmsnap_engine *engine, vmsnap_op *op, clone_plan *plan,
                                 const vmsnap_clone_options *options, const vmsnap_hooks *hooks,
                                 vmsnap_error *error)
{
        vmsnap_collapse_item items[plan->n_disks + 1];
        size_t n = 0;
        _cleanup_free_ char *xml = NULL;
        vmsnap_pool *pool;
        virDomainPtr defined;
        int r;

        pool = vmsnap_engine_pool(engine, error);
        if (!pool)
                return -ENOMEM;
        r = build_xml(plan, &xml, error);
        if (r < 0)
                return r;
        const char *files[plan->n_disks + 1];
        size_t n_files = 0;
        for (size_t i = 0; i < plan->n_disks; i++)
                files[n_files++] = plan->disks[i].copy;
        if (plan->nvram_copy)
                files[n_files++] = plan->nvram_copy;
        json_object *rbd_images = json_object_new_array();
        for (size_t i = 0; i < plan->n_rbd; i++) {
                json_object *record = json_object_new_object();
                json_object_object_add(record, "image", json_object_new_string(plan->rbd[i].image));
                json_object_object_add(record, "reach", json_object_get(plan->rbd[i].reach));
                json_object_array_add(rbd_images, record);
        }
        r = vmsnap_journal_clone_prepare(engine->state_dir, plan->uuid, plan->name, files, n_files,
                                         rbd_images, &plan->journal, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < plan->n_disks; i++)
                items[n++] = (vmsnap_collapse_item){
                        .source = plan->disks[i].source,
                        .target = plan->disks[i].copy,
                        .format = plan->disks[i].format,
                        .source_format = plan->disks[i].source_format,
                        .dir_device = plan->disks[i].dir.st_dev,
                        .dir_inode = plan->disks[i].dir.st_ino,
                };
        if (plan->nvram_copy)
                items[n++] = (vmsnap_collapse_item){
                        .source = plan->nvram_source,
                        .target = plan->nvram_copy,
                        .format = VMSNAP_FORMAT_RAW,
                        .source_format = "raw",
                        .dir_device = plan->nvram_dir.st_dev,
                        .dir_inode = plan->nvram_dir.st_ino,
                };
        r = n > 0 ? vmsnap_collapse_run(pool, items, n, hooks, error) : 0;
        if (r == 0)
                r = clone_rbd_disks(op, plan, options->linked, hooks);
        if (r < 0)
                return r;
        r = vmsnap_op_failpoint(op, "clone: before define");
        if (r < 0)
                return r;
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);
        virConnectPtr connection = vmsnap_engine_connection(engine, error);
        if (!connection) {
                remove_copies(op, plan);
                return error->code;
        }
        defined = virDomainDefineXML(connection, xml);
        virConnectClose(connection);
        if (!defined) {
                virErrorPtr last = virGetLastError();
                remove_copies(op, plan);
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt refused the clone's definition: %s",
                                        last && last->message ? last->message : "unknown error");
        }
        vmsnap_file_remove(plan->journal, NULL);
        if (options->start && virDomainCreate(defined) < 0) {
                virErrorPtr last = virGetLastError();
                r = vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                     "clone %s was defined but did not start: %s", plan->name,
                                     last && last->message ? last->message : "unknown error");
        }
        virDomainFree(defined);
        return r;
}

int vmsnap_snapshot_clone(vmsnap_engine *engine, const char *domain, const char *snapshot,
                          const char *new_name, const vmsnap_clone_options *options,
                          const vmsnap_hooks *hooks, char **name_ret, vmsnap_error *error)
{
        static const vmsnap_clone_options defaults = {0};
        clone_plan plan = {0};
        vmsnap_op *op;
        vmsnap_domain_slot *slot;
        int r;

        if (!options)
                options = &defaults;
        r = vmsnap_op_begin(engine, domain, 0, hooks, &op, error);
        if (r < 0)
                return r;
        r = clone_prepare(op, snapshot, new_name, options, &plan);
        if (r < 0) {
                vmsnap_op_end(op);
                clone_plan_clear(&plan);
                return r;
        }
        /* The copy runs without the domain's operation lock: snapshots can still be taken
         * meanwhile; only deletes, which rewrite images, wait for it. */
        slot = op->slot;
        lock_snapshot(slot, plan.snapshot->id);
        vmsnap_op_end(op);
        vmsnap_engine_notify(engine, slot->uuid);

        /* A separate op only for the failpoint hook; the domain is not locked. */
        vmsnap_op shadow = {.engine = engine, .error = error, .name = plan.name};
        r = clone_copy_and_define(engine, &shadow, &plan, options, hooks, error);
        if (r < 0 && !shadow.crashed && plan.journal && vmsnap_file_exists(plan.journal)) {
                remove_copies(&shadow, &plan);
                vmsnap_file_remove(plan.journal, NULL);
        }
        if (r == 0 && name_ret)
                *name_ret = xstrdup(plan.name);
        vmsnap_op_kept_release(&shadow);
        unlock_snapshot(slot, plan.snapshot->id);
        vmsnap_engine_notify(engine, slot->uuid);
        clone_plan_clear(&plan);
        return r;
}
