/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c: vmsnapctl's entry: the global options, the verb's own options (checked
 * against the verb table), and the dispatch. Every usage error is found here or in
 * the verb before its first call, and exits with EXIT_USAGE. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "exit-codes.h"
#include "util.h"
#include "verbs.h"

cli_options arg = {.legend = true, .ask_password = true};

void log_error(const char *format, ...)
{
        va_list ap;
        fputs("vmsnapctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int usage_error(const char *format, ...)
{
        va_list ap;
        fputs("vmsnapctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_USAGE;
}

static void help(void)
{
        printf("vmsnapctl [OPTIONS...] COMMAND ...\n\n"
               "Manage the snapshots of libvirt domains through vmsnapd (org.example.Snapshots).\n\n"
               "Commands:\n");
        for (const verb *v = verbs; v->name; v++) {
                if (v->hidden)
                        continue;
                char usage[64];
                snprintf(usage, sizeof(usage), "%s %s", v->name, v->arguments);
                printf("  %-32s %s\n", usage, v->summary);
        }
        printf("\nGlobal options:\n"
               "  -h --help                 Show this help (after a command: that command's)\n"
               "     --version              Show the version\n"
               "     --json                 Print one JSON document instead of text\n"
               "     --no-legend            Print tables without headers and footers\n"
               "     --no-wait              Do not wait for a job: print its object path\n"
               "     --no-ask-password      Never ask for a password (polkit)\n"
               "  -H --host=[USER@]HOST[:PORT]\n"
               "                            Use the vmsnapd of another host, over SSH\n"
               "     --bus-address=ADDRESS  Use the bus at ADDRESS instead of the system bus\n"
               "\nSee vmsnapctl COMMAND --help, and vmsnapctl(1) for the options of each command\n"
               "and the exit status.\n");
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_WAIT,
        ARG_NO_ASK_PASSWORD,
        ARG_BUS_ADDRESS,
        ARG_DESCRIPTION,
        ARG_DISK,
        ARG_MEMORY,
        ARG_QUIESCE,
        ARG_STOP,
        ARG_START,
        ARG_CHILDREN,
        ARG_CHILDREN_ONLY,
        ARG_METADATA_ONLY,
        ARG_FORMAT,
        ARG_DIR,
        ARG_POOL,
        ARG_ALLOW_PARTIAL,
        ARG_LINKED,
        ARG_INTO_ORIGINAL,
        ARG_UNDEFINE,
        ARG_DISKS,
};

static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, ARG_VERSION},
        {"json", no_argument, NULL, ARG_JSON},
        {"no-legend", no_argument, NULL, ARG_NO_LEGEND},
        {"no-wait", no_argument, NULL, ARG_NO_WAIT},
        {"no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD},
        {"host", required_argument, NULL, 'H'},
        {"bus-address", required_argument, NULL, ARG_BUS_ADDRESS},
        {"description", required_argument, NULL, ARG_DESCRIPTION},
        {"disk", required_argument, NULL, ARG_DISK},
        {"memory", no_argument, NULL, ARG_MEMORY},
        {"quiesce", no_argument, NULL, ARG_QUIESCE},
        {"stop", no_argument, NULL, ARG_STOP},
        {"start", no_argument, NULL, ARG_START},
        {"children", no_argument, NULL, ARG_CHILDREN},
        {"children-only", no_argument, NULL, ARG_CHILDREN_ONLY},
        {"metadata-only", no_argument, NULL, ARG_METADATA_ONLY},
        {"format", required_argument, NULL, ARG_FORMAT},
        {"dir", required_argument, NULL, ARG_DIR},
        {"pool", required_argument, NULL, ARG_POOL},
        {"allow-partial", no_argument, NULL, ARG_ALLOW_PARTIAL},
        {"linked", no_argument, NULL, ARG_LINKED},
        {"into-original", no_argument, NULL, ARG_INTO_ORIGINAL},
        {"undefine", no_argument, NULL, ARG_UNDEFINE},
        {"disks", no_argument, NULL, ARG_DISKS},
        {},
};

/* Returns -1 to go on, else the exit code. */
static int parse_argv(int argc, char **argv, bool *help_wanted)
{
        int c;
        opterr = 0; /* the messages below name the option and say what is wrong */
        while ((c = getopt_long(argc, argv, ":hH:", long_options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        *help_wanted = true;
                        break;
                case ARG_VERSION:
                        printf("vmsnapctl %s\n", VMSNAP_VERSION);
                        return 0;
                case ARG_JSON:
                        arg.json = true;
                        break;
                case ARG_NO_LEGEND:
                        arg.legend = false;
                        break;
                case ARG_NO_WAIT:
                        arg.no_wait = true;
                        arg.given |= OPT_NO_WAIT;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg.ask_password = false;
                        break;
                case 'H':
                        arg.host = optarg;
                        break;
                case ARG_BUS_ADDRESS:
                        arg.bus_address = optarg;
                        break;
                case ARG_DESCRIPTION:
                        arg.description = optarg;
                        arg.given |= OPT_DESCRIPTION;
                        break;
                case ARG_DISK:
                        if (!*optarg)
                                return usage_error("--disk needs a value.");
                        strv_push(&arg.disks, optarg);
                        arg.given |= OPT_DISK;
                        break;
                case ARG_MEMORY:
                        arg.memory = true;
                        arg.given |= OPT_MEMORY;
                        break;
                case ARG_QUIESCE:
                        arg.quiesce = true;
                        arg.given |= OPT_QUIESCE;
                        break;
                case ARG_STOP:
                        arg.stop = true;
                        arg.given |= OPT_STOP;
                        break;
                case ARG_START:
                        arg.start = true;
                        arg.given |= OPT_START;
                        break;
                case ARG_CHILDREN:
                        arg.children = true;
                        arg.given |= OPT_CHILDREN;
                        break;
                case ARG_CHILDREN_ONLY:
                        arg.children_only = true;
                        arg.given |= OPT_CHILDREN_ONLY;
                        break;
                case ARG_METADATA_ONLY:
                        arg.metadata_only = true;
                        arg.given |= OPT_METADATA_ONLY;
                        break;
                case ARG_FORMAT:
                        arg.format = optarg;
                        arg.given |= OPT_FORMAT;
                        break;
                case ARG_DIR:
                        if (!*optarg)
                                return usage_error("--dir needs a directory.");
                        arg.dir = optarg;
                        arg.given |= OPT_DIR;
                        break;
                case ARG_POOL:
                        if (!*optarg)
                                return usage_error("--pool needs a pool name.");
                        arg.pool = optarg;
                        arg.given |= OPT_POOL;
                        break;
                case ARG_ALLOW_PARTIAL:
                        arg.allow_partial = true;
                        arg.given |= OPT_ALLOW_PARTIAL;
                        break;
                case ARG_LINKED:
                        arg.linked = true;
                        arg.given |= OPT_LINKED;
                        break;
                case ARG_INTO_ORIGINAL:
                        arg.into_original = true;
                        arg.given |= OPT_INTO_ORIGINAL;
                        break;
                case ARG_UNDEFINE:
                        arg.undefine = true;
                        arg.given |= OPT_UNDEFINE;
                        break;
                case ARG_DISKS:
                        arg.show_disks = true;
                        arg.given |= OPT_DISKS;
                        break;
                /* optopt is the character of a short option, the value of a long one. */
                case ':':
                        if (optopt > 0 && optopt < 0x100)
                                return usage_error("option -%c needs a value.", optopt);
                        return usage_error("option %s needs a value.", argv[optind - 1]);
                case '?':
                default:
                        if (optopt > 0 && optopt < 0x100)
                                return usage_error("unknown option -%c (see vmsnapctl --help).", optopt);
                        return usage_error("unknown option %s (see vmsnapctl --help).", argv[optind - 1]);
                }
        }
        if (arg.host && arg.bus_address)
                return usage_error("-H and --bus-address exclude each other.");
        return -1;
}

int main(int argc, char **argv)
{
        bool help_wanted = false;
        int r = parse_argv(argc, argv, &help_wanted);
        if (r >= 0)
                goto out;

        if (optind >= argc) {
                if (help_wanted) {
                        help();
                        r = 0;
                } else
                        r = usage_error("no command given (see vmsnapctl --help).");
                goto out;
        }
        const char *name = argv[optind];
        if (strcmp(name, "help") == 0) {
                const verb *about = optind + 1 < argc ? verb_find(argv[optind + 1]) : NULL;
                if (optind + 1 < argc && !about) {
                        r = usage_error("unknown command \"%s\" (see vmsnapctl --help).", argv[optind + 1]);
                        goto out;
                }
                if (about)
                        verb_help(about);
                else
                        help();
                r = 0;
                goto out;
        }
        const verb *v = verb_find(name);
        if (!v) {
                r = usage_error("unknown command \"%s\" (see vmsnapctl --help).", name);
                goto out;
        }
        if (help_wanted) {
                verb_help(v);
                r = 0;
                goto out;
        }
        unsigned extra = arg.given & ~v->options;
        if (extra) {
                r = usage_error("%s does not apply to %s.", option_name(extra & -extra), v->name);
                goto out;
        }
        int args = argc - optind - 1;
        if (args < (int)v->min_args || args > (int)v->max_args) {
                const char *what = args < (int)v->min_args ? "missing argument" : "too many arguments";
                r = usage_error("%s: %s; usage: vmsnapctl %s %s", v->name, what, v->name, v->arguments);
                goto out;
        }
        r = v->run(args + 1, argv + optind);
out:
        strv_free(arg.disks);
        fflush(stdout);
        return r;
}
