/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon.h: vmsnapd's life on the bus, from its objects published to an orderly
 * exit. The state it runs on is manager.h's. Loop thread. */
#pragma once

#include "manager.h"

/* The exit status that asks systemd to start vmsnapd again at once (the unit's
 * RestartForceExitStatus= and SuccessExitStatus=): EX_TEMPFAIL. */
#define DAEMON_EXIT_RESTART 75
/* Before that exit, the last job to end stays readable this long, so that a client
 * waiting on it (vmsnapctl reads a job's Result and Messages once it ended) reads its
 * end from the vmsnapd that ran it. */
#define DAEMON_RESTART_GRACE_USEC (5 * 1000 * 1000ULL)

/* Publishes the objects and starts watching the engine for changes. */
int daemon_start(manager *m);
/* On SIGTERM/SIGINT: takes no new calls (Busy), ends queued jobs as canceled, lets the
 * running ones end for up to stop_timeout_usec and then cancels them, and ends the loop
 * once the work under way has come back and its answers are sent. A second call
 * cancels the running jobs at once. */
void daemon_shut_down(manager *m);
/* On SIGHUP: keeps serving, and ends the loop with DAEMON_EXIT_RESTART once no job
 * runs or waits and none ended in the last DAEMON_RESTART_GRACE_USEC, so that a
 * package upgrade never cuts a job nor hides how it ended. */
void daemon_restart_when_idle(manager *m);
/* After the loop ended: waits for the workers and answers whatever is left. */
void daemon_stop(manager *m);
/* Stops if need be, then frees the jobs and m. */
void daemon_free(manager *m);
