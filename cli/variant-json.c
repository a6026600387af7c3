/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* variant-json.c: the D-Bus type system onto json-c. Dictionaries with keys of
 * any basic type become objects keyed by the key's text; 64-bit unsigned values
 * stay unsigned (sizes pass 2^63 only in theory, but JSON readers should not
 * have to guess). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "variant-json.h"

static int read_basic(sd_bus_message *m, char type, json_object **ret)
{
        union {
                uint8_t u8;
                int b;
                int16_t i16;
                uint16_t u16;
                int32_t i32;
                uint32_t u32;
                int64_t i64;
                uint64_t u64;
                double d;
                const char *s;
                int fd;
        } value;
        int r = sd_bus_message_read_basic(m, type, &value);
        if (r < 0)
                return r;
        switch (type) {
        case SD_BUS_TYPE_BYTE:
                *ret = json_object_new_int(value.u8);
                break;
        case SD_BUS_TYPE_BOOLEAN:
                *ret = json_object_new_boolean(value.b);
                break;
        case SD_BUS_TYPE_INT16:
                *ret = json_object_new_int(value.i16);
                break;
        case SD_BUS_TYPE_UINT16:
                *ret = json_object_new_int(value.u16);
                break;
        case SD_BUS_TYPE_INT32:
                *ret = json_object_new_int(value.i32);
                break;
        case SD_BUS_TYPE_UINT32:
                *ret = json_object_new_int64(value.u32);
                break;
        case SD_BUS_TYPE_INT64:
                *ret = json_object_new_int64(value.i64);
                break;
        case SD_BUS_TYPE_UINT64:
                *ret = json_object_new_uint64(value.u64);
                break;
        case SD_BUS_TYPE_DOUBLE:
                *ret = json_object_new_double(value.d);
                break;
        case SD_BUS_TYPE_STRING:
        case SD_BUS_TYPE_OBJECT_PATH:
        case SD_BUS_TYPE_SIGNATURE:
                *ret = json_object_new_string(value.s);
                break;
        case SD_BUS_TYPE_UNIX_FD:
                *ret = json_object_new_int(value.fd);
                break;
        default:
                return -EBADMSG;
        }
        return 0;
}

/* "{sv}" -> "sv": the contents of one dictionary entry. */
static char *entry_contents(const char *array_contents)
{
        size_t n = strlen(array_contents);
        if (n < 2)
                return NULL;
        return strndup(array_contents + 1, n - 2);
}

static int key_text(json_object *key, char **ret)
{
        const char *s = json_object_get_string(key);
        *ret = strdup(s ? s : "");
        return *ret ? 0 : -ENOMEM;
}

static int read_dictionary(sd_bus_message *m, const char *contents, json_object **ret)
{
        char *inner = entry_contents(contents);
        if (!inner)
                return -EBADMSG;
        json_object *object = json_object_new_object();
        int r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, inner)) > 0) {
                json_object *key = NULL, *value = NULL;
                char *text = NULL;
                r = variant_json_read(m, &key);
                if (r >= 0)
                        r = variant_json_read(m, &value);
                if (r >= 0)
                        r = key_text(key, &text);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                json_object_put(key);
                if (r < 0) {
                        json_object_put(value);
                        free(text);
                        break;
                }
                json_object_object_add(object, text, value);
                free(text);
        }
        free(inner);
        if (r < 0) {
                json_object_put(object);
                return r;
        }
        *ret = object;
        return 0;
}

static int read_sequence(sd_bus_message *m, json_object **ret)
{
        json_object *array = json_object_new_array();
        int r;
        while ((r = sd_bus_message_at_end(m, 0)) == 0) {
                json_object *item = NULL;
                r = variant_json_read(m, &item);
                if (r < 0)
                        break;
                json_object_array_add(array, item);
        }
        if (r < 0) {
                json_object_put(array);
                return r;
        }
        *ret = array;
        return 0;
}

int variant_json_read(sd_bus_message *m, json_object **ret)
{
        char type;
        const char *contents;
        int r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        switch (type) {
        case SD_BUS_TYPE_ARRAY:
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN ? read_dictionary(m, contents, ret)
                                                                : read_sequence(m, ret);
                break;
        case SD_BUS_TYPE_VARIANT:
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = variant_json_read(m, ret);
                break;
        case SD_BUS_TYPE_STRUCT:
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = read_sequence(m, ret);
                break;
        default:
                return read_basic(m, type, ret);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                json_object_put(*ret);
                *ret = NULL;
                return r;
        }
        return 0;
}

static json_object *lookup(json_object *record, const char *key, json_type type)
{
        json_object *value;
        if (!record || !json_object_object_get_ex(record, key, &value))
                return NULL;
        return json_object_is_type(value, type) ? value : NULL;
}

const char *record_string(json_object *record, const char *key)
{
        json_object *value = lookup(record, key, json_type_string);
        return value ? json_object_get_string(value) : "";
}

int64_t record_int(json_object *record, const char *key)
{
        json_object *value = lookup(record, key, json_type_int);
        return value ? json_object_get_int64(value) : 0;
}

uint64_t record_uint(json_object *record, const char *key)
{
        json_object *value = lookup(record, key, json_type_int);
        return value ? json_object_get_uint64(value) : 0;
}

double record_double(json_object *record, const char *key)
{
        json_object *value = lookup(record, key, json_type_double);
        if (value)
                return json_object_get_double(value);
        value = lookup(record, key, json_type_int);
        return value ? (double)json_object_get_int64(value) : 0.0;
}

int record_bool(json_object *record, const char *key)
{
        json_object *value = lookup(record, key, json_type_boolean);
        return value ? json_object_get_boolean(value) : 0;
}

json_object *record_array(json_object *record, const char *key)
{
        return lookup(record, key, json_type_array);
}

/* ---- straight to text ---- */

/* A string as json-c writes it with JSON_C_TO_STRING_NOSLASHESCAPE. */
static void write_string(const char *s, FILE *out)
{
        static const char hex[] = "0123456789abcdef";
        const char *start = s;

        fputc('"', out);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                const char *escape = c == '\b'   ? "\\b"
                                     : c == '\n' ? "\\n"
                                     : c == '\r' ? "\\r"
                                     : c == '\t' ? "\\t"
                                     : c == '\f' ? "\\f"
                                     : c == '"'  ? "\\\""
                                     : c == '\\' ? "\\\\"
                                                 : NULL;
                if (!escape && c >= ' ')
                        continue;
                fwrite(start, 1, (size_t)(s - start), out);
                if (escape)
                        fputs(escape, out);
                else
                        fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
                start = s + 1;
        }
        fwrite(start, 1, (size_t)(s - start), out);
        fputc('"', out);
}

/* A basic value; other than strings through json-c itself, so that numbers read the same. */
static int write_basic(sd_bus_message *m, char type, bool as_key, FILE *out)
{
        if (type == SD_BUS_TYPE_STRING || type == SD_BUS_TYPE_OBJECT_PATH || type == SD_BUS_TYPE_SIGNATURE) {
                const char *s;
                int r = sd_bus_message_read_basic(m, type, &s);
                if (r >= 0)
                        write_string(s, out);
                return r < 0 ? r : 0;
        }
        json_object *value = NULL;
        int r = read_basic(m, type, &value);
        if (r < 0)
                return r;
        if (as_key) /* an object's key is the value's text */
                write_string(json_object_get_string(value), out);
        else
                fputs(json_object_to_json_string_ext(value, VARIANT_JSON_PLAIN), out);
        json_object_put(value);
        return 0;
}

static int write_value(sd_bus_message *m, FILE *out);

static int write_dictionary(sd_bus_message *m, const char *contents, FILE *out)
{
        char *inner = entry_contents(contents);
        bool first = true;
        int r;

        if (!inner)
                return -EBADMSG;
        fputc('{', out);
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, inner)) > 0) {
                if (!first)
                        fputc(',', out);
                first = false;
                r = write_basic(m, inner[0], true, out);
                if (r >= 0) {
                        fputc(':', out);
                        r = write_value(m, out);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        break;
        }
        free(inner);
        fputc('}', out);
        return r < 0 ? r : 0;
}

static int write_sequence(sd_bus_message *m, FILE *out)
{
        bool first = true;
        int r;

        fputc('[', out);
        while ((r = sd_bus_message_at_end(m, 0)) == 0) {
                if (!first)
                        fputc(',', out);
                first = false;
                r = write_value(m, out);
                if (r < 0)
                        break;
        }
        fputc(']', out);
        return r < 0 ? r : 0;
}

static int write_value(sd_bus_message *m, FILE *out)
{
        char type;
        const char *contents;
        int r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;
        if (type != SD_BUS_TYPE_ARRAY && type != SD_BUS_TYPE_VARIANT && type != SD_BUS_TYPE_STRUCT)
                return write_basic(m, type, false, out);
        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        if (type == SD_BUS_TYPE_ARRAY)
                r = contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN ? write_dictionary(m, contents, out)
                                                                : write_sequence(m, out);
        else if (type == SD_BUS_TYPE_VARIANT)
                r = write_value(m, out);
        else
                r = write_sequence(m, out);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int variant_json_write(sd_bus_message *m, FILE *out)
{
        return write_value(m, out);
}
