/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-spawn.c: running child processes: exit status, the stderr sentence,
 * qemu-img progress (from a real "qemu-img convert -p"), cancellation and
 * use from several threads. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "error.h"
#include "subprocess.h"
#include "testlib.h"

typedef struct progress_log {
        uint64_t done[4096];
        uint64_t total[4096];
        size_t n;
} progress_log;

static void record_progress(void *userdata, uint64_t done, uint64_t total)
{
        progress_log *log = userdata;

        if (log->n < sizeof(log->done) / sizeof(log->done[0])) {
                log->done[log->n] = done;
                log->total[log->n] = total;
                log->n++;
        }
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct cancel_after {
        uint64_t deadline_ms;
        unsigned polls;
} cancel_after;

static bool canceled_after_deadline(void *userdata)
{
        cancel_after *c = userdata;

        c->polls++;
        return now_ms() >= c->deadline_ms;
}

static unsigned count_open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static void test_spawn_of_successful_program_returns_zero(void **state)
{
        const char *argv[] = {"true", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), 0);
        assert_int_equal(error.code, 0);
}

static void test_spawn_of_failing_program_names_it_with_last_stderr_line(void **state)
{
        const char *argv[] = {"/bin/sh", "-c",
                              "echo first >&2; echo '  the real reason  ' >&2; echo >&2; exit 3", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -EIO);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_string_equal(error.message, "sh failed: the real reason");
}

static void test_spawn_of_failing_qemu_img_carries_its_message(void **state)
{
        const char *argv[] = {"qemu-img", "info", "/nonexistent/vmsnap-test.qcow2", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -EIO);
        assert_int_equal(strncmp(error.message, "qemu-img failed: qemu-img: ", 27), 0);
        assert_non_null(strstr(error.message, "/nonexistent/vmsnap-test.qcow2"));
}

static void test_spawn_of_silent_failure_reports_exit_status(void **state)
{
        const char *argv[] = {"false", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -EIO);
        assert_string_equal(error.message, "false failed with exit status 1");
}

static void test_spawn_of_child_killed_by_a_signal_returns_echild(void **state)
{
        /* As the OOM killer would: callers tell a killed child from one that refused. */
        const char *argv[] = {"/bin/sh", "-c", "echo 'working' >&2; kill -KILL $$", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -ECHILD);
        assert_string_equal(error.message, "sh was killed by signal SIGKILL: working");
}

static void test_spawn_keeps_only_the_tail_of_long_stderr(void **state)
{
        const char *argv[] = {"/bin/sh", "-c",
                              "i=0; while [ $i -lt 2000 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done; "
                              "echo 'final words' >&2; exit 1",
                              NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -EIO);
        assert_string_equal(error.message, "sh failed: final words");
}

static void test_spawn_of_missing_program_fails_with_sentence(void **state)
{
        const char *argv[] = {"vmsnap-no-such-program", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), -ENOENT);
        assert_non_null(strstr(error.message, "vmsnap-no-such-program"));
}

static void test_spawn_gives_child_empty_stdin(void **state)
{
        /* cat would wait forever on an inherited terminal or pipe. */
        const char *argv[] = {"/bin/sh", "-c", "test -z \"$(cat)\"", NULL};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_spawn(argv, NULL, &error), 0);
}

static void test_spawn_leaks_no_file_descriptors(void **state)
{
        const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 1", NULL};
        unsigned before = count_open_fds();
        vmsnap_error error = {0};

        for (int i = 0; i < 20; i++)
                assert_int_equal(vmsnap_spawn(argv, NULL, &error), -EIO);
        assert_int_equal(count_open_fds(), before);
}

static void test_spawn_child_inherits_no_extra_descriptors(void **state)
{
        /* Only 0, 1, 2 and the descriptor ls opens itself to read the directory. */
        const char *argv[] = {"/bin/sh", "-c", "test $(ls /proc/self/fd | wc -l) -le 4", NULL};
        FILE *leaky = fopen("/dev/null", "r"); /* no O_CLOEXEC on purpose */
        vmsnap_error error = {0};

        assert_non_null(leaky);
        assert_int_equal(vmsnap_spawn(argv, NULL, &error), 0);
        fclose(leaky);
}

static void test_spawn_parses_progress_redrawn_with_carriage_returns(void **state)
{
        const char *argv[] = {"printf",
                              "    (0.00/100%%)\\r    (12.34/100%%)\\r    (5.00/100%%)\\r    (50/100%%)\\r"
                              "noise\\n    (99.999/100%%)\\r    (100.00/100%%)\\r\\n",
                              NULL};
        vmsnap_hooks hooks = {.progress = record_progress};
        progress_log log = {0};
        vmsnap_error error = {0};

        hooks.userdata = &log;
        assert_int_equal(vmsnap_spawn(argv, &hooks, &error), 0);

        assert_int_equal(log.n, 5);
        assert_int_equal(log.done[0], 0);
        assert_int_equal(log.done[1], 1234);
        assert_int_equal(log.done[2], 5000);
        assert_int_equal(log.done[3], 9999);
        assert_int_equal(log.done[4], 10000);
        for (size_t i = 0; i < log.n; i++)
                assert_int_equal(log.total[i], 10000);
}

static void test_spawn_reports_qemu_img_convert_progress_monotonically(void **state)
{
        char *dir = test_tmpdir_new(), *source, *target;
        vmsnap_hooks hooks = {.progress = record_progress};
        progress_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        assert_non_null(log);
        assert_true(asprintf(&source, "%s/source.qcow2", dir) >= 0);
        assert_true(asprintf(&target, "%s/target.qcow2", dir) >= 0);
        test_qcow2_create(source, NULL, NULL, "64M");
        test_qemu_io(source, "qcow2", "write -P 0x41 0 8M");
        test_qemu_io(source, "qcow2", "write -P 0x42 32M 8M");

        const char *argv[] = {"qemu-img", "convert", "-p",   "-f",   "qcow2",
                              "-O",       "qcow2",   source, target, NULL};
        hooks.userdata = log;
        assert_int_equal(vmsnap_spawn(argv, &hooks, &error), 0);

        assert_true(log->n >= 2);
        for (size_t i = 1; i < log->n; i++)
                assert_true(log->done[i] > log->done[i - 1]);
        assert_int_equal(log->done[log->n - 1], 10000);
        assert_int_equal(log->total[log->n - 1], 10000);
        assert_true(test_images_equal(source, target));

        free(log);
        free(source);
        free(target);
        test_tmpdir_remove(dir);
        free(dir);
}

static void test_spawn_cancel_of_sleep_returns_ecanceled_quickly(void **state)
{
        const char *argv[] = {"sleep", "30", NULL};
        cancel_after cancel = {.deadline_ms = now_ms() + 300};
        vmsnap_hooks hooks = {.is_canceled = canceled_after_deadline, .userdata = &cancel};
        vmsnap_error error = {0};
        uint64_t start = now_ms();

        assert_int_equal(vmsnap_spawn(argv, &hooks, &error), -ECANCELED);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_true(now_ms() - start < 2000);
        /* Polled at least every 100 ms: roughly three polls in 300 ms, not one. */
        assert_true(cancel.polls >= 3);
}

static void test_spawn_cancel_also_ends_child_that_closed_its_output(void **state)
{
        const char *argv[] = {"/bin/sh", "-c", "exec sleep 30 >/dev/null 2>&1", NULL};
        cancel_after cancel = {.deadline_ms = now_ms() + 300};
        vmsnap_hooks hooks = {.is_canceled = canceled_after_deadline, .userdata = &cancel};
        vmsnap_error error = {0};
        uint64_t start = now_ms();

        assert_int_equal(vmsnap_spawn(argv, &hooks, &error), -ECANCELED);
        assert_true(now_ms() - start < 2000);
}

static bool always_canceled(void *userdata)
{
        return true;
}

static void test_spawn_canceled_before_start_runs_nothing(void **state)
{
        char *dir = test_tmpdir_new(), *marker;
        vmsnap_hooks hooks = {.is_canceled = always_canceled};
        vmsnap_error error = {0};

        assert_true(asprintf(&marker, "%s/ran", dir) >= 0);
        const char *argv[] = {"touch", marker, NULL};
        assert_int_equal(vmsnap_spawn(argv, &hooks, &error), -ECANCELED);
        assert_int_equal(access(marker, F_OK), -1);

        free(marker);
        test_tmpdir_remove(dir);
        free(dir);
}

typedef struct thread_job {
        int exit_code;
        int result;
        char message[1024];
} thread_job;

static void *run_in_thread(void *userdata)
{
        thread_job *job = userdata;
        char script[64];
        vmsnap_error error = {0};

        snprintf(script, sizeof(script), "sleep 0.1; echo 'status %d' >&2; exit %d", job->exit_code,
                 job->exit_code);
        const char *argv[] = {"/bin/sh", "-c", script, NULL};
        job->result = vmsnap_spawn(argv, NULL, &error);
        memcpy(job->message, error.message, sizeof(job->message));
        return NULL;
}

static void test_spawn_from_several_threads_keeps_each_child_apart(void **state)
{
        enum { THREADS = 8 };
        pthread_t threads[THREADS];
        thread_job jobs[THREADS];

        for (int i = 0; i < THREADS; i++) {
                jobs[i] = (thread_job){.exit_code = i};
                assert_int_equal(pthread_create(&threads[i], NULL, run_in_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
                char expected[64];

                assert_int_equal(pthread_join(threads[i], NULL), 0);
                if (i == 0) {
                        assert_int_equal(jobs[i].result, 0);
                        continue;
                }
                snprintf(expected, sizeof(expected), "sh failed: status %d", i);
                assert_int_equal(jobs[i].result, -EIO);
                assert_string_equal(jobs[i].message, expected);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spawn_of_successful_program_returns_zero),
                cmocka_unit_test(test_spawn_of_failing_program_names_it_with_last_stderr_line),
                cmocka_unit_test(test_spawn_of_failing_qemu_img_carries_its_message),
                cmocka_unit_test(test_spawn_of_silent_failure_reports_exit_status),
                cmocka_unit_test(test_spawn_of_child_killed_by_a_signal_returns_echild),
                cmocka_unit_test(test_spawn_keeps_only_the_tail_of_long_stderr),
                cmocka_unit_test(test_spawn_of_missing_program_fails_with_sentence),
                cmocka_unit_test(test_spawn_gives_child_empty_stdin),
                cmocka_unit_test(test_spawn_leaks_no_file_descriptors),
                cmocka_unit_test(test_spawn_child_inherits_no_extra_descriptors),
                cmocka_unit_test(test_spawn_parses_progress_redrawn_with_carriage_returns),
                cmocka_unit_test(test_spawn_reports_qemu_img_convert_progress_monotonically),
                cmocka_unit_test(test_spawn_cancel_of_sleep_returns_ecanceled_quickly),
                cmocka_unit_test(test_spawn_cancel_also_ends_child_that_closed_its_output),
                cmocka_unit_test(test_spawn_canceled_before_start_runs_nothing),
                cmocka_unit_test(test_spawn_from_several_threads_keeps_each_child_apart),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
