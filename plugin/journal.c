/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* journal.c: the intent journal (see journal.h). The intent is a JSON object
 * kept with the domain's metadata (op->meta->intent; on disk in the journal file beside
 * the document, store.h):
 *   {"operation", "phase": "prepare"|"finish", "saved_xml",
 *    "files": [{"path", "backing"} | {"path", "memory": true}], "steps": [...], "done": n,
 *    "switch": {"disks": [{"target", "overlay"}], "model": {...}}, "block_jobs": [target, ...]}
 * Prepare is rolled back, finish is rolled forward; both end with garbage collection.
 * A prepare phase with a switch is rolled forward instead when libvirt did switch. */
#include <dirent.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "gc.h"
#include "image.h"
#include "journal.h"
#include "live.h"
#include "prepared.h"
#include "rbd-disk.h"
#include "document.h"
#include "store.h"

static json_object *intent_array(vmsnap_op *op, const char *key)
{
        json_object *array;

        if (!op->meta->intent)
                op->meta->intent = json_object_new_object();
        if (!json_object_object_get_ex(op->meta->intent, key, &array)) {
                array = json_object_new_array();
                json_object_object_add(op->meta->intent, key, array);
        }
        return array;
}

static void start_prepare(vmsnap_op *op, const char *operation, const char *saved_xml)
{
        json_object *intent = json_object_new_object();

        json_object_object_add(intent, "operation", json_object_new_string(operation));
        json_object_object_add(intent, "phase", json_object_new_string("prepare"));
        json_object_object_add(intent, "saved_xml", json_object_new_string(saved_xml));
        json_object_object_add(intent, "files", json_object_new_array());
        json_object_put(op->meta->intent);
        op->meta->intent = intent;
}

int vmsnap_journal_prepare(vmsnap_op *op, const char *operation, const char *saved_xml)
{
        start_prepare(op, operation, saved_xml);
        return vmsnap_op_save_intent(op);
}

/* Records {"path": path, key: value} among the files about to be created. */
static void record_file(vmsnap_op *op, const char *path, const char *key, json_object *value)
{
        json_object *file = json_object_new_object();

        json_object_object_add(file, "path", json_object_new_string(path));
        json_object_object_add(file, key, value);
        json_object_array_add(intent_array(op, "files"), file);
}

int vmsnap_journal_prepare_overlays(vmsnap_op *op, const char *operation, const char *saved_xml,
                                    const vmsnap_journal_overlay *overlays, size_t n)
{
        start_prepare(op, operation, saved_xml);
        for (size_t i = 0; i < n; i++)
                record_file(op, overlays[i].path, "backing", json_object_new_string(overlays[i].backing));
        return vmsnap_op_save_intent(op);
}

int vmsnap_journal_add_memory_file(vmsnap_op *op, const char *path)
{
        record_file(op, path, "memory", json_object_new_boolean(true));
        return vmsnap_op_save_intent(op);
}

/* Records {key: name, "reach": reach} among the files the operation is about to make. */
static int add_rbd_record(vmsnap_op *op, const char *key, const char *name, json_object *reach)
{
        json_object *record = json_object_new_object();

        json_object_object_add(record, key, json_object_new_string(name));
        json_object_object_add(record, "reach", reach);
        json_object_array_add(intent_array(op, "files"), record);
        return vmsnap_op_save_intent(op);
}

int vmsnap_journal_add_rbd_snapshot(vmsnap_op *op, const char *rbd_snapshot, json_object *reach)
{
        return add_rbd_record(op, "rbd_snapshot", rbd_snapshot, reach);
}

int vmsnap_journal_add_rbd_clone(vmsnap_op *op, const char *clone_name, json_object *reach)
{
        return add_rbd_record(op, "rbd_clone", clone_name, reach);
}

int vmsnap_journal_guest_still(vmsnap_op *op, const char *how)
{
        if (!op->meta->intent)
                op->meta->intent = json_object_new_object();
        if (how)
                json_object_object_add(op->meta->intent, "guest_still", json_object_new_string(how));
        else
                json_object_object_del(op->meta->intent, "guest_still");
        return vmsnap_op_save_intent(op);
}

int vmsnap_journal_add_block_job(vmsnap_op *op, const char *target)
{
        json_object_array_add(intent_array(op, "block_jobs"), json_object_new_string(target));
        return vmsnap_op_save_intent(op);
}

static int run_finish(vmsnap_op *op, bool resuming);

int vmsnap_journal_expect_switch(vmsnap_op *op, const vmsnap_xml_disk_source *disks, size_t n,
                                 const vmsnap_domain_meta *after)
{
        json_object *expected = json_object_new_object(), *list = json_object_new_array(), *model;

        for (size_t i = 0; i < n; i++) {
                json_object *disk = json_object_new_object();
                json_object_object_add(disk, "target", json_object_new_string(disks[i].target));
                json_object_object_add(disk, "overlay", json_object_new_string(disks[i].source));
                json_object_array_add(list, disk);
        }
        json_object_object_add(expected, "disks", list);
        model = vmsnap_store_to_json(after);
        json_object_object_del(model, "intent");
        json_object_object_add(expected, "model", model);
        if (!op->meta->intent)
                op->meta->intent = json_object_new_object();
        json_object_object_add(op->meta->intent, "switch", expected);
        return vmsnap_op_save_intent(op);
}

/* Whether libvirt moved every disk of the switch onto its overlay: the domain's disk
 * sources decide (the running definition, or the persistent one once it stopped). An
 * atomic switch moves all or none; anything else is treated as none, and the files the
 * domain uses are then kept by the rollback. */
static bool switch_happened(vmsnap_op *op, json_object *expected)
{
        json_object *disks;
        size_t n;

        if (!json_object_object_get_ex(expected, "disks", &disks) ||
            !json_object_is_type(disks, json_type_array))
                return false;
        n = json_object_array_length(disks);
        for (size_t i = 0; i < n; i++) {
                json_object *disk = json_object_array_get_idx(disks, i);
                const char *target = vmsnap_json_string(disk, "target"),
                           *overlay = vmsnap_json_string(disk, "overlay");
                _cleanup_free_ char *source = NULL, *have = NULL, *want = NULL;
                vmsnap_error ignored;

                if (!target || !overlay || vmsnap_live_disk_source(op, target, &source) < 0)
                        return false;
                if (vmsnap_path_canonical(source, &have, &ignored) < 0 ||
                    vmsnap_path_canonical(overlay, &want, &ignored) < 0 || strcmp(have, want) != 0)
                        return false;
        }
        return n > 0;
}

/* libvirt switched the disks: the operation's model becomes the domain's, and what is
 * left (the persistent definition following the disks) is finished as after a commit. */
static int roll_forward_switch(vmsnap_op *op, json_object *expected)
{
        json_object *model, *disks, *intent;
        vmsnap_domain_meta *after = NULL;
        const char *recorded = vmsnap_json_string(op->meta->intent, "operation");
        _cleanup_free_ char *operation = xstrdup(recorded ? recorded : "create");
        size_t n;
        int r;

        if (!json_object_object_get_ex(expected, "model", &model) ||
            !json_object_object_get_ex(expected, "disks", &disks))
                return vmsnap_error_set(op->error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                        "the metadata of domain %s holds a switch vmsnap cannot read",
                                        op->name);
        r = vmsnap_store_from_json(model, &after, op->error);
        if (r < 0)
                return vmsnap_error_prefix(op->error, "the metadata of domain %s", op->name);
        n = json_object_array_length(disks);
        vmsnap_xml_disk_source sources[n + 1];
        bool differs = false;
        for (size_t i = 0; i < n; i++) {
                json_object *disk = json_object_array_get_idx(disks, i);
                sources[i] = (vmsnap_xml_disk_source){vmsnap_json_string(disk, "target"),
                                                      vmsnap_json_string(disk, "overlay"), "qcow2"};
                for (size_t j = 0; j < op->n_disks; j++)
                        if (strcmp(op->disks[j].target, sources[i].target) == 0)
                                differs = differs || !op->disks[j].source ||
                                          strcmp(op->disks[j].source, sources[i].source) != 0;
        }
        intent = json_object_new_object();
        json_object_object_add(intent, "operation", json_object_new_string(operation));
        json_object_object_add(intent, "phase", json_object_new_string("finish"));
        json_object_object_add(intent, "done", json_object_new_int64(0));
        free(after->name);
        after->name = xstrdup(op->name);
        after->generation = op->meta->generation; /* the document it replaces */
        vmsnap_domain_meta_free(op->meta);
        op->meta = after;
        op->meta->intent = intent;
        if (differs) {
                _cleanup_free_ char *xml = NULL;
                r = vmsnap_xml_set_disk_sources(op->xml, sources, n, &xml, op->error);
                if (r < 0)
                        return r;
                vmsnap_journal_step_define(op, xml);
        }
        vmsnap_op_message(op,
                          "libvirt had moved the disks of domain %s onto the new overlays: the %s was "
                          "completed",
                          op->name, operation);
        r = vmsnap_op_save(op);
        if (r < 0)
                return r;
        vmsnap_op_past_point_of_no_return(op);
        return run_finish(op, false);
}

static int rollback_prepare(vmsnap_op *op)
{
        json_object *intent = json_object_get(op->meta->intent);
        json_object *files, *expected, *jobs;
        const char *saved_xml = vmsnap_json_string(intent, "saved_xml");
        const char *still = vmsnap_json_string(intent, "guest_still");
        int r = 0;

        /* A guest a crash left frozen or paused is let go before anything else. */
        if (still && op->domain)
                vmsnap_live_still_end(op, still);
        if (json_object_object_get_ex(intent, "switch", &expected) && switch_happened(op, expected)) {
                r = roll_forward_switch(op, expected);
                json_object_put(intent);
                return r;
        }

        /* A block job of the prepare phase that outlived a crash is stopped before anything
         * else: its disk keeps the chain it had. */
        if (json_object_object_get_ex(intent, "block_jobs", &jobs))
                for (size_t i = 0; r == 0 && i < json_object_array_length(jobs); i++) {
                        json_object *target = json_object_array_get_idx(jobs, i);
                        if (json_object_is_type(target, json_type_string) &&
                            virDomainIsActive(op->domain) == 1)
                                r = vmsnap_live_block_job_abort(op, json_object_get_string(target));
                }
        if (r < 0) {
                json_object_put(intent);
                return r;
        }
        if (json_object_object_get_ex(intent, "files", &files))
                for (size_t i = json_object_array_length(files); i > 0; i--)
                        vmsnap_prepared_file_remove(op, json_object_array_get_idx(files, i - 1));
        /* An empty saved_xml: the operation changes the definition only through libvirt
         * calls that succeed or fail whole (live snapshots); nothing to restore. */
        if (saved_xml && *saved_xml && strcmp(saved_xml, op->xml) != 0)
                r = vmsnap_op_define(op, saved_xml);
        /* The model on disk is the one before the operation: only the intent goes. */
        if (r == 0) {
                json_object_put(op->meta->intent);
                op->meta->intent = NULL;
                r = vmsnap_op_save_intent(op);
        }
        json_object_put(intent);
        return r;
}

int vmsnap_journal_rollback(vmsnap_op *op)
{
        vmsnap_error saved = {0}, *original = op->error;
        vmsnap_domain_meta *published;
        int r;

        if (op->crashed)
                return 0;
        /* Keep the operation's own error: the rollback reports only if it fails itself. */
        if (original)
                saved = *original;
        pthread_mutex_lock(&op->slot->data_lock);
        published = vmsnap_domain_meta_copy(op->slot->meta);
        pthread_mutex_unlock(&op->slot->data_lock);
        /* The model saved last, with the intent the journal holds (readers never see it). */
        json_object_put(published->intent);
        published->intent = op->meta->intent;
        op->meta->intent = NULL;
        vmsnap_domain_meta_free(op->meta);
        op->meta = published;
        r = rollback_prepare(op);
        if (r < 0 && original)
                vmsnap_error_prefix(original, "%s; rolling back also failed", saved.message);
        else if (original)
                *original = saved;
        return r;
}

void vmsnap_journal_step_commit(vmsnap_op *op, const char *top, const char *base)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("commit"));
        json_object_object_add(step, "top", json_object_new_string(top));
        json_object_object_add(step, "base", json_object_new_string(base));
        json_object_array_add(intent_array(op, "steps"), step);
}

void vmsnap_journal_step_rbd_snapshot_remove(vmsnap_op *op, const char *rbd_snapshot, json_object *reach)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("rbd_snapshot_remove"));
        json_object_object_add(step, "rbd_snapshot", json_object_new_string(rbd_snapshot));
        json_object_object_add(step, "reach", reach);
        json_object_array_add(intent_array(op, "steps"), step);
}

void vmsnap_journal_step_rbd_image_remove(vmsnap_op *op, const char *image_name, json_object *reach)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("rbd_image_remove"));
        json_object_object_add(step, "rbd_image", json_object_new_string(image_name));
        json_object_object_add(step, "reach", reach);
        json_object_array_add(intent_array(op, "steps"), step);
}

int vmsnap_journal_step_rbd_snapshots_remove(vmsnap_op *op, const vmsnap_snapshot *snapshot)
{
        for (size_t i = 0; i < snapshot->n_disks; i++) {
                const char *name = snapshot->disks[i].rbd_snapshot;
                vmsnap_rbd_disk *disk = NULL;
                if (!name)
                        continue;
                int r = vmsnap_rbd_disk_open_image(op, NULL, name, &disk);
                if (r < 0)
                        return vmsnap_error_prefix(op->error, "snapshot \"%s\"", snapshot->name);
                vmsnap_journal_step_rbd_snapshot_remove(op, name, vmsnap_rbd_disk_reach(disk));
                vmsnap_rbd_disk_close(disk);
        }
        return 0;
}

/* Records in step the backing file image starts from (as its header names it) and that
 * file's format: the state a redo of the step restores first. */
static int record_start(vmsnap_op *op, json_object *step, const char *image)
{
        vmsnap_image_header header = {0};
        int r = vmsnap_image_header_read(image, &header, op->error);

        if (r < 0) {
                json_object_put(step);
                return vmsnap_error_prefix(op->error, "cannot plan a change of %s", image);
        }
        json_object_object_add(step, "from",
                               header.backing_raw ? json_object_new_string(header.backing_raw) : NULL);
        json_object_object_add(
                step, "from_format",
                header.backing_raw ? json_object_new_string(vmsnap_image_format_name(header.backing_format))
                                   : NULL);
        vmsnap_image_header_clear(&header);
        return 0;
}

int vmsnap_journal_step_rebase(vmsnap_op *op, const char *image, const char *backing, const char *format,
                               bool safe)
{
        json_object *step = json_object_new_object();
        int r;

        json_object_object_add(step, "kind", json_object_new_string("rebase"));
        json_object_object_add(step, "image", json_object_new_string(image));
        json_object_object_add(step, "backing", backing ? json_object_new_string(backing) : NULL);
        json_object_object_add(step, "format", format ? json_object_new_string(format) : NULL);
        json_object_object_add(step, "safe", json_object_new_boolean(safe));
        r = record_start(op, step, image);
        if (r < 0)
                return r;
        json_object_array_add(intent_array(op, "steps"), step);
        return 0;
}

static void step_define(vmsnap_op *op, const char *xml, bool after_merge)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("define"));
        json_object_object_add(step, "xml", json_object_new_string(xml));
        if (after_merge)
                json_object_object_add(step, "after_merge", json_object_new_boolean(true));
        json_object_array_add(intent_array(op, "steps"), step);
}

void vmsnap_journal_step_define(vmsnap_op *op, const char *xml)
{
        step_define(op, xml, false);
}

void vmsnap_journal_step_define_after_merge(vmsnap_op *op, const char *xml)
{
        step_define(op, xml, true);
}

void vmsnap_journal_step_block_commit(vmsnap_op *op, const char *target, const char *image, const char *base,
                                      bool active, const char *child)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("blockcommit"));
        json_object_object_add(step, "target", json_object_new_string(target));
        json_object_object_add(step, "image", json_object_new_string(image));
        json_object_object_add(step, "base", json_object_new_string(base));
        json_object_object_add(step, "active", json_object_new_boolean(active));
        json_object_object_add(step, "child", child ? json_object_new_string(child) : NULL);
        json_object_array_add(intent_array(op, "steps"), step);
}

int vmsnap_journal_step_block_pull(vmsnap_op *op, const char *target, const char *image, const char *base,
                                   const char *base_format)
{
        json_object *step = json_object_new_object();
        int r;

        json_object_object_add(step, "kind", json_object_new_string("blockpull"));
        json_object_object_add(step, "target", json_object_new_string(target));
        json_object_object_add(step, "image", json_object_new_string(image));
        json_object_object_add(step, "base", base ? json_object_new_string(base) : NULL);
        json_object_object_add(step, "format", base_format ? json_object_new_string(base_format) : NULL);
        r = record_start(op, step, image);
        if (r < 0)
                return r;
        json_object_array_add(intent_array(op, "steps"), step);
        return 0;
}

void vmsnap_journal_step_restore(vmsnap_op *op, const char *memory_file, const char *xml)
{
        json_object *step = json_object_new_object();

        json_object_object_add(step, "kind", json_object_new_string("restore"));
        json_object_object_add(step, "memory_file", json_object_new_string(memory_file));
        json_object_object_add(step, "xml", json_object_new_string(xml));
        json_object_array_add(intent_array(op, "steps"), step);
}

static bool step_canceled(void *userdata)
{
        /* Past the commit point the merge always completes. */
        return false;
}

/* A qemu-img killed halfway may leave clusters it allocated but never linked; they cost
 * space only, and are given back before the step runs again. */
static void repair_leaks(vmsnap_op *op, const char *image)
{
        vmsnap_error error = {0};

        if (vmsnap_image_repair_leaks(image, &error) < 0)
                vmsnap_op_message(op, "%s may hold unused clusters: %s", image, error.message);
}

/* Puts image back on the backing file the step recorded it started from, by changing the
 * header only. A safe rebase or a pull writes every cluster it copies into image before it
 * moves the backing pointer, but qemu-img 7.2 may write that pointer before the tables that
 * map the copied clusters: killed in between, the header names the new backing file while
 * clusters that only the old one held are missing. Back on the old backing file, what was
 * copied reads the same and what was not reads through again, and the step can run anew. */
static int restore_start(vmsnap_op *op, json_object *step, const char *image)
{
        vmsnap_image_header header = {0};
        const char *from = vmsnap_json_string(step, "from"),
                   *from_format = vmsnap_json_string(step, "from_format");
        bool same;
        int r;

        if (!json_object_object_get_ex(step, "from_format", NULL))
                return vmsnap_error_set(op->error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                        "the metadata of domain %s does not say where the change of %s "
                                        "started, so it cannot be run again safely",
                                        op->name, image);
        r = vmsnap_image_header_read(image, &header, op->error);
        if (r < 0)
                return r;
        same = (!from && !header.backing_raw) ||
               (from && header.backing_raw && strcmp(from, header.backing_raw) == 0);
        vmsnap_image_header_clear(&header);
        repair_leaks(op, image);
        if (same)
                return 0;
        vmsnap_op_message(op, "%s was put back on its backing file %s before its change ran again", image,
                          from ? from : "(none)");
        vmsnap_engine_log(op->engine,
                          "domain %s: %s was put back on its backing file %s before its change ran again",
                          op->name, image, from ? from : "(none)");
        return vmsnap_image_rebase(image, from, from_format, false, NULL, op->error);
}

static int run_block_commit(vmsnap_op *op, json_object *step, const vmsnap_hooks *hooks, bool interrupted)
{
        const char *target = vmsnap_json_string(step, "target"), *image = vmsnap_json_string(step, "image");
        const char *base = vmsnap_json_string(step, "base"), *child = vmsnap_json_string(step, "child");
        json_object *active;
        bool in_chain = false;
        int r;

        if (!target || !image || !base || !json_object_object_get_ex(step, "active", &active))
                return -EBADMSG;
        r = vmsnap_live_chain_contains(op, target, image, &in_chain);
        if (r < 0 || !in_chain)
                return r; /* done before a crash */
        if (virDomainIsActive(op->domain) == 1)
                return vmsnap_live_block_commit(op, target, json_object_get_boolean(active) ? NULL : image,
                                                base, hooks);
        /* The domain stopped meanwhile: the same change offline. A commit interrupted
         * halfway is run again whole: image is unchanged and only it reads base. */
        if (interrupted)
                repair_leaks(op, base);
        r = vmsnap_image_commit(image, base, hooks, op->error);
        if (r == 0 && child)
                r = vmsnap_image_rebase(child, base, "qcow2", false, hooks, op->error);
        return r;
}

static int run_block_pull(vmsnap_op *op, json_object *step, const vmsnap_hooks *hooks, bool interrupted)
{
        const char *target = vmsnap_json_string(step, "target"), *image = vmsnap_json_string(step, "image");
        const char *base = vmsnap_json_string(step, "base");
        vmsnap_image_header header = {0};
        _cleanup_free_ char *have = NULL, *want = NULL;
        bool done, running;
        int r;

        if (!target || !image)
                return -EBADMSG;
        r = vmsnap_live_uses(op, image, &running);
        if (r < 0)
                return r;
        /* A running QEMU holds the image's tables itself and its header tells the truth; an
         * offline pull that was interrupted is put back where it started first. */
        if (interrupted && !running) {
                r = restore_start(op, step, image);
                if (r < 0)
                        return r;
        }
        r = vmsnap_image_header_read(image, &header, op->error);
        if (r < 0)
                return r;
        if (header.backing)
                vmsnap_path_canonical(header.backing, &have, NULL);
        if (base)
                vmsnap_path_canonical(base, &want, NULL);
        vmsnap_image_header_clear(&header);
        done = (!have && !want) || (have && want && strcmp(have, want) == 0);
        if (done)
                return 0;
        if (running)
                r = vmsnap_live_block_pull(op, target, base, hooks);
        else
                r = vmsnap_image_rebase(image, base, vmsnap_json_string(step, "format"), true, hooks,
                                        op->error);
        if (r < 0)
                return r;
        /* The job left no trace of failing but the header tells. */
        r = vmsnap_image_header_read(image, &header, op->error);
        if (r < 0)
                return r;
        free(have);
        have = NULL;
        if (header.backing)
                vmsnap_path_canonical(header.backing, &have, NULL);
        vmsnap_image_header_clear(&header);
        if ((!have && !want) || (have && want && strcmp(have, want) == 0))
                return 0;
        return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                "pulling data into %s (disk %s of domain %s) ended without completing; see "
                                "libvirt's log",
                                image, target, op->name);
}

/* Whether libvirt stopped defining the domain while the operation ran (virsh undefine of a
 * shut-off domain asks nobody). A domain that runs on as a transient one is still there. */
static bool undefined_meanwhile(vmsnap_op *op)
{
        virDomainPtr found = virDomainLookupByUUIDString(virDomainGetConnect(op->domain), op->slot->uuid);

        if (found) {
                virDomainFree(found);
                return false;
        }
        return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
}

/* A merge's new configuration only leaves out files that the configuration before it reads
 * through to the same data (a commit keeps its top image), and garbage collection keeps
 * what op->xml names. So for a domain undefined meanwhile the define is skipped: defining
 * it would bring back a domain its administrator removed, and the configuration they saved
 * would then name a file the collection removed. */
static int keep_configuration_of_undefined(vmsnap_op *op)
{
        vmsnap_op_message(op,
                          "domain %s was undefined during the merge, so vmsnap did not define it again; "
                          "its configuration as it was before still reads the same data, and defining "
                          "that again brings back the domain and its snapshots",
                          op->name);
        vmsnap_engine_log(op->engine,
                          "domain %s was undefined during a merge; its configuration was left as it was",
                          op->name);
        return 0;
}

/* Runs one finish step. interrupted: it may have run before, partly (a crash, or a child
 * killed halfway): what it started from is restored before it runs again. */
static int run_step(vmsnap_op *op, json_object *step, size_t index, size_t count, bool interrupted)
{
        const char *kind = vmsnap_json_string(step, "kind");
        vmsnap_op_steps progress = {op, index, count};
        vmsnap_hooks hooks = {
                .progress = vmsnap_op_step_progress, .is_canceled = step_canceled, .userdata = &progress};
        int r;

        if (kind && strcmp(kind, "commit") == 0) {
                const char *top = vmsnap_json_string(step, "top"), *base = vmsnap_json_string(step, "base");
                /* top is never changed by the commit and only top reads base: run again whole. */
                if (top && base) {
                        if (interrupted)
                                repair_leaks(op, base);
                        return vmsnap_image_commit(top, base, &hooks, op->error);
                }
        } else if (kind && strcmp(kind, "rebase") == 0) {
                const char *image = vmsnap_json_string(step, "image");
                json_object *safe;
                if (image && json_object_object_get_ex(step, "safe", &safe)) {
                        /* An unsafe rebase only writes the header: running it again is enough. */
                        if (interrupted && json_object_get_boolean(safe)) {
                                r = restore_start(op, step, image);
                                if (r < 0)
                                        return r;
                        }
                        return vmsnap_image_rebase(image, vmsnap_json_string(step, "backing"),
                                                   vmsnap_json_string(step, "format"),
                                                   json_object_get_boolean(safe), &hooks, op->error);
                }
        } else if (kind && strcmp(kind, "blockcommit") == 0) {
                r = run_block_commit(op, step, &hooks, interrupted);
                if (r != -EBADMSG)
                        return r;
        } else if (kind && strcmp(kind, "blockpull") == 0) {
                r = run_block_pull(op, step, &hooks, interrupted);
                if (r != -EBADMSG)
                        return r;
        } else if (kind && strcmp(kind, "rbd_snapshot_remove") == 0) {
                const char *name = vmsnap_json_string(step, "rbd_snapshot");
                json_object *reach = vmsnap_json_object(step, "reach");
                if (name) {
                        r = vmsnap_rbd_snapshot_drop(op, reach, name);
                        return r < 0 ? r : vmsnap_rbd_image_drop_unused(op, reach, name);
                }
        } else if (kind && strcmp(kind, "rbd_image_remove") == 0) {
                const char *name = vmsnap_json_string(step, "rbd_image");
                if (name)
                        return vmsnap_rbd_image_drop_unused(op, vmsnap_json_object(step, "reach"), name);
        } else if (kind && strcmp(kind, "restore") == 0) {
                const char *file = vmsnap_json_string(step, "memory_file"),
                           *xml = vmsnap_json_string(step, "xml");
                if (file && xml)
                        return vmsnap_live_restore(op, file, xml);
        } else if (kind && strcmp(kind, "define") == 0) {
                const char *xml = vmsnap_json_string(step, "xml");
                if (xml && json_object_object_get_ex(step, "after_merge", NULL) && undefined_meanwhile(op))
                        return keep_configuration_of_undefined(op);
                if (xml)
                        return vmsnap_op_define(op, xml);
        }
        return vmsnap_error_set(op->error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                "the metadata of domain %s holds a step vmsnap cannot read", op->name);
}

/* How often a step whose child was killed is put back and run again before the job fails
 * (the intent stays, and the next load of the domain tries once more). */
#define STEP_ATTEMPTS 3

/* Runs a step; a child killed under it (the OOM killer, say) is not the end: past the
 * commit point the operation must complete, so the step is put back and run again. */
static int run_step_to_end(vmsnap_op *op, json_object *step, size_t index, size_t count, bool interrupted)
{
        int r;

        for (unsigned attempt = 1;; attempt++) {
                r = run_step(op, step, index, count, interrupted);
                if (r != -ECHILD || op->crashed || attempt == STEP_ATTEMPTS)
                        return r;
                vmsnap_op_message(op, "%s; the step was put back where it started and run again",
                                  op->error->message);
                vmsnap_engine_log(op->engine,
                                  "domain %s: %s; the step was put back where it started and run again",
                                  op->name, op->error->message);
                interrupted = true;
        }
}

/* Runs the steps not done yet. resuming: after a crash, so the first of them may have run
 * partly. */
static int run_finish(vmsnap_op *op, bool resuming)
{
        json_object *steps, *done_object;
        size_t done = 0, count;
        int r;

        if (json_object_object_get_ex(op->meta->intent, "done", &done_object))
                done = (size_t)json_object_get_int64(done_object);
        if (!json_object_object_get_ex(op->meta->intent, "steps", &steps))
                steps = NULL;
        count = steps ? json_object_array_length(steps) : 0;
        for (size_t i = done; i < count; i++) {
                r = vmsnap_op_failpoint(op, "finish step");
                if (r < 0)
                        return r;
                r = run_step_to_end(op, json_object_array_get_idx(steps, i), i, count,
                                    resuming && i == done);
                if (r < 0)
                        return r;
                json_object_object_add(op->meta->intent, "done", json_object_new_int64((int64_t)i + 1));
                r = vmsnap_op_save_intent(op);
                if (r < 0)
                        return r;
        }
        /* Past the commit point a merge writes into images snapshots read: stopped halfway,
         * they would read what they never held. A cancel that came meanwhile is answered. */
        if (count > done && vmsnap_op_canceled(op)) {
                const char *operation = vmsnap_json_string(op->meta->intent, "operation");
                vmsnap_op_message(op,
                                  "the cancel came after the point of no return: the %s of domain %s was "
                                  "completed, because stopping it halfway would have changed what its "
                                  "snapshots read",
                                  operation ? operation : "operation", op->name);
        }
        /* Garbage is collected while the intent still stands, so a crash in the middle
         * of it is finished by the recovery, which collects again: what the collection
         * took from the model is saved with the intent's end. */
        bool collected = false;
        r = vmsnap_gc_run(op, &collected);
        if (r < 0)
                return r;
        r = vmsnap_op_failpoint(op, "finish end");
        if (r < 0)
                return r;
        json_object_put(op->meta->intent);
        op->meta->intent = NULL;
        /* The model was saved at the commit point; it changed since only if the collection
         * removed files. */
        return collected ? vmsnap_op_save(op) : vmsnap_op_save_intent(op);
}

int vmsnap_journal_commit(vmsnap_op *op)
{
        int r;

        if (!op->meta->intent)
                op->meta->intent = json_object_new_object();
        json_object_object_add(op->meta->intent, "phase", json_object_new_string("finish"));
        json_object_object_add(op->meta->intent, "done", json_object_new_int64(0));
        /* The files of the prepare phase and the switch are now part of the model. */
        json_object_object_del(op->meta->intent, "files");
        json_object_object_del(op->meta->intent, "switch");
        json_object_object_del(op->meta->intent, "block_jobs");
        json_object_object_del(op->meta->intent, "guest_still");
        r = vmsnap_op_failpoint(op, "commit point");
        if (r < 0)
                return r;
        r = vmsnap_op_save(op);
        if (r < 0)
                return r;
        vmsnap_op_past_point_of_no_return(op);
        return run_finish(op, false);
}

int vmsnap_journal_recover(vmsnap_op *op)
{
        const char *phase = vmsnap_json_string(op->meta->intent, "phase");
        const char *operation = vmsnap_json_string(op->meta->intent, "operation");

        bool forward = phase && strcmp(phase, "finish") == 0;

        vmsnap_op_message(op, "completing an interrupted %s of domain %s",
                          operation ? operation : "operation", op->name);
        /* What recovery decided goes to the engine's log only: the job's messages stay as they were. */
        vmsnap_engine_log(
                op->engine,
                forward ? "domain %s: the interrupted %s had passed its commit point; finishing it"
                        : "domain %s: the interrupted %s had not reached its commit point; rolling it back",
                op->name, operation ? operation : "operation");
        if (forward)
                return run_finish(op, true);
        return rollback_prepare(op);
}

/* ---- clones: copies of a clone that was interrupted are removed ---- */

int vmsnap_journal_clone_prepare(const char *state_dir, const char *uuid, const char *name,
                                 const char *const *files, size_t n_files, json_object *rbd_images,
                                 char **path_ret, vmsnap_error *error)
{
        json_object *doc = json_object_new_object(), *list = json_object_new_array();
        int r;

        json_object_object_add(doc, "uuid", json_object_new_string(uuid));
        json_object_object_add(doc, "name", json_object_new_string(name));
        for (size_t i = 0; i < n_files; i++)
                json_object_array_add(list, json_object_new_string(files[i]));
        json_object_object_add(doc, "files", list);
        if (rbd_images)
                json_object_object_add(doc, "rbd_images", rbd_images);
        *path_ret = xasprintf("%s/clone-%s.json", state_dir, uuid);
        const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY);
        r = vmsnap_file_write_atomic(*path_ret, text, strlen(text), error);
        json_object_put(doc);
        return r;
}

/* The RBD images of a clone whose domain never got defined: each vmsnap made for it. */
static void recover_clone_rbd_images(vmsnap_engine *engine, const char *uuid, json_object *images)
{
        for (size_t i = 0; images && i < json_object_array_length(images); i++) {
                json_object *record = json_object_array_get_idx(images, i);
                const char *image = vmsnap_json_string(record, "image");
                vmsnap_error error = {0};
                vmsnap_op shadow = {.engine = engine, .error = &error, .name = (char *)uuid};

                if (!image)
                        continue;
                if (vmsnap_rbd_image_remove_owned(&shadow, vmsnap_json_object(record, "reach"), image,
                                                  uuid) < 0)
                        vmsnap_engine_log(
                                engine,
                                "clone %s: interrupted before its domain was defined; RBD image %s "
                                "was left in place: %s",
                                uuid, image, error.message);
                else
                        vmsnap_engine_log(engine,
                                          "clone %s: interrupted before its domain was defined; removed RBD "
                                          "image %s",
                                          uuid, image);
                vmsnap_op_kept_release(&shadow);
                vmsnap_error_clear(&error);
        }
}

void vmsnap_journal_recover_clones(vmsnap_engine *engine)
{
        DIR *dir = opendir(engine->state_dir);
        struct dirent *entry;

        if (!dir)
                return;
        while ((entry = readdir(dir))) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                json_object *doc, *uuid, *files;
                size_t size;

                if (strncmp(entry->d_name, "clone-", 6) != 0 || !strstr(entry->d_name, ".json"))
                        continue;
                path = xasprintf("%s/%s", engine->state_dir, entry->d_name);
                if (vmsnap_file_read_all(path, &text, &size, NULL) < 0)
                        continue;
                doc = json_tokener_parse(text);
                if (doc && json_object_object_get_ex(doc, "uuid", &uuid) &&
                    json_object_object_get_ex(doc, "files", &files) &&
                    json_object_is_type(files, json_type_array)) {
                        virDomainPtr defined = virDomainLookupByUUIDString(engine->connection,
                                                                           json_object_get_string(uuid));
                        if (defined) {
                                virDomainFree(defined);
                                vmsnap_engine_log(engine,
                                                  "clone %s: interrupted after its domain was defined; its "
                                                  "files are kept",
                                                  json_object_get_string(uuid));
                        } else {
                                recover_clone_rbd_images(engine, json_object_get_string(uuid),
                                                         vmsnap_json_array(doc, "rbd_images"));
                                for (size_t i = 0; i < json_object_array_length(files); i++) {
                                        const char *file =
                                                json_object_get_string(json_object_array_get_idx(files, i));
                                        vmsnap_file_remove(file, NULL);
                                        vmsnap_engine_log(
                                                engine,
                                                "clone %s: interrupted before its domain was defined; "
                                                "removed %s",
                                                json_object_get_string(uuid), file);
                                }
                        }
                }
                json_object_put(doc);
                vmsnap_file_remove(path, NULL);
        }
        closedir(dir);
}
