/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* purge.c: Purge (vmsnap_domain_purge, see vmsnap.h): every file vmsnap made for a
 * domain libvirt no longer defines goes (after an undefine, on request), then its
 * metadata. This file plans it and undefines the domain; the removals past the point of
 * no return, and the recovery of a purge a crash interrupted, are purge-finish.c's.
 * Which files a domain owns is the model's; the intent lives in the store's document. */
#include <libvirt/virterror.h>
#include <string.h>

#include "begin.h"
#include "chain.h"
#include "domxml.h"
#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "guard.h"
#include "live.h"
#include "path-set.h"
#include "purge-finish.h"
#include "rbd-disk.h"
#include "store.h"

/* The intent of a purge, in the domain's document:
 *   {"operation": "purge", "phase": "prepare"|"finish", "undefine": b,
 *    "remove": [path, ...], "prepared": [{"path", "backing"} | {"path", "memory": true}, ...],
 *    "rbd_remove": [{"rbd_snapshot", "reach"} | {"rbd_image", "reach"}, ...]}
 * remove: the files vmsnap made, as planned; prepared: the files an operation left
 * unfinished had recorded before creating them. Only a defined domain waiting for its
 * undefine has a prepare phase: rolled back while libvirt still defines the domain, rolled
 * forward once it does not. The finish phase is rolled forward. */

/* ---- planning ---- */

/* Whether a metadata-only delete left path to the administrator. */
static bool forgotten(const vmsnap_op *op, const char *canonical)
{
        for (size_t i = 0; i < op->meta->n_forgotten; i++)
                if (strcmp(op->meta->forgotten[i], canonical) == 0)
                        return true;
        return false;
}

struct originals {
        vmsnap_op *op;
        vmsnap_path_set seen;
};

/* Safety rule 1: a file vmsnap did not make is never removed; the job names each. */
static int note_original(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        struct originals *ctx = userdata;
        _cleanup_free_ char *canonical = vmsnap_path_canonical_or_copy(path);

        if (vmsnap_domain_meta_owns(ctx->op->meta, path) ||
            vmsnap_domain_meta_owns(ctx->op->meta, canonical) || forgotten(ctx->op, canonical))
                return 0; /* a forgotten image is named by purge_plan */
        if (vmsnap_path_set_add(&ctx->seen, xstrdup(canonical)))
                vmsnap_op_message(ctx->op,
                                  "%s stays: vmsnap did not make it (an original image of domain %s or a "
                                  "shared base), so Purge leaves it in place",
                                  canonical, ctx->op->name);
        return 0;
}

static void walk_for_originals(struct originals *ctx, const char *path)
{
        vmsnap_error ignored;

        /* A chain broken below vmsnap's files still names what it can reach. */
        if (path && vmsnap_file_exists(path))
                vmsnap_chain_walk(path, note_original, ctx, &ignored);
}

/* Names the files in the domain's chains that vmsnap did not make: everything below its
 * own files, the images its snapshots froze, a preview's kept state, its disks now. */
static void list_originals(vmsnap_op *op)
{
        const vmsnap_domain_meta *meta = op->meta;
        struct originals ctx = {op, {0}};
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;

        for (size_t i = 0; i < meta->n_owned; i++)
                walk_for_originals(&ctx, meta->owned[i]);
        for (size_t i = 0; i < meta->n_snapshots; i++)
                for (size_t j = 0; j < meta->snapshots[i]->n_disks; j++)
                        walk_for_originals(&ctx, meta->snapshots[i]->disks[j].image);
        for (size_t i = 0; meta->preview && i < meta->preview->n_disks; i++) {
                walk_for_originals(&ctx, meta->preview->disks[i].saved_leaf);
                walk_for_originals(&ctx, meta->preview->disks[i].overlay);
        }
        if (op->domain && vmsnap_op_active_disks(op, &active, &n_active) == 0) {
                for (size_t i = 0; i < n_active; i++)
                        walk_for_originals(&ctx, active[i].source);
                vmsnap_active_disks_free(active, n_active);
        }
        vmsnap_path_set_clear(&ctx.seen);
}

/* An operation left unfinished on a domain libvirt no longer defines cannot be completed
 * without it. Its purge removes what it created; but past its commit point a step that
 * writes into a file vmsnap did not make (a commit into an original) must finish first. */
static int check_unfinished(vmsnap_op *op, json_object *previous)
{
        /* What each kind of step writes into (journal.c); the others only read or define. */
        static const struct {
                const char *kind, *written[2];
        } writes[] = {
                {"commit", {"base", NULL}},
                {"rebase", {"image", NULL}},
                {"blockcommit", {"base", "child"}},
                {"blockpull", {"image", NULL}},
        };
        const char *phase = vmsnap_json_string(previous, "phase"),
                   *operation = vmsnap_json_string(previous, "operation");
        json_object *steps = vmsnap_json_array(previous, "steps");

        if (!phase || strcmp(phase, "finish") != 0 || !steps)
                return 0;
        for (size_t i = 0; i < json_object_array_length(steps); i++) {
                json_object *step = json_object_array_get_idx(steps, i);
                const char *kind = vmsnap_json_string(step, "kind");

                for (size_t k = 0; kind && k < sizeof(writes) / sizeof(writes[0]); k++)
                        for (size_t w = 0; strcmp(kind, writes[k].kind) == 0 && w < 2; w++) {
                                const char *path = writes[k].written[w]
                                                           ? vmsnap_json_string(step, writes[k].written[w])
                                                           : NULL;
                                if (path && !vmsnap_domain_meta_owns(op->meta, path))
                                        return vmsnap_error_set(
                                                op->error, -EBUSY, VMSNAP_ERROR_FAILED,
                                                "domain %s has an unfinished %s that had passed its point "
                                                "of "
                                                "no return and still has to write into %s, which vmsnap did "
                                                "not make; define the domain again so that vmsnap completes "
                                                "it, then purge it",
                                                op->name, operation ? operation : "operation", path);
                        }
        }
        return 0;
}

/* Whether the domain's tree is (or was, for a domain no longer defined) kept in its cluster:
 * every disk it recorded is an RBD one. */
static bool tree_in_cluster(const vmsnap_op *op)
{
        if (op->domain)
                return op->shared != NULL;
        bool any = false;
        for (size_t i = 0; i < op->meta->n_snapshots; i++)
                for (size_t j = 0; j < op->meta->snapshots[i]->n_disks; j++) {
                        const vmsnap_disk_entry *e = &op->meta->snapshots[i]->disks[j];
                        if (e->image)
                                return false;
                        any |= e->rbd_snapshot != NULL;
                }
        return any;
}

/* Adds {key: name, "reach": how to reach its cluster} to rbd_remove, unless another domain
 * reads it or its cluster cannot be reached now; the job names what stays. */
static int plan_rbd_removal(vmsnap_op *op, json_object *rbd_remove, const char *key, const char *name)
{
        _cleanup_free_ char *image = xstrndup(name, strcspn(name, "@"));
        vmsnap_error error = {0}, *saved = op->error;
        vmsnap_rbd_disk *disk = NULL;
        bool elsewhere;
        int r;

        r = vmsnap_op_rbd_used_elsewhere(op, name, &elsewhere);
        if (r < 0)
                return r;
        if (elsewhere) {
                vmsnap_op_message(op, "%s stays: another domain's RBD disk reads it", name);
                return 0;
        }
        op->error = &error;
        r = vmsnap_rbd_disk_open_image(op, NULL, image, &disk);
        op->error = saved;
        if (r < 0) {
                vmsnap_op_message(op, "%s stays: %s", name, error.message);
                vmsnap_error_clear(&error);
                return 0;
        }
        json_object *entry = json_object_new_object();
        json_object_object_add(entry, key, json_object_new_string(name));
        json_object_object_add(entry, "reach", vmsnap_rbd_disk_reach(disk));
        json_object_array_add(rbd_remove, entry);
        vmsnap_rbd_disk_close(disk);
        return 0;
}

static void add_once(char ***v, const char *s)
{
        for (size_t i = 0; *v && (*v)[i]; i++)
                if (strcmp((*v)[i], s) == 0)
                        return;
        strv_push(v, s);
}

/* The RBD snapshots vmsnap took for the tree, then the images it made for the domain
 * (its preview and revert clones; removed only if they have no snapshots left then). A
 * tree kept in the cluster stays there for the hosts that share it: its RBD snapshots
 * are named, not removed. */
static int plan_rbd(vmsnap_op *op, json_object *rbd_remove)
{
        char **images = NULL;
        int r = 0;

        for (size_t i = 0; r == 0 && i < op->meta->n_snapshots; i++)
                for (size_t j = 0; r == 0 && j < op->meta->snapshots[i]->n_disks; j++) {
                        const char *name = op->meta->snapshots[i]->disks[j].rbd_snapshot;
                        if (!name)
                                continue;
                        if (tree_in_cluster(op)) {
                                vmsnap_op_message(op,
                                                  "the RBD snapshot %s stays: the tree of domain %s is kept "
                                                  "in its cluster for every host that shares it",
                                                  name, op->name);
                                continue;
                        }
                        r = plan_rbd_removal(op, rbd_remove, "rbd_snapshot", name);
                        _cleanup_free_ char *image = xstrndup(name, strcspn(name, "@"));
                        add_once(&images, image);
                }
        for (size_t i = 0; op->domain && !tree_in_cluster(op) && i < op->n_disks; i++)
                if (op->disks[i].rbd)
                        add_once(&images, op->disks[i].rbd);
        for (size_t i = 0; r == 0 && images && images[i]; i++)
                r = plan_rbd_removal(op, rbd_remove, "rbd_image", images[i]);
        strv_free(images);
        return r;
}

/* The purge's intent: what will be removed. Files another defined domain's chain contains
 * stay (safety rule 2), so do the images a metadata-only delete left to the administrator and
 * every file they read, and so does every file vmsnap did not make (rule 1); the job names
 * each. */
static int purge_plan(vmsnap_op *op, bool undefine, json_object **ret)
{
        json_object *intent = json_object_new_object(), *remove = json_object_new_array(),
                    *prepared = json_object_new_array(), *rbd_remove = json_object_new_array(), *files;
        json_object *previous = op->meta->intent;
        bool elsewhere;
        int r;

        json_object_object_add(intent, "operation", json_object_new_string("purge"));
        json_object_object_add(intent, "undefine", json_object_new_boolean(undefine));
        json_object_object_add(intent, "remove", remove);
        json_object_object_add(intent, "prepared", prepared);
        json_object_object_add(intent, "rbd_remove", rbd_remove);

        r = previous ? check_unfinished(op, previous) : 0;
        files = vmsnap_json_array(previous, "files");
        for (size_t i = 0; r == 0 && files && i < json_object_array_length(files); i++) {
                json_object *file = json_object_array_get_idx(files, i);
                const char *path = vmsnap_json_string(file, "path");

                if (!path)
                        continue;
                r = vmsnap_op_used_elsewhere(op, path, &elsewhere);
                if (r == 0 && elsewhere)
                        vmsnap_op_message(op, "%s stays: another domain's chain contains it", path);
                else if (r == 0)
                        json_object_array_add(prepared, json_object_get(file));
        }
        if (r == 0)
                r = plan_rbd(op, rbd_remove);
        for (size_t i = 0; r == 0 && i < op->meta->n_forgotten; i++)
                if (vmsnap_file_exists(op->meta->forgotten[i]))
                        vmsnap_op_message(op,
                                          "%s stays: a metadata-only delete left it to the administrator",
                                          op->meta->forgotten[i]);
        for (size_t i = 0; r == 0 && i < op->meta->n_owned; i++) {
                const char *path = op->meta->owned[i], *reader = vmsnap_op_forgotten_reader(op, path);

                r = vmsnap_op_used_elsewhere(op, path, &elsewhere);
                if (r == 0 && reader)
                        vmsnap_op_message(op,
                                          "%s stays: %s, which a metadata-only delete left to the "
                                          "administrator, reads it; vmsnap made it for %s and no longer "
                                          "manages it",
                                          path, reader, op->name);
                else if (r == 0 && elsewhere)
                        vmsnap_op_message(op,
                                          "%s stays: another domain's chain contains it; vmsnap made it for "
                                          "%s and no longer manages it",
                                          path, op->name);
                else if (r == 0)
                        json_object_array_add(remove, json_object_new_string(path));
        }
        if (r < 0) {
                json_object_put(intent);
                return r;
        }
        list_originals(op);
        *ret = intent;
        return 0;
}

/* ---- acting ---- */

static int purge_undefine(vmsnap_op *op)
{
        _cleanup_free_ char *nvram = NULL;
        unsigned flags = 0;
        int r;

        r = vmsnap_xml_nvram(op->xml, &nvram, op->error);
        if (r < 0)
                return r;
        /* libvirt's drivers refuse flags they do not know: NVRAM only when there is one. */
        if (nvram)
                flags |= VIR_DOMAIN_UNDEFINE_NVRAM;
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(op->error);
        if (virDomainUndefineFlags(op->domain, flags) < 0) {
                virErrorPtr last = virGetLastError();
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt refused to undefine domain %s: %s", op->name,
                                        last && last->message ? last->message : "unknown libvirt error");
        }
        return 0;
}

/* A failure (not a crash) before the undefine: the intent goes, the domain is as before. */
static void purge_rollback(vmsnap_op *op)
{
        vmsnap_error ignored = {0}, *original = op->error;

        json_object_put(op->meta->intent);
        op->meta->intent = NULL;
        op->error = &ignored;
        if (vmsnap_op_save(op) < 0)
                vmsnap_engine_log(op->engine, "domain %s: the purge's intent could not be cleared: %s",
                                  op->name, ignored.message);
        op->error = original;
}

static int purge_run(vmsnap_op *op, json_object *intent)
{
        bool defined = op->domain != NULL;
        int r;

        /* An undefined domain's first change is a removal: its intent starts at the point
         * of no return, and replaces (with its files) what an unfinished operation left. */
        json_object_object_add(intent, "phase", json_object_new_string(defined ? "prepare" : "finish"));
        json_object_put(op->meta->intent);
        op->meta->intent = intent;
        r = vmsnap_op_save(op);
        if (r < 0)
                return r;
        if (defined) {
                r = vmsnap_op_failpoint(op, "purge: before the undefine");
                if (r == 0)
                        r = purge_undefine(op);
                if (r < 0) {
                        if (!op->crashed)
                                purge_rollback(op);
                        return r;
                }
                r = vmsnap_op_failpoint(op, "purge: undefined");
                if (r < 0)
                        return r;
                json_object_object_add(op->meta->intent, "phase", json_object_new_string("finish"));
                r = vmsnap_op_save(op);
                if (r < 0)
                        return r;
        }
        vmsnap_op_past_point_of_no_return(op);
        r = vmsnap_op_failpoint(op, "purge: point of no return");
        if (r < 0)
                return r;
        return vmsnap_purge_finish(op);
}

/* A defined domain: only on request, only shut off, and only without snapshots that
 * libvirt manages (its undefine would refuse them). */
static int check_defined(vmsnap_op *op, bool undefine)
{
        if (!undefine)
                return vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "domain %s is still defined in libvirt; Purge removes what vmsnap "
                                        "made for a domain libvirt no longer defines: pass the option "
                                        "undefine to undefine it with Purge, or undefine it first "
                                        "(virsh undefine %s)",
                                        op->name, op->name);
        if (virDomainIsActive(op->domain) == 1)
                return vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_DOMAIN_RUNNING,
                                        "domain %s is running; shut it down first (virsh shutdown %s): "
                                        "Purge undefines only a shut-off domain",
                                        op->name, op->name);
        return vmsnap_guard_no_foreign_snapshots(op, true);
}

static int check_no_clone(vmsnap_op *op)
{
        pthread_mutex_lock(&op->slot->data_lock);
        size_t clones = op->slot->n_clone_locks;
        pthread_mutex_unlock(&op->slot->data_lock);
        if (clones > 0)
                return vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_LOCKED,
                                        "a clone from a snapshot of %s is running; purging %s must wait "
                                        "until it has finished",
                                        op->name, op->name);
        return 0;
}

int vmsnap_domain_purge(vmsnap_engine *engine, const char *domain, const vmsnap_purge_options *options,
                        const vmsnap_hooks *hooks, vmsnap_error *error)
{
        bool undefine = options && options->undefine, held = false;
        json_object *intent = NULL;
        vmsnap_op *op;
        int r;

        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_UNDEFINED_OK, hooks, &op, error);
        if (r < 0)
                return r;
        if (op->purged) {
                /* Its recovery just now did what was asked. */
                vmsnap_op_message(op, "an interrupted purge of domain %s was completed", op->name);
                vmsnap_op_end(op);
                return 0;
        }
        if (op->domain && undefine) {
                r = vmsnap_live_hold(op, "purge");
                held = true;
        }
        if (r == 0 && op->domain)
                r = check_defined(op, undefine);
        if (r == 0)
                r = check_no_clone(op);
        if (r == 0)
                r = purge_plan(op, undefine, &intent);
        if (r == 0)
                r = purge_run(op, intent);
        if (held)
                vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}
