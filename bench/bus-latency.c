/* bus-latency: measures vmsnapd's read path through the bus: ListSnapshots and
 * GetSnapshot latency (p50/p99 over N calls), and reads per second with C
 * concurrent clients, each on its own connection.
 *
 *   bus-latency ADDRESS DOMAIN SNAPSHOT [CALLS] [CLIENTS] [SECONDS]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

static const char *address, *domain, *snapshot;

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static sd_bus *connect_bus(void)
{
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0) {
                fprintf(stderr, "bus-latency: cannot connect to %s\n", address);
                exit(1);
        }
        return bus;
}

static int call(sd_bus *bus, bool list)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        if (list)
                r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots", "org.example.Snapshots",
                                       "ListSnapshots", &error, &reply, "s", domain);
        else
                r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots", "org.example.Snapshots",
                                       "GetSnapshot", &error, &reply, "ss", domain, snapshot);
        if (r < 0) {
                fprintf(stderr, "bus-latency: %s\n", error.message ? error.message : strerror(-r));
                exit(1);
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return 0;
}

static int compare(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void latency(sd_bus *bus, bool list, int calls)
{
        double *samples = calloc((size_t)calls, sizeof(double));
        for (int i = 0; i < 20; i++)
                call(bus, list); /* warm up */
        for (int i = 0; i < calls; i++) {
                double start = now_ms();
                call(bus, list);
                samples[i] = now_ms() - start;
        }
        qsort(samples, (size_t)calls, sizeof(double), compare);
        printf("%-14s p50 %7.3f ms   p99 %7.3f ms   (%d calls)\n", list ? "ListSnapshots" : "GetSnapshot",
               samples[calls / 2], samples[calls * 99 / 100], calls);
        free(samples);
}

static double deadline;
static long total_reads;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *userdata)
{
        sd_bus *bus = connect_bus();
        long reads = 0;
        while (now_ms() < deadline) {
                call(bus, false);
                reads++;
        }
        pthread_mutex_lock(&total_lock);
        total_reads += reads;
        pthread_mutex_unlock(&total_lock);
        sd_bus_flush_close_unref(bus);
        return NULL;
}

int main(int argc, char **argv)
{
        if (argc < 4) {
                fprintf(stderr, "usage: bus-latency ADDRESS DOMAIN SNAPSHOT [CALLS] [CLIENTS] [SECONDS]\n");
                return 2;
        }
        address = argv[1];
        domain = argv[2];
        snapshot = argv[3];
        int calls = argc > 4 ? atoi(argv[4]) : 500;
        int clients = argc > 5 ? atoi(argv[5]) : 8;
        double seconds = argc > 6 ? atof(argv[6]) : 5;

        sd_bus *bus = connect_bus();
        latency(bus, true, calls);
        latency(bus, false, calls * 4);
        sd_bus_flush_close_unref(bus);

        pthread_t threads[64];
        if (clients > 64)
                clients = 64;
        deadline = now_ms() + seconds * 1e3;
        for (int i = 0; i < clients; i++)
                pthread_create(&threads[i], NULL, reader, NULL);
        for (int i = 0; i < clients; i++)
                pthread_join(threads[i], NULL);
        printf("GetSnapshot    %.0f reads/s with %d concurrent clients over %.0f s\n", total_reads / seconds,
               clients, seconds);
        return 0;
}
