/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree-bench.c: the cost of one change (Create, Delete) as a domain's snapshot tree grows,
 * through the public engine API, for bench-tree.sh.
 *
 *   tree-bench [--uri URI] [--dir DIR] [--sizes 10,100,300] [--shapes linear,bushy] [--rounds K]
 *
 * For each shape and size N: a shut-off domain with one tiny qcow2 disk (1 MiB, so the time is
 * the engine's and not the data's) and N snapshots made through the engine:
 *   linear  each snapshot on the one before (the domain always on the newest);
 *   bushy   a 4-ary tree in breadth order: snapshot i is made after a revert to snapshot
 *           (i - 2) / 4 + 1, as someone who returns to an earlier state and takes a new
 *           snapshot from there; 1,000 snapshots are 5 levels deep.
 * Then K rounds (default 7) of four timed changes, which leave the tree at N snapshots again
 * (every size's tree is built first, and the sizes take their rounds in turns, so that what
 * the machine does meanwhile weighs on each alike):
 *   create         a snapshot on the current state;
 *   delete middle  a merge of the current snapshot's ancestor halfway to the root (its
 *                  children, and in the bushy tree its other subtrees, move to its parent);
 *   create         another snapshot on the current state;
 *   delete leaf    a merge of that newest snapshot, the one the domain runs on.
 * Each change is one engine call (wall time, CLOCK_MONOTONIC). Printed per shape and size:
 * the time to build the tree, the median of each kind of change, the median of all changes,
 * and each median's ratio to the smallest size's. The tree is checked against the engine's
 * own record (every snapshot's parent) after the rounds, so a change that did something
 * else than the bench assumes fails the run.
 * URI is test:///default by default (libvirt's test driver in this process: the engine's own
 * work and its qemu-img runs, no libvirtd); qemu:///system defines a qemu domain instead.
 * Each case's directory under DIR (default a new /var/tmp/vmsnap-tree-bench-XXXXXX, removed
 * at the end) goes after its measurement; it stays when the run fails or VMSNAP_BENCH_KEEP is set. */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmsnap/vmsnap.h"

#define MAX_SIZES 16
#define BUSHY_FANOUT 4

enum { CHANGE_CREATE, CHANGE_DELETE_MIDDLE, CHANGE_DELETE_LEAF, CHANGE_KINDS };
static const char *const change_names[CHANGE_KINDS] = {"create", "delete middle", "delete leaf"};

typedef struct settings {
        const char *uri;
        const char *dir;
        unsigned sizes[MAX_SIZES];
        size_t n_sizes;
        bool linear;
        bool bushy;
        unsigned rounds;
} settings;

/* The bench's own model of the tree: snapshot names and each one's parent (an index,
 * -1 for the root), so that picking the snapshot to delete costs the engine nothing. */
typedef struct tree {
        char **names;
        int *parents;
        bool *alive;
        size_t n;
        size_t capacity;
        int current; /* the snapshot the domain's state is on, -1 when none */
} tree;

/* The medians of one shape and size. */
typedef struct result {
        unsigned size;
        double build_seconds;
        double median_ms[CHANGE_KINDS];
        double all_ms;
} result;

static double now_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what, const char *message)
{
        fprintf(stderr, "tree-bench: %s: %s\n", what, message);
        exit(1);
}

static void *xrealloc(void *p, size_t size)
{
        p = realloc(p, size);
        if (!p)
                abort();
        return p;
}

static int compare_doubles(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double median(double *samples, size_t n)
{
        if (n == 0)
                return 0;
        qsort(samples, n, sizeof(*samples), compare_doubles);
        return n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

static int run(char *const argv[])
{
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int tree_add(tree *t, const char *name, int parent)
{
        if (t->n == t->capacity) {
                t->capacity = t->capacity ? t->capacity * 2 : 64;
                t->names = xrealloc(t->names, t->capacity * sizeof(*t->names));
                t->parents = xrealloc(t->parents, t->capacity * sizeof(*t->parents));
                t->alive = xrealloc(t->alive, t->capacity * sizeof(*t->alive));
        }
        t->names[t->n] = strdup(name);
        if (!t->names[t->n])
                abort();
        t->parents[t->n] = parent;
        t->alive[t->n] = true;
        return (int)t->n++;
}

/* A merge as the engine does it: the children move to the parent. */
static void tree_merge(tree *t, int node)
{
        for (size_t i = 0; i < t->n; i++)
                if (t->alive[i] && t->parents[i] == node)
                        t->parents[i] = t->parents[node];
        t->alive[node] = false;
        if (t->current == node)
                t->current = t->parents[node];
}

static void tree_clear(tree *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->names[i]);
        free(t->names);
        free(t->parents);
        free(t->alive);
        *t = (tree){0};
}

/* The ancestor of node halfway between it and the root (node's parent at least). */
static int tree_middle_ancestor(const tree *t, int node)
{
        int depth = 0, up;

        for (int i = t->parents[node]; i >= 0; i = t->parents[i])
                depth++;
        if (depth == 0)
                return -1;
        up = node;
        for (int steps = (depth + 1) / 2; steps > 0; steps--)
                up = t->parents[up];
        return up;
}

typedef struct bench {
        const settings *settings;
        virConnectPtr connection; /* keeps the test driver's state alive for the engine */
        vmsnap_engine *engine;
        const char *domain;
        tree tree;
} bench;

static double timed_create(bench *b, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        double start = now_ms(), elapsed;

        if (vmsnap_snapshot_create(b->engine, b->domain, &options, NULL, NULL, &error) < 0)
                die("create", error.message);
        elapsed = now_ms() - start;
        b->tree.current = tree_add(&b->tree, name, b->tree.current);
        return elapsed;
}

static double timed_delete(bench *b, int node)
{
        vmsnap_error error = {0};
        double start = now_ms(), elapsed;

        if (vmsnap_snapshot_delete(b->engine, b->domain, b->tree.names[node], VMSNAP_DELETE_MERGE, NULL,
                                   &error) < 0)
                die("delete", error.message);
        elapsed = now_ms() - start;
        tree_merge(&b->tree, node);
        return elapsed;
}

static void revert(bench *b, int node)
{
        vmsnap_error error = {0};

        if (vmsnap_snapshot_revert(b->engine, b->domain, b->tree.names[node], NULL, NULL, &error) < 0)
                die("revert", error.message);
        b->tree.current = node;
}

static void build(bench *b, unsigned size, bool bushy)
{
        char name[32];

        for (unsigned i = 1; i <= size; i++) {
                if (bushy && i > 1) {
                        int parent = (int)((i - 2) / BUSHY_FANOUT); /* index of snapshot (i-2)/4+1 */
                        if (b->tree.current != parent)
                                revert(b, parent);
                }
                snprintf(name, sizeof(name), "s%u", i);
                timed_create(b, name);
        }
}

/* Every snapshot the engine records has the parent the model says, and no other exists. */
static void check_tree(bench *b)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0, alive = 0;

        if (vmsnap_snapshot_list(b->engine, b->domain, &list, &n, &error) < 0)
                die("list", error.message);
        for (size_t i = 0; i < b->tree.n; i++)
                alive += b->tree.alive[i];
        if (n != alive) {
                fprintf(stderr, "tree-bench: the engine records %zu snapshots, the bench made %zu\n", n,
                        alive);
                exit(1);
        }
        for (size_t i = 0; i < n; i++) {
                const char *parent_name = "";
                const char *parent_id = list[i].parent_id;
                size_t k;

                for (k = 0; k < b->tree.n; k++)
                        if (b->tree.alive[k] && strcmp(b->tree.names[k], list[i].name) == 0)
                                break;
                if (k == b->tree.n)
                        die(list[i].name, "the engine records a snapshot the bench did not make");
                for (size_t j = 0; j < n && *parent_id; j++)
                        if (strcmp(list[j].id, parent_id) == 0)
                                parent_name = list[j].name;
                if (strcmp(parent_name, b->tree.parents[k] < 0 ? "" : b->tree.names[b->tree.parents[k]]) !=
                    0) {
                        fprintf(stderr,
                                "tree-bench: %s: the engine's parent is '%s', the bench expected '%s'\n",
                                list[i].name, parent_name,
                                b->tree.parents[k] < 0 ? "" : b->tree.names[b->tree.parents[k]]);
                        exit(1);
                }
        }
        vmsnap_snapshot_info_array_free(list, n);
}

static void define_domain(bench *b, const char *image)
{
        bool test_driver = strncmp(b->settings->uri, "test:", 5) == 0;
        virDomainPtr d = virDomainLookupByName(b->connection, b->domain);
        char *xml;

        if (d) { /* left by an interrupted run */
                virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
                virDomainFree(d);
        }
        if (asprintf(&xml,
                     "<domain type='%s'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                     "<os><type arch='x86_64'>hvm</type></os><devices>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
                     test_driver ? "test" : "qemu", b->domain, image) < 0)
                abort();
        d = virDomainDefineXML(b->connection, xml);
        if (!d) {
                virErrorPtr e = virGetLastError();
                die(b->domain, e ? e->message : "cannot be defined");
        }
        virDomainFree(d);
        free(xml);
}

static void undefine_domain(bench *b)
{
        virDomainPtr d = virDomainLookupByName(b->connection, b->domain);

        if (d) {
                virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
                virDomainFree(d);
        }
}

/* One shape and size under measurement: its domain, engine and tree, and the samples so far. */
typedef struct bench_case {
        bench b;
        char domain[64];
        char *case_dir, *image, *state;
        double *samples[CHANGE_KINDS];
        size_t n_samples[CHANGE_KINDS];
        double *all;
        size_t n_all;
        result r;
} bench_case;

static void case_build(bench_case *c, const settings *s, virConnectPtr connection, const char *shape,
                       unsigned size)
{
        vmsnap_error error = {0};
        double start;

        *c = (bench_case){.r = {.size = size}};
        c->b = (bench){
                .settings = s, .connection = connection, .domain = c->domain, .tree = {.current = -1}};
        snprintf(c->domain, sizeof(c->domain), "tree-bench-%s-%u", shape, size);
        if (asprintf(&c->case_dir, "%s/%s", s->dir, c->domain) < 0 ||
            asprintf(&c->image, "%s/disk.qcow2", c->case_dir) < 0 ||
            asprintf(&c->state, "%s/state", c->case_dir) < 0)
                abort();
        char *remove[] = {"rm", "-rf", c->case_dir, NULL};
        char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", c->image, "1M", NULL};
        if (run(remove) < 0 || mkdir(c->case_dir, 0755) < 0 || run(create) < 0)
                die(c->case_dir, "cannot make the directory and its image");
        define_domain(&c->b, c->image);
        if (vmsnap_engine_new(s->uri, c->state, &c->b.engine, &error) < 0)
                die("engine", error.message);

        start = now_ms();
        build(&c->b, size, strcmp(shape, "bushy") == 0);
        c->r.build_seconds = (now_ms() - start) / 1e3;
        for (int k = 0; k < CHANGE_KINDS; k++)
                c->samples[k] = calloc(2 * s->rounds, sizeof(double));
        c->all = calloc(4 * s->rounds, sizeof(double));
}

/* One round of the four changes, which leave the tree at its size again. */
static void case_round(bench_case *c, unsigned round)
{
        bench *b = &c->b;
        char name[32];
        double ms;
        int middle;

        snprintf(name, sizeof(name), "c%u", round);
        c->all[c->n_all++] = c->samples[CHANGE_CREATE][c->n_samples[CHANGE_CREATE]++] =
                timed_create(b, name);
        middle = tree_middle_ancestor(&b->tree, b->tree.current);
        if (middle < 0)
                die(c->domain, "the tree has no snapshot between the root and the current one");
        ms = timed_delete(b, middle);
        c->all[c->n_all++] = c->samples[CHANGE_DELETE_MIDDLE][c->n_samples[CHANGE_DELETE_MIDDLE]++] = ms;
        snprintf(name, sizeof(name), "d%u", round);
        c->all[c->n_all++] = c->samples[CHANGE_CREATE][c->n_samples[CHANGE_CREATE]++] =
                timed_create(b, name);
        ms = timed_delete(b, b->tree.current);
        c->all[c->n_all++] = c->samples[CHANGE_DELETE_LEAF][c->n_samples[CHANGE_DELETE_LEAF]++] = ms;
}

static result case_finish(bench_case *c)
{
        check_tree(&c->b);
        for (int k = 0; k < CHANGE_KINDS; k++) {
                c->r.median_ms[k] = median(c->samples[k], c->n_samples[k]);
                free(c->samples[k]);
        }
        c->r.all_ms = median(c->all, c->n_all);
        free(c->all);

        vmsnap_engine_free(c->b.engine);
        undefine_domain(&c->b);
        tree_clear(&c->b.tree);
        char *remove[] = {"rm", "-rf", c->case_dir, NULL};
        if (!getenv("VMSNAP_BENCH_KEEP"))
                (void)run(remove);
        free(c->case_dir);
        free(c->image);
        free(c->state);
        return c->r;
}

static void report(const char *shape, const result *results, size_t n)
{
        const result *base = &results[0];

        printf("\n== %s tree: medians per change; (Rx) = the median over that at %u snapshots\n", shape,
               base->size);
        printf("%10s %10s %22s %22s %22s %22s\n", "snapshots", "build", change_names[0], change_names[1],
               change_names[2], "any change");
        for (size_t i = 0; i < n; i++) {
                const result *r = &results[i];
                printf("%10u %9.1fs", r->size, r->build_seconds);
                for (int k = 0; k < CHANGE_KINDS; k++)
                        printf(" %9.1f ms (%6.2fx)", r->median_ms[k], r->median_ms[k] / base->median_ms[k]);
                printf(" %9.1f ms (%6.2fx)\n", r->all_ms, r->all_ms / base->all_ms);
        }
        if (n > 1) {
                const result *top = &results[n - 1];
                double worst = 0;
                for (int k = 0; k < CHANGE_KINDS; k++)
                        if (top->median_ms[k] / base->median_ms[k] > worst)
                                worst = top->median_ms[k] / base->median_ms[k];
                printf("%s: a change at %u costs at most %.2fx one at %u (target at 1,000 against 10: "
                       "1.5x) -> %s\n",
                       shape, top->size, worst, base->size, worst <= 1.5 ? "within" : "NOT within");
        }
        fflush(stdout);
}

/* libvirt's own printing of every error: the bench looks a domain up that may not exist. */
static void ignore_libvirt_error(void *userdata, virErrorPtr error)
{
}

static void usage(void)
{
        fprintf(stderr, "usage: tree-bench [--uri URI] [--dir DIR] [--sizes N,N,...] "
                        "[--shapes linear,bushy] [--rounds K]\n");
        exit(2);
}

static void parse_sizes(settings *s, const char *text)
{
        char *copy = strdup(text), *save = NULL;

        s->n_sizes = 0;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *end;
                unsigned long n = strtoul(item, &end, 10);
                if (*end || n < 2 || n > 100000 || s->n_sizes == MAX_SIZES) {
                        fprintf(stderr,
                                "tree-bench: --sizes wants up to %d numbers from 2 to 100000, "
                                "not '%s'\n",
                                MAX_SIZES, text);
                        exit(2);
                }
                s->sizes[s->n_sizes++] = (unsigned)n;
        }
        free(copy);
        if (s->n_sizes == 0)
                usage();
}

int main(int argc, char **argv)
{
        settings s = {.uri = "test:///default", .dir = NULL, .rounds = 7, .linear = true, .bushy = true};
        char default_dir[] = "/var/tmp/vmsnap-tree-bench-XXXXXX";
        virConnectPtr connection;
        result results[MAX_SIZES];
        static bench_case cases[MAX_SIZES];

        parse_sizes(&s, "10,100,300");
        for (int i = 1; i < argc; i++) {
                const char *value = i + 1 < argc ? argv[i + 1] : NULL;
                if (!value)
                        usage();
                if (strcmp(argv[i], "--uri") == 0)
                        s.uri = value;
                else if (strcmp(argv[i], "--dir") == 0)
                        s.dir = value;
                else if (strcmp(argv[i], "--sizes") == 0)
                        parse_sizes(&s, value);
                else if (strcmp(argv[i], "--shapes") == 0) {
                        s.linear = strstr(value, "linear") != NULL;
                        s.bushy = strstr(value, "bushy") != NULL;
                        if (!s.linear && !s.bushy)
                                usage();
                } else if (strcmp(argv[i], "--rounds") == 0) {
                        s.rounds = (unsigned)atoi(value);
                        if (s.rounds < 1 || s.rounds > 64) {
                                fprintf(stderr, "tree-bench: --rounds wants a number from 1 to 64\n");
                                exit(2);
                        }
                } else
                        usage();
                i++;
        }
        if (!s.dir) {
                if (!mkdtemp(default_dir))
                        die(default_dir, strerror(errno));
                s.dir = default_dir;
        }
        virSetErrorFunc(NULL, ignore_libvirt_error);
        chmod(s.dir, 0755); /* QEMU's user must reach the images on a real libvirtd */
        connection = virConnectOpen(s.uri);
        if (!connection)
                die(s.uri, "cannot connect");

        printf("tree-bench: %s, %u rounds of create / delete middle / create / delete leaf per size, "
               "1 MiB qcow2 disk, in %s\n",
               s.uri, s.rounds, s.dir);
        for (int shape = 0; shape < 2; shape++) {
                const char *name = shape == 0 ? "linear" : "bushy";
                if (!(shape == 0 ? s.linear : s.bushy))
                        continue;
                /* Every size's tree first, then the rounds in turns, a round of each size after
                 * the other: what the machine does meanwhile (writeback, the file system's
                 * journal) weighs on every size alike, and the ratios hold. */
                for (size_t i = 0; i < s.n_sizes; i++)
                        case_build(&cases[i], &s, connection, name, s.sizes[i]);
                for (unsigned round = 1; round <= s.rounds; round++)
                        for (size_t i = 0; i < s.n_sizes; i++)
                                case_round(&cases[(i + round) % s.n_sizes], round);
                for (size_t i = 0; i < s.n_sizes; i++) {
                        results[i] = case_finish(&cases[i]);
                        fprintf(stderr, "  %s %u: built in %.1f s, any change %.1f ms\n", name, s.sizes[i],
                                results[i].build_seconds, results[i].all_ms);
                }
                report(name, results, s.n_sizes);
        }
        virConnectClose(connection);
        if (s.dir == default_dir && !getenv("VMSNAP_BENCH_KEEP"))
                rmdir(default_dir);
        return 0;
}
