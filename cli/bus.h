/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus.h: the connection to vmsnapd (the system bus, an address given with
 * --bus-address, or another host's system bus over SSH with -H) and the calls
 * every verb makes. A failed call is reported here once, with the daemon's
 * sentence, and turned into the exit code of its error name. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#define SNAPSHOTS_SERVICE "org.example.Snapshots"
#define SNAPSHOTS_PATH "/org/example/Snapshots"
#define SNAPSHOTS_INTERFACE "org.example.Snapshots"
#define JOB_INTERFACE "org.example.Snapshots.Job"
#define JOB_PATH_PREFIX "/org/example/Snapshots/job/"

/* Connects as the command line says (cached: every call shares it). Returns an exit
 * code: 0, or EXIT_FAILURE_OTHER after saying why. */
int bus_get(sd_bus **ret);

/* Builds a call of a method of org.example.Snapshots. */
int bus_new_call(sd_bus *bus, sd_bus_message **ret, const char *method);

/* Sends m and waits; on failure prints "vmsnapctl: <what>: <sentence>" and returns
 * the exit code of the error's name, else 0 with the reply. */
int bus_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply);

/* A call whose arguments are given as sd_bus_message_append's; the reply's values
 * read as JSON (one value, or an array of them when there are several). */
int bus_call_json(sd_bus *bus, const char *what, json_object **ret, const char *method, const char *types,
                  ...);

/* A call as bus_call_json's, its reply kept for the caller to read (and unref). */
int bus_call_reply(sd_bus *bus, const char *what, sd_bus_message **ret, const char *method,
                   const char *types, ...);

/* The values of a reply as bus_call_json gives them; a negative errno on failure. */
int bus_reply_json(sd_bus_message *reply, json_object **ret);

/* Prints the values of a reply as --json does (as output_json() would print
 * bus_call_json's value), written as it is read. Returns an exit code. */
int bus_reply_print_json(sd_bus_message *reply);

/* Every property of a job, as a JSON object; NULL path components are refused. */
int bus_job_properties(sd_bus *bus, const char *path, json_object **ret);

/* Exit code from an sd-bus failure that came with no error name. */
int bus_log_errno(int r, const char *what);

/* Appends one option to an open a{sv}. */
int bus_append_bool_option(sd_bus_message *m, const char *key, int value);
int bus_append_string_option(sd_bus_message *m, const char *key, const char *value);
