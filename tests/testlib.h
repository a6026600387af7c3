/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testlib.h: helpers shared by the test programs: temporary directories,
 * building images with qemu-img/qemu-io, comparing images with qemu-img. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR (or /var/tmp) named vmsnap-test-XXXXXX; returns a malloc'd path. */
char *test_tmpdir_new(void);
/* rm -rf of a directory made by test_tmpdir_new. */
void test_tmpdir_remove(const char *dir);
/* cmocka setup and teardown of a test whose state is a fresh test_tmpdir_new directory. */
int test_tmpdir_setup(void **state);
int test_tmpdir_teardown(void **state);
/* Runs argv (NULL-terminated) and returns its exit status (-1 if it could not run); output discarded
 * unless VMSNAP_TEST_VERBOSE is set. */
int test_run(const char *const *argv);
/* Like test_run, but with a printf-formatted shell-free command split on spaces. Arguments with spaces
 * are not supported. */
int test_runf(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Runs argv and returns its stdout (malloc'd, NUL-terminated) or NULL on failure. */
char *test_capture(const char *const *argv);
/* The snapshots of RBD image "pool[/namespace]/image" as `rbd -c conf snap ls --format json`
 * gives them (malloc'd), and how many there are; either fails the test when rbd fails. */
char *test_rbd_snapshot_list(const char *conf, const char *image);
size_t test_rbd_snapshot_count(const char *conf, const char *image);
/* qemu-img create -f qcow2 [-b backing -F backing_format] path size */
void test_qcow2_create(const char *path, const char *backing, const char *backing_format, const char *size);
/* qemu-io -f format -c command path (e.g. "write -P 0x41 0 64k") */
void test_qemu_io(const char *path, const char *format, const char *command);
/* qemu-img compare -q: true when both images read the same. Formats auto-probed. */
bool test_images_equal(const char *a, const char *b);
/* SHA-256 hex (or any stable digest) of the guest-visible content of an image, computed by
 * "qemu-img convert -O raw" to a temp file and hashing it; malloc'd. */
char *test_image_digest(const char *path);
/* SHA-256 hex of the file's own bytes (not what it reads through its backing chain); malloc'd. */
char *test_file_digest(const char *path);
/* dir/name, malloc'd. */
char *test_path_in(const char *dir, const char *name);
/* qemu-img create -f qcow2 [-o options] [-b backing -F backing_format] path [size] */
void test_image_create(const char *path, const char *options, const char *backing,
                       const char *backing_format, const char *size);
/* Runs every command (up to a NULL) in one qemu-io process on path; fails the test on an error. */
void test_qemu_io_all(const char *path, const char *format, ...);
/* The same for n_commands commands in an array. */
void test_qemu_io_list(const char *path, const char *format, const char *const *commands, size_t n_commands);
/* qemu-img create -f raw path size */
void test_raw_create(const char *path, const char *size);

/* The next crash point after n of a crash-at-every-step loop over 1..points: every
 * point, or with VMSNAP_CRASH_POINT_STRIDE=k every k-th (1, 1+k, …) and always the
 * last; the sanitizer build sets 2, where each point costs several times more. */
unsigned test_next_crash_point(unsigned n, unsigned points);
