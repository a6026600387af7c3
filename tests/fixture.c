/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fixture.c: see fixture.h. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "chain.h"
#include "domxml.h"
#include "failpoint.h"
#include "fixture.h"
#include "testlib.h"
#include "fileio.h"
#include "store.h"

static void engine_start(fixture *f)
{
        vmsnap_error error = {0};

        if (vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error) < 0)
                fail_msg("engine: %s", error.message);
        /* Never the machine's own list: only what a test allows. */
        if (vmsnap_engine_set_clone_targets(f->engine, f->clone_targets, &error) < 0)
                fail_msg("clone targets: %s", error.message);
}

fixture *fixture_new(void)
{
        fixture *f = calloc(1, sizeof(*f));

        /* As vmsnapd does: a connection libvirtd dropped fails the call that finds it, with
         * libvirt's message, instead of ending the whole suite by SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        f->dir = test_tmpdir_new();
        /* QEMU (user libvirt-qemu) must be able to reach the images in a real-daemon run. */
        chmod(f->dir, 0755);
        if (asprintf(&f->state_dir, "%s/state", f->dir) < 0)
                abort();
        f->uri = getenv("VMSNAP_TEST_URI");
        if (!f->uri || !*f->uri)
                f->uri = "test:///default";
        f->real_daemon = strncmp(f->uri, "test:", 5) != 0;
        f->connection = virConnectOpen(f->uri);
        if (!f->connection)
                fail_msg("cannot connect to %s", f->uri);
        if (asprintf(&f->clone_targets, "%s/clone-targets", f->dir) < 0)
                abort();
        engine_start(f);
        return f;
}

void fixture_allow_clone_target(fixture *f, const char *dir)
{
        FILE *file = fopen(f->clone_targets, "a");

        assert_non_null(file);
        fprintf(file, "%s\n", dir);
        fclose(file);
        chmod(f->clone_targets, 0644);
}

static void undefine_all(fixture *f)
{
        for (size_t i = 0; i < f->n_defined; i++) {
                virDomainPtr d = virDomainLookupByName(f->connection, f->defined[i]);
                if (d) {
                        if (virDomainIsActive(d) == 1)
                                virDomainDestroy(d);
                        virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                                          VIR_DOMAIN_UNDEFINE_NVRAM);
                        virDomainFree(d);
                }
                free(f->defined[i]);
        }
        free(f->defined);
        f->defined = NULL;
        f->n_defined = 0;
}

void fixture_free(fixture *f)
{
        if (!f)
                return;
        undefine_all(f);
        vmsnap_engine_free(f->engine);
        virConnectClose(f->connection);
        if (!getenv("VMSNAP_TEST_KEEP"))
                test_tmpdir_remove(f->dir);
        free(f->dir);
        free(f->state_dir);
        free(f->clone_targets);
        free(f);
}

void fixture_define_domain(fixture *f, const char *name, const char *devices_xml)
{
        char *xml;
        virDomainPtr d;

        /* A test that failed half-way may have left its domain behind. */
        d = virDomainLookupByName(f->connection, name);
        if (d) {
                if (virDomainIsActive(d) == 1)
                        virDomainDestroy(d);
                virDomainUndefineFlags(d,
                                       VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM);
                virDomainFree(d);
        }
        if (asprintf(&xml,
                     "<domain type='%s'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                     "<os><type arch='x86_64'>hvm</type></os><devices>%s</devices></domain>",
                     f->real_daemon ? "qemu" : "test", name, devices_xml) < 0)
                abort();
        d = virDomainDefineXML(f->connection, xml);
        if (!d) {
                virErrorPtr e = virGetLastError();
                fail_msg("cannot define %s: %s", name, e ? e->message : "?");
        }
        virDomainFree(d);
        free(xml);
        fixture_add_defined(f, name);
}

void fixture_add_defined(fixture *f, const char *name)
{
        f->defined = realloc(f->defined, (f->n_defined + 1) * sizeof(char *));
        f->defined[f->n_defined++] = strdup(name);
}

void fixture_define_three_disk_domain(fixture *f, const char *name)
{
        char *dir, *devices, a[512], b[512], c[512], iso[512], ro[512];

        if (asprintf(&dir, "%s/%s", f->dir, name) < 0)
                abort();
        mkdir(dir, 0755);
        snprintf(a, sizeof(a), "%s/a.qcow2", dir);
        snprintf(b, sizeof(b), "%s/b.img", dir);
        snprintf(c, sizeof(c), "%s/c.qcow2", dir);
        snprintf(iso, sizeof(iso), "%s/cd.iso", dir);
        snprintf(ro, sizeof(ro), "%s/ro.img", dir);
        test_qcow2_create(a, NULL, NULL, FIXTURE_DISK_SIZE);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s %s", b, FIXTURE_DISK_SIZE), 0);
        test_qcow2_create(c, NULL, NULL, FIXTURE_DISK_SIZE);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 1M", iso), 0);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 1M", ro), 0);
        if (asprintf(&devices,
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vda' bus='virtio'/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                     "<target dev='vdb' bus='virtio'/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vdc' bus='virtio'/></disk>"
                     "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
                     "<target dev='hdc' bus='ide'/><readonly/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                     "<target dev='vdd' bus='virtio'/><readonly/></disk>",
                     a, b, c, iso, ro) < 0)
                abort();
        fixture_define_domain(f, name, devices);
        free(devices);
        free(dir);
}

char *fixture_domain_xml(fixture *f, const char *domain)
{
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        char *xml;

        if (!d)
                fail_msg("no domain %s", domain);
        xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        virDomainFree(d);
        return xml;
}

char *fixture_active_source(fixture *f, const char *domain, const char *target)
{
        char *xml = fixture_domain_xml(f, domain), *source = NULL;
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        if (vmsnap_xml_disks(xml, &disks, &n, NULL) < 0)
                fail_msg("cannot parse the XML of %s", domain);
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0 && disks[i].source)
                        source = strdup(disks[i].source);
        vmsnap_xml_disks_free(disks, n);
        free(xml);
        if (!source)
                fail_msg("domain %s has no file disk %s", domain, target);
        return source;
}

void fixture_write(fixture *f, const char *domain, const char *target, unsigned cluster, unsigned pattern)
{
        char *source = fixture_active_source(f, domain, target), command[128];
        vmsnap_image_header header = {0};
        const char *format;

        if (vmsnap_image_header_read(source, &header, NULL) < 0)
                fail_msg("cannot read the header of %s", source);
        format = vmsnap_image_format_name(header.format);
        vmsnap_image_header_clear(&header);

        snprintf(command, sizeof(command), "write -P %u %u 64k", pattern & 0xff, cluster * 65536);
        test_qemu_io(source, format, command);
        free(source);
}

char *fixture_active_digest(fixture *f, const char *domain, const char *target)
{
        char *source = fixture_active_source(f, domain, target);
        char *digest = test_image_digest(source);
        free(source);
        return digest;
}

size_t fixture_count_files(fixture *f, const char *domain)
{
        char dir[1024];
        struct dirent *e;
        size_t n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/%s", f->dir, domain);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

typedef struct path_set {
        char *paths[1024];
        size_t n;
} path_set;

static int mark(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        path_set *set = userdata;
        char *canonical = NULL;
        vmsnap_path_canonical(path, &canonical, NULL);
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->paths[i], canonical) == 0) {
                        free(canonical);
                        return 0;
                }
        if (set->n < 1024)
                set->paths[set->n++] = canonical;
        else
                free(canonical);
        return 0;
}

/* Every file in the domain's directory is read by the domain, a snapshot or one of kept, and
 * qemu-img check passes. */
void fixture_assert_no_orphans_beside(fixture *f, const char *domain, const char *const *kept, size_t n_kept)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        path_set set = {0};
        size_t n = 0;
        char dir[1024];
        struct dirent *e;
        DIR *d;

        /* What every defined domain reads (a clone's copies may lie beside the images). */
        virDomainPtr *domains = NULL;
        int n_domains = virConnectListAllDomains(f->connection, &domains, 0);
        for (int i = 0; i < n_domains; i++) {
                char *xml = virDomainGetXMLDesc(domains[i], VIR_DOMAIN_XML_INACTIVE);
                vmsnap_xml_disk *disks = NULL;
                size_t n_disks = 0;
                if (xml && vmsnap_xml_disks(xml, &disks, &n_disks, NULL) == 0)
                        for (size_t j = 0; j < n_disks; j++)
                                if (disks[j].source && vmsnap_file_exists(disks[j].source))
                                        vmsnap_chain_walk(disks[j].source, mark, &set, &error);
                vmsnap_xml_disks_free(disks, n_disks);
                free(xml);
                virDomainFree(domains[i]);
        }
        free(domains);
        assert_ok(vmsnap_snapshot_list(f->engine, domain, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < list[i].n_disks; j++)
                        if (list[i].disks[j].image)
                                vmsnap_chain_walk(list[i].disks[j].image, mark, &set, &error);
        vmsnap_snapshot_info_array_free(list, n);
        for (size_t i = 0; i < n_kept; i++)
                vmsnap_chain_walk(kept[i], mark, &set, &error);
        /* A preview keeps the state it replaced for undo. */
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_domain_meta *meta = NULL;
        virDomainPtr dom = virDomainLookupByName(f->connection, domain);
        virDomainGetUUIDString(dom, uuid);
        virDomainFree(dom);
        if (vmsnap_store_load(f->state_dir, uuid, &meta, &error) == 0) {
                for (size_t i = 0; meta->preview && i < meta->preview->n_disks; i++)
                        if (meta->preview->disks[i].saved_leaf)
                                vmsnap_chain_walk(meta->preview->disks[i].saved_leaf, mark, &set, &error);
                vmsnap_domain_meta_free(meta);
        }

        snprintf(dir, sizeof(dir), "%s/%s", f->dir, domain);
        d = opendir(dir);
        while ((e = readdir(d))) {
                char path[2048], *canonical = NULL;
                bool found = false;
                if (e->d_name[0] == '.' || strcmp(e->d_name, "cd.iso") == 0 ||
                    strcmp(e->d_name, "ro.img") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                vmsnap_path_canonical(path, &canonical, NULL);
                for (size_t i = 0; i < set.n; i++)
                        found = found || strcmp(set.paths[i], canonical) == 0;
                if (!found)
                        fail_msg("%s is an orphan: nothing reads it", path);
                if (strstr(e->d_name, ".qcow2")) {
                        const char *argv[] = {"qemu-img", "check", "-q", path, NULL};
                        if (test_run(argv) != 0)
                                fail_msg("qemu-img check %s failed", path);
                }
                free(canonical);
        }
        closedir(d);
        for (size_t i = 0; i < set.n; i++)
                free(set.paths[i]);
}

void fixture_assert_no_orphans(fixture *f, const char *domain)
{
        fixture_assert_no_orphans_beside(f, domain, NULL, 0);
}

struct fixture_checkpoint {
        char *dir;   /* a test directory of its own, holding the copy */
        char *files; /* dir/files: f->dir as it was */
        size_t n_domains;
        char **names; /* f->defined at the checkpoint */
        char **xml;   /* each one's inactive XML, NULL if it was not defined then */
};

/* Copies keep holes and share blocks where the file system can (a reflink): a copy costs
 * about what the prepared images occupy, not their virtual size. */
static void copy_tree(const char *from, const char *to)
{
        const char *argv[] = {"cp", "-a", "--reflink=auto", "--sparse=always", from, to, NULL};
        if (test_run(argv) != 0)
                fail_msg("cannot copy %s to %s", from, to);
}

fixture_checkpoint *fixture_checkpoint_take(fixture *f)
{
        fixture_checkpoint *c = calloc(1, sizeof(*c));

        if (!c)
                abort();
        c->dir = test_tmpdir_new();
        c->files = test_path_in(c->dir, "files");
        copy_tree(f->dir, c->files);
        c->n_domains = f->n_defined;
        c->names = calloc(f->n_defined + 1, sizeof(char *));
        c->xml = calloc(f->n_defined + 1, sizeof(char *));
        if (!c->names || !c->xml)
                abort();
        for (size_t i = 0; i < f->n_defined; i++) {
                virDomainPtr d = virDomainLookupByName(f->connection, f->defined[i]);
                c->names[i] = strdup(f->defined[i]);
                if (d) {
                        c->xml[i] = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
                        if (!c->xml[i])
                                fail_msg("cannot read the XML of %s", f->defined[i]);
                        virDomainFree(d);
                }
        }
        return c;
}

void fixture_checkpoint_restore(fixture *f, const fixture_checkpoint *c)
{
        /* As after a daemon restart: nothing of the old engine's memory survives, and the
         * process a failpoint killed lives again. */
        vmsnap_engine_free(f->engine);
        f->engine = NULL;
        vmsnap_failpoint_revive();
        undefine_all(f);
        /* The test driver forgets its domains (a clone's too) when its last connection closes,
         * as between two fixtures. */
        virConnectClose(f->connection);
        test_tmpdir_remove(f->dir);
        copy_tree(c->files, f->dir);
        f->connection = virConnectOpen(f->uri);
        if (!f->connection)
                fail_msg("cannot connect to %s", f->uri);
        for (size_t i = 0; i < c->n_domains; i++) {
                if (c->xml[i]) {
                        virDomainPtr d = virDomainDefineXML(f->connection, c->xml[i]);
                        if (!d) {
                                virErrorPtr e = virGetLastError();
                                fail_msg("cannot define %s again: %s", c->names[i], e ? e->message : "?");
                        }
                        virDomainFree(d);
                }
                fixture_add_defined(f, c->names[i]);
        }
        engine_start(f);
}

void fixture_checkpoint_free(fixture_checkpoint *c)
{
        if (!c)
                return;
        test_tmpdir_remove(c->dir);
        for (size_t i = 0; i < c->n_domains; i++) {
                free(c->names[i]);
                free(c->xml[i]);
        }
        free(c->names);
        free(c->xml);
        free(c->files);
        free(c->dir);
        free(c);
}
