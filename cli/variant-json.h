/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* variant-json.h: any D-Bus value read from a message as a json-c object. The
 * records of the bus (a{sv}) become JSON objects, arrays arrays, structs arrays,
 * variants their content. Both the human output and --json are built from it, so
 * that a key the daemon adds shows up in --json without a change here. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-bus.h>

/* Reads the next complete value of m into *ret. Returns 0, or a negative errno. */
int variant_json_read(sd_bus_message *m, json_object **ret);

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
