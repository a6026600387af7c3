/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-purge.c: Purge, end to end on libvirt's test driver with real images: every
 * file vmsnap made goes, then the metadata; originals, shared bases, files other
 * domains use and the images a metadata-only delete left (with what they read) stay,
 * byte for byte, and the job names them; refusals change nothing; a crash at any step
 * of either variant leaves the domain as before or as after once the engine restarts,
 * with no file orphaned. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "op.h"
#include "fileio.h"
#include "fixture.h"
#include "store.h"
#include "testlib.h"

/* ---- helpers ---- */

typedef struct messages {
        char text[16384];
} messages;

static void on_message(void *userdata, const char *text)
{
        messages *m = userdata;
        strncat(m->text, text, sizeof(m->text) - strlen(m->text) - 2);
        strncat(m->text, "\n", sizeof(m->text) - strlen(m->text) - 1);
}

static void create_named(fixture *f, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, domain, &options, NULL, NULL, &error), &error);
}

static void write_all(fixture *f, const char *domain, unsigned cluster, unsigned pattern)
{
        static const char *const targets[] = {"vda", "vdb", "vdc"};
        for (int i = 0; i < 3; i++)
                fixture_write(f, domain, targets[i], cluster, pattern + (unsigned)i);
}

/* A branched tree of snapshots without memory: root <- base <- left, base <- right. */
static void make_branched_tree(fixture *f, const char *domain)
{
        vmsnap_error error = {0};

        write_all(f, domain, 0, 0x10);
        create_named(f, domain, "root");
        write_all(f, domain, 1, 0x20);
        create_named(f, domain, "base");
        write_all(f, domain, 2, 0x30);
        create_named(f, domain, "left");
        assert_ok(vmsnap_snapshot_revert(f->engine, domain, "base", NULL, NULL, &error), &error);
        write_all(f, domain, 3, 0x40);
        create_named(f, domain, "right");
        write_all(f, domain, 4, 0x50);
}

static void domain_uuid(fixture *f, const char *name, char uuid[VIR_UUID_STRING_BUFLEN])
{
        virDomainPtr d = virDomainLookupByName(f->connection, name);
        assert_non_null(d);
        assert_int_equal(virDomainGetUUIDString(d, uuid), 0);
        virDomainFree(d);
}

static bool is_defined(fixture *f, const char *uuid)
{
        virDomainPtr d = virDomainLookupByUUIDString(f->connection, uuid);
        if (d)
                virDomainFree(d);
        return d != NULL;
}

static void undefine(fixture *f, const char *name)
{
        virDomainPtr d = virDomainLookupByName(f->connection, name);
        assert_non_null(d);
        assert_int_equal(virDomainUndefine(d), 0);
        virDomainFree(d);
}

static bool doc_exists(fixture *f, const char *uuid)
{
        vmsnap_domain_meta *meta = NULL;
        int r = vmsnap_store_load(f->state_dir, uuid, &meta, NULL);
        vmsnap_domain_meta_free(meta);
        return r == 0;
}

static char *doc_text(fixture *f, const char *uuid)
{
        char path[2048], *text = NULL;
        size_t size = 0;
        snprintf(path, sizeof(path), "%s/%s.json", f->state_dir, uuid);
        assert_int_equal(vmsnap_file_read_all(path, &text, &size, NULL), 0);
        return text;
}

static bool listed(fixture *f, const char *uuid)
{
        vmsnap_domain_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        bool found = false;

        assert_ok(vmsnap_domain_list(f->engine, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                found = found || strcmp(list[i].uuid, uuid) == 0;
        vmsnap_domain_info_array_free(list, n);
        return found;
}

/* The sorted names of the files in dir, one a line. */
static char *listing(const char *dir)
{
        char *names[256], *out = calloc(1, 16384);
        size_t n = 0;
        struct dirent *e;
        DIR *d = opendir(dir);

        assert_non_null(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && n < 256)
                        names[n++] = strdup(e->d_name);
        closedir(d);
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strcmp(names[j], names[i]) < 0) {
                                char *t = names[i];
                                names[i] = names[j];
                                names[j] = t;
                        }
        for (size_t i = 0; i < n; i++) {
                strcat(out, names[i]);
                strcat(out, "\n");
                free(names[i]);
        }
        return out;
}

static const char *const originals[] = {"a.qcow2", "b.img", "c.qcow2", "cd.iso", "ro.img"};
#define N_ORIGINALS 5

static void digests_of_originals(fixture *f, const char *domain, char *out[N_ORIGINALS])
{
        for (size_t i = 0; i < N_ORIGINALS; i++) {
                char path[2048];
                snprintf(path, sizeof(path), "%s/%s/%s", f->dir, domain, originals[i]);
                out[i] = test_file_digest(path);
        }
}

static void assert_only_originals_left(fixture *f, const char *domain, char *before[N_ORIGINALS])
{
        char dir[2048], *now[N_ORIGINALS];
        snprintf(dir, sizeof(dir), "%s/%s", f->dir, domain);
        char *files = listing(dir);
        assert_string_equal(files, "a.qcow2\nb.img\nc.qcow2\ncd.iso\nro.img\n");
        free(files);
        digests_of_originals(f, domain, now);
        for (size_t i = 0; i < N_ORIGINALS; i++) {
                assert_string_equal(now[i], before[i]);
                free(now[i]);
                free(before[i]);
        }
}

static int purge(fixture *f, const char *domain, bool undefine_it, messages *m, vmsnap_error *error)
{
        vmsnap_purge_options options = {.undefine = undefine_it};
        vmsnap_hooks hooks = {.message = on_message, .userdata = m};
        return vmsnap_domain_purge(f->engine, domain, &options, m ? &hooks : NULL, error);
}

/* ---- behaviour ---- */

static void test_purge_of_an_undefined_domain_removes_every_vmsnap_file_and_its_metadata(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN], *before[N_ORIGINALS], dir[1024];
        vmsnap_error error = {0};
        messages m = {{0}};

        fixture_define_three_disk_domain(f, "vm");
        make_branched_tree(f, "vm");
        domain_uuid(f, "vm", uuid);
        digests_of_originals(f, "vm", before);
        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        assert_true(fixture_count_files(f, "vm") > N_ORIGINALS + 6);
        undefine(f, "vm");
        assert_true(listed(f, uuid));

        /* Named by its last known name, as ListDomains shows it. */
        assert_ok(purge(f, "vm", false, &m, &error), &error);

        assert_only_originals_left(f, "vm", before);
        assert_false(doc_exists(f, uuid));
        assert_false(listed(f, uuid));
        /* Each original stays and the job says so, with its path. */
        for (size_t i = 0; i < 3; i++) {
                char path[2048];
                snprintf(path, sizeof(path), "%s/%s", dir, originals[i]);
                char *canonical = NULL;
                assert_int_equal(vmsnap_path_canonical(path, &canonical, NULL), 0);
                if (!strstr(m.text, canonical))
                        fail_msg("the messages do not name the original %s:\n%s", canonical, m.text);
                free(canonical);
        }
        /* Gone: a second purge finds nothing. */
        assert_int_equal(purge(f, uuid, false, NULL, &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        fixture_free(f);
}

/* The listing's record of an undefined domain, from its kept document: name (out, at least
 * 64 bytes), snapshot count, current snapshot (out, 64 bytes), and bytes. */
static void undefined_record(fixture *f, const char *uuid, char *name, unsigned *count, char *current,
                             uint64_t *bytes)
{
        vmsnap_domain_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        bool found = false;

        assert_ok(vmsnap_domain_list(f->engine, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].uuid, uuid) == 0) {
                        assert_false(list[i].defined);
                        snprintf(name, 64, "%s", list[i].name);
                        snprintf(current, 64, "%s", list[i].current_snapshot);
                        *count = list[i].snapshot_count;
                        *bytes = list[i].snapshot_bytes;
                        found = true;
                }
        vmsnap_domain_info_array_free(list, n);
        assert_true(found);
}

/* ListDomains reads an undefined domain's document once and keeps it while the file stays
 * the same; a document saved anew (here: the same size, one letter changed in the domain's
 * and the current snapshot's names) shows in the very next listing. */
static void test_listing_of_an_undefined_domain_follows_its_document(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN], name[64], current[64];
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {0};
        unsigned count = 0;
        uint64_t bytes = 0, bytes_again = 0;

        fixture_define_three_disk_domain(f, "vm");
        make_branched_tree(f, "vm");
        domain_uuid(f, "vm", uuid);
        undefine(f, "vm");
        undefined_record(f, uuid, name, &count, current, &bytes);
        assert_string_equal(name, "vm");
        assert_string_equal(current, "right");
        assert_int_equal(count, 4);
        assert_true(bytes > 0);
        undefined_record(f, uuid, name, &count, current, &bytes_again); /* kept */
        assert_string_equal(name, "vm");
        assert_int_equal(bytes_again, bytes);

        assert_ok(vmsnap_store_load(f->state_dir, uuid, &meta, &error), &error);
        free(meta->name);
        meta->name = strdup("wm");
        vmsnap_snapshot *right = vmsnap_domain_meta_find_name(meta, "right");
        assert_non_null(right);
        free(right->name);
        right->name = strdup("light");
        assert_ok(vmsnap_store_save(f->state_dir, meta, &error), &error);
        vmsnap_domain_meta_free(meta);

        undefined_record(f, uuid, name, &count, current, &bytes);
        assert_string_equal(name, "wm");
        assert_string_equal(current, "light");
        assert_int_equal(count, 4);
        fixture_free(f);
}

static void test_purge_with_undefine_undefines_a_shut_off_domain_and_removes_vmsnap_files(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN], *before[N_ORIGINALS];
        vmsnap_error error = {0};

        fixture_define_three_disk_domain(f, "vm");
        make_branched_tree(f, "vm");
        domain_uuid(f, "vm", uuid);
        digests_of_originals(f, "vm", before);

        assert_ok(purge(f, uuid, true, NULL, &error), &error);

        assert_false(is_defined(f, uuid));
        assert_only_originals_left(f, "vm", before);
        assert_false(doc_exists(f, uuid));
        assert_false(listed(f, uuid));
        fixture_free(f);
}

/* s1 <- s2 <- s3, then s3 forgotten: its images are the administrator's, and they read
 * through s2's, which vmsnap made. Purge leaves both, byte for byte, and names them. */
static void test_purge_keeps_the_images_a_metadata_only_delete_left_and_what_they_read(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN], *before[N_ORIGINALS];
        vmsnap_snapshot_info s2 = {0}, s3 = {0};
        vmsnap_error error = {0};
        messages m = {{0}};
        char *bytes[3], *reads[3];

        fixture_define_three_disk_domain(f, "vm");
        write_all(f, "vm", 0, 0x10);
        create_named(f, "vm", "s1");
        write_all(f, "vm", 1, 0x20);
        create_named(f, "vm", "s2");
        write_all(f, "vm", 2, 0x30);
        create_named(f, "vm", "s3");
        write_all(f, "vm", 3, 0x40);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "s2", &s2, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "s3", &s3, &error), &error);
        /* The writable disks come first, in the same order in both. */
        for (size_t i = 0; i < 3; i++) {
                assert_string_equal(s3.disks[i].target, s2.disks[i].target);
                assert_non_null(s3.disks[i].image);
                bytes[i] = test_file_digest(s3.disks[i].image);
                reads[i] = test_image_digest(s3.disks[i].image);
        }
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s3", VMSNAP_DELETE_METADATA_ONLY, NULL, &error),
                  &error);
        domain_uuid(f, "vm", uuid);
        digests_of_originals(f, "vm", before);
        undefine(f, "vm");

        assert_ok(purge(f, "vm", false, &m, &error), &error);

        for (size_t i = 0; i < 3; i++) {
                const char *forgotten = s3.disks[i].image, *read = s2.disks[i].image;
                assert_true(vmsnap_file_exists(read));
                char *bytes_now = test_file_digest(forgotten), *reads_now = test_image_digest(forgotten);
                assert_string_equal(bytes_now, bytes[i]);
                assert_string_equal(reads_now, reads[i]);
                if (!strstr(m.text, forgotten) || !strstr(m.text, read))
                        fail_msg("the messages do not name %s and %s:\n%s", forgotten, read, m.text);
                free(bytes_now), free(reads_now), free(bytes[i]), free(reads[i]);
        }
        assert_non_null(strstr(m.text, "a metadata-only delete left it to the administrator"));
        assert_int_equal(fixture_count_files(f, "vm"), N_ORIGINALS + 6);
        for (size_t i = 0; i < N_ORIGINALS; i++) {
                char path[2048];
                snprintf(path, sizeof(path), "%s/vm/%s", f->dir, originals[i]);
                char *now = test_file_digest(path);
                assert_string_equal(now, before[i]);
                free(now), free(before[i]);
        }
        assert_false(doc_exists(f, uuid));
        vmsnap_snapshot_info_clear(&s2);
        vmsnap_snapshot_info_clear(&s3);
        fixture_free(f);
}

/* A template behind two domains' originals, and a third domain on top of one of vmsnap's
 * frozen images: the template, the originals and that image stay; the rest goes. */
static void test_purge_keeps_shared_bases_originals_and_files_other_domains_use(void **state)
{
        fixture *f = fixture_new();
        char tmpl_dir[1024], base[2048], a_dir[1024], b_dir[1024], a_disk[2048], b_disk[2048], user[2048];
        char devices[4096], uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        messages m = {{0}};

        snprintf(tmpl_dir, sizeof(tmpl_dir), "%s/template", f->dir);
        snprintf(base, sizeof(base), "%s/base.qcow2", tmpl_dir);
        snprintf(a_dir, sizeof(a_dir), "%s/a", f->dir);
        snprintf(b_dir, sizeof(b_dir), "%s/b", f->dir);
        snprintf(a_disk, sizeof(a_disk), "%s/disk.qcow2", a_dir);
        snprintf(b_disk, sizeof(b_disk), "%s/disk.qcow2", b_dir);
        assert_int_equal(test_runf("mkdir -p %s %s %s", tmpl_dir, a_dir, b_dir), 0);
        test_qcow2_create(base, NULL, NULL, FIXTURE_DISK_SIZE);
        test_qemu_io(base, "qcow2", "write -P 0x77 0 128k");
        test_qcow2_create(a_disk, base, "qcow2", NULL);
        test_qcow2_create(b_disk, base, "qcow2", NULL);
        for (int i = 0; i < 2; i++) {
                snprintf(devices, sizeof(devices),
                         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         "<source file='%s'/><target dev='vda' bus='virtio'/></disk>",
                         i == 0 ? a_disk : b_disk);
                fixture_define_domain(f, i == 0 ? "a" : "b", devices);
        }
        fixture_write(f, "a", "vda", 1, 0x11);
        create_named(f, "a", "s1");
        fixture_write(f, "a", "vda", 2, 0x12);
        create_named(f, "a", "s2");
        fixture_write(f, "a", "vda", 3, 0x13);
        create_named(f, "b", "b1");

        /* Someone built a domain on the image vmsnap froze for a's s2. */
        assert_ok(vmsnap_snapshot_get(f->engine, "a", "s2", &info, &error), &error);
        char *frozen = strdup(info.disks[0].image);
        vmsnap_snapshot_info_clear(&info);
        snprintf(user, sizeof(user), "%s/user.qcow2", tmpl_dir);
        test_qcow2_create(user, frozen, "qcow2", NULL);
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                 "<source file='%s'/><target dev='vda' bus='virtio'/></disk>",
                 user);
        fixture_define_domain(f, "user", devices);

        char *base_before = test_file_digest(base), *a_before = test_file_digest(a_disk),
             *b_before = test_file_digest(b_disk);
        char *frozen_before = test_file_digest(frozen), *b_reads = fixture_active_digest(f, "b", "vda");
        char *user_reads = fixture_active_digest(f, "user", "vda");
        domain_uuid(f, "a", uuid);
        undefine(f, "a");

        assert_ok(purge(f, "a", false, &m, &error), &error);

        char *base_after = test_file_digest(base), *a_after = test_file_digest(a_disk),
             *b_after = test_file_digest(b_disk);
        assert_string_equal(base_after, base_before);
        assert_string_equal(a_after, a_before);
        assert_string_equal(b_after, b_before);
        assert_true(vmsnap_file_exists(frozen));
        char *frozen_after = test_file_digest(frozen);
        assert_string_equal(frozen_after, frozen_before);
        /* In a's directory only its original and the image "user" reads are left. */
        char *files = listing(a_dir), expected[512], *frozen_name = strrchr(frozen, '/') + 1;
        if (strcmp("disk.qcow2", frozen_name) < 0)
                snprintf(expected, sizeof(expected), "disk.qcow2\n%s\n", frozen_name);
        else
                snprintf(expected, sizeof(expected), "%s\ndisk.qcow2\n", frozen_name);
        assert_string_equal(files, expected);
        /* The job names what stayed and why. */
        char *base_canonical = NULL, *a_canonical = NULL;
        vmsnap_path_canonical(base, &base_canonical, NULL);
        vmsnap_path_canonical(a_disk, &a_canonical, NULL);
        if (!strstr(m.text, base_canonical) || !strstr(m.text, a_canonical) || !strstr(m.text, frozen) ||
            !strstr(m.text, "another domain"))
                fail_msg("the messages do not name every file that stayed:\n%s", m.text);
        /* The other domains read what they read. */
        char *b_reads_after = fixture_active_digest(f, "b", "vda"),
             *user_reads_after = fixture_active_digest(f, "user", "vda");
        assert_string_equal(b_reads_after, b_reads);
        assert_string_equal(user_reads_after, user_reads);
        assert_false(doc_exists(f, uuid));
        assert_false(listed(f, uuid));

        free(base_before), free(a_before), free(b_before), free(frozen_before), free(b_reads);
        free(user_reads), free(base_after), free(a_after), free(b_after), free(frozen_after);
        free(files), free(base_canonical), free(a_canonical), free(b_reads_after), free(user_reads_after);
        free(frozen);
        fixture_free(f);
}

/* What a refusal must not change: libvirt's definition, the document, the files. */
typedef struct unchanged {
        char *doc, *files;
        bool defined;
} unchanged;

static void unchanged_take(fixture *f, const char *uuid, unchanged *u)
{
        char dir[2048];
        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        u->doc = doc_text(f, uuid);
        u->files = listing(dir);
        u->defined = is_defined(f, uuid);
}

static void unchanged_check(fixture *f, const char *uuid, unchanged *u)
{
        unchanged now;
        unchanged_take(f, uuid, &now);
        assert_string_equal(now.doc, u->doc);
        assert_string_equal(now.files, u->files);
        assert_int_equal(now.defined, u->defined);
        free(now.doc), free(now.files), free(u->doc), free(u->files);
}

static void test_purge_refuses_bad_input_and_changes_nothing(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_error error = {0};
        unchanged u;

        fixture_define_three_disk_domain(f, "vm");
        make_branched_tree(f, "vm");
        domain_uuid(f, "vm", uuid);

        /* Unknown: NotFound, naming it. */
        unchanged_take(f, uuid, &u);
        assert_int_equal(purge(f, "no-such-vm", false, NULL, &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, "no-such-vm"));
        unchanged_check(f, uuid, &u);

        /* Defined, without undefine: a sentence saying what to do. */
        unchanged_take(f, uuid, &u);
        assert_true(purge(f, "vm", false, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "pass the option undefine"));
        assert_non_null(strstr(error.message, "virsh undefine vm"));
        unchanged_check(f, uuid, &u);

        /* Running, with undefine: DomainRunning. */
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        unchanged_take(f, uuid, &u);
        assert_true(purge(f, "vm", true, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_DOMAIN_RUNNING);
        assert_non_null(strstr(error.message, "vm is running"));
        unchanged_check(f, uuid, &u);
        assert_int_equal(virDomainIsActive(d), 1);
        virDomainDestroy(d);
        virDomainFree(d);
        fixture_free(f);
}

/* ---- crashes ---- */

/* The state a crash is judged by. */
typedef struct observed {
        char *files;
        bool doc, intent, defined;
        size_t snapshots;
} observed;

static void observe(fixture *f, const char *uuid, observed *o)
{
        char dir[2048];
        vmsnap_domain_meta *meta = NULL;

        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        o->files = listing(dir);
        o->defined = is_defined(f, uuid);
        o->doc = vmsnap_store_load(f->state_dir, uuid, &meta, NULL) == 0;
        o->intent = o->doc && meta->intent;
        o->snapshots = o->doc ? meta->n_snapshots : 0;
        vmsnap_domain_meta_free(meta);
}

static bool observed_equal(const observed *a, const observed *b)
{
        return strcmp(a->files, b->files) == 0 && a->doc == b->doc && a->intent == b->intent &&
               a->defined == b->defined && a->snapshots == b->snapshots;
}

static void prepare_crash(fixture *f, bool undefine_first, char uuid[VIR_UUID_STRING_BUFLEN])
{
        fixture_define_three_disk_domain(f, "vm");
        make_branched_tree(f, "vm");
        domain_uuid(f, "vm", uuid);
        if (undefine_first)
                undefine(f, "vm");
}

static void crash_at_every_step(bool undefined_domain)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        observed before, after, now;
        vmsnap_error error = {0};
        unsigned points;
        unsigned as_before = 0, as_after = 0;

        /* Every crash starts from a copy of the state the clean run started from, built once. */
        fixture *f = fixture_new();
        prepare_crash(f, undefined_domain, uuid);
        fixture_checkpoint *prepared = fixture_checkpoint_take(f);
        observe(f, uuid, &before);
        vmsnap_failpoint_arm(0);
        assert_ok(purge(f, "vm", !undefined_domain, NULL, &error), &error);
        points = vmsnap_failpoint_reached();
        observe(f, uuid, &after);
        assert_false(observed_equal(&before, &after));
        assert_false(after.doc);
        assert_false(after.defined);
        free(before.files);
        print_message("# purge of a%s domain: %u crash points\n",
                      undefined_domain ? "n undefined" : " defined", points);
        assert_true(points >= 3);

        for (unsigned n = 1; n <= points; n = test_next_crash_point(n, points)) {
                fixture_checkpoint_restore(f, prepared);
                observe(f, uuid, &before);
                vmsnap_failpoint_arm(n);
                int r = purge(f, "vm", !undefined_domain, NULL, &error);
                vmsnap_failpoint_arm(0);
                if (r >= 0 || !strstr(error.message, "simulated crash"))
                        fail_msg("crash %u did not happen: %d %s", n, r, error.message);
                print_message("# crash %u: %s\n", n, error.message);
                /* The crashed engine leaves a recorded purge behind, unless it died before
                 * the purge's intent was (between the journal's write and the document's). */
                observe(f, uuid, &now);
                assert_true(now.intent || observed_equal(&now, &before));
                free(now.files);

                vmsnap_engine_free(f->engine);
                vmsnap_failpoint_revive(); /* a failpoint may have killed the process */
                assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
                observe(f, uuid, &now);
                if (observed_equal(&now, &before))
                        as_before++;
                else if (observed_equal(&now, &after))
                        as_after++;
                else
                        fail_msg(
                                "after a crash at step %u and a restart the domain is neither as before nor "
                                "as after the purge:\n%s(doc %d intent %d defined %d)",
                                n, now.files, now.doc, now.intent, now.defined);
                /* No orphan: as before, every file is read by the domain or its snapshots. */
                if (now.defined)
                        fixture_assert_no_orphans(f, "vm");
                assert_int_equal(listed(f, uuid), now.doc);
                free(now.files);
                free(before.files);
        }
        fixture_free(f);
        fixture_checkpoint_free(prepared);
        free(after.files);
        /* A crash past the undefine finishes; a defined domain's crash before it rolls back. */
        assert_true(as_after > 0);
        if (!undefined_domain)
                assert_true(as_before > 0);
}

static void test_crash_at_every_step_of_a_purge_of_an_undefined_domain_is_recovered(void **state)
{
        crash_at_every_step(true);
}

static void test_crash_at_every_step_of_a_purge_with_undefine_is_recovered(void **state)
{
        crash_at_every_step(false);
}

/* ---- NVRAM ---- */

/* A shut-off UEFI domain (pflash loader, NVRAM file) with one qcow2 disk and two
 * snapshots. The loader need not exist until the domain starts; the NVRAM file is made
 * here, as libvirt would make it from its template at the first start. libvirt's test
 * driver drops <nvram> from what it defines: only a real libvirtd runs these. */
static bool define_uefi_domain_with_snapshots(fixture *f, char nvram[2048])
{
        char dir[1024], disk[2048], loader[2048], *xml;

        if (!f->real_daemon) {
                print_message("# SKIP libvirt's test driver drops <nvram>; run with a real libvirtd\n");
                return false;
        }
        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        mkdir(dir, 0755);
        snprintf(disk, sizeof(disk), "%s/a.qcow2", dir);
        snprintf(loader, sizeof(loader), "%s/OVMF_CODE.fd", f->dir);
        snprintf(nvram, 2048, "%s/vm_VARS.fd", f->dir);
        test_qcow2_create(disk, NULL, NULL, FIXTURE_DISK_SIZE);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 128K", nvram), 0);
        /* A run that failed half-way may have left its domain behind, NVRAM and all. */
        virDomainPtr left = virDomainLookupByName(f->connection, "vm");
        if (left) {
                virDomainUndefineFlags(left,
                                       VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
                virDomainFree(left);
        }
        test_qemu_io(nvram, "raw", "write -P 0x5a 0 64k");
        if (asprintf(&xml,
                     "<domain type='qemu'><name>vm</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                     "<os><type arch='x86_64' machine='q35'>hvm</type>"
                     "<loader readonly='yes' "
                     "type='pflash'>%s</loader><nvram>%s</nvram></os><features><acpi/></features>"
                     "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
                     loader, nvram, disk) < 0)
                abort();
        virDomainPtr d = virDomainDefineXML(f->connection, xml);
        if (!d)
                fail_msg("cannot define a UEFI domain: %s", virGetLastErrorMessage());
        virDomainFree(d);
        free(xml);
        fixture_add_defined(f, "vm");
        create_named(f, "vm", "s1");
        fixture_write(f, "vm", "vda", 1, 0x61);
        create_named(f, "vm", "s2");
        fixture_write(f, "vm", "vda", 2, 0x62);
        return true;
}

/* These cases keep their fixture in cmocka's state: its teardown undefines the domain
 * (NVRAM and all) also when a case fails, which a real libvirtd would otherwise keep. */
static int setup_fixture(void **state)
{
        *state = fixture_new();
        return 0;
}

static int teardown_fixture(void **state)
{
        fixture_free(*state);
        return 0;
}

static void test_purge_with_undefine_removes_the_nvram_along_with_vmsnaps_files(void **state)
{
        fixture *f = *state;
        char uuid[VIR_UUID_STRING_BUFLEN], nvram[2048], dir[1100], disk[1200];
        vmsnap_error error = {0};

        if (!define_uefi_domain_with_snapshots(f, nvram))
                skip();
        domain_uuid(f, "vm", uuid);
        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        snprintf(disk, sizeof(disk), "%s/a.qcow2", dir);
        char *original = test_file_digest(disk);
        assert_int_equal(fixture_count_files(f, "vm"), 3);

        assert_ok(purge(f, "vm", true, NULL, &error), &error);

        /* The NVRAM is the domain's, not a snapshot's: it goes with the definition. */
        assert_false(is_defined(f, uuid));
        assert_false(vmsnap_file_exists(nvram));
        char *files = listing(dir), *now = test_file_digest(disk);
        assert_string_equal(files, "a.qcow2\n");
        assert_string_equal(now, original);
        assert_false(doc_exists(f, uuid));
        assert_false(listed(f, uuid));
        free(files);
        free(now);
        free(original);
}

static void test_purge_of_a_domain_undefined_keeping_its_nvram_leaves_the_nvram(void **state)
{
        fixture *f = *state;
        char uuid[VIR_UUID_STRING_BUFLEN], nvram[2048], dir[1100], disk[1200];
        vmsnap_error error = {0};
        messages m = {{0}};

        if (!define_uefi_domain_with_snapshots(f, nvram))
                skip();
        domain_uuid(f, "vm", uuid);
        snprintf(dir, sizeof(dir), "%s/vm", f->dir);
        snprintf(disk, sizeof(disk), "%s/a.qcow2", dir);
        char *original = test_file_digest(disk), *nvram_before = test_file_digest(nvram);
        /* virsh undefine --keep-nvram: the administrator kept it, for a define to come. */
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM), 0);
        virDomainFree(d);

        assert_ok(purge(f, uuid, false, &m, &error), &error);

        /* vmsnap did not make it: it stays byte for byte, as the original disk does. */
        assert_true(vmsnap_file_exists(nvram));
        char *nvram_after = test_file_digest(nvram), *files = listing(dir), *now = test_file_digest(disk);
        assert_string_equal(nvram_after, nvram_before);
        assert_string_equal(files, "a.qcow2\n");
        assert_string_equal(now, original);
        assert_false(doc_exists(f, uuid));
        assert_false(listed(f, uuid));
        free(nvram_before);
        free(nvram_after);
        free(files);
        free(now);
        free(original);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_purge_of_an_undefined_domain_removes_every_vmsnap_file_and_its_metadata),
                cmocka_unit_test(test_listing_of_an_undefined_domain_follows_its_document),
                cmocka_unit_test(
                        test_purge_with_undefine_undefines_a_shut_off_domain_and_removes_vmsnap_files),
                cmocka_unit_test(test_purge_keeps_shared_bases_originals_and_files_other_domains_use),
                cmocka_unit_test(test_purge_keeps_the_images_a_metadata_only_delete_left_and_what_they_read),
                cmocka_unit_test(test_purge_refuses_bad_input_and_changes_nothing),
                cmocka_unit_test(test_crash_at_every_step_of_a_purge_of_an_undefined_domain_is_recovered),
                cmocka_unit_test(test_crash_at_every_step_of_a_purge_with_undefine_is_recovered),
                cmocka_unit_test_setup_teardown(
                        test_purge_with_undefine_removes_the_nvram_along_with_vmsnaps_files, setup_fixture,
                        teardown_fixture),
                cmocka_unit_test_setup_teardown(
                        test_purge_of_a_domain_undefined_keeping_its_nvram_leaves_the_nvram, setup_fixture,
                        teardown_fixture),
        };
        /* VMSNAP_TEST_FILTER=*nvram* runs the matching cases only (tests/meson.build: the
         * real-libvirtd run). */
        if (getenv("VMSNAP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("VMSNAP_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
