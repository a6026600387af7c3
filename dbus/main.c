/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c: vmsnapd's command line, its sd-event loop and its bus connection,
 * and the signals that stop or restart it (what they do is daemon.c's). What the
 * daemon serves is methods.c's and job.c's. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "daemon.h"
#include "polkit.h"
#include "settings.h"
#include "util.h"
#include "vmsnap/vmsnap.h"

#define EXIT_USAGE 2
#define EXIT_NOT_CONFIGURED 6 /* LSB: the configuration file is bad */
#define USEC_PER_SEC 1000000ULL

static void help(void)
{
        printf("Usage: vmsnapd [OPTION...]\n"
               "Serves org.example.Snapshots on the system bus: snapshots of libvirt domains,\n"
               "authorized by polkit, with long operations as job objects.\n\n"
               "  --config FILE          settings file (default %s; a missing\n"
               "                         default file is fine); options override it\n"
               "  --connect URI          libvirt connection (default %s)\n"
               "  --state-dir DIR        snapshot metadata directory (default %s)\n"
               "  --bus-address ADDRESS  serve this bus instead of the system bus; polkit is\n"
               "                         asked on the same bus\n"
               "  --workers N            threads for changes, and as many for reads and\n"
               "                         authorization (default: the number of CPUs)\n"
               "  --job-linger SECONDS   how long a finished job stays readable (default 300)\n"
               "  --stop-timeout SECONDS after SIGTERM, how long running jobs may go on before\n"
               "                         they are canceled (default 60; keep it below the\n"
               "                         unit's TimeoutStopSec)\n"
               "  --clone-targets FILE   the list of directories clones may also write into\n"
               "                         (default /etc/vmsnap/clone-targets)\n"
               "  --rbd-lease SECONDS    how long this host's hold on a VM's tree kept in a\n"
               "                         Ceph cluster outlives it (default 30; the same on\n"
               "                         every host of the cluster)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n\n"
               "SIGTERM: take no new work, let running jobs end (up to --stop-timeout), exit.\n"
               "SIGHUP: exit with status 75 once no job runs or waits (after an upgrade).\n",
               SETTINGS_DEFAULT_FILE, VMSNAP_DEFAULT_URI, VMSNAP_DEFAULT_STATE_DIR);
}

static int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *format, ...)
{
        va_list ap;

        fprintf(stderr, "vmsnapd: ");
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'vmsnapd --help' for more information.\n");
        return -EINVAL;
}

/* Returns 0 to run, 1 to exit successfully (help, version), -EBADMSG for a bad
 * configuration file, another negative value on a usage error (each said on stderr). The defaults, then the
 * file, then the options: an option given overrides the file, whatever their order. */
static int parse_arguments(int argc, char *argv[], settings *s)
{
        enum { OPT_SETTING = 0x100, OPT_CONFIG, OPT_VERSION };
        static const struct option options[] = {
                {"connect", required_argument, NULL, OPT_SETTING},
                {"state-dir", required_argument, NULL, OPT_SETTING},
                {"bus-address", required_argument, NULL, OPT_SETTING},
                {"workers", required_argument, NULL, OPT_SETTING},
                {"job-linger", required_argument, NULL, OPT_SETTING},
                {"stop-timeout", required_argument, NULL, OPT_SETTING},
                {"clone-targets", required_argument, NULL, OPT_SETTING},
                {"rbd-lease", required_argument, NULL, OPT_SETTING},
                {"config", required_argument, NULL, OPT_CONFIG},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {},
        };
        const char *config = NULL;
        const char **given = xcalloc((size_t)argc + 1, 2 * sizeof(*given));
        size_t n_given = 0;
        char reason[1024];
        int c, index, r = 0;

        settings_init(s);
        opterr = 0;
        while (r == 0 && (c = getopt_long(argc, argv, ":h", options, &index)) >= 0) {
                switch (c) {
                case OPT_SETTING:
                        given[2 * n_given] = options[index].name;
                        given[2 * n_given++ + 1] = optarg;
                        break;
                case OPT_CONFIG:
                        if (!optarg[0])
                                r = usage_error("--config needs a file name");
                        config = optarg;
                        break;
                case 'h':
                        help();
                        r = 1;
                        break;
                case OPT_VERSION:
                        printf("vmsnapd %s (libvmsnap %s)\n", VMSNAP_VERSION, vmsnap_version());
                        r = 1;
                        break;
                case ':':
                        r = usage_error("option %s needs a value", argv[optind - 1]);
                        break;
                case '?':
                default:
                        r = usage_error("unknown option %s", argv[optind - 1]);
                        break;
                }
        }
        if (r == 0 && optind < argc)
                r = usage_error("unexpected argument \"%s\"", argv[optind]);
        if (r == 0 && settings_read_file(s, config ? config : SETTINGS_DEFAULT_FILE, config != NULL, reason,
                                         sizeof(reason)) < 0) {
                fprintf(stderr, "vmsnapd: %s\n", reason);
                r = -EBADMSG;
        }
        for (size_t i = 0; r == 0 && i < n_given; i++)
                if (settings_set(s, given[2 * i], given[2 * i + 1], false, reason, sizeof(reason)) < 0)
                        r = usage_error("--%s %s", given[2 * i], reason);
        free(given);
        return r;
}

static int bus_connect(const char *address, sd_bus **ret)
{
        sd_bus *bus = NULL;
        int r;

        if (!address)
                return sd_bus_open_system(ret);
        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* Any engine thread: what the engine recovered (an interrupted operation, a half-made clone). */
static void log_recovery(void *userdata, const char *text)
{
        fprintf(stderr, "vmsnapd: recovery: %s\n", text);
}

static int on_hangup(sd_event_source *source, const struct signalfd_siginfo *info, void *userdata)
{
        daemon_restart_when_idle(userdata);
        return 0;
}

/* The loop ends once the work under way has answered (see daemon_shut_down). */
static int on_terminate(sd_event_source *source, const struct signalfd_siginfo *info, void *userdata)
{
        daemon_shut_down(userdata);
        return 0;
}

static int run(const settings *args)
{
        vmsnap_engine *engine = NULL;
        vmsnap_error error = {0};
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        manager *m = NULL;
        sigset_t mask;
        int r;

        /* Blocked before any thread exists, so every thread leaves them to the loop's signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* polkit (through GLib) finds the bus in the environment; it must ask the bus we serve,
         * or it would not know our callers. */
        if (args->bus_address && setenv("DBUS_SYSTEM_BUS_ADDRESS", args->bus_address, 1) < 0) {
                fprintf(stderr, "vmsnapd: cannot set DBUS_SYSTEM_BUS_ADDRESS: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        bus_errors_register();

        /* stderr is the journal under systemd: one line at start, then recoveries and refusals. */
        fprintf(stderr, "vmsnapd %s: starting: libvirt %s, state directory %s, %u workers, %s\n",
                VMSNAP_VERSION, args->uri, args->state_dir, args->workers,
                args->bus_address ? args->bus_address : "the system bus");
        r = vmsnap_engine_new(args->uri, args->state_dir, &engine, &error);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: %s\n", error.message);
                return EXIT_FAILURE;
        }
        vmsnap_engine_set_log(engine, log_recovery, NULL);
        r = vmsnap_engine_set_rbd_lease(engine, (unsigned)args->rbd_lease_sec, &error);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: %s\n", error.message);
                goto out;
        }
        if (args->clone_targets) {
                r = vmsnap_engine_set_clone_targets(engine, args->clone_targets, &error);
                if (r < 0) {
                        fprintf(stderr, "vmsnapd: %s\n", error.message);
                        goto out;
                }
        }

        r = sd_event_default(&event);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot set up the event loop: %s\n", strerror(-r));
                goto out;
        }

        r = bus_connect(args->bus_address, &bus);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot connect to %s: %s\n",
                        args->bus_address ? args->bus_address : "the system bus", strerror(-r));
                goto out;
        }
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(bus, 1);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot attach the bus to the event loop: %s\n", strerror(-r));
                goto out;
        }

        r = manager_new(event, bus, engine, args->workers, args->job_linger_sec * USEC_PER_SEC, &m);
        if (r >= 0) {
                m->stop_timeout_usec = args->stop_timeout_sec * USEC_PER_SEC;
                r = daemon_start(m);
        }
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot publish %s: %s\n", SNAPSHOTS_OBJECT_PATH, strerror(-r));
                goto out;
        }
        r = sd_event_add_signal(event, NULL, SIGTERM, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGHUP, on_hangup, m);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot watch for SIGTERM, SIGINT and SIGHUP: %s\n", strerror(-r));
                goto out;
        }
        r = sd_bus_request_name(bus, SNAPSHOTS_BUS_NAME, 0);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: cannot own the name %s: %s%s\n", SNAPSHOTS_BUS_NAME, strerror(-r),
                        r == -EEXIST ? " (another vmsnapd is running)" : "");
                goto out;
        }

        r = sd_event_loop(event);
        if (r < 0)
                fprintf(stderr, "vmsnapd: the event loop failed: %s\n", strerror(-r));
out:
        /* Workers are joined while the engine still exists; the engine's watcher stops with
         * it, before the manager goes. */
        daemon_stop(m);
        vmsnap_engine_free(engine);
        daemon_free(m);
        polkit_release();
        if (bus)
                sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0 ? EXIT_FAILURE : r == DAEMON_EXIT_RESTART ? DAEMON_EXIT_RESTART : EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
        settings args;
        int r;

        r = parse_arguments(argc, argv, &args);
        if (r == 0)
                r = run(&args);
        else
                r = r == -EBADMSG ? EXIT_NOT_CONFIGURED : r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        settings_clear(&args);
        return r;
}
