/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon.c: vmsnapd's life on the bus: its objects published, the restart once idle
 * on SIGHUP, and the orderly shutdown on SIGTERM (queued jobs end as canceled,
 * running ones may finish for a while, then are canceled). The state it runs on is
 * manager.c's. */
#include <inttypes.h>
#include <stdio.h>

#include "daemon.h"
#include "job.h"
#include "lanes.h"
#include "methods.h"

int daemon_start(manager *m)
{
        int r;

        r = sd_bus_add_object_vtable(m->bus, &m->manager_slot, SNAPSHOTS_OBJECT_PATH, SNAPSHOTS_INTERFACE,
                                     snapshots_vtable, m);
        if (r < 0)
                return r;
        r = job_objects_register(m);
        if (r < 0)
                return r;
        (void)manager_watch_engine(m);
        return 0;
}

static int on_stop_timeout(sd_event_source *source, uint64_t usec, void *userdata)
{
        manager *m = userdata;

        fprintf(stderr,
                "vmsnapd: stopping: the running jobs did not end within %" PRIu64
                " s; canceling them (a job past its point of no return still finishes)\n",
                m->stop_timeout_usec / 1000000);
        job_cancel_all(m);
        return 0;
}

static int on_restart_check(sd_event_source *source, uint64_t usec, void *userdata)
{
        manager *m = userdata;
        uint64_t now = 0;

        if (m->stopping)
                return 0;
        (void)sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (m->in_flight > 0 || !change_lanes_idle(m->change_lanes) ||
            (m->last_work_end_usec > 0 && now < m->last_work_end_usec + DAEMON_RESTART_GRACE_USEC)) {
                (void)sd_event_source_set_time_relative(source, 200 * 1000);
                return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        }
        /* Idle: nothing more is taken, and the loop ends before another call is read. */
        fprintf(stderr, "vmsnapd: no job runs or waits: exiting to be started again as the new version\n");
        m->stopping = true;
        return sd_event_exit(m->event, DAEMON_EXIT_RESTART);
}

void daemon_restart_when_idle(manager *m)
{
        if (m->stopping || m->restart_timer)
                return;
        fprintf(stderr, "vmsnapd: asked to restart (SIGHUP): restarting once no job runs or waits\n");
        if (sd_event_add_time_relative(m->event, &m->restart_timer, CLOCK_MONOTONIC, 0, 0, on_restart_check,
                                       m) < 0)
                fprintf(stderr, "vmsnapd: cannot wait to restart; carrying on as this version\n");
}

void daemon_shut_down(manager *m)
{
        if (m->stopping) {
                /* Asked again: the administrator will not wait. */
                job_cancel_all(m);
                return;
        }
        m->stopping = true;
        change_lanes_discard_waiting(m->change_lanes);
        lanes_release_held(m->request_lanes);
        if (m->in_flight == 0) {
                (void)sd_event_exit(m->event, 0);
                return;
        }
        fprintf(stderr,
                "vmsnapd: stopping: taking no new work; running jobs may end within %" PRIu64
                " s, then they are canceled (a second SIGTERM cancels them now)\n",
                m->stop_timeout_usec / 1000000);
        if (sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, m->stop_timeout_usec, 0,
                                       on_stop_timeout, m) < 0)
                job_cancel_all(m);
}

void daemon_stop(manager *m)
{
        if (!m || !m->requests)
                return;
        m->stopping = true;
        job_cancel_all(m);
        change_lanes_discard_waiting(m->change_lanes);
        lanes_release_held(m->request_lanes);
        lanes_discard_waiting(m->request_lanes);
        worker_pool_free(m->requests, lanes_discard_task);
        m->requests = NULL;
        /* Running changes see their jobs canceled and stop at the engine's next check. */
        worker_pool_free(m->changes, change_lanes_discard_task);
        m->changes = NULL;
        loop_mailbox_drain(m->mailbox);
}

void daemon_free(manager *m)
{
        if (!m)
                return;
        daemon_stop(m);
        job_free_all(m);
        manager_free(m);
}
