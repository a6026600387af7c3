/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h: the daemon's state shared by the bus objects: the connection, the
 * engine, the worker pools, the jobs and the per-domain queues of changes.
 * Everything here belongs to the loop thread unless a field says otherwise. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "callers.h"
#include "vmsnap/vmsnap.h"
#include "worker.h"

#define SNAPSHOTS_BUS_NAME "org.example.Snapshots"
#define SNAPSHOTS_OBJECT_PATH "/org/example/Snapshots"
#define SNAPSHOTS_INTERFACE "org.example.Snapshots"
#define JOB_INTERFACE "org.example.Snapshots.Job"
#define JOB_PATH_PREFIX "/org/example/Snapshots/job"
/* Distinct callers remembered at once; more are asked of the bus again. */
#define CALLER_CACHE_SIZE 256

typedef struct job job;
typedef struct call call;
typedef struct lanes lanes;
typedef struct change_lanes change_lanes;
typedef struct readers readers;

typedef struct manager {
        sd_event *event;
        sd_bus *bus;
        vmsnap_engine *engine; /* thread-safe; used by workers only */

        /* Authorization, reads and calls that are quick: never wait for a domain. */
        worker_pool *requests;
        /* The way into requests: a queue per caller, served in turn (lanes.c). */
        lanes *request_lanes;
        /* Changes: at most one per domain at a time (the queues of change_lanes), so a
         * change never parks a worker waiting for another change of its domain. */
        worker_pool *changes;
        change_lanes *change_lanes;
        loop_mailbox *mailbox;

        uint64_t job_linger_usec;
        uint32_t last_job_id;
        job *jobs;

        /* Domains the engine reported changed, not yet signalled (any thread). */
        pthread_mutex_t changed_lock;
        char **changed_uuids;
        size_t n_changed_uuids;
        bool changed_posted;

        /* The UID behind each caller's unique name (callers.c). */
        caller_cache *callers;
        /* polkit's recent answers on who may read which domain's jobs (readers.c). */
        readers *readers;

        sd_bus_slot *manager_slot, *job_slot, *job_enumerator_slot, *job_filter_slot;
        /* Calls taken whose work has not come back yet: in a request worker, or a change
         * waiting or running in its domain's queue. */
        unsigned in_flight;
        /* When the last of that work came back (CLOCK_MONOTONIC, µs; 0 before any). */
        uint64_t last_work_end_usec;
        bool stopping;
        /* daemon.h: after SIGTERM, how long running jobs may go on before they are
         * canceled (so that they end, or roll back, before the unit's TimeoutStopSec). */
        uint64_t stop_timeout_usec;
        sd_event_source *stop_timer;
        /* SIGHUP (a new version was installed): exit with DAEMON_EXIT_RESTART at the first
         * moment no job runs or waits and none ended in the last DAEMON_RESTART_GRACE_USEC,
         * checked every 200 ms. */
        sd_event_source *restart_timer;
} manager;

int manager_new(sd_event *event, sd_bus *bus, vmsnap_engine *engine, unsigned workers,
                uint64_t job_linger_usec, manager **ret);
/* Once the daemon stopped (daemon.h) and its jobs are freed. */
void manager_free(manager *m);
/* Starts watching the engine for changes (SnapshotsChanged); a failure is logged, and
 * the daemon serves on without the signal. */
int manager_watch_engine(manager *m);

/* Work handed to a worker (begin, loop thread) and its result back on the loop (end). */
void manager_work_begin(manager *m);
void manager_work_end(manager *m);

/* The effective UID of the peer that sent message (loop thread: may ask the bus). */
int manager_caller_uid(manager *m, sd_bus_message *message, uid_t *ret);
/* Fills error with why the request lanes did not take a task of uid (r from lanes_submit):
 * Busy past the caller's bound, naming how many of its calls wait, else Failed. Returns
 * the negative code sd_bus_error_setf does. */
int manager_request_refusal(manager *m, uid_t uid, int r, sd_bus_error *error);
