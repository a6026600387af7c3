/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* job-wait.h: a job in the foreground. Follows the job's signals until it ends,
 * draws a progress bar on a terminal (one line per state change otherwise), and
 * turns Ctrl-C into Cancel: the first press asks the job to cancel and waits for
 * it, a second leaves it running and returns. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-bus.h>

/* Waits for the job at path; prints its state changes and, at the end, its
 * Messages (stderr) and Result (stdout; the whole record with --json). Returns the
 * exit code: 0 done, EXIT_CANCELED, the code of a failure's ErrorName, or
 * EXIT_LEFT_RUNNING. *ret_job (may be NULL) gets the job's last properties. */
int job_wait(sd_bus *bus, const char *path, json_object **ret_job);

/* The label of a job in every line about it: "job 7 (create alpha/snap)". */
void job_label(json_object *job, char *buffer, size_t size);
