/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus.c: one connection per run, made the way systemctl makes its own: the local
 * system bus, a given address, or sd_bus_open_system_remote() (ssh HOST
 * systemd-stdio-bridge). Interactive authorization is asked for only when a
 * person can answer: stdin is a terminal and --no-ask-password was not given. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cli.h"
#include "exit-codes.h"
#include "output.h"
#include "polkit-agent.h"
#include "util.h"
#include "variant-json.h"

static sd_bus *connection;

static void bus_close(void)
{
        connection = sd_bus_flush_close_unref(connection);
}

static int bus_open(sd_bus **ret)
{
        int r;
        if (arg.host)
                return sd_bus_open_system_remote(ret, arg.host);
        if (!arg.bus_address)
                return sd_bus_open_system(ret);
        sd_bus *bus = NULL;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, arg.bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

int bus_get(sd_bus **ret)
{
        if (!connection) {
                int r = bus_open(&connection);
                if (r < 0) {
                        connection = NULL;
                        if (arg.host)
                                log_error("cannot reach the system bus of %s over SSH: %s", arg.host,
                                          strerror(-r));
                        else
                                log_error("cannot connect to the %s: %s",
                                          arg.bus_address ? "bus at --bus-address" : "system bus",
                                          strerror(-r));
                        return EXIT_FAILURE_OTHER;
                }
                atexit(bus_close);
                /* Like systemctl: the agent answers for this process on this host only. */
                bool interactive = arg.ask_password && isatty(STDIN_FILENO);
                sd_bus_set_allow_interactive_authorization(connection, interactive);
                if (interactive && !arg.host)
                        polkit_agent_open();
        }
        *ret = connection;
        return 0;
}

int bus_new_call(sd_bus *bus, sd_bus_message **ret, const char *method)
{
        return sd_bus_message_new_method_call(bus, ret, SNAPSHOTS_SERVICE, SNAPSHOTS_PATH,
                                              SNAPSHOTS_INTERFACE, method);
}

int bus_log_errno(int r, const char *what)
{
        /* Over SSH the connection is made at the first call: say where it broke. */
        if (arg.host && (r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE))
                log_error("%s: the connection to %s over SSH failed (ssh %s systemd-stdio-bridge; ssh's "
                          "own message, if any, is above).",
                          what, arg.host, arg.host);
        else
                log_error("%s: %s", what, strerror(-r));
        return EXIT_FAILURE_OTHER;
}

int bus_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        /* Jobs answer at once; only an authentication prompt makes a call wait long. */
        int r = sd_bus_call(bus, m, UINT64_MAX, &error, ret_reply);
        if (r >= 0)
                return 0;
        int code;
        /* sd-bus names a local failure System.Error.<errno>: that is no answer of vmsnapd's. */
        if (sd_bus_error_is_set(&error) && strncmp(error.name, "System.Error.", 13) != 0) {
                log_error("%s: %s", what, error.message ? error.message : error.name);
                code = exit_code_from_error_name(error.name);
        } else
                code = bus_log_errno(r, what);
        sd_bus_error_free(&error);
        return code;
}

int bus_reply_json(sd_bus_message *reply, json_object **ret)
{
        json_object *values = json_object_new_array();
        int r;
        while ((r = sd_bus_message_at_end(reply, 1)) == 0) {
                json_object *value = NULL;
                r = variant_json_read(reply, &value);
                if (r < 0)
                        break;
                json_object_array_add(values, value);
        }
        if (r < 0) {
                json_object_put(values);
                return r;
        }
        if (json_object_array_length(values) == 1) {
                json_object *only = json_object_get(json_object_array_get_idx(values, 0));
                json_object_put(values);
                *ret = only;
        } else
                *ret = values;
        return 0;
}

static int bus_call_replyv(sd_bus *bus, const char *what, sd_bus_message **ret, const char *method,
                           const char *types, va_list ap)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = bus_new_call(bus, &m, method);
        if (r >= 0 && types)
                r = sd_bus_message_appendv(m, types, ap);
        if (r < 0)
                return bus_log_errno(r, "cannot build the call");
        return bus_call(bus, m, what, ret);
}

int bus_call_reply(sd_bus *bus, const char *what, sd_bus_message **ret, const char *method,
                   const char *types, ...)
{
        va_list ap;
        va_start(ap, types);
        int r = bus_call_replyv(bus, what, ret, method, types, ap);
        va_end(ap);
        return r;
}

int bus_call_json(sd_bus *bus, const char *what, json_object **ret, const char *method, const char *types,
                  ...)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        va_list ap;
        va_start(ap, types);
        int r = bus_call_replyv(bus, what, &reply, method, types, ap);
        va_end(ap);
        if (r != 0)
                return r;
        r = bus_reply_json(reply, ret);
        if (r < 0)
                return bus_log_errno(r, "cannot read the reply");
        return 0;
}

/* How many values a signature holds: "aa{sv}" one, "sa(ss)" two. */
static size_t signature_values(const char *signature)
{
        size_t n = 0;
        int depth = 0;
        for (const char *c = signature; *c; c++) {
                if (*c == SD_BUS_TYPE_STRUCT_BEGIN || *c == SD_BUS_TYPE_DICT_ENTRY_BEGIN)
                        depth++;
                else if (*c == SD_BUS_TYPE_STRUCT_END || *c == SD_BUS_TYPE_DICT_ENTRY_END)
                        depth--;
                if (depth == 0 && *c != SD_BUS_TYPE_ARRAY)
                        n++;
        }
        return n;
}

int bus_reply_print_json(sd_bus_message *reply)
{
        int r = 0;
        if (isatty(STDOUT_FILENO)) { /* pretty, for people: json-c's own layout */
                _cleanup_(json_object_putp) json_object *values = NULL;
                r = bus_reply_json(reply, &values);
                if (r < 0)
                        return bus_log_errno(r, "cannot read the reply");
                output_json(values);
                return 0;
        }
        /* As bus_reply_json reads it: one value alone, several in an array. */
        size_t n = signature_values(sd_bus_message_get_signature(reply, 1));
        if (n != 1)
                fputc('[', stdout);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (i > 0)
                        fputc(',', stdout);
                r = variant_json_write(reply, stdout);
        }
        if (n != 1)
                fputc(']', stdout);
        fputc('\n', stdout);
        if (r < 0)
                return bus_log_errno(r, "cannot read the reply");
        return 0;
}

int bus_job_properties(sd_bus *bus, const char *path, json_object **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, SNAPSHOTS_SERVICE, path,
                                               "org.freedesktop.DBus.Properties", "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", JOB_INTERFACE);
        if (r < 0)
                return bus_log_errno(r, "cannot build the call");
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "cannot read job %s", path) < 0)
                abort();
        r = bus_call(bus, m, what, &reply);
        if (r != 0)
                return r;
        r = variant_json_read(reply, ret);
        if (r < 0)
                return bus_log_errno(r, "cannot read the job's properties");
        return 0;
}

int bus_append_bool_option(sd_bus_message *m, const char *key, int value)
{
        return sd_bus_message_append(m, "{sv}", key, "b", value);
}

int bus_append_string_option(sd_bus_message *m, const char *key, const char *value)
{
        return sd_bus_message_append(m, "{sv}", key, "s", value);
}
