/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.c: the daemon's shared state: what it holds and frees, the work under
 * way, and SnapshotsChanged from the engine's watcher thread to the bus. Its life
 * from start to an orderly shutdown is daemon.c's, the interface methods.c's, a
 * call's journey call.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "errors.h"
#include "lanes.h"
#include "manager.h"
#include "readers.h"
#include "util.h"

int manager_caller_uid(manager *m, sd_bus_message *message, uid_t *ret)
{
        return caller_cache_uid(m->callers, message, ret);
}

int manager_request_refusal(manager *m, uid_t uid, int r, sd_bus_error *error)
{
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                         "You have %u calls waiting for an answer already; wait for some of "
                                         "them before calling again",
                                         lanes_pending(m->request_lanes, uid));
        return sd_bus_error_setf(error, BUS_ERROR_FAILED, "vmsnapd cannot take calls now: %s", strerror(-r));
}

/* ---- SnapshotsChanged: from the engine's watcher thread to the bus ---- */

static void changes_flush(void *userdata)
{
        manager *m = userdata;
        char **uuids;
        size_t n;

        pthread_mutex_lock(&m->changed_lock);
        uuids = m->changed_uuids;
        n = m->n_changed_uuids;
        m->changed_uuids = NULL;
        m->n_changed_uuids = 0;
        m->changed_posted = false;
        pthread_mutex_unlock(&m->changed_lock);

        for (size_t i = 0; i < n; i++) {
                int r = sd_bus_emit_signal(m->bus, SNAPSHOTS_OBJECT_PATH, SNAPSHOTS_INTERFACE,
                                           "SnapshotsChanged", "s", uuids[i]);
                if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
                        fprintf(stderr, "vmsnapd: cannot signal SnapshotsChanged for %s: %s\n", uuids[i],
                                strerror(-r));
                free(uuids[i]);
        }
        free(uuids);
}

/* Engine thread. Changes reported before the loop looks are signalled once per domain. */
static void on_engine_change(void *userdata, const char *domain_uuid)
{
        manager *m = userdata;

        pthread_mutex_lock(&m->changed_lock);
        for (size_t i = 0; i < m->n_changed_uuids; i++)
                if (strcmp(m->changed_uuids[i], domain_uuid) == 0)
                        goto out;
        m->changed_uuids = xreallocarray(m->changed_uuids, m->n_changed_uuids + 1, sizeof(char *));
        m->changed_uuids[m->n_changed_uuids++] = xstrdup(strempty(domain_uuid));
        if (!m->changed_posted) {
                m->changed_posted = true;
                loop_mailbox_post(m->mailbox, changes_flush, m);
        }
out:
        pthread_mutex_unlock(&m->changed_lock);
}

/* ---- life ---- */

int manager_new(sd_event *event, sd_bus *bus, vmsnap_engine *engine, unsigned workers,
                uint64_t job_linger_usec, manager **ret)
{
        manager *m = xcalloc(1, sizeof(*m));
        int r;

        m->event = sd_event_ref(event);
        m->bus = sd_bus_ref(bus);
        m->engine = engine;
        m->job_linger_usec = job_linger_usec;
        pthread_mutex_init(&m->changed_lock, NULL);
        m->callers = caller_cache_new(CALLER_CACHE_SIZE);
        m->readers = readers_new();

        /* Request workers mostly wait on polkit and libvirt, not on a CPU; twice as many (at least
         * four) leave every caller, whose lane holds half of them, more than one at a time, so a
         * read is not queued behind the checks of the same caller's changes. */
        unsigned request_workers = workers * 2 > 4 ? workers * 2 : 4;
        r = loop_mailbox_new(event, &m->mailbox);
        if (r >= 0)
                r = worker_pool_new("vmsnapd-req", request_workers, &m->requests);
        if (r >= 0)
                m->request_lanes =
                        lanes_new(event, m->requests, request_workers, m->mailbox, LANE_MAX_PENDING);
        if (r >= 0)
                r = worker_pool_new("vmsnapd-chg", workers, &m->changes);
        if (r >= 0)
                m->change_lanes = change_lanes_new(m->changes, m->mailbox);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

int manager_watch_engine(manager *m)
{
        vmsnap_error error = {0};
        int r;

        r = vmsnap_engine_watch(m->engine, on_engine_change, m, &error);
        if (r < 0) {
                /* Changes made through the bus still happen; clients just learn of them by reading. */
                fprintf(stderr,
                        "vmsnapd: cannot watch libvirt for changes (%s); SnapshotsChanged will not be "
                        "emitted\n",
                        error.message);
        }
        return r;
}

void manager_work_begin(manager *m)
{
        m->in_flight++;
}

void manager_work_end(manager *m)
{
        m->in_flight--;
        (void)sd_event_now(m->event, CLOCK_MONOTONIC, &m->last_work_end_usec);
        if (m->stopping && m->in_flight == 0)
                (void)sd_event_exit(m->event, 0);
}

void manager_free(manager *m)
{
        if (!m)
                return;
        /* Pools still here (manager_new failed half-way) have taken no work yet. */
        worker_pool_free(m->requests, lanes_discard_task);
        worker_pool_free(m->changes, change_lanes_discard_task);
        sd_event_source_unref(m->stop_timer);
        sd_event_source_unref(m->restart_timer);
        loop_mailbox_free(m->mailbox);
        lanes_free(m->request_lanes);
        change_lanes_free(m->change_lanes);
        for (size_t i = 0; i < m->n_changed_uuids; i++)
                free(m->changed_uuids[i]);
        free(m->changed_uuids);
        pthread_mutex_destroy(&m->changed_lock);
        caller_cache_free(m->callers);
        readers_free(m->readers);
        sd_bus_slot_unref(m->manager_slot);
        sd_bus_slot_unref(m->job_slot);
        sd_bus_slot_unref(m->job_enumerator_slot);
        sd_bus_slot_unref(m->job_filter_slot);
        sd_bus_unref(m->bus);
        sd_event_unref(m->event);
        free(m);
}
