/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd.c: the engine's layer over librados and librbd (rbd.h). Every call opens what it
 * needs (I/O context, image) and closes it again, so that callers hold nothing but the
 * cluster connection; errors name the image and pool. Which images and snapshots an
 * operation touches is decided above this file. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "error.h"
#include "rbd.h"

#define DEFAULT_TIMEOUT_SECONDS 10
/* An OSD request that gets no answer fails after this instead of hanging for ever. */
#define OSD_OP_TIMEOUT_SECONDS 60
#define LOCK_NAME "vmsnap"
/* rados_lock_exclusive() takes no tag: its locks have the empty one. */
#define LOCK_TAG ""
#define DOMAIN_OBJECT_PREFIX "vmsnap.domain."
/* A dead holder's lock is taken over after its lease: longer than this is a mistake. */
#define MAX_LEASE_SECONDS 3600

struct vmsnap_rbd_cluster {
        rados_t rados;
        char *hosts;
        unsigned refs; /* vmsnap_rbd_cluster_ref */
};

struct vmsnap_rbd_lease {
        vmsnap_rbd_cluster *cluster;
        rados_ioctx_t ioctx;
        char *pool;
        char *object;
        char *cookie;
        unsigned seconds;
        /* The renewer thread and whoever holds the lease share what follows. */
        pthread_mutex_t mutex;
        pthread_cond_t wake;
        pthread_t renewer;
        bool renewer_started;
        bool stopping;
        bool held;
        /* When the last renewal (or the lock) was granted, on CLOCK_MONOTONIC: the lease
         * runs out lease seconds after it, whatever the OSD answers meanwhile. */
        struct timespec granted;
        int lost_errno; /* why it was lost, for the sentence */
};

void vmsnap_rbd_cluster_options_from_source(const vmsnap_xml_rbd_source *source,
                                            vmsnap_rbd_cluster_options *ret)
{
        *ret = (vmsnap_rbd_cluster_options){
                .mon_host = source->mon_host,
                .config_file = source->config_file,
                .user = source->auth_username,
        };
}

static void rados_shutdownp(rados_t *rados)
{
        if (*rados)
                rados_shutdown(*rados);
}

static int set_option(rados_t rados, const char *name, const char *value, vmsnap_error *error)
{
        int r = rados_conf_set(rados, name, value);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the Ceph client option %s cannot be set to '%s': %s", name, value,
                                        strerror(-r));
        return 0;
}

int vmsnap_rbd_cluster_connect(const vmsnap_rbd_cluster_options *options, vmsnap_rbd_cluster **ret,
                               vmsnap_error *error)
{
        _cleanup_(rados_shutdownp) rados_t rados = NULL;
        char timeout[16], osd_timeout[16], configured_hosts[1024] = "";
        int r;

        r = rados_create(&rados, options->user ? options->user : "admin");
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "a Ceph client cannot be made: %s",
                                        strerror(-r));
        /* Without mon_host the configuration file must be there; with it, a missing file is fine. */
        r = rados_conf_read_file(rados, options->config_file);
        if (r < 0 && (options->config_file || !options->mon_host))
                return vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the Ceph configuration %s cannot be read: %s",
                                        options->config_file ? options->config_file
                                                             : "(/etc/ceph/ceph.conf or $CEPH_CONF)",
                                        strerror(-r));
        if (options->mon_host && (r = set_option(rados, "mon_host", options->mon_host, error)) < 0)
                return r;
        if (options->key && (r = set_option(rados, "key", options->key, error)) < 0)
                return r;
        unsigned seconds = options->timeout_seconds ? options->timeout_seconds : DEFAULT_TIMEOUT_SECONDS;
        snprintf(timeout, sizeof(timeout), "%u", seconds);
        snprintf(osd_timeout, sizeof(osd_timeout), "%u",
                 seconds > OSD_OP_TIMEOUT_SECONDS ? seconds : OSD_OP_TIMEOUT_SECONDS);
        if ((r = set_option(rados, "client_mount_timeout", timeout, error)) < 0 ||
            (r = set_option(rados, "rados_mon_op_timeout", timeout, error)) < 0 ||
            (r = set_option(rados, "rados_osd_op_timeout", osd_timeout, error)) < 0)
                return r;
        /* Clones vmsnap makes are v2: no snapshot protection, and a removed parent snapshot
         * waits in the trash for its last child. */
        if ((r = set_option(rados, "rbd_default_clone_format", "2", error)) < 0)
                return r;
        /* One completion thread. With two, librbd 16.2's ImageState::complete_action_unlock
         * takes the image's lock again after it has woken the waiters; a caller that closes a
         * clone meanwhile frees the clone's parent, and the lock lands in freed memory
         * (std::system_error, EINVAL, abort). Seen under load only. */
        if ((r = set_option(rados, "librados_thread_count", "1", error)) < 0)
                return r;

        if (rados_conf_get(rados, "mon_host", configured_hosts, sizeof(configured_hosts)) < 0 ||
            !configured_hosts[0])
                snprintf(configured_hosts, sizeof(configured_hosts), "%s",
                         options->mon_host ? options->mon_host : "(no monitor configured)");

        r = rados_connect(rados);
        if (r < 0)
                return vmsnap_error_set(
                        error, r, VMSNAP_ERROR_FAILED, "the Ceph cluster at %s is not reachable: %s%s",
                        configured_hosts, strerror(-r),
                        r == -ETIMEDOUT ? " (no monitor answered in time, or none accepted the user's key)"
                        : r == -EACCES || r == -EPERM
                                ? " (the monitors refused the credentials: check the user and "
                                  "its key)"
                                : "");

        vmsnap_rbd_cluster *cluster = xcalloc(1, sizeof(*cluster));
        cluster->rados = rados;
        cluster->hosts = xstrdup(configured_hosts);
        cluster->refs = 1;
        rados = NULL;
        *ret = cluster;
        return 0;
}

vmsnap_rbd_cluster *vmsnap_rbd_cluster_ref(vmsnap_rbd_cluster *cluster)
{
        __atomic_add_fetch(&cluster->refs, 1, __ATOMIC_RELAXED);
        return cluster;
}

void vmsnap_rbd_cluster_disconnect(vmsnap_rbd_cluster *cluster)
{
        if (!cluster || __atomic_sub_fetch(&cluster->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        rados_shutdown(cluster->rados);
        free(cluster->hosts);
        free(cluster);
}

const char *vmsnap_rbd_cluster_hosts(const vmsnap_rbd_cluster *cluster)
{
        return cluster->hosts;
}

static void ioctx_destroyp(rados_ioctx_t *ioctx)
{
        if (*ioctx)
                rados_ioctx_destroy(*ioctx);
}
#define _cleanup_ioctx_ _cleanup_(ioctx_destroyp)

static void image_closep(rbd_image_t *image)
{
        if (*image)
                rbd_close(*image);
}
#define _cleanup_image_ _cleanup_(image_closep)

/* pool is "pool" or "pool/namespace". */
static int open_pool(vmsnap_rbd_cluster *cluster, const char *pool, rados_ioctx_t *ret, vmsnap_error *error)
{
        _cleanup_free_ char *name = xstrdup(pool);
        char *slash = strchr(name, '/');
        rados_ioctx_t ioctx = NULL;

        if (slash)
                *slash = '\0';
        int r = rados_ioctx_create(cluster->rados, name, &ioctx);
        if (r < 0)
                return vmsnap_error_set(error, r,
                                        r == -ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        r == -ENOENT ? "there is no pool %s in the Ceph cluster at %s"
                                                     : "the pool %s of the Ceph cluster at %s cannot be "
                                                       "opened: %s",
                                        name, cluster->hosts, strerror(-r));
        if (slash)
                rados_ioctx_set_namespace(ioctx, slash + 1);
        *ret = ioctx;
        return 0;
}

static int image_error(int r, const char *pool, const char *image, const char *what, vmsnap_error *error)
{
        if (r == -ENOENT)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_NOT_FOUND, "there is no image %s in pool %s",
                                        image, pool);
        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "%s image %s in pool %s failed: %s", what,
                                image, pool, strerror(-r));
}

/* Opens the image (read-only when writable is false) with the pool's I/O context. */
static int open_image(vmsnap_rbd_cluster *cluster, const char *pool, const char *image, bool writable,
                      rados_ioctx_t *ioctx_ret, rbd_image_t *image_ret, vmsnap_error *error)
{
        rados_ioctx_t ioctx = NULL;
        int r = open_pool(cluster, pool, &ioctx, error);
        if (r < 0)
                return r;
        r = writable ? rbd_open(ioctx, image, image_ret, NULL)
                     : rbd_open_read_only(ioctx, image, image_ret, NULL);
        if (r < 0) {
                rados_ioctx_destroy(ioctx);
                return image_error(r, pool, image, "opening", error);
        }
        *ioctx_ret = ioctx;
        return 0;
}

static char *snapshot_name(const char *vmsnap_id)
{
        return xasprintf(VMSNAP_RBD_SNAPSHOT_PREFIX "%s", vmsnap_id);
}

static int check_vmsnap_id(const char *vmsnap_id, vmsnap_error *error)
{
        if (!vmsnap_id || !*vmsnap_id || strpbrk(vmsnap_id, "/@"))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "'%s' cannot be part of an RBD snapshot name",
                                        vmsnap_id ? vmsnap_id : "");
        return 0;
}

/* Opens the image for a change to vmsnap's snapshot vmsnap_id and names that snapshot in RBD. */
static int open_image_for_snapshot(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                                   const char *vmsnap_id, rados_ioctx_t *ioctx_ret, rbd_image_t *image_ret,
                                   char **name_ret, vmsnap_error *error)
{
        int r;

        if ((r = check_vmsnap_id(vmsnap_id, error)) < 0 ||
            (r = open_image(cluster, pool, image, true, ioctx_ret, image_ret, error)) < 0)
                return r;
        *name_ret = snapshot_name(vmsnap_id);
        return 0;
}

int vmsnap_rbd_snapshot_create(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                               const char *vmsnap_id, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        _cleanup_free_ char *name = NULL;
        int r = open_image_for_snapshot(cluster, pool, image, vmsnap_id, &ioctx, &handle, &name, error);
        if (r < 0)
                return r;
        /* Quiescing is vmsnap's (the guest agent), not librbd's: QEMU has no quiesce hook. */
        r = rbd_snap_create2(handle, name, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
        if (r == -EEXIST)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "image %s in pool %s already has a snapshot %s", image, pool, name);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the snapshot %s of image %s in pool %s cannot be made: %s", name,
                                        image, pool, strerror(-r));
        return 0;
}

void vmsnap_rbd_snapshots_free(vmsnap_rbd_snapshot *snapshots, size_t n)
{
        if (!snapshots)
                return;
        for (size_t i = 0; i < n; i++) {
                free(snapshots[i].name);
                free(snapshots[i].vmsnap_id);
        }
        free(snapshots);
}

static int list_snapshots(rbd_image_t handle, const char *pool, const char *image, vmsnap_rbd_snapshot **ret,
                          size_t *n_ret, vmsnap_error *error)
{
        int max = 16, r;
        rbd_snap_info_t *infos = NULL;

        for (;;) {
                infos = xcalloc(max, sizeof(*infos));
                r = rbd_snap_list(handle, infos, &max);
                if (r != -ERANGE)
                        break;
                free(infos);
        }
        if (r < 0) {
                free(infos);
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the snapshots of image %s in pool %s cannot be listed: %s", image,
                                        pool, strerror(-r));
        }
        vmsnap_rbd_snapshot *snapshots = xcalloc(r > 0 ? r : 1, sizeof(*snapshots));
        for (int i = 0; i < r; i++) {
                snapshots[i].name = xstrdup(infos[i].name);
                snapshots[i].size = infos[i].size;
                if (strncmp(infos[i].name, VMSNAP_RBD_SNAPSHOT_PREFIX, strlen(VMSNAP_RBD_SNAPSHOT_PREFIX)) ==
                            0 &&
                    infos[i].name[strlen(VMSNAP_RBD_SNAPSHOT_PREFIX)])
                        snapshots[i].vmsnap_id = xstrdup(infos[i].name + strlen(VMSNAP_RBD_SNAPSHOT_PREFIX));
        }
        rbd_snap_list_end(infos);
        free(infos);
        *ret = snapshots;
        *n_ret = r;
        return 0;
}

int vmsnap_rbd_snapshot_list(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                             vmsnap_rbd_snapshot **ret, size_t *n_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        int r = open_image(cluster, pool, image, false, &ioctx, &handle, error);
        if (r < 0)
                return r;
        return list_snapshots(handle, pool, image, ret, n_ret, error);
}

int vmsnap_rbd_image_refuse_foreign_snapshots(vmsnap_rbd_cluster *cluster, const char *pool,
                                              const char *image, vmsnap_error *error)
{
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n = 0, foreign = 0;
        char names[512] = "";
        size_t used = 0;

        int r = vmsnap_rbd_snapshot_list(cluster, pool, image, &snapshots, &n, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (snapshots[i].vmsnap_id)
                        continue;
                if (used < sizeof(names))
                        used += snprintf(names + used, sizeof(names) - used, "%s%s", foreign ? ", " : "",
                                         snapshots[i].name);
                foreign++;
        }
        vmsnap_rbd_snapshots_free(snapshots, n);
        if (foreign == 0)
                return 0;
        return vmsnap_error_set(error, -EPERM, VMSNAP_ERROR_UNSUPPORTED,
                                "image %s in pool %s has %zu snapshot%s vmsnap did not make (%s); vmsnap "
                                "changes only images whose snapshots are all its own: remove them with "
                                "'rbd snap rm' or leave the disk out",
                                image, pool, foreign, foreign == 1 ? "" : "s", names);
}

int vmsnap_rbd_snapshot_remove(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                               const char *vmsnap_id, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        _cleanup_free_ char *name = NULL;
        int r = open_image_for_snapshot(cluster, pool, image, vmsnap_id, &ioctx, &handle, &name, error);
        if (r < 0)
                return r;
        r = rbd_snap_remove(handle, name);
        if (r == -ENOENT)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_NOT_FOUND,
                                        "image %s in pool %s has no snapshot %s", image, pool, name);
        if (r < 0)
                return vmsnap_error_set(error, r, r == -EBUSY ? VMSNAP_ERROR_BUSY : VMSNAP_ERROR_FAILED,
                                        "the snapshot %s of image %s in pool %s cannot be removed: %s", name,
                                        image, pool, strerror(-r));
        return 0;
}

/* The owner metadata of an open image, or NULL when vmsnap did not make it. */
static int read_owner(rbd_image_t handle, const char *pool, const char *image, char **ret,
                      vmsnap_error *error)
{
        char value[256];
        size_t length = sizeof(value);

        *ret = NULL;
        int r = rbd_metadata_get(handle, VMSNAP_RBD_OWNER_KEY, value, &length);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the metadata of image %s in pool %s cannot be read: %s", image,
                                        pool, strerror(-r));
        *ret = xstrndup(value, length);
        return 0;
}

int vmsnap_rbd_image_owner(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                           char **owner_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        int r = open_image(cluster, pool, image, false, &ioctx, &handle, error);
        if (r < 0)
                return r;
        return read_owner(handle, pool, image, owner_ret, error);
}

/* Fails unless vmsnap made the open image: rule 1, only what vmsnap made is its to change. */
static int require_own_image(rbd_image_t handle, const char *pool, const char *image, const char *what,
                             vmsnap_error *error)
{
        _cleanup_free_ char *owner = NULL;
        int r = read_owner(handle, pool, image, &owner, error);
        if (r < 0)
                return r;
        if (!owner)
                return vmsnap_error_set(
                        error, -EPERM, VMSNAP_ERROR_UNSUPPORTED,
                        "image %s in pool %s was not made by vmsnap (it has no %s metadata); "
                        "vmsnap does not %s it",
                        image, pool, VMSNAP_RBD_OWNER_KEY, what);
        return 0;
}

int vmsnap_rbd_clone(vmsnap_rbd_cluster *cluster, const char *pool, const char *image, const char *vmsnap_id,
                     const char *target_pool, const char *target_image, const char *owner,
                     vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_ioctx_ rados_ioctx_t target_ioctx = NULL;
        rbd_image_options_t options;
        rbd_image_t child = NULL;
        int r;

        if ((r = check_vmsnap_id(vmsnap_id, error)) < 0 ||
            (r = open_pool(cluster, pool, &ioctx, error)) < 0 ||
            (r = open_pool(cluster, target_pool, &target_ioctx, error)) < 0)
                return r;
        if (!owner || !*owner)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a clone needs an owner to record");
        _cleanup_free_ char *name = snapshot_name(vmsnap_id);

        rbd_image_options_create(&options);
        rbd_image_options_set_uint64(options, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
        r = rbd_clone3(ioctx, image, name, target_ioctx, target_image, options);
        rbd_image_options_destroy(options);
        if (r == -EEXIST)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "pool %s already has an image %s; a clone never replaces one",
                                        target_pool, target_image);
        if (r == -ENOENT)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_NOT_FOUND,
                                        "image %s in pool %s has no snapshot %s to clone", image, pool,
                                        name);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "image %s in pool %s cannot be cloned from %s@%s of pool %s: %s",
                                        target_image, target_pool, image, name, pool, strerror(-r));

        /* The mark that makes it vmsnap's; without it the clone must not stay behind. */
        r = rbd_open(target_ioctx, target_image, &child, NULL);
        if (r >= 0) {
                r = rbd_metadata_set(child, VMSNAP_RBD_OWNER_KEY, owner);
                rbd_close(child);
        }
        if (r < 0) {
                int removed = rbd_remove(target_ioctx, target_image);
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the clone %s in pool %s cannot be marked as vmsnap's: %s%s",
                                        target_image, target_pool, strerror(-r),
                                        removed < 0 ? "; it could not be removed again either"
                                                    : "; removed it");
        }
        return 0;
}

int vmsnap_rbd_image_parent(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                            char **parent_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        rbd_linked_image_spec_t parent_image;
        rbd_snap_spec_t parent_snapshot;

        *parent_ret = NULL;
        int r = open_image(cluster, pool, image, false, &ioctx, &handle, error);
        if (r < 0)
                return r;
        r = rbd_get_parent(handle, &parent_image, &parent_snapshot);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the parent of image %s in pool %s cannot be read: %s", image, pool,
                                        strerror(-r));
        bool namespaced = parent_image.pool_namespace && *parent_image.pool_namespace;
        *parent_ret = xasprintf("%s%s%s/%s@%s", parent_image.pool_name, namespaced ? "/" : "",
                                namespaced ? parent_image.pool_namespace : "", parent_image.image_name,
                                parent_snapshot.name);
        rbd_linked_image_spec_cleanup(&parent_image);
        rbd_snap_spec_cleanup(&parent_snapshot);
        return 0;
}

typedef struct flatten_progress {
        const vmsnap_hooks *hooks;
        uint64_t object_size;
        uint64_t image_size;
        bool canceled;
} flatten_progress;

/* librbd counts objects; vmsnap's progress is bytes. A non-zero return stops the flatten
 * after the objects in flight. */
static int flatten_progress_update(uint64_t done, uint64_t total, void *userdata)
{
        flatten_progress *progress = userdata;
        const vmsnap_hooks *hooks = progress->hooks;

        if (hooks && hooks->progress) {
                uint64_t done_bytes = done * progress->object_size,
                         total_bytes = total * progress->object_size;
                if (total_bytes > progress->image_size)
                        total_bytes = progress->image_size;
                if (done_bytes > total_bytes)
                        done_bytes = total_bytes;
                hooks->progress(hooks->userdata, done_bytes, total_bytes);
        }
        if (hooks && hooks->is_canceled && hooks->is_canceled(hooks->userdata)) {
                progress->canceled = true;
                return -ECANCELED;
        }
        return 0;
}

int vmsnap_rbd_image_flatten(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                             const vmsnap_hooks *hooks, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        rbd_image_info_t info;
        int r;

        if ((r = open_image(cluster, pool, image, true, &ioctx, &handle, error)) < 0 ||
            (r = require_own_image(handle, pool, image, "flatten", error)) < 0)
                return r;
        r = rbd_stat(handle, &info, sizeof(info));
        if (r < 0)
                return image_error(r, pool, image, "reading the size of", error);
        flatten_progress progress = {.hooks = hooks, .object_size = info.obj_size, .image_size = info.size};
        if (hooks && hooks->is_canceled && hooks->is_canceled(hooks->userdata))
                progress.canceled = true;
        else
                r = rbd_flatten_with_progress(handle, flatten_progress_update, &progress);
        /* A flatten stopped halfway has copied some of the parent's objects into the clone,
         * which still reads the same bytes and still has its parent. */
        if (progress.canceled)
                return vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                        "flattening image %s in pool %s was canceled; it is still a clone",
                                        image, pool);
        if (r == 0 && hooks && hooks->progress)
                /* librbd's last report is the object before the last one. */
                hooks->progress(hooks->userdata, info.size, info.size);
        if (r == -EINVAL)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "image %s in pool %s is not a clone; there is nothing to flatten",
                                        image, pool);
        if (r < 0)
                return image_error(r, pool, image, "flattening", error);
        return 0;
}

int vmsnap_rbd_image_remove(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                            vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        rbd_image_t handle = NULL;
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n = 0;
        int r;

        if ((r = open_image(cluster, pool, image, false, &ioctx, &handle, error)) < 0)
                return r;
        r = require_own_image(handle, pool, image, "remove", error);
        if (r >= 0)
                r = list_snapshots(handle, pool, image, &snapshots, &n, error);
        rbd_close(handle);
        vmsnap_rbd_snapshots_free(snapshots, n);
        if (r < 0)
                return r;
        if (n > 0)
                return vmsnap_error_set(error, -ENOTEMPTY, VMSNAP_ERROR_BUSY,
                                        "image %s in pool %s still has %zu snapshot%s; it is removed only "
                                        "without any",
                                        image, pool, n, n == 1 ? "" : "s");
        r = rbd_remove(ioctx, image);
        if (r == -EBUSY)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_BUSY,
                                        "image %s in pool %s is open in another client (a running VM?); it "
                                        "is left in place",
                                        image, pool);
        if (r < 0)
                return image_error(r, pool, image, "removing", error);
        return 0;
}

static int count_extent(uint64_t offset, size_t length, int exists, void *userdata)
{
        if (exists)
                *(uint64_t *)userdata += length;
        return 0;
}

int vmsnap_rbd_image_sizes(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                           const char *since_id, const char *vmsnap_id, uint64_t *virtual_ret,
                           uint64_t *allocated_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        _cleanup_free_ char *at = NULL, *since = NULL;
        uint64_t size = 0, allocated = 0;
        int r;

        if ((vmsnap_id && (r = check_vmsnap_id(vmsnap_id, error)) < 0) ||
            (since_id && (r = check_vmsnap_id(since_id, error)) < 0) ||
            (r = open_image(cluster, pool, image, false, &ioctx, &handle, error)) < 0)
                return r;
        if (vmsnap_id) {
                at = snapshot_name(vmsnap_id);
                r = rbd_snap_set(handle, at);
                if (r < 0)
                        return vmsnap_error_set(error, r,
                                                r == -ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                                "image %s in pool %s has no snapshot %s", image, pool, at);
        }
        if (since_id)
                since = snapshot_name(since_id);
        r = rbd_get_size(handle, &size);
        if (r < 0)
                return image_error(r, pool, image, "reading the size of", error);
        /* Exact extents, not whole objects: the bytes a copy of this image would move. */
        r = rbd_diff_iterate2(handle, since, 0, size, 0, 0, count_extent, &allocated);
        if (r < 0)
                return vmsnap_error_set(
                        error, r, r == -ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                        "the allocation of image %s in pool %s%s%s cannot be read: %s", image, pool,
                        since ? " since " : "", since ? since : "", strerror(-r));
        if (virtual_ret)
                *virtual_ret = size;
        if (allocated_ret)
                *allocated_ret = allocated;
        return 0;
}

/* The objects of an image that changed between two of its states, one bit each. */
typedef struct object_set {
        uint8_t *bits;
        uint64_t object_size, n_objects;
} object_set;

static int mark_object(uint64_t offset, size_t length, int exists, void *userdata)
{
        object_set *set = userdata;

        (void)exists; /* written or discarded: either way the object changed */
        for (uint64_t k = offset / set->object_size;
             k < set->n_objects && k * set->object_size < offset + length; k++)
                set->bits[k / 8] |= (uint8_t)(1u << (k % 8));
        return 0;
}

/* Sums the written bytes of the extents whose object is in the set. */
typedef struct held_in_set {
        const object_set *set;
        uint64_t bytes;
} held_in_set;

static int count_extent_in_set(uint64_t offset, size_t length, int exists, void *userdata)
{
        held_in_set *held = userdata;
        const object_set *set = held->set;

        if (!exists)
                return 0;
        for (uint64_t at = offset; at < offset + length;) {
                uint64_t k = at / set->object_size, end = (k + 1) * set->object_size;
                if (end > offset + length)
                        end = offset + length;
                if (k < set->n_objects && (set->bits[k / 8] & (1u << (k % 8))))
                        held->bytes += end - at;
                at = end;
        }
        return 0;
}

int vmsnap_rbd_snapshot_usage(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                              const char *since_id, const char *vmsnap_id, const char *next_id,
                              uint64_t *held_ret, uint64_t *freed_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        _cleanup_free_ char *at = snapshot_name(vmsnap_id),
                            *since = since_id ? snapshot_name(since_id) : NULL,
                            *next = next_id ? snapshot_name(next_id) : NULL;
        _cleanup_free_ uint8_t *bits = NULL;
        rbd_image_info_t info;
        held_in_set held = {0};
        uint64_t changed = 0;
        int r;

        *held_ret = *freed_ret = 0;
        if ((r = check_vmsnap_id(vmsnap_id, error)) < 0 ||
            (since_id && (r = check_vmsnap_id(since_id, error)) < 0) ||
            (next_id && (r = check_vmsnap_id(next_id, error)) < 0) ||
            (r = open_image(cluster, pool, image, false, &ioctx, &handle, error)) < 0)
                return r;
        /* What changed after the snapshot: from it to the next one, or to the image now. */
        r = rbd_snap_set(handle, next);
        if (r == 0)
                r = rbd_stat(handle, &info, sizeof(info));
        if (r < 0)
                return image_error(r, pool, image, "reading the snapshots of", error);
        object_set after = {.object_size = info.obj_size ? info.obj_size : 1,
                            .n_objects =
                                    (info.size + info.obj_size - 1) / (info.obj_size ? info.obj_size : 1)};
        bits = xcalloc(after.n_objects / 8 + 1, 1);
        after.bits = bits;
        r = rbd_diff_iterate2(handle, at, 0, info.size, 0, 1, mark_object, &after);
        if (r == 0)
                r = rbd_snap_set(handle, at);
        if (r == 0)
                r = rbd_get_size(handle, &info.size);
        /* What the snapshot holds: what changed since the one before it, exact extents. */
        held.set = &after;
        if (r == 0)
                r = rbd_diff_iterate2(handle, since, 0, info.size, 0, 0, count_extent, &changed);
        if (r == 0)
                r = rbd_diff_iterate2(handle, since, 0, info.size, 0, 0, count_extent_in_set, &held);
        if (r < 0)
                return vmsnap_error_set(
                        error, r, r == -ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                        "the allocation of snapshot %s of image %s in pool %s cannot be read: %s", at, image,
                        pool, strerror(-r));
        *held_ret = changed;
        *freed_ret = held.bytes;
        return 0;
}

int vmsnap_rbd_snapshot_has_clones(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                                   const char *vmsnap_id, bool *ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        _cleanup_image_ rbd_image_t handle = NULL;
        _cleanup_free_ char *at = snapshot_name(vmsnap_id);
        size_t n_children = 0;
        int r;

        *ret = false;
        if ((r = check_vmsnap_id(vmsnap_id, error)) < 0 ||
            (r = open_image(cluster, pool, image, false, &ioctx, &handle, error)) < 0)
                return r;
        r = rbd_snap_set(handle, at);
        if (r < 0)
                return vmsnap_error_set(error, r,
                                        r == -ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "image %s in pool %s has no snapshot %s", image, pool, at);
        r = rbd_list_children3(handle, NULL, &n_children);
        if (r < 0 && r != -ERANGE)
                return image_error(r, pool, image, "listing the clones of", error);
        *ret = n_children > 0;
        return 0;
}

/* ---- the domain's document and its lease ---- */

static char *domain_object(const char *domain_uuid)
{
        return xasprintf(DOMAIN_OBJECT_PREFIX "%s", domain_uuid);
}

/* "HOLDER (client.N at ADDR)" for the current holder of the object's lock, or "another host". */
static void describe_holder(rados_ioctx_t ioctx, const char *object, char *buffer, size_t size)
{
        char tag[64], clients[256], cookies[512], addresses[256];
        size_t tag_length = sizeof(tag), clients_length = sizeof(clients), cookies_length = sizeof(cookies),
               addresses_length = sizeof(addresses);
        int exclusive;

        snprintf(buffer, size, "another host");
        ssize_t n =
                rados_list_lockers(ioctx, object, LOCK_NAME, &exclusive, tag, &tag_length, clients,
                                   &clients_length, cookies, &cookies_length, addresses, &addresses_length);
        if (n <= 0)
                return;
        /* The cookie is "HOLDER#random": the part a person recognizes comes first. */
        char *hash = strrchr(cookies, '#');
        if (hash)
                *hash = '\0';
        /* A description cut short still names the holder. */
        if (snprintf(buffer, size, "%s (%s at %s)", cookies, clients, addresses) >= (int)size)
                buffer[size - 1] = '\0';
}

static int validate_domain_uuid(const char *domain_uuid, vmsnap_error *error)
{
        if (!domain_uuid || !*domain_uuid || strlen(domain_uuid) > 64 || strpbrk(domain_uuid, "/#"))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "'%s' is not a domain UUID", domain_uuid ? domain_uuid : "");
        return 0;
}

static struct timespec monotonic_now(void)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return now;
}

static struct timespec timespec_add_ms(struct timespec at, long long ms)
{
        at.tv_sec += ms / 1000;
        at.tv_nsec += (ms % 1000) * 1000000L;
        if (at.tv_nsec >= 1000000000L) {
                at.tv_sec++;
                at.tv_nsec -= 1000000000L;
        }
        return at;
}

static bool timespec_before(struct timespec a, struct timespec b)
{
        return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* One renewal: the OSD extends the lock only while this client and cookie hold it. */
static int renew_lock(vmsnap_rbd_lease *lease)
{
        struct timeval duration = {.tv_sec = lease->seconds};
        struct timespec asked = monotonic_now();
        int r = rados_lock_exclusive(lease->ioctx, lease->object, LOCK_NAME, lease->cookie,
                                     "vmsnap domain tree", &duration, LIBRADOS_LOCK_FLAG_MUST_RENEW);

        pthread_mutex_lock(&lease->mutex);
        if (r >= 0 && lease->held)
                lease->granted = asked; /* the OSD counts from no earlier than the request */
        else if (r == -ENOENT || r == -EBUSY ||
                 !timespec_before(monotonic_now(),
                                  timespec_add_ms(lease->granted, lease->seconds * 1000LL))) {
                /* Gone (ran out, or someone else holds it), or out of time while the OSD
                 * did not answer: either way it is no longer this holder's. */
                if (lease->held)
                        lease->lost_errno = r < 0 ? -r : ETIMEDOUT;
                lease->held = false;
        }
        bool held = lease->held;
        pthread_mutex_unlock(&lease->mutex);
        return r < 0 ? r : held ? 0 : -ENOLCK;
}

/* Renews the lease every third of its length until it is released or lost: a holder that
 * lives keeps the lock through a job of any length, one that died or stopped (a hung host,
 * SIGSTOP) loses it lease seconds after its last renewal. A renewal that fails for another
 * reason (no answer in time) is tried again at the next turn while the lease lasts. */
static void *renew_until_released(void *userdata)
{
        vmsnap_rbd_lease *lease = userdata;
        long long interval_ms = lease->seconds * 1000LL / 3;

        pthread_mutex_lock(&lease->mutex);
        for (;;) {
                struct timespec due = timespec_add_ms(monotonic_now(), interval_ms);
                while (!lease->stopping && timespec_before(monotonic_now(), due))
                        pthread_cond_timedwait(&lease->wake, &lease->mutex, &due);
                if (lease->stopping || !lease->held)
                        break;
                pthread_mutex_unlock(&lease->mutex);
                (void)renew_lock(lease);
                pthread_mutex_lock(&lease->mutex);
        }
        pthread_mutex_unlock(&lease->mutex);
        return NULL;
}

static void lease_free(vmsnap_rbd_lease *lease)
{
        rados_ioctx_destroy(lease->ioctx);
        pthread_cond_destroy(&lease->wake);
        pthread_mutex_destroy(&lease->mutex);
        free(lease->pool);
        free(lease->object);
        free(lease->cookie);
        free(lease);
}

int vmsnap_rbd_lease_acquire(vmsnap_rbd_cluster *cluster, const char *pool, const char *domain_uuid,
                             const char *holder, unsigned lease_seconds, vmsnap_rbd_lease **ret,
                             vmsnap_error *error)
{
        rados_ioctx_t ioctx = NULL;
        unsigned char random_bytes[8];
        pthread_condattr_t monotonic;
        int r;

        if ((r = validate_domain_uuid(domain_uuid, error)) < 0)
                return r;
        if (lease_seconds == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a lease of 0 seconds never ends; give its length");
        if (lease_seconds > MAX_LEASE_SECONDS)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a lease of %u seconds would keep a dead host's lock too long; at "
                                        "most %u",
                                        lease_seconds, MAX_LEASE_SECONDS);
        if ((r = open_pool(cluster, pool, &ioctx, error)) < 0)
                return r;
        if (getentropy(random_bytes, sizeof(random_bytes)) < 0)
                abort();

        vmsnap_rbd_lease *lease = xcalloc(1, sizeof(*lease));
        *lease = (vmsnap_rbd_lease){
                .cluster = cluster,
                .ioctx = ioctx,
                .pool = xstrdup(pool),
                .object = domain_object(domain_uuid),
                .seconds = lease_seconds,
        };
        pthread_mutex_init(&lease->mutex, NULL);
        pthread_condattr_init(&monotonic);
        pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
        pthread_cond_init(&lease->wake, &monotonic);
        pthread_condattr_destroy(&monotonic);
        lease->cookie =
                xasprintf("%s#%02x%02x%02x%02x%02x%02x%02x%02x", holder && *holder ? holder : "vmsnap",
                          random_bytes[0], random_bytes[1], random_bytes[2], random_bytes[3],
                          random_bytes[4], random_bytes[5], random_bytes[6], random_bytes[7]);
        struct timeval duration = {.tv_sec = lease_seconds};
        struct timespec asked = monotonic_now();
        r = rados_lock_exclusive(ioctx, lease->object, LOCK_NAME, lease->cookie, "vmsnap domain tree",
                                 &duration, 0);
        if (r < 0) {
                char owner[1024];
                if (r == -EBUSY || r == -EEXIST)
                        describe_holder(ioctx, lease->object, owner, sizeof(owner));
                if (r == -EBUSY || r == -EEXIST)
                        r = vmsnap_error_set(
                                error, -EBUSY, VMSNAP_ERROR_BUSY,
                                "the snapshot tree of domain %s (object %s in pool %s) is being "
                                "changed by %s; try again when it is done, or once its lease ran out",
                                domain_uuid, lease->object, pool, owner);
                else
                        r = vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                             "the lock on object %s in pool %s cannot be taken: %s",
                                             lease->object, pool, strerror(-r));
                lease_free(lease);
                return r;
        }
        lease->held = true;
        lease->granted = asked;
        r = pthread_create(&lease->renewer, NULL, renew_until_released, lease);
        if (r != 0) {
                vmsnap_error_set(
                        error, -r, VMSNAP_ERROR_FAILED,
                        "the lease on object %s in pool %s cannot be kept: no thread to renew it: %s",
                        lease->object, pool, strerror(r));
                (void)rados_unlock(ioctx, lease->object, LOCK_NAME, lease->cookie);
                lease_free(lease);
                return -r;
        }
        lease->renewer_started = true;
        *ret = lease;
        return 0;
}

static int lost_error(vmsnap_rbd_lease *lease, vmsnap_error *error)
{
        return vmsnap_error_set(error, -ENOLCK, VMSNAP_ERROR_LOCKED,
                                "the lease on object %s in pool %s ran out or was taken over; the change "
                                "must start again: %s",
                                lease->object, lease->pool, strerror(lease->lost_errno));
}

int vmsnap_rbd_lease_renew(vmsnap_rbd_lease *lease, vmsnap_error *error)
{
        int r = renew_lock(lease);
        if (r < 0 && !vmsnap_rbd_lease_held(lease))
                return lost_error(lease, error);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "the lease on object %s in pool %s was not renewed this time: %s",
                                        lease->object, lease->pool, strerror(-r));
        return 0;
}

bool vmsnap_rbd_lease_held(vmsnap_rbd_lease *lease)
{
        pthread_mutex_lock(&lease->mutex);
        bool held = lease->held && timespec_before(monotonic_now(),
                                                   timespec_add_ms(lease->granted, lease->seconds * 1000LL));
        pthread_mutex_unlock(&lease->mutex);
        return held;
}

int vmsnap_rbd_lease_check(vmsnap_rbd_lease *lease, vmsnap_error *error)
{
        if (vmsnap_rbd_lease_held(lease))
                return 0;
        pthread_mutex_lock(&lease->mutex);
        if (!lease->lost_errno)
                lease->lost_errno = ETIMEDOUT;
        pthread_mutex_unlock(&lease->mutex);
        return lost_error(lease, error);
}

static void lease_stop_renewing(vmsnap_rbd_lease *lease)
{
        if (lease->renewer_started) {
                pthread_mutex_lock(&lease->mutex);
                lease->stopping = true;
                pthread_cond_signal(&lease->wake);
                pthread_mutex_unlock(&lease->mutex);
                pthread_join(lease->renewer, NULL);
        }
}

void vmsnap_rbd_lease_abandon(vmsnap_rbd_lease *lease)
{
        if (!lease)
                return;
        lease_stop_renewing(lease);
        lease_free(lease);
}

void vmsnap_rbd_lease_release(vmsnap_rbd_lease *lease)
{
        if (!lease)
                return;
        lease_stop_renewing(lease);
        /* Unlocked even when it looked lost (the OSD may still count it): the cookie is this
         * holder's alone, so unlocking a lost lease leaves a new holder's lock be. */
        (void)rados_unlock(lease->ioctx, lease->object, LOCK_NAME, lease->cookie);
        lease_free(lease);
}

int vmsnap_rbd_document_read(vmsnap_rbd_cluster *cluster, const char *pool, const char *domain_uuid,
                             char **text_ret, uint64_t *version_ret, vmsnap_error *error)
{
        _cleanup_ioctx_ rados_ioctx_t ioctx = NULL;
        int r;

        *text_ret = NULL;
        if ((r = validate_domain_uuid(domain_uuid, error)) < 0 ||
            (r = open_pool(cluster, pool, &ioctx, error)) < 0)
                return r;
        _cleanup_free_ char *object = domain_object(domain_uuid);

        /* One read operation returns the data and stamps the version it read; a document
         * larger than the buffer is read again with a larger one. */
        for (size_t size = 64 * 1024;; size *= 2) {
                _cleanup_free_ char *buffer = xmalloc(size + 1);
                size_t length = 0;
                int read_result = 0;
                rados_read_op_t op = rados_create_read_op();
                rados_read_op_read(op, 0, size, buffer, &length, &read_result);
                r = rados_read_op_operate(op, ioctx, object, 0);
                rados_release_read_op(op);
                if (r == -ENOENT) {
                        if (version_ret)
                                *version_ret = 0;
                        return 0;
                }
                if (r >= 0 && read_result < 0)
                        r = read_result;
                if (r < 0)
                        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                                "object %s in pool %s cannot be read: %s", object, pool,
                                                strerror(-r));
                if (length == size)
                        continue;
                if (version_ret)
                        *version_ret = rados_get_last_version(ioctx);
                if (length == 0)
                        return 0; /* the lock made the object; nobody wrote a document yet */
                buffer[length] = '\0';
                if (strlen(buffer) != length)
                        return vmsnap_error_set(error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                                "object %s in pool %s does not hold a text document", object,
                                                pool);
                *text_ret = buffer;
                buffer = NULL;
                return 0;
        }
}

static void put_u8(unsigned char **at, uint8_t value)
{
        *(*at)++ = value;
}

static void put_u32(unsigned char **at, uint32_t value)
{
        for (int i = 0; i < 4; i++)
                *(*at)++ = (value >> (8 * i)) & 0xff;
}

static void put_string(unsigned char **at, const char *text)
{
        size_t length = strlen(text);
        put_u32(at, (uint32_t)length);
        memcpy(*at, text, length);
        *at += length;
}

/* The input of the "lock" object class's assert_locked method (cls_lock_assert_op): a
 * versioned struct (v1, compat 1, length) of name, type (1: exclusive), cookie and tag,
 * strings as a little-endian length and bytes. Returns its length. */
static size_t encode_assert_locked(const vmsnap_rbd_lease *lease, unsigned char *buffer)
{
        unsigned char *at = buffer + 6;
        put_string(&at, LOCK_NAME);
        put_u8(&at, 1);
        put_string(&at, lease->cookie);
        put_string(&at, LOCK_TAG);
        size_t payload = at - (buffer + 6);
        unsigned char *header = buffer;
        put_u8(&header, 1);
        put_u8(&header, 1);
        put_u32(&header, (uint32_t)payload);
        return at - buffer;
}

int vmsnap_rbd_document_write(vmsnap_rbd_lease *lease, const char *text, vmsnap_error *error)
{
        _cleanup_free_ unsigned char *assertion =
                xmalloc(6 + 3 * 4 + 1 + strlen(LOCK_NAME) + strlen(lease->cookie) + strlen(LOCK_TAG));
        int exec_result = 0;

        size_t assertion_length = encode_assert_locked(lease, assertion);

        rados_write_op_t op = rados_create_write_op();
        rados_write_op_exec(op, "lock", "assert_locked", (const char *)assertion, assertion_length,
                            &exec_result);
        rados_write_op_write_full(op, text, strlen(text));
        int r = rados_write_op_operate(op, lease->ioctx, lease->object, NULL, 0);
        rados_release_write_op(op);
        if (r == -EBUSY || r == -ENOENT) {
                pthread_mutex_lock(&lease->mutex);
                if (lease->held)
                        lease->lost_errno = -r;
                lease->held = false;
                pthread_mutex_unlock(&lease->mutex);
                return vmsnap_error_set(
                        error, -ENOLCK, VMSNAP_ERROR_LOCKED,
                        "object %s in pool %s was not written: the lease on it ran out or was "
                        "taken over",
                        lease->object, lease->pool);
        }
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "object %s in pool %s cannot be written: %s", lease->object,
                                        lease->pool, strerror(-r));
        return 0;
}
