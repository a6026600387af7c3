/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-disk.c: see rbd-disk.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "config.h"
#include "engine.h"
#include "error.h"
#include "guard.h"
#include "names.h"
#include "rbd-disk.h"
#include "util.h"

#if HAVE_RBD
#include "rbd.h"

static char *pool_of(const vmsnap_rbd_disk *disk);

struct vmsnap_rbd_disk {
        char *target;
        char *image_name; /* pool[/namespace]/image */
        vmsnap_xml_rbd_source source;
        vmsnap_rbd_cluster *cluster;
};

/* The parts of a model name "pool[/namespace]/image@vmsnap-ID" (malloc'd), or false. */
static bool parse_snapshot_name(const char *text, char **image_name, char **pool, char **image, char **id)
{
        const char *at = text ? strrchr(text, '@') : NULL;
        if (!at || at == text)
                return false;
        _cleanup_free_ char *name = xstrndup(text, (size_t)(at - text));
        char *slash = strrchr(name, '/');
        const char *snapshot = at + 1;
        size_t prefix = strlen(VMSNAP_RBD_SNAPSHOT_PREFIX);
        if (!slash || slash == name || !slash[1] ||
            strncmp(snapshot, VMSNAP_RBD_SNAPSHOT_PREFIX, prefix) != 0 ||
            !vmsnap_uuid_is_valid(snapshot + prefix))
                return false;
        if (image_name)
                *image_name = xstrdup(name);
        if (id)
                *id = xstrdup(snapshot + prefix);
        if (image)
                *image = xstrdup(slash + 1);
        *slash = '\0';
        if (pool)
                *pool = xstrdup(name);
        return true;
}

bool vmsnap_rbd_snapshot_name_valid(const char *rbd_snapshot)
{
        return parse_snapshot_name(rbd_snapshot, NULL, NULL, NULL, NULL);
}

static char *base64_encode(const unsigned char *data, size_t size)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *text = xcalloc(4 * ((size + 2) / 3) + 1, 1), *out = text;

        for (size_t i = 0; i < size; i += 3) {
                uint32_t group = (uint32_t)data[i] << 16;
                if (i + 1 < size)
                        group |= (uint32_t)data[i + 1] << 8;
                if (i + 2 < size)
                        group |= data[i + 2];
                *out++ = alphabet[(group >> 18) & 63];
                *out++ = alphabet[(group >> 12) & 63];
                *out++ = i + 1 < size ? alphabet[(group >> 6) & 63] : '=';
                *out++ = i + 2 < size ? alphabet[group & 63] : '=';
        }
        return text;
}

/* "pool[/namespace]/image" of a source. */
static char *image_name_of(const vmsnap_xml_rbd_source *source)
{
        return source->rados_namespace
                       ? xasprintf("%s/%s/%s", source->pool, source->rados_namespace, source->image)
                       : xasprintf("%s/%s", source->pool, source->image);
}

/* The cephx key of the disk's <auth><secret>, from libvirt's secret store (base64). */
static int read_secret(vmsnap_op *op, const vmsnap_rbd_disk *disk, char **key_ret)
{
        const char *by = disk->source.secret_uuid ? "uuid" : "usage";
        const char *which = disk->source.secret_uuid ? disk->source.secret_uuid : disk->source.secret_usage;
        virConnectPtr connection;
        virSecretPtr secret;
        unsigned char *value;
        size_t size = 0;

        *key_ret = NULL;
        if (!which)
                return 0;
        connection = vmsnap_engine_connection(op->engine, op->error);
        if (!connection)
                return -EIO;
        secret = disk->source.secret_uuid
                         ? virSecretLookupByUUIDString(connection, which)
                         : virSecretLookupByUsage(connection, VIR_SECRET_USAGE_TYPE_CEPH, which);
        value = secret ? virSecretGetValue(secret, &size, 0) : NULL;
        /* Read before anything else resets it (virSecretFree does). */
        virErrorPtr failure = value ? NULL : virSaveLastError();
        if (secret)
                virSecretFree(secret);
        virConnectClose(connection);
        if (!value) {
                int r = vmsnap_error_set(
                        op->error, -EACCES, VMSNAP_ERROR_FAILED,
                        "the Ceph secret of disk %s (%s %s) cannot be read from libvirt: %s%s", disk->target,
                        by, which, failure && failure->message ? failure->message : "unknown libvirt error",
                        !secret ? " (define it with virsh secret-define and set its value)"
                        : failure && failure->code == VIR_ERR_INVALID_SECRET
                                ? " (a private secret cannot be read by vmsnap: define it with "
                                  "private='no', "
                                  "as libvirt's Ceph documentation does)"
                                : "");
                virFreeError(failure);
                return r;
        }
        *key_ret = base64_encode(value, size);
        memset(value, 0, size);
        free(value);
        return 0;
}

/* The image's name (image_part) for messages. */
static char *image_part(const char *name);

static void cluster_release(void *cluster)
{
        vmsnap_rbd_cluster_disconnect(cluster);
}

/* Reaches the cluster of a disk whose source is read: through the connection the operation
 * made to it already, else a new one the operation keeps for its other disks there. */
static int connect_disk(vmsnap_op *op, vmsnap_rbd_disk *disk)
{
        vmsnap_rbd_cluster_options options;
        _cleanup_free_ char *key = NULL;
        json_object *reach = vmsnap_rbd_disk_reach(disk);
        _cleanup_free_ char *kept_as =
                xasprintf("rbd cluster %s", json_object_to_json_string_ext(reach, JSON_C_TO_STRING_PLAIN));
        json_object_put(reach);
        vmsnap_rbd_cluster *kept = vmsnap_op_kept_value(op, kept_as);
        int r;

        if (kept) {
                disk->cluster = vmsnap_rbd_cluster_ref(kept);
                return 0;
        }
        r = read_secret(op, disk, &key);
        if (r < 0)
                return r;
        vmsnap_rbd_cluster_options_from_source(&disk->source, &options);
        options.key = key;
        r = vmsnap_rbd_cluster_connect(&options, &disk->cluster, op->error);
        if (r < 0) {
                vmsnap_error_prefix(op->error, "disk %s (RBD image %s)", disk->target, disk->image_name);
                return r;
        }
        vmsnap_op_keep(op, kept_as, vmsnap_rbd_cluster_ref(disk->cluster), cluster_release);
        return 0;
}

int vmsnap_rbd_disk_open(vmsnap_op *op, const char *xml, const char *target, vmsnap_rbd_disk **ret)
{
        vmsnap_rbd_disk *disk = xcalloc(1, sizeof(*disk));
        int r;

        *ret = NULL;
        disk->target = xstrdup(target);
        r = vmsnap_xml_rbd_source_read(xml, target, &disk->source, op->error);
        if (r == 0 && disk->source.snapshot)
                r = vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                     "disk %s reads the RBD snapshot %s of image %s, which does not change: "
                                     "leave the disk out",
                                     target, disk->source.snapshot, disk->source.image);
        if (r == 0) {
                disk->image_name = image_name_of(&disk->source);
                r = connect_disk(op, disk);
        }
        if (r < 0) {
                vmsnap_rbd_disk_close(disk);
                return r;
        }
        *ret = disk;
        return 0;
}

/* The fields of a reach (vmsnap_rbd_disk_reach), each the source's field of that name. */
#define REACH_FIELDS(X)                                                                                     \
        X("mon_host", mon_host)                                                                             \
        X("config", config_file)                                                                            \
        X("user", auth_username)                                                                            \
        X("secret_uuid", secret_uuid)                                                                       \
        X("secret_usage", secret_usage)

json_object *vmsnap_rbd_disk_reach(const vmsnap_rbd_disk *disk)
{
        json_object *reach = json_object_new_object();

#define REACH_PUT(key, field)                                                                               \
        if (disk->source.field)                                                                             \
                json_object_object_add(reach, key, json_object_new_string(disk->source.field));
        REACH_FIELDS(REACH_PUT)
#undef REACH_PUT
        return reach;
}

static int open_reach(vmsnap_op *op, json_object *reach, const char *name, vmsnap_rbd_disk **ret)
{
        vmsnap_rbd_disk *disk = xcalloc(1, sizeof(*disk));
        json_object *value;
        int r;

        *ret = NULL;
        disk->target = xstrdup("recorded in the journal");
        disk->image_name = image_part(name);
#define REACH_GET(key, field)                                                                               \
        if (json_object_object_get_ex(reach, key, &value) && json_object_is_type(value, json_type_string))  \
                disk->source.field = xstrdup(json_object_get_string(value));
        REACH_FIELDS(REACH_GET)
#undef REACH_GET
        r = connect_disk(op, disk);
        if (r < 0) {
                vmsnap_rbd_disk_close(disk);
                return r;
        }
        *ret = disk;
        return 0;
}

/* The target of the RBD disk of xml that reads image_name, or NULL. */
static char *target_reading(const char *xml, const char *image_name)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        char *target = NULL;
        vmsnap_error ignored = {0};

        if (!xml || vmsnap_xml_disks(xml, &disks, &n, &ignored) < 0)
                return NULL;
        for (size_t i = 0; i < n && !target; i++) {
                vmsnap_xml_rbd_source source;
                if (!disks[i].rbd || vmsnap_xml_rbd_source_read(xml, disks[i].target, &source, &ignored) < 0)
                        continue;
                _cleanup_free_ char *name = image_name_of(&source);
                if (strcmp(name, image_name) == 0)
                        target = xstrdup(disks[i].target);
                vmsnap_xml_rbd_source_clear(&source);
        }
        vmsnap_xml_disks_free(disks, n);
        return target;
}

/* The configurations of the domain that may name an image: its XML now (NULL for a domain
 * libvirt no longer defines), before its preview, and each snapshot's, newest first. */
static size_t n_configurations(const vmsnap_op *op)
{
        return 1 + (op->meta->preview != NULL) + op->meta->n_snapshots;
}

static const char *configuration(const vmsnap_op *op, size_t index)
{
        if (index == 0)
                return op->xml;
        index--;
        if (op->meta->preview) {
                if (index == 0)
                        return op->meta->preview->saved_xml;
                index--;
        }
        return index < op->meta->n_snapshots
                       ? op->meta->snapshots[op->meta->n_snapshots - 1 - index]->config_xml
                       : NULL;
}

/* "pool[/namespace]/image" of a name that may end in "@snapshot" (malloc'd). */
static char *image_part(const char *name)
{
        const char *at = strrchr(name, '@');
        return at ? xstrndup(name, (size_t)(at - name)) : xstrdup(name);
}

int vmsnap_rbd_disk_open_image(vmsnap_op *op, json_object *reach, const char *name, vmsnap_rbd_disk **ret)
{
        if (reach)
                return open_reach(op, reach, name, ret);

        _cleanup_free_ char *image_name = image_part(name);
        const char *xml = NULL;
        char *target = NULL;

        *ret = NULL;
        for (size_t i = 0; !target && i < n_configurations(op); i++)
                target = target_reading(xml = configuration(op, i), image_name);
        if (!target)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no configuration of domain %s names RBD image %s, so its cluster "
                                        "cannot be reached",
                                        op->name, image_name);
        int r = vmsnap_rbd_disk_open(op, xml, target, ret);
        free(target);
        return r;
}

void vmsnap_rbd_disk_close(vmsnap_rbd_disk *disk)
{
        if (!disk)
                return;
        if (disk->cluster)
                vmsnap_rbd_cluster_disconnect(disk->cluster);
        vmsnap_xml_rbd_source_clear(&disk->source);
        free(disk->image_name);
        free(disk->target);
        free(disk);
}

const char *vmsnap_rbd_disk_image_name(const vmsnap_rbd_disk *disk)
{
        return disk->image_name;
}

char *vmsnap_rbd_disk_pool(const vmsnap_rbd_disk *disk)
{
        return pool_of(disk);
}

vmsnap_rbd_cluster *vmsnap_rbd_disk_cluster(const vmsnap_rbd_disk *disk)
{
        return disk->cluster;
}

/* The pool as rbd.h names it: "pool" or "pool/namespace". */
static char *pool_of(const vmsnap_rbd_disk *disk)
{
        return disk->source.rados_namespace
                       ? xasprintf("%s/%s", disk->source.pool, disk->source.rados_namespace)
                       : xstrdup(disk->source.pool);
}

int vmsnap_rbd_disk_refuse_foreign_snapshots(vmsnap_op *op, vmsnap_rbd_disk *disk)
{
        _cleanup_free_ char *pool = pool_of(disk);
        int r = vmsnap_rbd_image_refuse_foreign_snapshots(disk->cluster, pool, disk->source.image,
                                                          op->error);
        if (r < 0)
                vmsnap_error_prefix(op->error, "disk %s", disk->target);
        return r;
}

char *vmsnap_rbd_disk_snapshot_name(const vmsnap_rbd_disk *disk, const char *snapshot_id)
{
        return xasprintf("%s@" VMSNAP_RBD_SNAPSHOT_PREFIX "%s", disk->image_name, snapshot_id);
}

int vmsnap_rbd_disk_freeze(vmsnap_op *op, vmsnap_rbd_disk *disk, const char *snapshot_id)
{
        _cleanup_free_ char *pool = pool_of(disk);
        int r = vmsnap_rbd_snapshot_create(disk->cluster, pool, disk->source.image, snapshot_id, op->error);
        if (r < 0)
                vmsnap_error_prefix(op->error, "disk %s", disk->target);
        return r;
}

char *vmsnap_rbd_clone_name_new(const char *rbd_snapshot)
{
        _cleanup_free_ char *image_name = image_part(rbd_snapshot);
        size_t length = strlen(image_name);
        char id[37];

        /* A clone of a clone keeps the first image's name and one suffix. */
        if (length > 9 && image_name[length - 9] == '.' &&
            strspn(image_name + length - 8, "0123456789abcdef") == 8 &&
            strchr(image_name, '/') < image_name + length - 9)
                image_name[length - 9] = '\0';
        vmsnap_uuid_generate(id);
        return xasprintf("%s.%.8s", image_name, id);
}

/* The pool ("pool[/namespace]") and image of "pool[/namespace]/image[@snapshot]". */
static void split_image_name(const char *name, char **pool, char **image)
{
        _cleanup_free_ char *image_name = image_part(name);
        char *slash = strrchr(image_name, '/');

        *image = xstrdup(slash ? slash + 1 : image_name);
        *pool = slash ? xstrndup(image_name, (size_t)(slash - image_name)) : xstrdup("");
}

int vmsnap_rbd_snapshot_clone(vmsnap_op *op, json_object *reach, const char *rbd_snapshot,
                              const char *clone_name, const char *owner)
{
        _cleanup_free_ char *pool = NULL, *image = NULL, *id = NULL, *clone_pool = NULL, *clone_image = NULL;
        vmsnap_rbd_disk *disk = NULL;
        int r;

        if (!parse_snapshot_name(rbd_snapshot, NULL, &pool, &image, &id))
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_FAILED,
                                        "\"%s\" is not the name of an RBD snapshot vmsnap made",
                                        rbd_snapshot);
        split_image_name(clone_name, &clone_pool, &clone_image);
        r = vmsnap_rbd_disk_open_image(op, reach, rbd_snapshot, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_clone(disk->cluster, pool, image, id, clone_pool, clone_image, owner, op->error);
        vmsnap_rbd_disk_close(disk);
        return r;
}

int vmsnap_rbd_image_check_free(vmsnap_op *op, json_object *reach, const char *image_name)
{
        _cleanup_free_ char *pool = NULL, *image = NULL, *owner = NULL;
        vmsnap_rbd_disk *disk = NULL;
        vmsnap_error probe = {0};
        int r;

        split_image_name(image_name, &pool, &image);
        r = vmsnap_rbd_disk_open_image(op, reach, image_name, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_image_owner(disk->cluster, pool, image, &owner, &probe);
        vmsnap_rbd_disk_close(disk);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                r = vmsnap_error_set(op->error, r, probe.kind, "%s", probe.message);
                vmsnap_error_clear(&probe);
                return r;
        }
        return vmsnap_error_set(op->error, -EEXIST, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "RBD image %s already exists; choose another name or pool for the clone",
                                image_name);
}

int vmsnap_rbd_image_flatten_named(vmsnap_op *op, json_object *reach, const char *image_name,
                                   const vmsnap_hooks *hooks)
{
        _cleanup_free_ char *pool = NULL, *image = NULL;
        vmsnap_rbd_disk *disk = NULL;
        int r;

        split_image_name(image_name, &pool, &image);
        r = vmsnap_rbd_disk_open_image(op, reach, image_name, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_image_flatten(disk->cluster, pool, image, hooks, op->error);
        vmsnap_rbd_disk_close(disk);
        return r;
}

int vmsnap_rbd_image_remove_owned(vmsnap_op *op, json_object *reach, const char *image_name,
                                  const char *owner)
{
        _cleanup_free_ char *pool = NULL, *image = NULL, *recorded = NULL;
        vmsnap_rbd_disk *disk = NULL;
        int r;

        if (!reach)
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_FAILED,
                                        "RBD image %s has no record of its cluster", image_name);
        split_image_name(image_name, &pool, &image);
        r = vmsnap_rbd_disk_open_image(op, reach, image_name, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_image_owner(disk->cluster, pool, image, &recorded, op->error);
        if (r == 0 && recorded && strcmp(recorded, owner) == 0)
                r = vmsnap_rbd_image_remove(disk->cluster, pool, image, op->error);
        vmsnap_rbd_disk_close(disk);
        if (r == -ENOENT) {
                vmsnap_error_clear(op->error);
                r = 0;
        }
        return r;
}

/* Whether a configuration of the domain names image_name (now, before its preview, in a
 * snapshot). */
static bool named_by_domain(const vmsnap_op *op, const char *image_name)
{
        for (size_t i = 0; i < n_configurations(op); i++) {
                _cleanup_free_ char *target = target_reading(configuration(op, i), image_name);
                if (target)
                        return true;
        }
        return false;
}

/* Safety rule 2: 1, and the job says so, when another defined domain reads name (an image,
 * or one of its snapshots); it is then left in place. */
static int kept_for_another_domain(vmsnap_op *op, const char *name)
{
        bool elsewhere = false;
        int r = vmsnap_op_rbd_used_elsewhere(op, name, &elsewhere);

        if (r < 0)
                return r;
        if (!elsewhere)
                return 0;
        vmsnap_op_message(op, "%s stays: another domain's disk reads it; vmsnap no longer manages it", name);
        return 1;
}

int vmsnap_rbd_image_drop_unused(vmsnap_op *op, json_object *reach, const char *image_name)
{
        _cleanup_free_ char *name = image_part(image_name);
        return named_by_domain(op, name) ? 0 : vmsnap_rbd_image_drop(op, reach, name);
}

int vmsnap_rbd_image_drop(vmsnap_op *op, json_object *reach, const char *image_name)
{
        _cleanup_free_ char *pool = NULL, *image = NULL, *owner = NULL;
        vmsnap_rbd_snapshot *snapshots = NULL;
        vmsnap_rbd_disk *disk = NULL;
        size_t n = 0;
        int r;

        split_image_name(image_name, &pool, &image);
        r = kept_for_another_domain(op, image_name);
        if (r != 0)
                return r < 0 ? r : 0;
        r = vmsnap_rbd_disk_open_image(op, reach, image_name, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_image_owner(disk->cluster, pool, image, &owner, op->error);
        if (r == 0 && owner && strcmp(owner, op->meta->uuid) == 0)
                r = vmsnap_rbd_snapshot_list(disk->cluster, pool, image, &snapshots, &n, op->error);
        if (r == 0 && owner && strcmp(owner, op->meta->uuid) == 0 && n == 0)
                r = vmsnap_rbd_image_remove(disk->cluster, pool, image, op->error);
        vmsnap_rbd_snapshots_free(snapshots, n);
        vmsnap_rbd_disk_close(disk);
        if (r == -ENOENT) { /* gone already: a step run again */
                vmsnap_error_clear(op->error);
                r = 0;
        } else if (r == -ENOTEMPTY || r == -EBUSY) {
                /* A removed snapshot that a clone still reads waits in the trash, or a client
                 * has the image open: it stays, and the job says so. */
                vmsnap_op_message(op, "%s", op->error->message);
                vmsnap_error_clear(op->error);
                r = 0;
        }
        return r;
}

int vmsnap_rbd_snapshot_drop(vmsnap_op *op, json_object *reach, const char *rbd_snapshot)
{
        _cleanup_free_ char *pool = NULL, *image = NULL, *id = NULL;
        vmsnap_rbd_disk *disk = NULL;
        int r;

        if (!parse_snapshot_name(rbd_snapshot, NULL, &pool, &image, &id))
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_FAILED,
                                        "\"%s\" is not the name of an RBD snapshot vmsnap made",
                                        rbd_snapshot);
        r = kept_for_another_domain(op, rbd_snapshot);
        if (r != 0)
                return r < 0 ? r : 0;
        r = vmsnap_rbd_disk_open_image(op, reach, rbd_snapshot, &disk);
        if (r < 0)
                return r;
        r = vmsnap_rbd_snapshot_remove(disk->cluster, pool, image, id, op->error);
        if (r == -ENOENT) {
                vmsnap_error_clear(op->error);
                r = 0;
        }
        vmsnap_rbd_disk_close(disk);
        return r;
}

#else /* !HAVE_RBD */

static int not_built(vmsnap_op *op)
{
        return vmsnap_error_set(op->error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                "this vmsnap was built without RBD support (librbd), so domain %s's RBD "
                                "disks cannot be changed",
                                op->name);
}

int vmsnap_rbd_disk_open(vmsnap_op *op, const char *xml, const char *target, vmsnap_rbd_disk **ret)
{
        (void)xml;
        (void)target;
        *ret = NULL;
        return not_built(op);
}

int vmsnap_rbd_disk_open_image(vmsnap_op *op, json_object *reach, const char *rbd_snapshot,
                               vmsnap_rbd_disk **ret)
{
        (void)reach;
        (void)rbd_snapshot;
        *ret = NULL;
        return not_built(op);
}

void vmsnap_rbd_disk_close(vmsnap_rbd_disk *disk)
{
        (void)disk;
}

const char *vmsnap_rbd_disk_image_name(const vmsnap_rbd_disk *disk)
{
        (void)disk;
        return NULL;
}

int vmsnap_rbd_disk_refuse_foreign_snapshots(vmsnap_op *op, vmsnap_rbd_disk *disk)
{
        (void)disk;
        return not_built(op);
}

char *vmsnap_rbd_disk_snapshot_name(const vmsnap_rbd_disk *disk, const char *snapshot_id)
{
        (void)disk;
        (void)snapshot_id;
        return NULL;
}

int vmsnap_rbd_disk_freeze(vmsnap_op *op, vmsnap_rbd_disk *disk, const char *snapshot_id)
{
        (void)disk;
        (void)snapshot_id;
        return not_built(op);
}

int vmsnap_rbd_snapshot_drop(vmsnap_op *op, json_object *reach, const char *rbd_snapshot)
{
        (void)reach;
        (void)rbd_snapshot;
        return not_built(op);
}

json_object *vmsnap_rbd_disk_reach(const vmsnap_rbd_disk *disk)
{
        (void)disk;
        return json_object_new_object();
}

bool vmsnap_rbd_snapshot_name_valid(const char *rbd_snapshot)
{
        return rbd_snapshot && strchr(rbd_snapshot, '@');
}

char *vmsnap_rbd_clone_name_new(const char *rbd_snapshot)
{
        return xstrdup(rbd_snapshot);
}

int vmsnap_rbd_snapshot_clone(vmsnap_op *op, json_object *reach, const char *rbd_snapshot,
                              const char *clone_name, const char *owner)
{
        (void)reach;
        (void)rbd_snapshot;
        (void)clone_name;
        (void)owner;
        return not_built(op);
}

int vmsnap_rbd_image_drop(vmsnap_op *op, json_object *reach, const char *image_name)
{
        (void)image_name;
        return not_built(op);
}

int vmsnap_rbd_image_drop_unused(vmsnap_op *op, json_object *reach, const char *image_name)
{
        (void)image_name;
        return not_built(op);
}

int vmsnap_rbd_image_check_free(vmsnap_op *op, json_object *reach, const char *image_name)
{
        (void)reach;
        (void)image_name;
        return not_built(op);
}

int vmsnap_rbd_image_flatten_named(vmsnap_op *op, json_object *reach, const char *image_name,
                                   const vmsnap_hooks *hooks)
{
        (void)reach;
        (void)image_name;
        (void)hooks;
        return not_built(op);
}

int vmsnap_rbd_image_remove_owned(vmsnap_op *op, json_object *reach, const char *image_name,
                                  const char *owner)
{
        (void)reach;
        (void)image_name;
        (void)owner;
        return not_built(op);
}

#endif
