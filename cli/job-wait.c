/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* job-wait.c: the waiting loop (sd-event: the bus, SIGINT, a 100 ms redraw timer)
 * and the progress line. The job's own signals drive it; a GetAll every second
 * covers a signal that never came. Nothing here decides what a verb prints
 * besides the job's own outcome. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bus.h"
#include "cli.h"
#include "exit-codes.h"
#include "job-wait.h"
#include "output.h"
#include "polkit-agent.h"
#include "util.h"
#include "variant-json.h"

#define REDRAW_USEC (100 * 1000ULL) /* at most ten redraws a second */
#define POLL_USEC (1000 * 1000ULL)

typedef struct job_waiter {
        sd_bus *bus;
        sd_event *event;
        const char *path;
        json_object *job;
        bool tty;       /* stderr is a terminal: a redrawn bar, else lines */
        bool colors;    /* and it takes colour */
        bool drawn;     /* the bar is on screen and must be cleared first */
        bool dirty;     /* something changed since the last redraw */
        char state[16]; /* the last state reported */
        unsigned interrupts;
        bool finished;
} job_waiter;

static bool state_terminal(const char *state)
{
        return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "canceled") == 0;
}

void job_label(json_object *job, char *buffer, size_t size)
{
        const char *snapshot = record_string(job, "Snapshot");
        snprintf(buffer, size, "job %u (%s %s%s%s)", (unsigned)record_uint(job, "Id"),
                 record_string(job, "Operation"), record_string(job, "Domain"), *snapshot ? "/" : "",
                 snapshot);
}

static unsigned terminal_columns(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
                return ws.ws_col;
        return 80;
}

static void clear_bar(job_waiter *w)
{
        if (w->drawn) {
                fputs("\r\033[K", stderr);
                w->drawn = false;
        }
}

/* "clone alpha/s  [#######-------------]  35%  16.8 MiB/48.0 MiB  12.0 MiB/s  3s left" */
static void draw_bar(job_waiter *w)
{
        char label[256], line[512], details[160] = "";
        const char *snapshot = record_string(w->job, "Snapshot");
        /* Shorter than job_label(): the line is one terminal row. */
        snprintf(label, sizeof(label), "%s %s%s%s", record_string(w->job, "Operation"),
                 record_string(w->job, "Domain"), *snapshot ? "/" : "", snapshot);
        const char *state = record_string(w->job, "State");
        double fraction = record_double(w->job, "Progress");
        uint64_t total = record_uint(w->job, "BytesTotal");
        unsigned columns = terminal_columns();

        if (strcmp(state, "running") != 0 || !record_bool(w->job, "ProgressValid")) {
                snprintf(line, sizeof(line), "%s  %s", label, state);
        } else {
                if (total > 0) {
                        char done_text[32], total_text[32], rate_text[32], left_text[48] = "";
                        uint64_t rate = record_uint(w->job, "Rate");
                        uint64_t end = record_uint(w->job, "ExpectedEndTime");
                        format_bytes(record_uint(w->job, "BytesDone"), done_text, sizeof(done_text));
                        format_bytes(total, total_text, sizeof(total_text));
                        format_bytes(rate, rate_text, sizeof(rate_text));
                        uint64_t now = now_usec(CLOCK_REALTIME);
                        if (end > now) {
                                char duration[32];
                                format_duration((end - now + 999999) / 1000000, duration, sizeof(duration));
                                snprintf(left_text, sizeof(left_text), "  %s left", duration);
                        }
                        snprintf(details, sizeof(details), "  %s/%s%s%s%s%s", done_text, total_text,
                                 rate ? "  " : "", rate ? rate_text : "", rate ? "/s" : "", left_text);
                }
                /* The bar takes what the terminal has left beside the widest details, 10 to 30
                 * columns, so that it keeps its width while the numbers change. */
                size_t other = strlen(label) + 10 + (total > 0 ? 40 : 0);
                unsigned width = other + 10 < columns ? (unsigned)(columns - 1 - other) : 0;
                if (width > 30)
                        width = 30;
                char bar[40] = "";
                if (width >= 10) {
                        unsigned filled = (unsigned)(fraction * width + 0.5);
                        if (filled > width)
                                filled = width;
                        bar[0] = '[';
                        for (unsigned i = 0; i < width; i++)
                                bar[i + 1] = i < filled ? '#' : '-';
                        bar[width + 1] = ']';
                        bar[width + 2] = '\0';
                }
                snprintf(line, sizeof(line), "%s  %s %3.0f%%%s", label, bar, fraction * 100.0, details);
        }
        if (strlen(line) >= columns)
                line[columns - 1] = '\0';
        fprintf(stderr, "\r%s\033[K", line);
        fflush(stderr);
        w->drawn = true;
        w->dirty = false;
}

static void report_state(job_waiter *w)
{
        const char *state = record_string(w->job, "State");
        if (strcmp(state, w->state) == 0)
                return;
        snprintf(w->state, sizeof(w->state), "%s", state);
        if (state_terminal(state))
                return; /* finish() says how it ended */
        if (w->tty) {
                w->dirty = true;
                return;
        }
        char label[256];
        job_label(w->job, label, sizeof(label));
        fprintf(stderr, "%s: %s\n", label, state);
}

static void merge(json_object *into, json_object *changes)
{
        json_object_object_foreach(changes, key, value)
        {
                json_object_object_add(into, key, json_object_get(value));
        }
}

static int refresh(job_waiter *w)
{
        json_object *job = NULL;
        int r = bus_job_properties(w->bus, w->path, &job);
        if (r != 0)
                return r;
        json_object_put(w->job);
        w->job = job;
        return 0;
}

/* The job ended: leave the loop with its properties read once more (Messages and
 * Result as they stand at the end). This must happen inside the loop: when it
 * exits, sd-bus closes the connection attached to it. */
static void check_end(job_waiter *w)
{
        if (state_terminal(record_string(w->job, "State")) && !w->finished) {
                w->finished = true;
                (void)refresh(w);
                sd_event_exit(w->event, 0);
        }
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        job_waiter *w = userdata;
        const char *interface;
        json_object *changes = NULL;
        if (sd_bus_message_read(m, "s", &interface) < 0 || strcmp(interface, JOB_INTERFACE) != 0)
                return 0;
        if (variant_json_read(m, &changes) < 0)
                return 0;
        merge(w->job, changes);
        json_object_put(changes);
        w->dirty = true;
        report_state(w);
        check_end(w);
        return 0;
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        job_waiter *w = userdata;
        double fraction;
        uint64_t done, total;
        if (sd_bus_message_read(m, "dtt", &fraction, &done, &total) < 0)
                return 0;
        json_object_object_add(w->job, "Progress", json_object_new_double(fraction));
        json_object_object_add(w->job, "ProgressValid", json_object_new_boolean(1));
        json_object_object_add(w->job, "BytesDone", json_object_new_uint64(done));
        json_object_object_add(w->job, "BytesTotal", json_object_new_uint64(total));
        w->dirty = true;
        return 0;
}

static int on_completed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        job_waiter *w = userdata;
        if (refresh(w) == 0)
                check_end(w);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        job_waiter *w = userdata;
        static uint64_t last_poll;
        if (usec - last_poll >= POLL_USEC) {
                last_poll = usec;
                if (refresh(w) != 0) {
                        /* Gone or unreadable: end with what we knew. */
                        w->finished = true;
                        return sd_event_exit(w->event, EXIT_FAILURE_OTHER);
                }
                report_state(w);
                check_end(w);
        }
        if (w->tty && w->dirty && !w->finished)
                draw_bar(w);
        sd_event_source_set_time(s, usec + REDRAW_USEC);
        return 0;
}

static int on_interrupt(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        job_waiter *w = userdata;
        char label[256];
        job_label(w->job, label, sizeof(label));
        clear_bar(w);
        if (++w->interrupts >= 2) {
                fprintf(stderr, "%s left running: %s\n", label, w->path);
                return sd_event_exit(w->event, EXIT_LEFT_RUNNING);
        }
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(w->bus, &m, SNAPSHOTS_SERVICE, w->path, JOB_INTERFACE,
                                               "Cancel");
        if (r >= 0)
                r = bus_call(w->bus, m, "cannot cancel the job", NULL);
        if (r == 0)
                fprintf(stderr, "Canceling %s; press Ctrl-C again to leave it running.\n", label);
        w->dirty = true;
        return 0;
}

/* Prints how the job ended and returns the exit code for it. */
static int finish(job_waiter *w)
{
        char label[256];
        job_label(w->job, label, sizeof(label));
        clear_bar(w);
        const char *state = record_string(w->job, "State");
        const char *error = record_string(w->job, "Error");
        int code;
        if (strcmp(state, "done") == 0) {
                code = EXIT_DONE;
                if (!arg.json)
                        fprintf(stderr, "%s: %sdone%s\n", label, w->colors ? ANSI_GREEN : "",
                                w->colors ? ANSI_NORMAL : "");
        } else if (strcmp(state, "canceled") == 0) {
                code = EXIT_CANCELED;
                fprintf(stderr, "%s: canceled%s%s\n", label, *error ? ": " : "", error);
        } else {
                const char *name = record_string(w->job, "ErrorName");
                code = exit_code_from_error_name(name);
                if (code == EXIT_FAILURE_OTHER)
                        code = EXIT_FAILED;
                fprintf(stderr, "%s: %sfailed%s: %s%s%s%s\n", label, w->colors ? ANSI_RED : "",
                        w->colors ? ANSI_NORMAL : "", error, *name ? " (" : "", name, *name ? ")" : "");
        }
        json_object *messages = record_array(w->job, "Messages");
        if (!arg.json)
                for (size_t i = 0; messages && i < json_object_array_length(messages); i++)
                        fprintf(stderr, "  %s\n",
                                json_object_get_string(json_object_array_get_idx(messages, i)));
        if (arg.json)
                output_json(w->job);
        else if (code == EXIT_DONE && *record_string(w->job, "Result"))
                puts(record_string(w->job, "Result"));
        return code;
}

int job_wait(sd_bus *bus, const char *path, json_object **ret_job)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL, *interrupt = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *changed = NULL, *progress = NULL, *completed = NULL;
        job_waiter w = {
                .bus = bus, .path = path, .tty = isatty(STDERR_FILENO), .colors = output_colors(stderr)};
        int r;

        /* The method was answered: any password prompt is over. */
        polkit_agent_close();

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return bus_log_errno(r, "cannot set up the event loop");
        w.event = event;

        /* Subscribe first, then read: a job that ends in between is seen by the read. */
        r = sd_bus_match_signal(bus, &changed, NULL, path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, &w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &progress, NULL, path, JOB_INTERFACE, "Progress", on_progress,
                                        &w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &completed, NULL, path, JOB_INTERFACE, "Completed",
                                        on_completed, &w);
        if (r < 0)
                return bus_log_errno(r, "cannot follow the job's signals");
        r = refresh(&w);
        if (r != 0)
                return r;
        report_state(&w);

        if (!state_terminal(record_string(w.job, "State"))) {
                sigset_t mask;
                sigemptyset(&mask);
                sigaddset(&mask, SIGINT);
                sigprocmask(SIG_BLOCK, &mask, NULL);
                r = sd_event_add_signal(event, &interrupt, SIGINT, on_interrupt, &w);
                if (r >= 0)
                        r = sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, 0, 0, on_timer, &w);
                if (r >= 0)
                        r = sd_event_source_set_enabled(timer, SD_EVENT_ON);
                if (r < 0)
                        return bus_log_errno(r, "cannot set up the event loop");
                if (w.tty)
                        draw_bar(&w);
                r = sd_event_loop(event);
                if (r < 0)
                        return bus_log_errno(r, "waiting for the job failed");
                if (r == EXIT_LEFT_RUNNING || r == EXIT_FAILURE_OTHER) {
                        clear_bar(&w);
                        json_object_put(w.job);
                        return r;
                }
        }
        r = finish(&w);
        if (ret_job)
                *ret_job = w.job;
        else
                json_object_put(w.job);
        return r;
}
