/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd.h: the engine's layer over librados and librbd: connecting to a Ceph cluster,
 * RBD snapshots, clones, flatten, removal and sizes of images, and a RADOS object per
 * domain holding a document under an exclusive lock with a lease. It keeps vmsnap's
 * marks (snapshot names, the image metadata key) to itself and refuses to change what
 * vmsnap did not make; which snapshot or image an operation wants is left to it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domxml.h"
#include "vmsnap/vmsnap.h"

/* vmsnap's snapshot with id X is the RBD snapshot "vmsnap-X"; every other name is a
 * snapshot someone else made. */
#define VMSNAP_RBD_SNAPSHOT_PREFIX "vmsnap-"
/* Image metadata key on every image vmsnap made (a clone); its value names the owner
 * (a domain UUID). An image without it is never written into or removed. */
#define VMSNAP_RBD_OWNER_KEY "vmsnap.owner"

typedef struct vmsnap_rbd_cluster_options {
        const char *mon_host;     /* "host:port,…"; NULL: from the configuration file */
        const char *config_file;  /* NULL: librados' search (/etc/ceph/ceph.conf, …) */
        const char *user;         /* the client id without "client."; NULL: admin */
        const char *key;          /* a cephx key (base64); NULL: the configured keyring */
        unsigned timeout_seconds; /* connecting and each monitor request; 0: 10 s */
} vmsnap_rbd_cluster_options;

typedef struct vmsnap_rbd_cluster vmsnap_rbd_cluster;

/* The options that reach the cluster of an RBD disk's source (pointers into source;
 * the key of an <auth> secret is the caller's to look up). */
void vmsnap_rbd_cluster_options_from_source(const vmsnap_xml_rbd_source *source,
                                            vmsnap_rbd_cluster_options *ret);
/* Connects within the timeout or fails with "the Ceph cluster at HOSTS is not reachable: …". */
int vmsnap_rbd_cluster_connect(const vmsnap_rbd_cluster_options *options, vmsnap_rbd_cluster **ret,
                               vmsnap_error *error);
/* One more holder of the connection; each holder disconnects, and the last one's
 * disconnect shuts the connection down. */
vmsnap_rbd_cluster *vmsnap_rbd_cluster_ref(vmsnap_rbd_cluster *cluster);
void vmsnap_rbd_cluster_disconnect(vmsnap_rbd_cluster *cluster);
/* The monitors the cluster was reached at, for messages. */
const char *vmsnap_rbd_cluster_hosts(const vmsnap_rbd_cluster *cluster);

/* An image is named by pool and image; pool may be "pool/namespace". */

typedef struct vmsnap_rbd_snapshot {
        char *name;      /* the RBD snapshot name */
        char *vmsnap_id; /* the id vmsnap gave it; NULL for a snapshot vmsnap did not make */
        uint64_t size;   /* the image's size when it was taken */
} vmsnap_rbd_snapshot;

int vmsnap_rbd_snapshot_create(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                               const char *vmsnap_id, vmsnap_error *error);
int vmsnap_rbd_snapshot_list(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                             vmsnap_rbd_snapshot **ret, size_t *n_ret, vmsnap_error *error);
void vmsnap_rbd_snapshots_free(vmsnap_rbd_snapshot *snapshots, size_t n);
/* 0 when every snapshot of the image is vmsnap's; else -EPERM (Unsupported) with a
 * sentence naming the others. */
int vmsnap_rbd_image_refuse_foreign_snapshots(vmsnap_rbd_cluster *cluster, const char *pool,
                                              const char *image, vmsnap_error *error);
/* Removes vmsnap's snapshot; one that clones still read stays in the trash until the last
 * of them goes (v2 clones). */
int vmsnap_rbd_snapshot_remove(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                               const char *vmsnap_id, vmsnap_error *error);

/* A v2 copy-on-write clone of the image at vmsnap's snapshot, as target_image in
 * target_pool (any pool of the cluster), marked as vmsnap's with owner. Refuses a
 * target that exists; leaves nothing behind when it fails. */
int vmsnap_rbd_clone(vmsnap_rbd_cluster *cluster, const char *pool, const char *image, const char *vmsnap_id,
                     const char *target_pool, const char *target_image, const char *owner,
                     vmsnap_error *error);
/* The owner vmsnap recorded on an image it made, or NULL in *owner_ret for any other image. */
int vmsnap_rbd_image_owner(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                           char **owner_ret, vmsnap_error *error);
/* The image's parent ("pool/image@snapshot"), or NULL in *parent_ret when it has none. */
int vmsnap_rbd_image_parent(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                            char **parent_ret, vmsnap_error *error);
/* Copies the parent's data into a clone vmsnap made, so that it stands alone. Progress is
 * in bytes; is_canceled is asked between objects, and a canceled flatten leaves the clone
 * reading what it read, still a clone (-ECANCELED, Canceled). */
int vmsnap_rbd_image_flatten(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                             const vmsnap_hooks *hooks, vmsnap_error *error);
/* Removes an image vmsnap made that has no snapshots and that no client has open. */
int vmsnap_rbd_image_remove(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                            vmsnap_error *error);

/* The virtual size of the image (at vmsnap's snapshot, or now when vmsnap_id is NULL)
 * and the bytes allocated in the image itself (not its parent) up to that point, or
 * since vmsnap's snapshot since_id when that is not NULL. */
int vmsnap_rbd_image_sizes(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                           const char *since_id, const char *vmsnap_id, uint64_t *virtual_ret,
                           uint64_t *allocated_ret, vmsnap_error *error);

/* What vmsnap's snapshot vmsnap_id of the image occupies: *held_ret, the bytes written
 * between the snapshot before it (since_id; NULL: the image's own data up to it) and it;
 * *freed_ret, the part of those that removing it would free, the objects that also changed
 * after it (until next_id, NULL: the image now). */
int vmsnap_rbd_snapshot_usage(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                              const char *since_id, const char *vmsnap_id, const char *next_id,
                              uint64_t *held_ret, uint64_t *freed_ret, vmsnap_error *error);
/* Whether a clone reads vmsnap's snapshot vmsnap_id of the image (one in the trash too). */
int vmsnap_rbd_snapshot_has_clones(vmsnap_rbd_cluster *cluster, const char *pool, const char *image,
                                   const char *vmsnap_id, bool *ret, vmsnap_error *error);

/* A domain's document in RADOS: the object "vmsnap.domain.<uuid>" in the pool, changed only
 * under an exclusive lock with a lease. The holder keeps the lock while it lives: a thread
 * renews it every third of lease_seconds until it is released. A holder that dies or stops
 * (a host that hangs, SIGSTOP) renews no more and loses the lock lease_seconds after its
 * last renewal; the next one may then take it, and the old holder's writes fail from then
 * on, also when it comes back. */
typedef struct vmsnap_rbd_lease vmsnap_rbd_lease;

/* Takes the domain's lock for lease_seconds (at most an hour) and starts renewing it, or
 * fails with Busy naming the holder. holder says who takes it ("host h1, vmsnapd 1234"). */
int vmsnap_rbd_lease_acquire(vmsnap_rbd_cluster *cluster, const char *pool, const char *domain_uuid,
                             const char *holder, unsigned lease_seconds, vmsnap_rbd_lease **ret,
                             vmsnap_error *error);
/* Extends the lease by its length at once (the renewer does it on its own); fails
 * (Locked) once it ran out or was taken over. */
int vmsnap_rbd_lease_renew(vmsnap_rbd_lease *lease, vmsnap_error *error);
/* Whether the lease is still this holder's as far as it knows: granted or renewed less than
 * lease_seconds ago, and never found lost. A long job asks between steps (with
 * vmsnap_rbd_lease_check for the sentence) and stops when it is not; the OSD refuses its
 * writes anyway. */
bool vmsnap_rbd_lease_held(vmsnap_rbd_lease *lease);
/* 0 while the lease is held; else -ENOLCK (Locked) with a sentence. */
int vmsnap_rbd_lease_check(vmsnap_rbd_lease *lease, vmsnap_error *error);
/* Stops renewing, unlocks (when still held) and frees the lease. */
void vmsnap_rbd_lease_release(vmsnap_rbd_lease *lease);
/* Stops renewing and frees the lease without unlocking: the lock runs out after the lease,
 * as a dead holder's does (the tests' crashed operations). */
void vmsnap_rbd_lease_abandon(vmsnap_rbd_lease *lease);

/* The domain's document (NULL in *text_ret when there is none) and the object's version. */
int vmsnap_rbd_document_read(vmsnap_rbd_cluster *cluster, const char *pool, const char *domain_uuid,
                             char **text_ret, uint64_t *version_ret, vmsnap_error *error);
/* Replaces the document in one atomic RADOS operation that succeeds only while the lease
 * is held (the OSD checks the lock in the same operation). */
int vmsnap_rbd_document_write(vmsnap_rbd_lease *lease, const char *text, vmsnap_error *error);
