/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* subprocess.c: the one way vmsnap runs a child process. Owns the argv-only spawn,
 * the pipes and their poll loop, qemu-img "-p" progress parsing, cancellation
 * and the error sentence built from the child's stderr. What to run is the
 * caller's business. Safe to call from several threads at once.
 *
 * posix_spawn(), which glibc runs as vfork: its cost does not grow with the memory
 * of the process, where fork() copied the page tables of a daemon holding large
 * trees at every qemu-img. glibc's closefrom action closes every descriptor other
 * threads opened without O_CLOEXEC, and a failed exec is posix_spawn()'s own
 * answer. PATH is searched in the parent beforehand. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "failpoint.h"
#include "subprocess.h"

/* Only the end of stderr matters for the sentence, and a chatty child must not grow us without bound. */
#define STDERR_TAIL_MAX 4096
/* qemu-img progress lines are short; anything longer is not one. */
#define STDOUT_LINE_MAX 256
#define POLL_INTERVAL_MS 100
#define TERMINATE_GRACE_MS 5000

extern char **environ;

typedef struct spawn_state {
        const vmsnap_hooks *hooks;
        char stdout_line[STDOUT_LINE_MAX];
        size_t stdout_line_length;
        bool stdout_line_overlong;
        int64_t last_progress; /* -1 until the first report */
        char stderr_tail[STDERR_TAIL_MAX];
        size_t stderr_tail_length;
} spawn_state;

static inline void close_pair(int fds[2])
{
        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0) {
                        close(fds[i]);
                        fds[i] = -EBADF;
                }
}

static bool is_canceled(const spawn_state *state)
{
        return state->hooks && state->hooks->is_canceled &&
               state->hooks->is_canceled(state->hooks->userdata);
}

/* Parses "    (12.34/100%)" into 1234 (hundredths of a percent). Written by hand rather
 * than with strtod() so that the daemon's locale cannot change the decimal point. */
static bool progress_parse(const char *line, size_t length, uint64_t *ret)
{
        const char *p = line, *end = line + length;
        uint64_t whole = 0, hundredths = 0;
        unsigned digits = 0;

        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p >= end || *p++ != '(')
                return false;

        while (p < end && *p >= '0' && *p <= '9') {
                whole = whole * 10 + (uint64_t)(*p++ - '0');
                if (whole > 100)
                        return false;
                digits++;
        }
        if (digits == 0)
                return false;

        if (p < end && *p == '.') {
                unsigned fraction_digits = 0;

                p++;
                while (p < end && *p >= '0' && *p <= '9') {
                        if (fraction_digits < 2)
                                hundredths = hundredths * 10 + (uint64_t)(*p - '0');
                        fraction_digits++;
                        p++;
                }
                if (fraction_digits == 0)
                        return false;
                if (fraction_digits == 1)
                        hundredths *= 10;
        }

        if (end - p < 6 || memcmp(p, "/100%)", 6) != 0)
                return false;

        *ret = whole * 100 + hundredths;
        if (*ret > 10000)
                *ret = 10000;
        return true;
}

static void stdout_line_finish(spawn_state *state)
{
        uint64_t value;

        if (!state->stdout_line_overlong &&
            progress_parse(state->stdout_line, state->stdout_line_length, &value) &&
            (int64_t)value > state->last_progress) {
                state->last_progress = (int64_t)value;
                state->hooks->progress(state->hooks->userdata, value, 10000);
        }
        state->stdout_line_length = 0;
        state->stdout_line_overlong = false;
}

/* qemu-img redraws its progress with '\r', so both '\r' and '\n' end a line. */
static void stdout_consume(spawn_state *state, const char *data, size_t size)
{
        if (!state->hooks || !state->hooks->progress)
                return;

        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\r' || data[i] == '\n') {
                        stdout_line_finish(state);
                        continue;
                }
                if (state->stdout_line_length < sizeof(state->stdout_line))
                        state->stdout_line[state->stdout_line_length++] = data[i];
                else
                        state->stdout_line_overlong = true;
        }
}

static void stderr_consume(spawn_state *state, const char *data, size_t size)
{
        if (size >= STDERR_TAIL_MAX) {
                memcpy(state->stderr_tail, data + size - STDERR_TAIL_MAX, STDERR_TAIL_MAX);
                state->stderr_tail_length = STDERR_TAIL_MAX;
                return;
        }
        if (state->stderr_tail_length + size > STDERR_TAIL_MAX) {
                size_t drop = state->stderr_tail_length + size - STDERR_TAIL_MAX;

                memmove(state->stderr_tail, state->stderr_tail + drop, state->stderr_tail_length - drop);
                state->stderr_tail_length -= drop;
        }
        memcpy(state->stderr_tail + state->stderr_tail_length, data, size);
        state->stderr_tail_length += size;
}

/* The last line of stderr with any text on it, trimmed, into out. Empty when there is none. */
static void stderr_last_line(const spawn_state *state, char *out, size_t out_size)
{
        const char *tail = state->stderr_tail;
        size_t end = state->stderr_tail_length, start;

        /* Trailing whitespace includes the newlines of empty last lines. */
        while (end > 0 && strchr(" \t\r\n", tail[end - 1]))
                end--;
        start = end;
        while (start > 0 && tail[start - 1] != '\n' && tail[start - 1] != '\r')
                start--;
        while (start < end && (tail[start] == ' ' || tail[start] == '\t'))
                start++;

        snprintf(out, out_size, "%.*s", (int)(end - start), tail + start);
}

static const char *program_name(const char *argv0)
{
        const char *slash = strrchr(argv0, '/');

        return slash ? slash + 1 : argv0;
}

/* Finds argv0 in $PATH the way execvp() would, so that the child only needs execve(). */
static int program_find(const char *argv0, char **ret)
{
        const char *search, *p;

        if (strchr(argv0, '/')) {
                *ret = xstrdup(argv0);
                return 0;
        }

        search = getenv("PATH");
        if (!search || search[0] == '\0')
                search = "/usr/local/bin:/usr/bin:/bin";

        for (p = search;; p++) {
                size_t length = strcspn(p, ":");
                struct stat st;
                /* An empty entry means the current directory, as it does for execvp(). */
                char *candidate =
                        length == 0 ? xasprintf("./%s", argv0) : xasprintf("%.*s/%s", (int)length, p, argv0);
                if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
                        *ret = candidate;
                        return 0;
                }
                free(candidate);

                p += length;
                if (*p == '\0')
                        return -ENOENT;
        }
}

/* A descriptor the child is to get as 1 or 2, moved to 3 or above first when it is one of
 * 0-2 itself, so that placing the two cannot clobber one another: the copy to close, or -1. */
static int lift_descriptor(int *fd)
{
        if (*fd > STDERR_FILENO)
                return -1;
        int lifted = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
        if (lifted >= 0)
                *fd = lifted;
        return lifted;
}

/* Starts the child; returns once execve() succeeded or failed (its errno is posix_spawn()'s
 * answer: glibc's waits for the exec). */
static int spawn_child(const char *const *argv, int stdout_fd, int stderr_fd, pid_t *ret)
{
        _cleanup_free_ char *program = NULL;
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attributes;
        sigset_t all, none;
        int lifted_out, lifted_err, r;

        r = program_find(argv[0], &program);
        if (r < 0)
                return r;
        lifted_out = lift_descriptor(&stdout_fd);
        lifted_err = lift_descriptor(&stderr_fd);

        /* stdin from /dev/null, the pipes on 1 and 2, and no other descriptor: other threads
         * may have opened some without O_CLOEXEC. The child starts with every signal at its
         * default and none blocked (the calling thread may block some, as sd-event does), so
         * that SIGTERM ends it. */
        r = posix_spawn_file_actions_init(&actions);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY | O_NOCTTY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
        if (r == 0)
                r = posix_spawnattr_init(&attributes);
        if (r == 0) {
                sigfillset(&all);
                sigemptyset(&none);
                r = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
                if (r == 0)
                        r = posix_spawnattr_setsigdefault(&attributes, &all);
                if (r == 0)
                        r = posix_spawnattr_setsigmask(&attributes, &none);
                /* vfork-like: the cost does not grow with the memory of the process, as fork()'s
                 * copy of its page tables did for a daemon holding large trees. */
                if (r == 0)
                        r = posix_spawn(ret, program, &actions, &attributes, (char *const *)argv, environ);
                posix_spawnattr_destroy(&attributes);
        }
        posix_spawn_file_actions_destroy(&actions);
        if (lifted_out >= 0)
                close(lifted_out);
        if (lifted_err >= 0)
                close(lifted_err);
        return -r;
}

/* Reads whatever is available on *fd; closes it and sets it to -EBADF at end of file. */
static void pipe_drain(spawn_state *state, int *fd, bool is_stdout)
{
        char buffer[4096];
        ssize_t n;

        n = read(*fd, buffer, sizeof(buffer));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                close(*fd);
                *fd = -EBADF;
                return;
        }
        if (is_stdout)
                stdout_consume(state, buffer, (size_t)n);
        else
                stderr_consume(state, buffer, (size_t)n);
}

static void child_terminate(pid_t pid, int *status)
{
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) / 1000 + TERMINATE_GRACE_MS;

        (void)kill(pid, SIGTERM);
        for (unsigned delay = 1;; delay = delay < 50 ? delay * 2 : 50) {
                pid_t r = waitpid(pid, status, WNOHANG);
                if (r == pid || (r < 0 && errno != EINTR))
                        return;
                if (now_usec(CLOCK_MONOTONIC) / 1000 >= deadline)
                        break;
                sleep_ms(delay);
        }

        /* It ignored SIGTERM for too long. */
        (void)kill(pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
}

int vmsnap_spawn(const char *const *argv, const vmsnap_hooks *hooks, vmsnap_error *error)
{
        int stdout_pipe[2] = {-EBADF, -EBADF}, stderr_pipe[2] = {-EBADF, -EBADF};
        _cleanup_free_ spawn_state *state = NULL;
        char last_line[STDERR_TAIL_MAX];
        const char *name;
        int status = 0, r;
        pid_t pid = 0;

        if (!argv || !argv[0] || argv[0][0] == '\0')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no program was given to run");
        name = program_name(argv[0]);
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);

        state = xcalloc(1, sizeof(*state));
        state->hooks = hooks;
        state->last_progress = -1;

        if (is_canceled(state))
                return vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                        "%s was canceled before it started", name);

        if (pipe2(stdout_pipe, O_CLOEXEC) < 0 || pipe2(stderr_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                close_pair(stdout_pipe);
                close_pair(stderr_pipe);
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot create pipes for %s: %m",
                                        name);
        }

        r = spawn_child(argv, stdout_pipe[1], stderr_pipe[1], &pid);
        close(stdout_pipe[1]);
        close(stderr_pipe[1]);
        stdout_pipe[1] = stderr_pipe[1] = -EBADF;
        if (r < 0) {
                close_pair(stdout_pipe);
                close_pair(stderr_pipe);
                if (r == -ENOENT && !strchr(argv[0], '/'))
                        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                                "cannot run %s: it is not installed (not found in $PATH)",
                                                name);
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot run %s: %m", name);
        }

        for (;;) {
                struct pollfd fds[2];
                nfds_t n = 0;
                int *owners[2];

                if (is_canceled(state)) {
                        close_pair(stdout_pipe);
                        close_pair(stderr_pipe);
                        child_terminate(pid, &status);
                        return vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED, "%s was canceled",
                                                name);
                }

                if (stdout_pipe[0] >= 0) {
                        fds[n] = (struct pollfd){.fd = stdout_pipe[0], .events = POLLIN};
                        owners[n++] = &stdout_pipe[0];
                }
                if (stderr_pipe[0] >= 0) {
                        fds[n] = (struct pollfd){.fd = stderr_pipe[0], .events = POLLIN};
                        owners[n++] = &stderr_pipe[0];
                }

                if (n == 0) {
                        /* Both pipes are closed; the child is exiting (or has closed them and goes on).
                         * Keep polling for cancellation while waiting, starting with short naps. */
                        static const unsigned naps[] = {1, 2, 5, 10, 20, 50};
                        for (unsigned i = 0;; i++) {
                                pid_t w = waitpid(pid, &status, WNOHANG);
                                if (w == pid)
                                        break;
                                if (w < 0 && errno != EINTR)
                                        return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                                                "cannot wait for %s: %m", name);
                                if (is_canceled(state)) {
                                        child_terminate(pid, &status);
                                        return vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                                                "%s was canceled", name);
                                }
                                sleep_ms(i < sizeof(naps) / sizeof(naps[0]) ? naps[i] : POLL_INTERVAL_MS);
                        }
                        break;
                }

                r = poll(fds, n, POLL_INTERVAL_MS);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        close_pair(stdout_pipe);
                        close_pair(stderr_pipe);
                        child_terminate(pid, &status);
                        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                                "cannot read the output of %s: %m", name);
                }

                for (nfds_t i = 0; i < n; i++)
                        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                                pipe_drain(state, owners[i], owners[i] == &stdout_pipe[0]);
        }

        /* A progress line not followed by a newline still counts. */
        if (state->stdout_line_length > 0 && hooks && hooks->progress)
                stdout_line_finish(state);

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;

        stderr_last_line(state, last_line, sizeof(last_line));
        /* A child killed from outside (the OOM killer, an administrator) may have left its
         * work half done; callers that can put it back and run it again look for -ECHILD. */
        if (WIFSIGNALED(status))
                return vmsnap_error_set(
                        error, -ECHILD, VMSNAP_ERROR_FAILED, "%s was killed by signal SIG%s%s%s", name,
                        sigabbrev_np(WTERMSIG(status)) ?: "(unknown)", last_line[0] ? ": " : "", last_line);
        if (last_line[0] != '\0')
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "%s failed: %s", name, last_line);
        return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "%s failed with exit status %d", name,
                                WEXITSTATUS(status));
}
