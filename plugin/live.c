/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* live.c: external snapshots of running domains through libvirt (see live.h).
 * The overlays are vmsnap's own files, made before the call (safety rule 3),
 * so libvirt only switches the running disks onto them; the snapshot leaves no
 * libvirt metadata behind (safety rule 4). */
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "live.h"

static const char *libvirt_message(void)
{
        virErrorPtr last = virGetLastError();
        return last && last->message ? last->message : "unknown libvirt error";
}

static const vmsnap_live_disk *find_live_disk(const vmsnap_live_disk *disks, size_t n, const char *target)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0)
                        return &disks[i];
        return NULL;
}

/* <domainsnapshot> naming every disk: the listed ones external onto their overlay,
 * all others snapshot='no' (libvirt would give an unlisted disk an overlay of its own). */
static char *snapshot_xml(vmsnap_op *op, const vmsnap_live_disk *disks, size_t n_disks,
                          const char *memory_file)
{
        xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
        xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "domainsnapshot");
        xmlNodePtr memory, list;
        xmlChar *text = NULL;
        char *result;
        int size = 0;

        xmlDocSetRootElement(doc, root);
        memory = xmlNewChild(root, NULL, BAD_CAST "memory", NULL);
        xmlNewProp(memory, BAD_CAST "snapshot", BAD_CAST(memory_file ? "external" : "no"));
        if (memory_file)
                xmlNewProp(memory, BAD_CAST "file", BAD_CAST memory_file);
        list = xmlNewChild(root, NULL, BAD_CAST "disks", NULL);
        for (size_t i = 0; i < op->n_disks; i++) {
                const vmsnap_live_disk *live = find_live_disk(disks, n_disks, op->disks[i].target);
                xmlNodePtr disk = xmlNewChild(list, NULL, BAD_CAST "disk", NULL);

                xmlNewProp(disk, BAD_CAST "name", BAD_CAST op->disks[i].target);
                if (!live) {
                        xmlNewProp(disk, BAD_CAST "snapshot", BAD_CAST "no");
                        continue;
                }
                xmlNewProp(disk, BAD_CAST "snapshot", BAD_CAST "external");
                xmlNewProp(disk, BAD_CAST "type", BAD_CAST "file");
                xmlNewProp(xmlNewChild(disk, NULL, BAD_CAST "driver", NULL), BAD_CAST "type",
                           BAD_CAST "qcow2");
                xmlNewProp(xmlNewChild(disk, NULL, BAD_CAST "source", NULL), BAD_CAST "file",
                           BAD_CAST live->overlay);
        }
        xmlDocDumpMemory(doc, &text, &size);
        xmlFreeDoc(doc);
        result = text ? xstrdup((const char *)text) : NULL;
        xmlFree(text);
        if (!result)
                oom(); /* libxml2 could not allocate the text */
        return result;
}

int vmsnap_live_snapshot(vmsnap_op *op, const vmsnap_live_disk *disks, size_t n_disks,
                         const char *memory_file, bool quiesce)
{
        _cleanup_free_ char *xml = snapshot_xml(op, disks, n_disks, memory_file);
        unsigned flags = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                         VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;
        virDomainSnapshotPtr snapshot;
        vmsnap_error private_error = {0};

        /* With memory the domain keeps running while its RAM is written (LIVE);
         * without, only the disks switch (DISK_ONLY). */
        flags |= memory_file ? VIR_DOMAIN_SNAPSHOT_CREATE_LIVE : VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY;
        if (quiesce)
                flags |= VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE;
        snapshot = virDomainSnapshotCreateXML(op->domain, xml, flags);
        if (!snapshot) {
                if (quiesce)
                        return vmsnap_error_set(
                                op->error, -EIO, VMSNAP_ERROR_FAILED,
                                "the snapshot of domain %s needs its file systems quiesced, which failed "
                                "(%s); nothing was changed: check that qemu-guest-agent runs in the "
                                "guest, or take the snapshot without quiesce",
                                op->name, libvirt_message());
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt could not take the live snapshot of domain %s (%s); "
                                        "nothing was changed",
                                        op->name, libvirt_message());
        }
        virDomainSnapshotFree(snapshot);
        /* The memory state holds whatever the guest had in RAM (keys, passwords): readable by
         * root alone, whatever mode and owner libvirt gave it. The snapshot stands either
         * way, so a failure here is said, not undone. */
        if (memory_file && vmsnap_file_make_private(memory_file, &private_error) < 0)
                vmsnap_op_message(op,
                                  "the memory state %s of domain %s may be readable by others (%s): make it "
                                  "readable by root only (chmod 0600 %s; chown root:root %s)",
                                  memory_file, op->name, private_error.message, memory_file, memory_file);
        return 0;
}

static char *live_xml_value(xmlXPathContextPtr context, const char *expression)
{
        xmlXPathObjectPtr found = xmlXPathEvalExpression(BAD_CAST expression, context);
        char *value = NULL;

        if (found && found->nodesetval && found->nodesetval->nodeNr > 0) {
                xmlChar *text = xmlNodeGetContent(found->nodesetval->nodeTab[0]);
                value = text ? xstrdup((const char *)text) : NULL;
                xmlFree(text);
        }
        xmlXPathFreeObject(found);
        return value;
}

int vmsnap_live_has_guest_agent(vmsnap_op *op, bool *ret)
{
        _cleanup_free_ char *xml = virDomainGetXMLDesc(op->domain, 0);
        _cleanup_free_ char *name = NULL;
        xmlXPathContextPtr context;
        xmlDocPtr doc;

        *ret = false;
        if (!xml)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "cannot read the running configuration of domain %s: %s", op->name,
                                        libvirt_message());
        doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
        if (!doc)
                return vmsnap_error_set(op->error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                        "libvirt returned a configuration of domain %s that is not XML",
                                        op->name);
        context = xmlXPathNewContext(doc);
        name = live_xml_value(context, "/domain/devices/channel/target[@type='virtio' and "
                                       "@name='org.qemu.guest_agent.0']/@name");
        xmlXPathFreeContext(context);
        xmlFreeDoc(doc);
        *ret = name != NULL;
        return 0;
}

struct uses_ctx {
        const char *want;
        bool found;
};

static int uses_visit(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        struct uses_ctx *ctx = userdata;
        _cleanup_free_ char *canonical = NULL;

        if (vmsnap_path_canonical(path, &canonical, NULL) == 0 && strcmp(canonical, ctx->want) == 0) {
                ctx->found = true;
                return 1;
        }
        return 0;
}

int vmsnap_live_uses(vmsnap_op *op, const char *path, bool *ret)
{
        _cleanup_free_ char *xml = NULL, *want = NULL;
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        int r;

        *ret = false;
        if (virDomainIsActive(op->domain) != 1)
                return 0;
        xml = virDomainGetXMLDesc(op->domain, 0);
        if (!xml)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "cannot read the running configuration of domain %s: %s", op->name,
                                        libvirt_message());
        r = vmsnap_xml_disks(xml, &disks, &n, op->error);
        if (r < 0)
                return r;
        if (vmsnap_path_canonical(path, &want, NULL) < 0)
                want = xstrdup(path);
        for (size_t i = 0; i < n && !*ret; i++) {
                struct uses_ctx ctx = {want, false};
                vmsnap_error ignored;

                if (!disks[i].source || strcmp(disks[i].type, "file") != 0)
                        continue;
                uses_visit(disks[i].source, NULL, 0, &ctx);
                if (!ctx.found)
                        vmsnap_chain_walk(disks[i].source, uses_visit, &ctx, &ignored);
                *ret = ctx.found;
        }
        vmsnap_xml_disks_free(disks, n);
        return 0;
}

int vmsnap_live_memory_path(vmsnap_op *op, const char *first_leaf, const char *snapshot_id, char **ret)
{
        _cleanup_free_ char *dir = path_dirname(first_leaf);
        char *path = xasprintf("%s/%s.vmsnap-%.8s.mem", dir, op->name, snapshot_id);

        if (vmsnap_file_exists(path)) {
                int r = vmsnap_error_set(op->error, -EEXIST, VMSNAP_ERROR_FAILED,
                                         "%s already exists; vmsnap does not write over a file it did not "
                                         "create: move it away and try again",
                                         path);
                free(path);
                return r;
        }
        *ret = path;
        return 0;
}

int vmsnap_live_disk_source(vmsnap_op *op, const char *target, char **ret)
{
        _cleanup_free_ char *xml = NULL;
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        int r;

        *ret = NULL;
        xml = virDomainGetXMLDesc(op->domain,
                                  virDomainIsActive(op->domain) == 1 ? 0 : VIR_DOMAIN_XML_INACTIVE);
        if (!xml)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "cannot read the configuration of domain %s: %s", op->name,
                                        libvirt_message());
        r = vmsnap_xml_disks(xml, &disks, &n, op->error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0 && disks[i].source)
                        *ret = xstrdup(disks[i].source);
        vmsnap_xml_disks_free(disks, n);
        if (!*ret)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_FAILED,
                                        "domain %s has no file disk %s any more", op->name, target);
        return 0;
}

int vmsnap_live_chain_contains(vmsnap_op *op, const char *target, const char *path, bool *ret)
{
        _cleanup_free_ char *source = NULL, *want = NULL;
        struct uses_ctx ctx = {NULL, false};
        int r;

        *ret = false;
        r = vmsnap_live_disk_source(op, target, &source);
        if (r < 0)
                return r;
        if (vmsnap_path_canonical(path, &want, NULL) < 0)
                want = xstrdup(path);
        ctx.want = want;
        r = vmsnap_chain_walk(source, uses_visit, &ctx, op->error);
        if (r < 0)
                return r;
        *ret = ctx.found;
        return 0;
}

static void report(const vmsnap_hooks *hooks, const virDomainBlockJobInfo *info)
{
        if (hooks && hooks->progress && info->end > 0)
                hooks->progress(hooks->userdata, info->cur, info->end);
}

static bool block_job_running(vmsnap_op *op, const char *target);

int vmsnap_live_block_job_abort(vmsnap_op *op, const char *target)
{
        /* Without PIVOT: the disk stays on the image it uses; synchronous, but polled
         * until the job is gone all the same (libvirt may report it a moment longer). */
        if (!block_job_running(op, target))
                return 0;
        if (virDomainBlockJobAbort(op->domain, target, 0) < 0 && block_job_running(op, target))
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "the block job of disk %s of domain %s could not be stopped: %s",
                                        target, op->name, libvirt_message());
        for (int i = 0; i < 1200 && block_job_running(op, target); i++)
                sleep_ms(50);
        if (block_job_running(op, target))
                return vmsnap_error_set(op->error, -ETIMEDOUT, VMSNAP_ERROR_FAILED,
                                        "the block job of disk %s of domain %s was asked to stop but still "
                                        "runs after 60 s; see libvirt's log",
                                        target, op->name);
        return 0;
}

/* Polls the disk's block job until it is gone, or, for an active commit, until it is
 * ready and has pivoted. With cancelable, a cancel through hooks stops the job (no
 * pivot) and ends in -ECANCELED. */
static int wait_block_job(vmsnap_op *op, const char *target, bool pivot, bool cancelable, const char *what,
                          const vmsnap_hooks *hooks)
{
        for (;;) {
                virDomainBlockJobInfo info = {0};
                int r = virDomainGetBlockJobInfo(op->domain, target, &info, 0);

                if (r < 0)
                        return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                                "cannot follow the %s of disk %s of domain %s: %s", what,
                                                target, op->name, libvirt_message());
                if (r == 0)
                        return 0; /* finished (or failed: the caller checks the chain) */
                report(hooks, &info);
                if (cancelable && hooks && hooks->is_canceled && hooks->is_canceled(hooks->userdata)) {
                        r = vmsnap_live_block_job_abort(op, target);
                        if (r < 0)
                                return r;
                        return vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                                "the %s of disk %s of domain %s was stopped on request",
                                                what, target, op->name);
                }
                if (pivot && info.end > 0 && info.cur == info.end &&
                    virDomainBlockJobAbort(op->domain, target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == 0)
                        return 0;
                sleep_ms(50);
        }
}

static bool block_job_running(vmsnap_op *op, const char *target)
{
        virDomainBlockJobInfo info = {0};
        return virDomainGetBlockJobInfo(op->domain, target, &info, 0) == 1;
}

int vmsnap_live_block_commit(vmsnap_op *op, const char *target, const char *top, const char *base,
                             const vmsnap_hooks *hooks)
{
        unsigned flags = top ? 0 : VIR_DOMAIN_BLOCK_COMMIT_ACTIVE;
        bool still = false;
        int r;

        if (!block_job_running(op, target) &&
            virDomainBlockCommit(op->domain, target, base, top, 0, flags) < 0)
                return vmsnap_error_set(
                        op->error, -EIO, VMSNAP_ERROR_FAILED,
                        "libvirt could not start committing disk %s of domain %s into %s: %s", target,
                        op->name, base, libvirt_message());
        /* A commit writes into base, an image a snapshot reads: stopped halfway, that snapshot
         * would read what it never held. It runs to its end once started. */
        r = wait_block_job(op, target, top == NULL, false, "commit", hooks);
        if (r < 0)
                return r;
        /* Done means the committed image left the chain (or, active, the disk now runs on base). */
        if (top)
                r = vmsnap_live_chain_contains(op, target, top, &still);
        else {
                _cleanup_free_ char *source = NULL, *a = NULL, *b = NULL;
                r = vmsnap_live_disk_source(op, target, &source);
                if (r == 0) {
                        vmsnap_path_canonical(source, &a, NULL);
                        vmsnap_path_canonical(base, &b, NULL);
                        still = !a || !b || strcmp(a, b) != 0;
                }
        }
        if (r < 0)
                return r;
        if (still)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "the block commit of disk %s of domain %s into %s ended without "
                                        "completing; see libvirt's log",
                                        target, op->name, base);
        return 0;
}

int vmsnap_live_block_pull(vmsnap_op *op, const char *target, const char *base, const vmsnap_hooks *hooks)
{
        if (!block_job_running(op, target) && (base ? virDomainBlockRebase(op->domain, target, base, 0, 0)
                                                    : virDomainBlockPull(op->domain, target, 0, 0)) < 0)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt could not start pulling data into disk %s of domain %s: %s",
                                        target, op->name, libvirt_message());
        /* A pull only copies into the active image what it reads already: stopping it halfway
         * changes nothing anyone reads. */
        return wait_block_job(op, target, false, true, "pull", hooks);
}

#define VMSNAP_RUN_DIR "/run/vmsnap"

int vmsnap_engine_set_run_dir(vmsnap_engine *engine, const char *run_dir, vmsnap_error *error)
{
        vmsnap_error_clear(error);
        if (!run_dir || run_dir[0] != '/')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the run directory must be an absolute path");
        free(engine->run_dir);
        engine->run_dir = xstrdup(run_dir);
        return 0;
}

static char *hold_path(vmsnap_op *op, bool dir_only)
{
        char *path;
        const char *run_dir = op->engine->run_dir ? op->engine->run_dir : VMSNAP_RUN_DIR;

        path = xasprintf(dir_only ? "%s/hold" : "%s/hold/%s", run_dir, op->slot->uuid);
        return path;
}

/* Field 22 of /proc/self/stat: when this process started, in clock ticks after boot.
 * The command name (field 2) may hold spaces and parentheses: fields are counted
 * after its last ')'. */
static int own_start_time(unsigned long long *ret)
{
        _cleanup_free_ char *stat = NULL;
        unsigned long long start;
        const char *after;
        size_t size;

        if (vmsnap_file_read_all("/proc/self/stat", &stat, &size, NULL) < 0)
                return -EIO;
        after = strrchr(stat, ')');
        /* After ") ": state (3), then fields 4..21, then starttime (22). */
        if (!after ||
            sscanf(after + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   &start) != 1)
                return -EBADMSG;
        *ret = start;
        return 0;
}

int vmsnap_live_hold(vmsnap_op *op, const char *operation)
{
        _cleanup_free_ char *dir = hold_path(op, true), *path = hold_path(op, false);
        vmsnap_error error = {0};
        unsigned long long start = 0;
        char text[160];

        /* The pid and its start time let the hook tell a hold from one a crash left
         * behind, also when the pid has since been reused by another process. */
        if (own_start_time(&start) < 0)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "domain %s cannot be held against starts during the %s, so nothing "
                                        "was changed: /proc/self/stat is unreadable",
                                        op->name, operation);
        snprintf(text, sizeof(text), "%s %ld %llu\n", operation, (long)getpid(), start);
        if (vmsnap_dir_ensure(dir, &error) < 0 ||
            vmsnap_file_write_atomic(path, text, strlen(text), &error) < 0)
                return vmsnap_error_set(
                        op->error, -EIO, VMSNAP_ERROR_FAILED,
                        "domain %s cannot be held against starts during the %s, so nothing "
                        "was changed: %s (vmsnapd needs a writable %s: RuntimeDirectory=vmsnap "
                        "in its unit)",
                        op->name, operation, error.message, dir);
        return 0;
}

void vmsnap_live_release(vmsnap_op *op)
{
        _cleanup_free_ char *path = NULL;

        if (!op || !op->slot)
                return;
        path = hold_path(op, false);
        vmsnap_file_remove(path, NULL);
}

int vmsnap_live_stop(vmsnap_op *op)
{
        if (virDomainIsActive(op->domain) != 1)
                return 0;
        if (virDomainDestroy(op->domain) < 0)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "domain %s could not be stopped: %s", op->name, libvirt_message());
        return 0;
}

int vmsnap_live_refuse_running(vmsnap_error *error, const char *domain_name, const char *change)
{
        return vmsnap_error_set(error, -EBUSY, VMSNAP_ERROR_DOMAIN_RUNNING,
                                "domain %s is running and %s replaces its disks: shut it down first "
                                "(virsh shutdown %s), or ask for it to be stopped (option stop; what "
                                "only its memory holds is lost)",
                                domain_name, change, domain_name);
}

int vmsnap_live_check_stopped(vmsnap_op *op, const char *change, bool stop, bool *running_ret)
{
        bool running = virDomainIsActive(op->domain) == 1;

        if (running_ret)
                *running_ret = running;
        if (running && !stop)
                return vmsnap_live_refuse_running(op->error, op->name, change);
        return 0;
}

int vmsnap_live_restore_xml(vmsnap_op *op, const char *memory_file, const vmsnap_xml_disk_source *sources,
                            size_t n, char **ret)
{
        _cleanup_free_ char *saved = NULL;

        if (!vmsnap_file_exists(memory_file))
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_FAILED,
                                        "the memory state %s of domain %s is missing", memory_file,
                                        op->name);
        saved = virDomainSaveImageGetXMLDesc(op->engine->connection, memory_file,
                                             VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
        if (!saved)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt cannot read the memory state %s of domain %s: %s",
                                        memory_file, op->name, libvirt_message());
        return vmsnap_xml_set_disk_sources(saved, sources, n, ret, op->error);
}

int vmsnap_live_restore(vmsnap_op *op, const char *memory_file, const char *xml)
{
        if (virDomainIsActive(op->domain) == 1)
                return 0;
        /* The change the hold protected is complete; the hook must let this start pass. */
        vmsnap_live_release(op);
        if (virDomainRestoreFlags(op->engine->connection, memory_file, xml, 0) < 0)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "domain %s could not be started from its memory state %s: %s",
                                        op->name, memory_file, libvirt_message());
        return 0;
}

int vmsnap_live_still_begin(vmsnap_op *op, const char *how)
{
        if (strcmp(how, "frozen") == 0) {
                if (virDomainFSFreeze(op->domain, NULL, 0, 0) < 0)
                        return vmsnap_error_set(
                                op->error, -EIO, VMSNAP_ERROR_FAILED,
                                "the snapshot of domain %s needs its file systems quiesced, which failed "
                                "(%s); nothing was changed: check that qemu-guest-agent runs in the guest, "
                                "or "
                                "take the snapshot without quiesce",
                                op->name, libvirt_message());
                return 0;
        }
        if (virDomainSuspend(op->domain) < 0)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "domain %s could not be paused for the instant its disks are "
                                        "snapshotted together (%s); nothing was changed",
                                        op->name, libvirt_message());
        return 0;
}

int vmsnap_live_still_end(vmsnap_op *op, const char *how)
{
        bool frozen = strcmp(how, "frozen") == 0;

        if (virDomainIsActive(op->domain) != 1)
                return 0; /* nothing runs to let go of */
        if (frozen ? virDomainFSThaw(op->domain, NULL, 0, 0) >= 0 : virDomainResume(op->domain) >= 0)
                return 0;
        /* A domain paused by something else meanwhile, or one that was never frozen, is not an
         * error of ours; the guest is named so that someone looks. */
        vmsnap_op_message(op, "domain %s could not be %s (%s); check that it runs", op->name,
                          frozen ? "thawed" : "resumed", libvirt_message());
        return 0;
}
