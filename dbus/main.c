/* main.c: vmsnapd's command line, its sd-event loop and its bus connection,
 * and an orderly exit on SIGTERM/SIGINT. What the daemon serves is methods.c's
 * and job.c's. */
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
#include "manager.h"
#include "polkit.h"
#include "vmsnap/vmsnap.h"

#define EXIT_USAGE 2
#define USEC_PER_SEC 1000000ULL
#define WORKERS_MAX 1024
#define JOB_LINGER_MAX (7ULL * 24 * 3600)
#define STOP_TIMEOUT_MAX (24ULL * 3600)

typedef struct arguments {
        const char *uri;
        const char *state_dir;
        const char *bus_address;   /* NULL: the system bus */
        const char *clone_targets; /* NULL: the engine's default, /etc/vmsnap/clone-targets */
        unsigned workers;
        uint64_t job_linger_sec;
        uint64_t stop_timeout_sec;
} arguments;

static void help(void)
{
        printf("Usage: vmsnapd [OPTION...]\n"
               "Serves org.example.Snapshots on the system bus: snapshots of libvirt domains,\n"
               "authorized by polkit, with long operations as job objects.\n\n"
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
               "  -h, --help             show this help\n"
               "      --version          show the version\n",
               VMSNAP_DEFAULT_URI, VMSNAP_DEFAULT_STATE_DIR);
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

static int parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long value;

        if (!text[0] || text[0] == '-' || text[0] == '+')
                return -EINVAL;
        errno = 0;
        value = strtoull(text, &end, 10);
        if (errno != 0 || *end != '\0' || value < min || value > max)
                return -ERANGE;
        *ret = value;
        return 0;
}

/* Returns 0 to run, 1 to exit successfully (help, version), negative on a usage error. */
static int parse_arguments(int argc, char *argv[], arguments *args)
{
        enum {
                OPT_CONNECT = 0x100,
                OPT_STATE_DIR,
                OPT_BUS_ADDRESS,
                OPT_WORKERS,
                OPT_JOB_LINGER,
                OPT_CLONE_TARGETS,
                OPT_STOP_TIMEOUT,
                OPT_VERSION
        };
        static const struct option options[] = {
                {"connect", required_argument, NULL, OPT_CONNECT},
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"bus-address", required_argument, NULL, OPT_BUS_ADDRESS},
                {"workers", required_argument, NULL, OPT_WORKERS},
                {"job-linger", required_argument, NULL, OPT_JOB_LINGER},
                {"clone-targets", required_argument, NULL, OPT_CLONE_TARGETS},
                {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {},
        };
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t number;
        int c;

        *args = (arguments){
                .uri = VMSNAP_DEFAULT_URI,
                .state_dir = VMSNAP_DEFAULT_STATE_DIR,
                .workers = cpus > 0 ? (unsigned)(cpus < WORKERS_MAX ? cpus : WORKERS_MAX) : 1,
                .job_linger_sec = 300,
                .stop_timeout_sec = 60,
        };
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_CONNECT:
                        if (!optarg[0])
                                return usage_error("--connect needs a libvirt URI");
                        args->uri = optarg;
                        break;
                case OPT_STATE_DIR:
                        if (!optarg[0])
                                return usage_error("--state-dir needs a directory");
                        args->state_dir = optarg;
                        break;
                case OPT_BUS_ADDRESS:
                        if (!optarg[0])
                                return usage_error("--bus-address needs a D-Bus address such as "
                                                   "unix:path=/run/dbus/system_bus_socket");
                        args->bus_address = optarg;
                        break;
                case OPT_WORKERS:
                        if (parse_number(optarg, 1, WORKERS_MAX, &number) < 0)
                                return usage_error("--workers takes a number from 1 to 1024, not \"%s\"",
                                                   optarg);
                        args->workers = (unsigned)number;
                        break;
                case OPT_JOB_LINGER:
                        if (parse_number(optarg, 0, JOB_LINGER_MAX, &number) < 0)
                                return usage_error("--job-linger takes seconds from 0 to 604800, not \"%s\"",
                                                   optarg);
                        args->job_linger_sec = number;
                        break;
                case OPT_STOP_TIMEOUT:
                        if (parse_number(optarg, 0, STOP_TIMEOUT_MAX, &number) < 0)
                                return usage_error("--stop-timeout takes seconds from 0 to 86400, not \"%s\"",
                                                   optarg);
                        args->stop_timeout_sec = number;
                        break;
                case OPT_CLONE_TARGETS:
                        if (optarg[0] != '/')
                                return usage_error("--clone-targets needs an absolute file name, not \"%s\"",
                                                   optarg);
                        args->clone_targets = optarg;
                        break;
                case 'h':
                        help();
                        return 1;
                case OPT_VERSION:
                        printf("vmsnapd %s (libvmsnap %s)\n", VMSNAP_VERSION, vmsnap_version());
                        return 1;
                case ':':
                        return usage_error("option %s needs a value", argv[optind - 1]);
                case '?':
                default:
                        return usage_error("unknown option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return usage_error("unexpected argument \"%s\"", argv[optind]);
        return 0;
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
        manager_restart_when_idle(userdata);
        return 0;
}

/* The loop ends once the work under way has answered (see manager_shut_down). */
static int on_terminate(sd_event_source *source, const struct signalfd_siginfo *info, void *userdata)
{
        manager_shut_down(userdata);
        return 0;
}

static int run(const arguments *args)
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
                r = manager_start(m);
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
        manager_stop(m);
        vmsnap_engine_free(engine);
        manager_free(m);
        polkit_release();
        if (bus)
                sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0 ? EXIT_FAILURE : r == MANAGER_EXIT_RESTART ? MANAGER_EXIT_RESTART : EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
        arguments args;
        int r;

        r = parse_arguments(argc, argv, &args);
        if (r < 0)
                return EXIT_USAGE;
        if (r > 0)
                return EXIT_SUCCESS;
        return run(&args);
}
