/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fixture.h: a libvirt domain with real qcow2/raw disks in a temporary
 * directory, and an engine over the same libvirt connection URI. The URI is
 * test:///default unless VMSNAP_TEST_URI names another (qemu:///system for the
 * real-daemon run). Used by every integration test. */
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmsnap/vmsnap.h"

#define FIXTURE_DISK_SIZE "2M"

typedef struct fixture {
        char *dir;
        char *state_dir;
        char *clone_targets; /* the engine's clone-targets file: f->dir/clone-targets */
        const char *uri;
        virConnectPtr connection; /* keeps test:///default's shared state alive */
        vmsnap_engine *engine;
        char **defined; /* domain names to undefine at teardown */
        size_t n_defined;
        bool real_daemon;
} fixture;

fixture *fixture_new(void);
void fixture_free(fixture *f);

/* A copy of a prepared state, for trials that each start from it (a crash at every step,
 * a kill at random moments) without building it again: the files under f->dir (images,
 * the engine's state, the clone-targets file) and the definitions of the domains the
 * fixture defined. */
typedef struct fixture_checkpoint fixture_checkpoint;

fixture_checkpoint *fixture_checkpoint_take(fixture *f);
/* Puts f back as it was at the checkpoint, at the same paths (so backing file names and the
 * engine's records still hold): its engine is freed, the domains it defines are undefined,
 * f->dir is replaced by the copy, the domains defined then are defined again from their
 * XML, and a new engine starts, as fixture_new's does. */
void fixture_checkpoint_restore(fixture *f, const fixture_checkpoint *c);
void fixture_checkpoint_free(fixture_checkpoint *c);

/* Defines a shut-off domain `name` with three writable disks (vda qcow2, vdb raw,
 * vdc qcow2), a cdrom hdc and a read-only raw disk vdd; images under f->dir/name/. */
void fixture_define_three_disk_domain(fixture *f, const char *name);
/* Defines a shut-off domain from a <devices> fragment (disks only). */
void fixture_define_domain(fixture *f, const char *name, const char *devices_xml);

/* Lists dir in the engine's clone-targets file (mode 0644), so clones may go there. */
void fixture_allow_clone_target(fixture *f, const char *dir);

/* Undefines the domain `name` at teardown if a test made it (a clone). */
void fixture_add_defined(fixture *f, const char *name);

/* The file the domain's disk `target` uses now (malloc'd). */
char *fixture_active_source(fixture *f, const char *domain, const char *target);
/* Writes one 64 KiB cluster of pattern at cluster index `cluster` into the active image of a disk. */
void fixture_write(fixture *f, const char *domain, const char *target, unsigned cluster, unsigned pattern);
/* Digest of what a disk reads now. */
char *fixture_active_digest(fixture *f, const char *domain, const char *target);
/* Number of regular files under f->dir/domain (images of the domain). */
size_t fixture_count_files(fixture *f, const char *domain);
/* The domain's inactive XML now (malloc'd). */
char *fixture_domain_xml(fixture *f, const char *domain);

/* Every image file in the domain's directory is read by the domain or one of its
 * snapshots (no orphans), and every qcow2 file passes qemu-img check. */
void fixture_assert_no_orphans(fixture *f, const char *domain);
/* The same where the files in kept (and what they read) may also remain: images a
 * metadata-only delete left to the administrator. */
void fixture_assert_no_orphans_beside(fixture *f, const char *domain, const char *const *kept,
                                      size_t n_kept);

/* Fails the test with the engine's message when r < 0. */
#define assert_ok(r, error)                                                                                 \
        do {                                                                                                \
                int r_ = (r);                                                                               \
                if (r_ < 0)                                                                                 \
                        fail_msg("%s failed: %d %s", #r, r_, (error)->message);                             \
        } while (0)
