/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guard.c: the safety rules checked against what other parties hold (see guard.h):
 * rule 2, no file another defined domain's chain contains is touched, nor one an
 * image a metadata-only delete left to the administrator reads; and rule 4,
 * domains whose snapshots libvirt manages or whose images hold qcow2 internal
 * snapshots are refused. */
#include <libvirt/virterror.h>
#include <string.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "guard.h"

struct internal_ctx {
        bool whole_chain;
        char *offender;
        uint32_t count;
};

#define INTERNAL_FOUND 1
#define INTERNAL_TOP_CLEAN 2

static int find_internal(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        struct internal_ctx *ctx = userdata;

        if (header->internal_snapshots == 0)
                return ctx->whole_chain ? 0 : INTERNAL_TOP_CLEAN;
        ctx->offender = xstrdup(path);
        ctx->count = header->internal_snapshots;
        return INTERNAL_FOUND;
}

int vmsnap_guard_internal_snapshots_error(vmsnap_op *op, const char *path, const char *target,
                                          uint32_t count)
{
        if (target)
                return vmsnap_error_set(
                        op->error, -EBUSY, VMSNAP_ERROR_UNSUPPORTED,
                        "image %s (disk %s of domain %s) holds %u qcow2 internal snapshot(s); "
                        "vmsnap does not mix with them: list them with 'qemu-img snapshot "
                        "-l %s' and remove them first",
                        path, target, op->name, count, path);
        return vmsnap_error_set(
                op->error, -EBUSY, VMSNAP_ERROR_UNSUPPORTED,
                "image %s of domain %s holds %u qcow2 internal snapshot(s); vmsnap does not "
                "mix with them: list them with 'qemu-img snapshot -l %s' and remove them first",
                path, op->name, count, path);
}

int vmsnap_guard_no_foreign_snapshots(vmsnap_op *op, bool whole_chains)
{
        vmsnap_active_disk *disks = NULL;
        size_t n_disks = 0;
        int n, r;

        n = virDomainSnapshotNum(op->domain, 0);
        if (n > 0) {
                char *names[4] = {0};
                int listed = virDomainSnapshotListNames(op->domain, names, 4, 0);
                char list[512] = "";
                for (int i = 0; i < listed; i++) {
                        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
                        free(names[i]);
                }
                return vmsnap_error_set(
                        op->error, -EBUSY, VMSNAP_ERROR_UNSUPPORTED,
                        "domain %s has %d snapshot(s) managed by libvirt (%s%s); vmsnap does not "
                        "mix with them: delete them with 'virsh snapshot-delete %s NAME' or keep "
                        "managing this domain with virsh",
                        op->name, n, list, n > listed ? ", ..." : "", op->name);
        }

        r = vmsnap_op_active_disks(op, &disks, &n_disks);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_disks; i++) {
                struct internal_ctx ctx = {.whole_chain = whole_chains};
                vmsnap_error ignored;

                if (vmsnap_chain_walk(disks[i].source, find_internal, &ctx, &ignored) == INTERNAL_FOUND) {
                        r = vmsnap_guard_internal_snapshots_error(op, ctx.offender, disks[i].target,
                                                                  ctx.count);
                        free(ctx.offender);
                        break;
                }
        }
        vmsnap_active_disks_free(disks, n_disks);
        return r;
}

/* ---- safety rule 2 ---- */

struct collect_ctx {
        char ***paths;
        size_t *n;
};

static int collect_chain_file(const char *path, const vmsnap_image_header *header, unsigned depth,
                              void *userdata)
{
        struct collect_ctx *ctx = userdata;
        char *canonical = NULL;

        if (vmsnap_path_canonical(path, &canonical, NULL) < 0)
                return 0;
        *ctx->paths = xreallocarray(*ctx->paths, *ctx->n + 1, sizeof(char *));
        (*ctx->paths)[(*ctx->n)++] = canonical;
        return 0;
}

static int load_foreign_images(vmsnap_op *op)
{
        virDomainPtr *domains = NULL;
        int n;

        /* A domain libvirt no longer defines (a purge) has no handle to ask through. */
        virConnectPtr connection = op->domain ? virDomainGetConnect(op->domain)
                                              : vmsnap_engine_connection(op->engine, op->error);
        if (connection && op->domain)
                virConnectRef(connection);
        if (!connection)
                return op->error ? op->error->code : -EIO;
        n = virConnectListAllDomains(connection, &domains, 0);
        virConnectClose(connection);
        if (n < 0) {
                virErrorPtr last = virGetLastError();
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "cannot list the defined domains: %s",
                                        last && last->message ? last->message : "unknown libvirt error");
        }
        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                vmsnap_xml_disk *disks = NULL;
                size_t n_disks = 0;
                char *xml;

                if (virDomainGetUUIDString(domains[i], uuid) == 0 && strcmp(uuid, op->slot->uuid) == 0)
                        goto next;
                xml = virDomainGetXMLDesc(domains[i], VIR_DOMAIN_XML_INACTIVE);
                if (xml && vmsnap_xml_disks(xml, &disks, &n_disks, NULL) == 0) {
                        for (size_t j = 0; j < n_disks; j++) {
                                struct collect_ctx ctx = {&op->foreign_images, &op->n_foreign_images};
                                vmsnap_error ignored;
                                if (disks[j].rbd) { /* kept as "rbd:" and the name it reads */
                                        *ctx.paths = xreallocarray(*ctx.paths, *ctx.n + 1, sizeof(char *));
                                        (*ctx.paths)[(*ctx.n)++] = xasprintf("rbd:%s", disks[j].rbd);
                                        continue;
                                }
                                if (!disks[j].source || strcmp(disks[j].type, "file") != 0)
                                        continue;
                                /* A broken chain of another domain still protects the files we can reach. */
                                collect_chain_file(disks[j].source, NULL, 0, &ctx);
                                vmsnap_chain_walk(disks[j].source, collect_chain_file, &ctx, &ignored);
                        }
                        vmsnap_xml_disks_free(disks, n_disks);
                }
                free(xml);
        next:
                virDomainFree(domains[i]);
        }
        free(domains);
        op->foreign_loaded = true;
        return 0;
}

int vmsnap_op_used_elsewhere(vmsnap_op *op, const char *path, bool *ret)
{
        char *canonical = NULL;
        int r;

        if (!op->foreign_loaded) {
                r = load_foreign_images(op);
                if (r < 0)
                        return r;
        }
        canonical = vmsnap_path_canonical_or_copy(path);
        *ret = false;
        for (size_t i = 0; i < op->n_foreign_images; i++)
                if (strcmp(op->foreign_images[i], canonical) == 0) {
                        *ret = true;
                        break;
                }
        free(canonical);
        return 0;
}

int vmsnap_op_rbd_used_elsewhere(vmsnap_op *op, const char *name, bool *ret)
{
        bool snapshot = strchr(name, '@') != NULL;
        size_t length = strlen(name);
        int r;

        if (!op->foreign_loaded) {
                r = load_foreign_images(op);
                if (r < 0)
                        return r;
        }
        *ret = false;
        for (size_t i = 0; i < op->n_foreign_images && !*ret; i++) {
                const char *read = op->foreign_images[i];
                if (strncmp(read, "rbd:", 4) != 0)
                        continue;
                read += 4;
                *ret = strcmp(read, name) == 0 ||
                       (!snapshot && strncmp(read, name, length) == 0 && read[length] == '@');
        }
        return 0;
}

/* ---- the images a metadata-only delete left to the administrator ---- */

struct forgotten_ctx {
        vmsnap_op *op;
        const char *forgotten;
};

static int collect_forgotten_chain_file(const char *path, const vmsnap_image_header *header, unsigned depth,
                                        void *userdata)
{
        struct forgotten_ctx *ctx = userdata;
        vmsnap_op *op = ctx->op;
        char *canonical = NULL;

        canonical = vmsnap_path_canonical_or_copy(path);
        op->forgotten_reads =
                xreallocarray(op->forgotten_reads, op->n_forgotten_reads + 1, sizeof(*op->forgotten_reads));
        op->forgotten_reads[op->n_forgotten_reads++] =
                (vmsnap_forgotten_read){canonical, xstrdup(ctx->forgotten)};
        return 0;
}

static void load_forgotten_chains(vmsnap_op *op)
{
        const vmsnap_image_format qcow2 = VMSNAP_FORMAT_QCOW2;

        for (size_t i = 0; i < op->meta->n_forgotten; i++) {
                struct forgotten_ctx ctx = {op, op->meta->forgotten[i]};
                vmsnap_error ignored;

                if (!vmsnap_file_exists(ctx.forgotten))
                        continue; /* the administrator removed it: it holds nothing any more */
                /* A broken chain still protects the image itself and the files we can reach. */
                collect_forgotten_chain_file(ctx.forgotten, NULL, 0, &ctx);
                vmsnap_chain_walk_as(ctx.forgotten, &qcow2, collect_forgotten_chain_file, &ctx, &ignored);
        }
        op->forgotten_loaded = true;
}

const char *vmsnap_op_forgotten_reader(vmsnap_op *op, const char *path)
{
        _cleanup_free_ char *canonical = NULL;

        if (!op->forgotten_loaded)
                load_forgotten_chains(op);
        canonical = vmsnap_path_canonical_or_copy(path);
        for (size_t i = 0; i < op->n_forgotten_reads; i++)
                if (strcmp(op->forgotten_reads[i].path, canonical) == 0)
                        return op->forgotten_reads[i].forgotten;
        return NULL;
}
