/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rbd-cephx.c: RBD disks on a cluster that requires cephx, as production clusters
 * do, reached the way libvirt reaches them: the disk names its monitor and
 * <auth username='admin'><secret type='ceph' usage|uuid=…/></auth>, and the key is a
 * secret in libvirt's store (a real libvirtd: the test driver has no secrets). The
 * engine reads the key from libvirt, so no keyring on the host is involved: the disk's
 * XML names no configuration file. A wrong or missing secret is refused, naming the
 * disk, before anything changes.
 * Run through tests/with-ceph.sh (VMSNAP_CEPH_AUTH=cephx) and tests/with-libvirtd.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "fixture.h"
#include "testlib.h"
#include "util.h"

static const char *ceph_conf, *ceph_mon_host, *pool, *admin_key, *uri;

#define REQUIRE_CEPHX_AND_LIBVIRTD()                                                                        \
        do {                                                                                                \
                if (!ceph_conf || !ceph_mon_host || !pool || !admin_key || !*admin_key || !uri ||           \
                    strcmp(uri, "qemu:///system") != 0)                                                     \
                        skip(); /* run through with-ceph.sh (cephx) and with-libvirtd.sh */                 \
        } while (0)

/* The bytes of base64 text (a ceph key), *size_ret of them. */
static unsigned char *base64_decode(const char *text, size_t *size_ret)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned char *out = xcalloc(strlen(text) / 4 * 3 + 3, 1);
        unsigned bits = 0, n_bits = 0;
        size_t n = 0;

        for (const char *p = text; *p && *p != '='; p++) {
                const char *at = strchr(alphabet, *p);
                if (!at)
                        fail_msg("\"%s\" is not base64", text);
                bits = (bits << 6) | (unsigned)(at - alphabet);
                n_bits += 6;
                if (n_bits >= 8) {
                        n_bits -= 8;
                        out[n++] = (unsigned char)(bits >> n_bits);
                }
        }
        *size_ret = n;
        return out;
}

/* Defines a ceph secret with usage name holding key (base64), private or not (as libvirt's
 * Ceph documentation defines them); returns its UUID. */
static char *secret_define(fixture *f, const char *usage, const char *key, bool private)
{
        _cleanup_free_ char *xml = xasprintf("<secret ephemeral='yes' private='%s'><usage type='ceph'>"
                                             "<name>%s</name></usage></secret>",
                                             private ? "yes" : "no", usage);
        virSecretPtr secret = virSecretDefineXML(f->connection, xml, 0);
        char uuid[VIR_UUID_STRING_BUFLEN];
        size_t size = 0;

        if (!secret)
                fail_msg("cannot define the secret %s: %s", usage, virGetLastErrorMessage());
        /* libvirt keeps the secret's raw bytes; the ceph key is their base64. */
        unsigned char *raw = base64_decode(key, &size);
        if (virSecretSetValue(secret, raw, size, 0) < 0)
                fail_msg("cannot set the secret %s: %s", usage, virGetLastErrorMessage());
        free(raw);
        virSecretGetUUIDString(secret, uuid);
        virSecretFree(secret);
        return xstrdup(uuid);
}

static void secret_undefine(fixture *f, const char *uuid)
{
        virSecretPtr secret = virSecretLookupByUUIDString(f->connection, uuid);
        if (secret) {
                virSecretUndefine(secret);
                virSecretFree(secret);
        }
}

/* A shut-off domain "name" whose vda is a 4 MiB RBD image reached through the monitor
 * alone, authenticated by auth (an <auth> element). Returns the image, "pool/image". */
static char *define_domain(fixture *f, const char *name, const char *auth)
{
        _cleanup_free_ char *host =
                xstrndup(ceph_mon_host, (size_t)(strrchr(ceph_mon_host, ':') - ceph_mon_host));
        char *image = xasprintf("%s/%s-%d", pool, name, (int)getpid());
        assert_int_equal(test_runf("rbd -c %s create --size 4M %s", ceph_conf, image), 0);
        _cleanup_free_ char *devices =
                xasprintf("<disk type='network' device='disk'><driver name='qemu' type='raw'/>%s"
                          "<source protocol='rbd' name='%s'><host name='%s' port='%s'/></source>"
                          "<target dev='vda' bus='virtio'/></disk>",
                          auth, image, host, strrchr(ceph_mon_host, ':') + 1);
        fixture_define_domain(f, name, devices);
        return image;
}

/* The names of the image's snapshots, as `rbd snap ls --format json` gives them. */
static char *snapshots_of(const char *image)
{
        return test_rbd_snapshot_list(ceph_conf, image);
}

static void
test_a_disk_authenticated_by_a_libvirt_secret_is_snapshotted_and_its_snapshot_deleted(void **state)
{
        REQUIRE_CEPHX_AND_LIBVIRTD();
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        vmsnap_create_options options = {.name = "first"};

        /* By usage, then by UUID: the two ways a disk names its secret. */
        _cleanup_free_ char *uuid = secret_define(f, "vmsnap-test-admin", admin_key, false);
        _cleanup_free_ char *by_usage = define_domain(
                f, "cephx-usage",
                "<auth username='admin'><secret type='ceph' usage='vmsnap-test-admin'/></auth>");
        _cleanup_free_ char *auth_uuid =
                xasprintf("<auth username='admin'><secret type='ceph' uuid='%s'/></auth>", uuid);
        _cleanup_free_ char *by_uuid = define_domain(f, "cephx-uuid", auth_uuid);

        assert_ok(vmsnap_snapshot_create(f->engine, "cephx-usage", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_create(f->engine, "cephx-uuid", &options, NULL, NULL, &error), &error);
        _cleanup_free_ char *usage_snapshots = snapshots_of(by_usage);
        _cleanup_free_ char *uuid_snapshots = snapshots_of(by_uuid);
        assert_non_null(strstr(usage_snapshots, "\"name\":\"vmsnap-"));
        assert_non_null(strstr(uuid_snapshots, "\"name\":\"vmsnap-"));

        assert_ok(
                vmsnap_snapshot_delete(f->engine, "cephx-usage", "first", VMSNAP_DELETE_MERGE, NULL, &error),
                &error);
        free(usage_snapshots);
        usage_snapshots = snapshots_of(by_usage);
        assert_null(strstr(usage_snapshots, "\"name\":\"vmsnap-"));
        assert_ok(
                vmsnap_snapshot_delete(f->engine, "cephx-uuid", "first", VMSNAP_DELETE_MERGE, NULL, &error),
                &error);
        secret_undefine(f, uuid);
        fixture_free(f);
}

static void test_a_wrong_or_missing_secret_is_refused_naming_the_disk_before_anything_changes(void **state)
{
        REQUIRE_CEPHX_AND_LIBVIRTD();
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        vmsnap_create_options options = {.name = "never"};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;

        /* A key of the right form that the cluster does not know. */
        _cleanup_free_ char *uuid =
                secret_define(f, "vmsnap-test-wrong", "AQBEORZrReTpCRAAvVqJA7ahvI51UwB9b3I9iA==", false);
        _cleanup_free_ char *wrong = define_domain(
                f, "cephx-wrong",
                "<auth username='admin'><secret type='ceph' usage='vmsnap-test-wrong'/></auth>");
        assert_true(vmsnap_snapshot_create(f->engine, "cephx-wrong", &options, NULL, NULL, &error) < 0);
        /* librados retries a refused key until its mount timeout. */
        if (!strstr(error.message, "vda") || !strstr(error.message, "accepted the user's key"))
                fail_msg("unexpected refusal: %s", error.message);
        vmsnap_error_clear(&error);
        _cleanup_free_ char *listed = snapshots_of(wrong);
        assert_null(strstr(listed, "\"name\":\"vmsnap-"));
        assert_ok(vmsnap_snapshot_list(f->engine, "cephx-wrong", &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);

        /* A secret libvirt does not have. */
        _cleanup_free_ char *missing = define_domain(
                f, "cephx-missing",
                "<auth username='admin'><secret type='ceph' usage='vmsnap-test-nowhere'/></auth>");
        assert_true(vmsnap_snapshot_create(f->engine, "cephx-missing", &options, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "secret of disk vda"));
        assert_non_null(strstr(error.message, "vmsnap-test-nowhere"));
        assert_non_null(strstr(error.message, "secret-define"));
        vmsnap_error_clear(&error);
        free(listed);
        listed = snapshots_of(missing);
        assert_null(strstr(listed, "\"name\":\"vmsnap-"));

        /* A private secret: libvirt lets no client read it, vmsnap included. */
        _cleanup_free_ char *private_uuid = secret_define(f, "vmsnap-test-private", admin_key, true);
        _cleanup_free_ char *private = define_domain(
                f, "cephx-private",
                "<auth username='admin'><secret type='ceph' usage='vmsnap-test-private'/></auth>");
        assert_true(vmsnap_snapshot_create(f->engine, "cephx-private", &options, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "secret of disk vda"));
        assert_non_null(strstr(error.message, "private='no'"));
        vmsnap_error_clear(&error);
        free(listed);
        listed = snapshots_of(private);
        assert_null(strstr(listed, "\"name\":\"vmsnap-"));
        secret_undefine(f, private_uuid);
        secret_undefine(f, uuid);
        fixture_free(f);
}

static int setup(void **state)
{
        ceph_conf = getenv("VMSNAP_TEST_CEPH_CONF");
        ceph_mon_host = getenv("VMSNAP_TEST_CEPH_MON_HOST");
        pool = getenv("VMSNAP_TEST_CEPH_POOL");
        admin_key = getenv("VMSNAP_TEST_CEPH_ADMIN_KEY");
        uri = getenv("VMSNAP_TEST_URI");
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(
                        test_a_disk_authenticated_by_a_libvirt_secret_is_snapshotted_and_its_snapshot_deleted),
                cmocka_unit_test(
                        test_a_wrong_or_missing_secret_is_refused_naming_the_disk_before_anything_changes),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
