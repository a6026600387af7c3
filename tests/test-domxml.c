/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-domxml.c: reading the disks and identity of libvirt domain XML and the
 * two edits vmsnap makes to it (re-pointing disk sources, renaming for clone),
 * each of which must leave the rest of the document as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domxml.h"
#include "error.h"

/* What virsh dumpxml prints for a typical UEFI guest, with every kind of disk vmsnap meets. */
static const char domain_xml[] =
        "<domain type='kvm' id='3'>\n"
        "  <name>web1</name>\n"
        "  <uuid>5f3c1b2a-9d8e-4f70-a1b2-c3d4e5f60718</uuid>\n"
        "  <description>front end &amp; cache</description>\n"
        "  <memory unit='KiB'>2097152</memory>\n"
        "  <vcpu placement='static'>2</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
        "    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>\n"
        "    <nvram "
        "template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>\n"
        "    <boot dev='hd'/>\n"
        "  </os>\n"
        "  <devices>\n"
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
        "      <source file='/var/lib/libvirt/images/web1.qcow2' index='2'/>\n"
        "      <backingStore type='file' index='3'>\n"
        "        <format type='qcow2'/>\n"
        "        <source file='/var/lib/libvirt/images/base.qcow2'/>\n"
        "        <backingStore/>\n"
        "      </backingStore>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "      <alias name='virtio-disk0'/>\n"
        "      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>\n"
        "    </disk>\n"
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='raw' cache='none'/>\n"
        "      <source file='/srv/data/web1-data.img'/>\n"
        "      <backingStore/>\n"
        "      <target dev='vdb' bus='virtio'/>\n"
        "      <serial>DATA01</serial>\n"
        "    </disk>\n"
        "    <disk type='file' device='cdrom'>\n"
        "      <driver name='qemu' type='raw'/>\n"
        "      <source file='/srv/iso/debian-12.iso'/>\n"
        "      <target dev='sda' bus='sata'/>\n"
        "      <readonly/>\n"
        "    </disk>\n"
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2'/>\n"
        "      <source file='/srv/shared/tools.qcow2'/>\n"
        "      <target dev='vdc' bus='virtio'/>\n"
        "      <readonly/>\n"
        "      <shareable/>\n"
        "    </disk>\n"
        "    <disk type='block' device='disk'>\n"
        "      <driver name='qemu' type='raw' io='native'/>\n"
        "      <source dev='/dev/vg0/web1-logs'/>\n"
        "      <target dev='vdd' bus='virtio'/>\n"
        "    </disk>\n"
        "    <disk type='network' device='disk'>\n"
        "      <driver name='qemu' type='raw'/>\n"
        "      <source protocol='rbd' name='pool/web1-scratch'>\n"
        "        <host name='ceph1.example.com' port='6789'/>\n"
        "      </source>\n"
        "      <target dev='vde' bus='virtio'/>\n"
        "    </disk>\n"
        "    <disk type='file' device='disk'>\n"
        "      <source file='/srv/images/no-driver.qcow2'/>\n"
        "      <target dev='vdf' bus='virtio'/>\n"
        "    </disk>\n"
        "    <interface type='network'>\n"
        "      <mac address='52:54:00:12:34:56'/>\n"
        "      <source network='default'/>\n"
        "      <model type='virtio'/>\n"
        "    </interface>\n"
        "    <interface type='bridge'>\n"
        "      <mac address='52:54:00:ab:cd:ef'/>\n"
        "      <source bridge='br0'/>\n"
        "    </interface>\n"
        "    <console type='pty'/>\n"
        "  </devices>\n"
        "</domain>\n";

static const vmsnap_xml_disk *find_disk(const vmsnap_xml_disk *disks, size_t n, const char *target)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0)
                        return &disks[i];
        fail_msg("no disk %s", target);
        return NULL;
}

static void assert_contains(const char *text, const char *part)
{
        if (!text || !strstr(text, part))
                fail_msg("expected to find \"%s\" in:\n%s", part, text ? text : "(nothing)");
}

static void assert_lacks(const char *text, const char *part)
{
        if (!text || strstr(text, part))
                fail_msg("expected no \"%s\" in:\n%s", part, text ? text : "(nothing)");
}

/* The element that holds target dev='target', as text, for looking at one disk only. */
static char *disk_text(const char *xml, const char *target)
{
        char needle[64];
        snprintf(needle, sizeof(needle), "<target dev='%s'", target);
        const char *at = strstr(xml, needle);
        if (!at) {
                snprintf(needle, sizeof(needle), "<target dev=\"%s\"", target);
                at = strstr(xml, needle);
        }
        assert_non_null(at);
        const char *start = at;
        while (start > xml && strncmp(start, "<disk", 5) != 0)
                start--;
        const char *end = strstr(at, "</disk>");
        assert_non_null(end);
        return strndup(start, end - start + strlen("</disk>"));
}

/* ---- reading ---- */

static void test_disks_lists_every_disk_in_document_order(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, &error), 0);
        assert_int_equal(n, 7);
        const char *expected[] = {"vda", "vdb", "sda", "vdc", "vdd", "vde", "vdf"};
        for (size_t i = 0; i < n; i++)
                assert_string_equal(disks[i].target, expected[i]);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_reports_a_qcow2_file_disk_with_its_backing_store(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, NULL), 0);
        const vmsnap_xml_disk *vda = find_disk(disks, n, "vda");
        assert_string_equal(vda->device, "disk");
        assert_string_equal(vda->type, "file");
        assert_string_equal(vda->source, "/var/lib/libvirt/images/web1.qcow2");
        assert_string_equal(vda->format, "qcow2");
        assert_false(vda->readonly);
        assert_false(vda->shareable);
        assert_true(vda->has_backing_store);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_treats_an_empty_backing_store_as_none(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, NULL), 0);
        const vmsnap_xml_disk *vdb = find_disk(disks, n, "vdb");
        assert_string_equal(vdb->format, "raw");
        assert_string_equal(vdb->source, "/srv/data/web1-data.img");
        assert_false(vdb->has_backing_store);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_reports_cdrom_readonly_and_shareable(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, NULL), 0);
        const vmsnap_xml_disk *sda = find_disk(disks, n, "sda");
        assert_string_equal(sda->device, "cdrom");
        assert_true(sda->readonly);
        const vmsnap_xml_disk *vdc = find_disk(disks, n, "vdc");
        assert_string_equal(vdc->device, "disk");
        assert_true(vdc->readonly);
        assert_true(vdc->shareable);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_gives_no_source_for_block_and_network_disks(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, NULL), 0);
        const vmsnap_xml_disk *vdd = find_disk(disks, n, "vdd");
        assert_string_equal(vdd->type, "block");
        assert_null(vdd->source);
        const vmsnap_xml_disk *vde = find_disk(disks, n, "vde");
        assert_string_equal(vde->type, "network");
        assert_null(vde->source);
        assert_string_equal(vde->format, "raw");
        assert_string_equal(vde->rbd, "pool/web1-scratch"); /* an RBD disk names its image */
        assert_null(vdd->rbd);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_without_a_driver_have_no_format(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(domain_xml, &disks, &n, NULL), 0);
        const vmsnap_xml_disk *vdf = find_disk(disks, n, "vdf");
        assert_null(vdf->format);
        assert_string_equal(vdf->source, "/srv/images/no-driver.qcow2");
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_of_a_domain_without_devices_is_empty(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 99;

        assert_int_equal(vmsnap_xml_disks("<domain><name>x</name></domain>", &disks, &n, NULL), 0);
        assert_int_equal(n, 0);
        vmsnap_xml_disks_free(disks, n);
}

static void test_disks_refuses_a_disk_without_a_target(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_disks("<domain><devices><disk type='file'><source file='/a'/></disk>"
                                          "</devices></domain>",
                                          &disks, &n, &error),
                         -EINVAL);
        assert_contains(error.message, "target");
}

static void test_parsing_refuses_malformed_xml_with_a_sentence(void **state)
{
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_disks("<domain><name>x</name>", &disks, &n, &error), -EINVAL);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_contains(error.message, "not well-formed");

        assert_int_equal(vmsnap_xml_disks("", &disks, &n, &error), -EINVAL);
        assert_int_equal(vmsnap_xml_disks(NULL, &disks, &n, &error), -EINVAL);
}

static void test_parsing_refuses_a_document_that_is_not_a_domain(void **state)
{
        char *name = NULL, *uuid = NULL;
        vmsnap_error error = {};

        assert_int_equal(
                vmsnap_xml_identity("<network><name>default</name></network>", &name, &uuid, &error),
                -EINVAL);
        assert_contains(error.message, "<network>");
}

static void test_parsing_refuses_a_doctype_with_entities(void **state)
{
        char *name = NULL;
        vmsnap_error error = {};
        const char *xml = "<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>"
                          "<domain><name>&b;</name></domain>";

        assert_int_equal(vmsnap_xml_identity(xml, &name, NULL, &error), -EINVAL);
        assert_contains(error.message, "DOCTYPE");
}

static void test_identity_reads_name_and_uuid(void **state)
{
        char *name = NULL, *uuid = NULL;

        assert_int_equal(vmsnap_xml_identity(domain_xml, &name, &uuid, NULL), 0);
        assert_string_equal(name, "web1");
        assert_string_equal(uuid, "5f3c1b2a-9d8e-4f70-a1b2-c3d4e5f60718");
        free(name);
        free(uuid);

        assert_int_equal(vmsnap_xml_identity("<domain><name>a &amp; b</name></domain>", &name, &uuid, NULL),
                         0);
        assert_string_equal(name, "a & b");
        assert_null(uuid);
        free(name);
}

/* ---- re-pointing disk sources ---- */

static void test_set_sources_repoints_a_qcow2_disk_and_drops_its_backing_store(void **state)
{
        const vmsnap_xml_disk_source sources[] = {
                {"vda", "/var/lib/libvirt/images/web1.snap1.qcow2", "qcow2"}};
        char *xml = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, &error), 0);
        char *vda = disk_text(xml, "vda");
        assert_contains(vda, "<source file=\"/var/lib/libvirt/images/web1.snap1.qcow2\"/>");
        assert_contains(vda, "<driver name=\"qemu\" type=\"qcow2\" discard=\"unmap\"/>");
        assert_lacks(vda, "backingStore");
        assert_lacks(vda, "base.qcow2");
        assert_lacks(vda, "index=");
        assert_contains(vda, "<alias name=\"virtio-disk0\"/>");
        assert_contains(vda, "<address type=\"pci\"");
        free(vda);

        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        assert_int_equal(vmsnap_xml_disks(xml, &disks, &n, NULL), 0);
        assert_int_equal(n, 7);
        assert_string_equal(find_disk(disks, n, "vda")->source, "/var/lib/libvirt/images/web1.snap1.qcow2");
        assert_false(find_disk(disks, n, "vda")->has_backing_store);
        vmsnap_xml_disks_free(disks, n);
        free(xml);
}

static void test_set_sources_changes_the_format_of_a_raw_disk(void **state)
{
        const vmsnap_xml_disk_source sources[] = {{"vdb", "/srv/data/web1-data.snap1.qcow2", "qcow2"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        char *vdb = disk_text(xml, "vdb");
        assert_contains(vdb, "<driver name=\"qemu\" type=\"qcow2\" cache=\"none\"/>");
        assert_contains(vdb, "<source file=\"/srv/data/web1-data.snap1.qcow2\"/>");
        assert_contains(vdb, "<serial>DATA01</serial>");
        assert_lacks(vdb, "backingStore");
        free(vdb);
        free(xml);
}

static void test_set_sources_points_an_rbd_disk_at_another_image_of_its_cluster(void **state)
{
        const vmsnap_xml_disk_source sources[] = {
                {.target = "vde", .rbd_image = "pool/web1-scratch.1a2b3c4d"}};
        const vmsnap_xml_disk_source on_a_file[] = {{.target = "vdd", .rbd_image = "pool/other"}};
        vmsnap_error error = {0};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        char *vde = disk_text(xml, "vde");
        assert_contains(vde, "<source protocol=\"rbd\" name=\"pool/web1-scratch.1a2b3c4d\">");
        assert_contains(vde, "<host name=\"ceph1.example.com\" port=\"6789\"/>");
        assert_contains(vde, "<disk type=\"network\" device=\"disk\">");
        free(vde);
        free(xml);
        xml = NULL;

        /* Only an RBD disk reads an RBD image. */
        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, on_a_file, 1, &xml, &error), -EINVAL);
        assert_non_null(strstr(error.message, "disk vdd is not an RBD disk"));
        assert_null(xml);
}

static void test_set_sources_keeps_everything_else_intact(void **state)
{
        const vmsnap_xml_disk_source sources[] = {
                {"vda", "/images/vda.new.qcow2", "qcow2"},
                {"vdb", "/images/vdb.new.qcow2", "qcow2"},
        };
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 2, &xml, NULL), 0);

        /* Untouched disks and the rest of the domain come out exactly as they went in. */
        const char *targets[] = {"sda", "vdc", "vdd", "vde", "vdf"};
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
                char *before = disk_text(domain_xml, targets[i]);
                char *after = disk_text(xml, targets[i]);
                char *normalized = strdup(before);
                /* libxml2 writes attributes with double quotes; nothing else may differ. */
                for (char *c = normalized; *c; c++)
                        if (*c == '\'')
                                *c = '"';
                char *after_normalized = strdup(after);
                for (char *c = after_normalized; *c; c++)
                        if (*c == '\'')
                                *c = '"';
                assert_string_equal(normalized, after_normalized);
                free(before);
                free(after);
                free(normalized);
                free(after_normalized);
        }
        assert_contains(xml, "<domain type=\"kvm\" id=\"3\">\n  <name>web1</name>\n");
        assert_contains(xml, "<description>front end &amp; cache</description>");
        assert_contains(xml, "<mac address=\"52:54:00:12:34:56\"/>");
        assert_contains(xml, "/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>");
        assert_contains(xml, "    <console type=\"pty\"/>\n  </devices>\n</domain>\n");
        assert_lacks(xml, "<?xml");
        free(xml);
}

static void test_set_sources_turns_a_block_disk_into_a_file_disk(void **state)
{
        const vmsnap_xml_disk_source sources[] = {{"vdd", "/images/logs.qcow2", "qcow2"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        char *vdd = disk_text(xml, "vdd");
        assert_contains(vdd, "<disk type=\"file\" device=\"disk\">");
        assert_contains(vdd, "<source file=\"/images/logs.qcow2\"/>");
        assert_contains(vdd, "io=\"native\"");
        assert_lacks(vdd, "dev=\"/dev/vg0");
        free(vdd);
        free(xml);
}

static void test_set_sources_turns_a_network_disk_into_a_file_disk(void **state)
{
        const vmsnap_xml_disk_source sources[] = {{"vde", "/images/scratch.qcow2", "qcow2"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        char *vde = disk_text(xml, "vde");
        assert_contains(vde, "<disk type=\"file\" device=\"disk\">");
        assert_contains(vde, "<source file=\"/images/scratch.qcow2\"/>");
        assert_lacks(vde, "protocol");
        assert_lacks(vde, "<host");
        free(vde);

        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        assert_int_equal(vmsnap_xml_disks(xml, &disks, &n, NULL), 0);
        assert_string_equal(find_disk(disks, n, "vde")->type, "file");
        assert_string_equal(find_disk(disks, n, "vde")->source, "/images/scratch.qcow2");
        vmsnap_xml_disks_free(disks, n);
        free(xml);
}

static void test_set_sources_adds_a_qemu_driver_when_there_is_none(void **state)
{
        const vmsnap_xml_disk_source sources[] = {{"vdf", "/images/vdf.overlay.qcow2", "qcow2"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        char *vdf = disk_text(xml, "vdf");
        assert_contains(vdf, "<driver name=\"qemu\" type=\"qcow2\"/>");
        /* Indented like its siblings, each on its own line. */
        assert_contains(vdf, "\n      <driver name=");
        free(vdf);
        free(xml);
}

static void test_set_sources_adds_a_source_to_an_empty_cdrom(void **state)
{
        const char *empty_cdrom = "<domain><name>x</name><devices>\n"
                                  "    <disk type='file' device='cdrom'>\n"
                                  "      <target dev='sdb' bus='sata'/>\n"
                                  "    </disk>\n"
                                  "</devices></domain>";
        const vmsnap_xml_disk_source sources[] = {{"sdb", "/iso/new.iso", "raw"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(empty_cdrom, sources, 1, &xml, NULL), 0);
        assert_contains(xml, "<source file=\"/iso/new.iso\"/>");
        assert_contains(xml, "<driver name=\"qemu\" type=\"raw\"/>");
        free(xml);
}

static void test_set_sources_escapes_special_characters_in_paths(void **state)
{
        const vmsnap_xml_disk_source sources[] = {{"vda", "/images/a&b'<c>.qcow2", "qcow2"}};
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 1, &xml, NULL), 0);
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        assert_int_equal(vmsnap_xml_disks(xml, &disks, &n, NULL), 0);
        assert_string_equal(find_disk(disks, n, "vda")->source, "/images/a&b'<c>.qcow2");
        vmsnap_xml_disks_free(disks, n);
        free(xml);
}

static void test_set_sources_fails_naming_a_missing_target(void **state)
{
        const vmsnap_xml_disk_source sources[] = {
                {"vda", "/images/vda.new.qcow2", "qcow2"},
                {"vdz", "/images/vdz.new.qcow2", "qcow2"},
        };
        char *xml = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, sources, 2, &xml, &error), -ENOENT);
        assert_null(xml);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_contains(error.message, "vdz");
}

static void test_set_sources_with_no_disks_returns_the_document_unchanged(void **state)
{
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_set_disk_sources(domain_xml, NULL, 0, &xml, NULL), 0);
        assert_contains(xml, "<backingStore type=\"file\" index=\"3\">");
        assert_contains(xml, "<source dev=\"/dev/vg0/web1-logs\"/>");
        free(xml);
}

/* ---- renaming for clone ---- */

static void test_rename_sets_name_and_uuid_and_removes_every_mac(void **state)
{
        char *xml = NULL, *name = NULL, *uuid = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_rename_domain(domain_xml, "copy_of_web1",
                                                  "0a1b2c3d-0000-4000-8000-000000000001", NULL, &xml,
                                                  &error),
                         0);
        assert_int_equal(vmsnap_xml_identity(xml, &name, &uuid, NULL), 0);
        assert_string_equal(name, "copy_of_web1");
        assert_string_equal(uuid, "0a1b2c3d-0000-4000-8000-000000000001");
        assert_lacks(xml, "<mac");
        assert_lacks(xml, "52:54:00");
        assert_contains(xml, "<source network=\"default\"/>");
        assert_contains(xml, "<source bridge=\"br0\"/>");
        /* Without a new path the NVRAM stays. */
        assert_contains(xml, "/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>");
        free(name);
        free(uuid);
        free(xml);
}

static void test_rename_without_uuid_removes_it_for_libvirt_to_generate(void **state)
{
        char *xml = NULL, *uuid = NULL;

        assert_int_equal(vmsnap_xml_rename_domain(domain_xml, "clone", NULL, NULL, &xml, NULL), 0);
        assert_lacks(xml, "<uuid>");
        assert_int_equal(vmsnap_xml_identity(xml, NULL, &uuid, NULL), 0);
        assert_null(uuid);
        free(xml);
}

static void test_rename_adds_a_uuid_when_the_domain_had_none(void **state)
{
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_rename_domain("<domain>\n  <name>a</name>\n</domain>", "b",
                                                  "0a1b2c3d-0000-4000-8000-000000000002", NULL, &xml, NULL),
                         0);
        assert_contains(xml, "  <name>b</name>\n  <uuid>0a1b2c3d-0000-4000-8000-000000000002</uuid>\n");
        free(xml);
}

static void test_rename_replaces_the_nvram_path_and_keeps_its_template(void **state)
{
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_rename_domain(domain_xml, "clone", NULL,
                                                  "/var/lib/libvirt/qemu/nvram/clone_VARS.fd", &xml, NULL),
                         0);
        assert_contains(xml, "<nvram template=\"/usr/share/OVMF/OVMF_VARS_4M.fd\">"
                             "/var/lib/libvirt/qemu/nvram/clone_VARS.fd</nvram>");
        assert_lacks(xml, "web1_VARS.fd");
        free(xml);
}

static void test_rename_replaces_an_nvram_given_as_source(void **state)
{
        const char *domain =
                "<domain><name>a</name><os><nvram type='file'><source file='/old/VARS.fd'/></nvram>"
                "</os></domain>";
        char *xml = NULL;

        assert_int_equal(vmsnap_xml_rename_domain(domain, "b", NULL, "/new/VARS.fd", &xml, NULL), 0);
        assert_contains(xml, "<nvram type=\"file\"><source file=\"/new/VARS.fd\"/></nvram>");
        free(xml);
}

static void test_rename_takes_the_name_literally(void **state)
{
        char *xml = NULL, *name = NULL;

        assert_int_equal(vmsnap_xml_rename_domain(domain_xml, "web <1> & co", NULL, NULL, &xml, NULL), 0);
        assert_contains(xml, "<name>web &lt;1&gt; &amp; co</name>");
        assert_int_equal(vmsnap_xml_identity(xml, &name, NULL, NULL), 0);
        assert_string_equal(name, "web <1> & co");
        free(name);
        free(xml);
}

static void test_rename_refuses_an_empty_name(void **state)
{
        char *xml = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_rename_domain(domain_xml, "", NULL, NULL, &xml, &error), -EINVAL);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_null(xml);
}

/* ---- applying a snapshot's configuration under the domain's name ---- */

static void test_set_name_changes_only_the_name(void **state)
{
        char *xml = NULL, *name = NULL, *uuid = NULL;

        assert_int_equal(vmsnap_xml_set_name(domain_xml, "web1-renamed", &xml, NULL), 0);
        assert_int_equal(vmsnap_xml_identity(xml, &name, &uuid, NULL), 0);
        assert_string_equal(name, "web1-renamed");
        assert_string_equal(uuid, "5f3c1b2a-9d8e-4f70-a1b2-c3d4e5f60718");
        assert_contains(xml, "<mac address=\"52:54:00:12:34:56\"/>");
        assert_contains(xml, "/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>");
        assert_contains(xml, "<backingStore type=\"file\" index=\"3\">");
        free(name);
        free(uuid);
        free(xml);
}

static void test_set_name_refuses_an_empty_name_or_a_domain_without_one(void **state)
{
        char *xml = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_xml_set_name(domain_xml, "", &xml, &error), -EINVAL);
        assert_int_equal(vmsnap_xml_set_name("<domain/>", "x", &xml, &error), -EINVAL);
        assert_contains(error.message, "<name>");
        assert_null(xml);
}

static void test_rbd_source_reads_pool_image_and_monitors(void **state)
{
        vmsnap_xml_rbd_source source;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_xml_rbd_source_read(domain_xml, "vde", &source, &error), 0);
        assert_string_equal(source.pool, "pool");
        assert_string_equal(source.image, "web1-scratch");
        assert_null(source.rados_namespace);
        assert_null(source.snapshot);
        assert_string_equal(source.mon_host, "ceph1.example.com:6789");
        assert_null(source.config_file);
        assert_null(source.auth_username);
        vmsnap_xml_rbd_source_clear(&source);
}

/* An RBD disk of one domain: name, several monitors (IPv6, no port), auth and config file. */
static char *rbd_domain(const char *name, const char *inside_source, const char *beside_source)
{
        char *xml;
        if (asprintf(&xml,
                     "<domain type='kvm'><name>d</name><devices>\n"
                     "  <disk type='network' device='disk'>\n"
                     "    <driver name='qemu' type='raw'/>\n"
                     "    <source protocol='rbd' name='%s'>%s</source>%s\n"
                     "    <target dev='vda' bus='virtio'/>\n"
                     "  </disk>\n"
                     "</devices></domain>",
                     name, inside_source, beside_source) < 0)
                fail_msg("out of memory");
        return xml;
}

static void test_rbd_source_reads_namespace_snapshot_hosts_and_auth(void **state)
{
        _cleanup_free_ char *xml = rbd_domain(
                "vms/tenant-a/web@frozen",
                "<host name='10.0.0.1' port='6789'/><host name='::1' port='3300'/><host name='mon3'/>"
                "<config file='/etc/ceph/other.conf'/>"
                "<auth username='libvirt'><secret type='ceph' "
                "uuid='2ec115d7-3a88-4f2f-9d4c-2a4d2c4b3f1e'/></auth>",
                "");
        vmsnap_xml_rbd_source source;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_xml_rbd_source_read(xml, "vda", &source, &error), 0);
        assert_string_equal(source.pool, "vms");
        assert_string_equal(source.rados_namespace, "tenant-a");
        assert_string_equal(source.image, "web");
        assert_string_equal(source.snapshot, "frozen");
        assert_string_equal(source.mon_host, "10.0.0.1:6789,[::1]:3300,mon3");
        assert_string_equal(source.config_file, "/etc/ceph/other.conf");
        assert_string_equal(source.auth_username, "libvirt");
        assert_string_equal(source.secret_uuid, "2ec115d7-3a88-4f2f-9d4c-2a4d2c4b3f1e");
        assert_null(source.secret_usage);
        vmsnap_xml_rbd_source_clear(&source);
}

static void test_rbd_source_reads_auth_beside_the_source_by_usage(void **state)
{
        _cleanup_free_ char *xml = rbd_domain(
                "rbd/img", "", "<auth username='admin'><secret type='ceph' usage='ceph-admin'/></auth>");
        vmsnap_xml_rbd_source source;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_xml_rbd_source_read(xml, "vda", &source, &error), 0);
        assert_null(source.mon_host);
        assert_string_equal(source.auth_username, "admin");
        assert_string_equal(source.secret_usage, "ceph-admin");
        assert_null(source.secret_uuid);
        vmsnap_xml_rbd_source_clear(&source);
}

static void test_rbd_source_refuses_other_disks_and_bad_names(void **state)
{
        vmsnap_xml_rbd_source source;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_xml_rbd_source_read(domain_xml, "vda", &source, &error), -EINVAL);
        assert_string_equal(
                error.message,
                "disk vda is not an RBD disk (<disk type='network'> with <source protocol='rbd'>)");
        assert_null(source.pool);
        assert_int_equal(vmsnap_xml_rbd_source_read(domain_xml, "vdz", &source, &error), -ENOENT);
        assert_string_equal(error.message, "the domain has no disk vdz");

        const char *bad_names[] = {"image-only", "/image", "pool/", "pool//image", "pool/image@"};
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                _cleanup_free_ char *xml = rbd_domain(bad_names[i], "", "");
                assert_int_equal(vmsnap_xml_rbd_source_read(xml, "vda", &source, &error), -EINVAL);
                assert_non_null(strstr(error.message, "vmsnap reads pool/image or pool/namespace/image"));
                assert_null(source.pool);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_disks_lists_every_disk_in_document_order),
                cmocka_unit_test(test_disks_reports_a_qcow2_file_disk_with_its_backing_store),
                cmocka_unit_test(test_disks_treats_an_empty_backing_store_as_none),
                cmocka_unit_test(test_disks_reports_cdrom_readonly_and_shareable),
                cmocka_unit_test(test_disks_gives_no_source_for_block_and_network_disks),
                cmocka_unit_test(test_disks_without_a_driver_have_no_format),
                cmocka_unit_test(test_disks_of_a_domain_without_devices_is_empty),
                cmocka_unit_test(test_disks_refuses_a_disk_without_a_target),
                cmocka_unit_test(test_parsing_refuses_malformed_xml_with_a_sentence),
                cmocka_unit_test(test_parsing_refuses_a_document_that_is_not_a_domain),
                cmocka_unit_test(test_parsing_refuses_a_doctype_with_entities),
                cmocka_unit_test(test_identity_reads_name_and_uuid),
                cmocka_unit_test(test_set_sources_repoints_a_qcow2_disk_and_drops_its_backing_store),
                cmocka_unit_test(test_set_sources_changes_the_format_of_a_raw_disk),
                cmocka_unit_test(test_set_sources_keeps_everything_else_intact),
                cmocka_unit_test(test_set_sources_points_an_rbd_disk_at_another_image_of_its_cluster),
                cmocka_unit_test(test_set_sources_turns_a_block_disk_into_a_file_disk),
                cmocka_unit_test(test_set_sources_turns_a_network_disk_into_a_file_disk),
                cmocka_unit_test(test_set_sources_adds_a_qemu_driver_when_there_is_none),
                cmocka_unit_test(test_set_sources_adds_a_source_to_an_empty_cdrom),
                cmocka_unit_test(test_set_sources_escapes_special_characters_in_paths),
                cmocka_unit_test(test_set_sources_fails_naming_a_missing_target),
                cmocka_unit_test(test_set_sources_with_no_disks_returns_the_document_unchanged),
                cmocka_unit_test(test_rename_sets_name_and_uuid_and_removes_every_mac),
                cmocka_unit_test(test_rename_without_uuid_removes_it_for_libvirt_to_generate),
                cmocka_unit_test(test_rename_adds_a_uuid_when_the_domain_had_none),
                cmocka_unit_test(test_rename_replaces_the_nvram_path_and_keeps_its_template),
                cmocka_unit_test(test_rename_replaces_an_nvram_given_as_source),
                cmocka_unit_test(test_rename_takes_the_name_literally),
                cmocka_unit_test(test_rename_refuses_an_empty_name),
                cmocka_unit_test(test_rbd_source_reads_pool_image_and_monitors),
                cmocka_unit_test(test_rbd_source_reads_namespace_snapshot_hosts_and_auth),
                cmocka_unit_test(test_rbd_source_reads_auth_beside_the_source_by_usage),
                cmocka_unit_test(test_rbd_source_refuses_other_disks_and_bad_names),
                cmocka_unit_test(test_set_name_changes_only_the_name),
                cmocka_unit_test(test_set_name_refuses_an_empty_name_or_a_domain_without_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
