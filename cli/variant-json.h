/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* variant-json.h: any D-Bus value read from a message as a json-c object. The
 * records of the bus (a{sv}) become JSON objects, arrays arrays, structs arrays,
 * variants their content. Both the human output and --json are built from it, so
 * that a key the daemon adds shows up in --json without a change here. */
#pragma once

#include <json-c/json.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

/* How --json is written off a terminal (on one, json-c's pretty form). */
#define VARIANT_JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Reads the next complete value of m into *ret. Returns 0, or a negative errno. */
int variant_json_read(sd_bus_message *m, json_object **ret);

/* Writes the next complete value of m to out as the text json-c would make of
 * variant_json_read's object with VARIANT_JSON_PLAIN, byte for byte, without
 * building the object: a reply of 1,000 records goes out as it is read (a dictionary
 * that repeats a key, which vmsnapd never sends, keeps both here). On an
 * error part of the value may have been written. Returns 0, or a negative errno. */
int variant_json_write(sd_bus_message *m, FILE *out);

/* Typed lookups in a record (an object made by variant_json_read); missing or
 * wrongly typed keys give the fallback, so a record may lack a key a later
 * daemon adds. */
const char *record_string(json_object *record, const char *key);
int64_t record_int(json_object *record, const char *key);
uint64_t record_uint(json_object *record, const char *key);
double record_double(json_object *record, const char *key);
int record_bool(json_object *record, const char *key);
json_object *record_array(json_object *record, const char *key);

static inline void json_object_putp(json_object **object)
{
        json_object_put(*object);
}
