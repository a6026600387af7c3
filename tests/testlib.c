/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testlib.c: helpers shared by the test programs: temporary directories,
 * running qemu-img/qemu-io without a shell, and comparing image contents.
 * A helper that cannot do its job fails the running cmocka test. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testlib.h"

#define TMPDIR_PREFIX "vmsnap-test-"

char *test_tmpdir_new(void)
{
        const char *base = getenv("TMPDIR");
        char *path;

        if (!base || base[0] == '\0')
                base = "/var/tmp";
        if (asprintf(&path, "%s/" TMPDIR_PREFIX "XXXXXX", base) < 0)
                fail_msg("out of memory");
        if (!mkdtemp(path))
                fail_msg("cannot create a temporary directory under %s: %s", base, strerror(errno));
        return path;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        if (type == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

void test_tmpdir_remove(const char *dir)
{
        const char *base;

        if (!dir)
                return;
        /* Only ever remove what test_tmpdir_new made. */
        base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        if (strncmp(base, TMPDIR_PREFIX, strlen(TMPDIR_PREFIX)) != 0)
                fail_msg("refusing to remove %s: not a test directory", dir);

        /* Tests may leave read-only files or directories behind; root does not care, others do. */
        (void)nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int test_tmpdir_setup(void **state)
{
        *state = test_tmpdir_new();
        return 0;
}

int test_tmpdir_teardown(void **state)
{
        test_tmpdir_remove(*state);
        free(*state);
        return 0;
}

static bool verbose(void)
{
        const char *v = getenv("VMSNAP_TEST_VERBOSE");
        return v && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* Forks and execs argv with stdin from /dev/null; stdout goes to stdout_fd (or /dev/null
 * unless verbose), stderr to /dev/null unless verbose. Returns the pid, or -1 when it could not run. */
static pid_t run_start(const char *const *argv, int stdout_fd)
{
        int exec_error_pipe[2], child_errno;
        ssize_t n;
        pid_t pid;

        if (pipe2(exec_error_pipe, O_CLOEXEC) < 0)
                return -1;

        pid = fork();
        if (pid < 0) {
                close(exec_error_pipe[0]);
                close(exec_error_pipe[1]);
                return -1;
        }
        if (pid == 0) {
                int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null_fd < 0)
                        _exit(127);
                dup2(null_fd, STDIN_FILENO);
                if (stdout_fd >= 0)
                        dup2(stdout_fd, STDOUT_FILENO);
                else if (!verbose())
                        dup2(null_fd, STDOUT_FILENO);
                if (!verbose())
                        dup2(null_fd, STDERR_FILENO);
                execvp(argv[0], (char *const *)argv);
                child_errno = errno;
                (void)!write(exec_error_pipe[1], &child_errno, sizeof(child_errno));
                _exit(127);
        }

        close(exec_error_pipe[1]);
        do
                n = read(exec_error_pipe[0], &child_errno, sizeof(child_errno));
        while (n < 0 && errno == EINTR);
        close(exec_error_pipe[0]);
        if (n == sizeof(child_errno)) {
                waitpid(pid, NULL, 0);
                fprintf(stderr, "# cannot run %s: %s\n", argv[0], strerror(child_errno));
                return -1;
        }
        return pid;
}

static int run_wait(pid_t pid)
{
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

int test_run(const char *const *argv)
{
        pid_t pid = run_start(argv, -1);

        return pid < 0 ? -1 : run_wait(pid);
}

int test_runf(const char *format, ...)
{
        char *command, *saveptr = NULL, *word;
        const char *argv[64];
        size_t n = 0;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&command, format, ap);
        va_end(ap);
        if (r < 0)
                return -1;

        for (word = strtok_r(command, " ", &saveptr); word; word = strtok_r(NULL, " ", &saveptr)) {
                if (n >= sizeof(argv) / sizeof(argv[0]) - 1) {
                        free(command);
                        return -1;
                }
                argv[n++] = word;
        }
        argv[n] = NULL;

        r = n > 0 ? test_run(argv) : -1;
        free(command);
        return r;
}

char *test_capture(const char *const *argv)
{
        int output_pipe[2];
        char *data = NULL;
        size_t size = 0, allocated = 0;
        pid_t pid;

        if (pipe2(output_pipe, O_CLOEXEC) < 0)
                return NULL;
        pid = run_start(argv, output_pipe[1]);
        close(output_pipe[1]);
        if (pid < 0) {
                close(output_pipe[0]);
                return NULL;
        }

        for (;;) {
                ssize_t n;

                if (allocated - size < 4096) {
                        char *grown = realloc(data, allocated + 65536);
                        if (!grown) {
                                free(data);
                                data = NULL;
                                break;
                        }
                        data = grown;
                        allocated += 65536;
                }
                n = read(output_pipe[0], data + size, allocated - size - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size += (size_t)n;
        }
        close(output_pipe[0]);

        if (run_wait(pid) != 0 || !data) {
                free(data);
                return NULL;
        }
        data[size] = '\0';
        return data;
}

char *test_rbd_snapshot_list(const char *conf, const char *image)
{
        const char *argv[] = {"rbd", "-c", conf, "snap", "ls", "--format", "json", image, NULL};
        char *out = test_capture(argv);
        if (!out)
                fail_msg("rbd snap ls %s failed", image);
        return out;
}

size_t test_rbd_snapshot_count(const char *conf, const char *image)
{
        char *out = test_rbd_snapshot_list(conf, image);
        size_t n = 0;

        for (const char *p = out; (p = strstr(p, "\"name\":")); p++)
                n++;
        free(out);
        return n;
}

void test_qcow2_create(const char *path, const char *backing, const char *backing_format, const char *size)
{
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", NULL,
                              NULL,       NULL,     NULL, NULL, NULL,    NULL};
        size_t n = 5;

        if (backing) {
                argv[n++] = "-b";
                argv[n++] = backing;
                if (backing_format) {
                        argv[n++] = "-F";
                        argv[n++] = backing_format;
                }
        }
        argv[n++] = path;
        if (size)
                argv[n++] = size;

        if (test_run(argv) != 0)
                fail_msg("qemu-img create of %s failed", path);
}

void test_qemu_io(const char *path, const char *format, const char *command)
{
        const char *argv[] = {"qemu-io", "-f", format, "-c", command, path, NULL};
        char *output = test_capture(argv);

        /* qemu-io reports a failed command on stdout and may still exit 0. */
        if (!output || strstr(output, "error") || strstr(output, "failed"))
                fail_msg("qemu-io -c \"%s\" on %s failed: %s", command, path, output ? output : "");
        free(output);
}

bool test_images_equal(const char *a, const char *b)
{
        const char *argv[] = {"qemu-img", "compare", "-q", a, b, NULL};

        return test_run(argv) == 0;
}

char *test_file_digest(const char *path)
{
        const char *sha256sum[] = {"sha256sum", path, NULL};
        char *output = test_capture(sha256sum), *digest;

        if (!output || strlen(output) < 64)
                fail_msg("sha256sum of %s failed", path);
        digest = strndup(output, 64);
        free(output);
        if (!digest)
                fail_msg("out of memory");
        return digest;
}

char *test_image_digest(const char *path)
{
        char *dir = test_tmpdir_new(), *raw_path, *digest;

        if (asprintf(&raw_path, "%s/content.raw", dir) < 0)
                fail_msg("out of memory");

        const char *convert[] = {"qemu-img", "convert", "-O", "raw", path, raw_path, NULL};
        if (test_run(convert) != 0)
                fail_msg("qemu-img convert of %s failed", path);

        digest = test_file_digest(raw_path);
        free(raw_path);
        test_tmpdir_remove(dir);
        free(dir);
        return digest;
}

char *test_path_in(const char *dir, const char *name)
{
        char *path;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        return path;
}

/* qemu-img create -f qcow2 [-o options] [-b backing -F backing_format] path [size] */
void test_image_create(const char *path, const char *options, const char *backing,
                       const char *backing_format, const char *size)
{
        const char *argv[16] = {"qemu-img", "create", "-q", "-f", "qcow2"};
        size_t n = 5;

        if (options) {
                argv[n++] = "-o";
                argv[n++] = options;
        }
        if (backing) {
                argv[n++] = "-b";
                argv[n++] = backing;
                argv[n++] = "-F";
                argv[n++] = backing_format ? backing_format : "qcow2";
        }
        argv[n++] = path;
        if (size)
                argv[n++] = size;
        argv[n] = NULL;
        if (test_run(argv) != 0)
                fail_msg("qemu-img create of %s failed", path);
}

/* Runs every command (up to a NULL) in one qemu-io process. */
void test_qemu_io_list(const char *path, const char *format, const char *const *commands, size_t n_commands)
{
        const char **argv = calloc(2 * n_commands + 5, sizeof(*argv));
        size_t n = 0;
        char *output;

        assert_non_null(argv);
        argv[n++] = "qemu-io";
        argv[n++] = "-f";
        argv[n++] = format;
        for (size_t i = 0; i < n_commands; i++) {
                argv[n++] = "-c";
                argv[n++] = commands[i];
        }
        argv[n++] = path;
        argv[n] = NULL;

        output = test_capture(argv);
        free(argv);
        if (!output || strstr(output, "error") || strstr(output, "failed"))
                fail_msg("qemu-io on %s failed: %s", path, output ? output : "");
        free(output);
}

void test_qemu_io_all(const char *path, const char *format, ...)
{
        const char *commands[32];
        const char *command;
        size_t n = 0;
        va_list ap;

        va_start(ap, format);
        while ((command = va_arg(ap, const char *))) {
                assert_true(n < 32);
                commands[n++] = command;
        }
        va_end(ap);
        test_qemu_io_list(path, format, commands, n);
}

void test_raw_create(const char *path, const char *size)
{
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "raw", path, size, NULL};

        assert_int_equal(test_run(argv), 0);
}

unsigned test_next_crash_point(unsigned n, unsigned points)
{
        const char *value = getenv("VMSNAP_CRASH_POINT_STRIDE");
        unsigned stride = value && atoi(value) > 0 ? (unsigned)atoi(value) : 1;

        if (n < points && n + stride > points)
                return points;
        return n + stride;
}
