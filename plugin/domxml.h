/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* domxml.h: reading and editing libvirt domain XML with libxml2: the disks of a
 * domain and where an RBD disk lives, and rewriting a disk's source and format; and
 * the target of a storage pool's XML. Pure string-to-string; never talks to libvirt. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "vmsnap/vmsnap.h"

typedef struct vmsnap_xml_disk {
        char *target;  /* <target dev=> */
        char *device;  /* disk, cdrom, floppy, lun */
        char *type;    /* file, block, network, volume, dir */
        char *source;  /* <source file=> for type file, else NULL */
        char *rbd;     /* <source name=> of an RBD disk (type network, protocol rbd), else NULL */
        char *format;  /* <driver type=>, NULL when absent */
        bool readonly; /* <readonly/> */
        bool shareable;
        bool has_backing_store; /* a <backingStore> child with content */
} vmsnap_xml_disk;

int vmsnap_xml_disks(const char *xml, vmsnap_xml_disk **ret, size_t *n_ret, vmsnap_error *error);
void vmsnap_xml_disks_free(vmsnap_xml_disk *disks, size_t n);

/* The domain's <name> and <uuid>. */
int vmsnap_xml_identity(const char *xml, char **name_ret, char **uuid_ret, vmsnap_error *error);

/* One disk to re-point: the disk with this target gets <source file=source>,
 * <driver type=format> (a <driver name='qemu'> is added when absent), and any
 * <backingStore> child removed, so libvirt re-detects the chain. */
typedef struct vmsnap_xml_disk_source {
        const char *target;
        const char *source;
        const char *format;
        /* Instead of source and format: the RBD disk target reads this image,
         * "pool[/namespace]/image", from the same cluster (<source name=>). */
        const char *rbd_image;
} vmsnap_xml_disk_source;

/* Returns a new XML string. Fails with -ENOENT naming the target if a disk is missing. */
int vmsnap_xml_set_disk_sources(const char *xml, const vmsnap_xml_disk_source *sources, size_t n, char **ret,
                                vmsnap_error *error);

/* For clone: a new name, new (or removed) uuid, every <mac address> removed
 * (libvirt then generates new ones), and the <nvram> path replaced when nvram is non-NULL. */
int vmsnap_xml_rename_domain(const char *xml, const char *name, const char *uuid, const char *nvram,
                             char **ret, vmsnap_error *error);

/* The configuration without what libvirt shows only with VIR_DOMAIN_XML_SECURE (the
 * passwd of <graphics>): for readers; a snapshot records it whole, to restore it whole. */
int vmsnap_xml_without_secrets(const char *xml, char **ret, vmsnap_error *error);

/* Sets <name> (the domain keeps its UUID): a snapshot's configuration applied under
 * the domain's current name. */
int vmsnap_xml_set_name(const char *xml, const char *name, char **ret, vmsnap_error *error);

/* The NVRAM file of the domain (<os><nvram>), or NULL in *ret when it has none. */
int vmsnap_xml_nvram(const char *xml, char **ret, vmsnap_error *error);

/* Returns the XML without the disks of these targets. */
int vmsnap_xml_remove_disks(const char *xml, const char *const *targets, size_t n, char **ret,
                            vmsnap_error *error);

/* A storage pool's type (<pool type=>) and directory (<target><path>); either NULL
 * in its *ret when the XML has none. */
int vmsnap_xml_pool_target(const char *xml, char **type_ret, char **path_ret, vmsnap_error *error);

/* The source of an RBD disk (<disk type='network'><source protocol='rbd' name=…>): where
 * the image is and how to reach and authenticate to its cluster. Every string is
 * malloc'd and NULL when the XML does not give it. */
typedef struct vmsnap_xml_rbd_source {
        char *pool; /* name='pool/image', name='pool/namespace/image' */
        char *rados_namespace;
        char *image;
        char *snapshot;      /* name='pool/image@snapshot': a disk reading a snapshot */
        char *mon_host;      /* the <host name= port=> list as "name:port,name:port" */
        char *config_file;   /* <config file=> */
        char *auth_username; /* <auth username=> */
        char *secret_uuid;   /* <auth><secret type='ceph' uuid=> */
        char *secret_usage;  /* <auth><secret type='ceph' usage=> */
} vmsnap_xml_rbd_source;

/* The RBD source of the disk with this target. Fails with -ENOENT when there is no such
 * disk and -EINVAL, naming the disk, when it is not an RBD disk or its name is not
 * pool/image. */
int vmsnap_xml_rbd_source_read(const char *xml, const char *target, vmsnap_xml_rbd_source *ret,
                               vmsnap_error *error);
void vmsnap_xml_rbd_source_clear(vmsnap_xml_rbd_source *source);
