/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* job.h: long operations as bus objects at /org/example/Snapshots/job/<id>
 * (interface org.example.Snapshots.Job). The manager decides when a job runs;
 * the job turns engine hooks into throttled signals and lingers when done. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lanes.h"
#include "manager.h"

typedef enum job_outcome {
        JOB_DONE,
        JOB_FAILED,
        JOB_CANCELED,
} job_outcome;

/* Loop thread. Creates the job in state "queued" and emits JobNew. starter: the unique
 * name of the caller, the first of the job's audience. counts_bytes: the engine's
 * progress counts bytes (BytesDone, BytesTotal, Rate and ExpectedEndTime are
 * published); otherwise it counts steps and only Progress is. */
int job_new(manager *m, const char *operation, const char *domain, const char *snapshot, uid_t started_by,
            const char *starter, bool counts_bytes, job **ret);
uint32_t job_id(const job *j);
const char *job_path(const job *j);
job *job_find(manager *m, uint32_t id);
/* The jobs of m->jobs in turn: for (job *j = m->jobs; j; j = job_next(j)). */
job *job_next(const job *j);

const char *job_domain(const job *j);
uid_t job_started_by(const job *j);
/* Loop thread: may the caller (uid, unique name) read the job? Its starter and root may;
 * others if polkit allowed them org.example.snapshots.read for its domain recently
 * (readers.h). */
bool job_readable_by(manager *m, const job *j, uid_t uid, const char *sender);
/* Loop thread: the job's own signals go to this connection from now on (it may read it). */
void job_audience_add(job *j, const char *unique_name);

/* The job's change in its domain's queue, which a cancel takes out while it waits (loop
 * thread); forgotten when the job finishes. */
void job_set_queued(job *j, lane_entry *entry);

/* Worker thread: the operation begins now. */
void job_report_started(job *j);
/* Hooks for the engine call that runs the job (progress, messages, cancellation). */
const vmsnap_hooks *job_engine_hooks(job *j);
/* Any thread. */
bool job_cancel_requested(job *j);
/* Any thread: every message the engine gave the job so far (a NULL-terminated copy). */
char **job_messages_copy(job *j);

/* Loop thread: the operation ended. summary is said on success (Completed's message),
 * error on failure or cancellation; error_name (org.example.Snapshots.Error.*) becomes
 * ErrorName when the job failed; result becomes the Result property, snapshot (when
 * not NULL) the Snapshot property. */
void job_finish(job *j, job_outcome outcome, const char *error_name, const char *error, const char *result,
                const char *snapshot, const char *summary);
/* Loop thread: asks the job to stop: a queued job ends at once, a running one when the
 * engine next looks. */
void job_cancel(job *j);

/* Registers the fallback vtable, the node enumerator and the read check of job objects. */
int job_objects_register(manager *m);
/* At shutdown: ask every unfinished job to stop. */
void job_cancel_all(manager *m);
void job_free_all(manager *m);
