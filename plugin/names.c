/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* names.c: identifiers and user-chosen names: random UUIDs for snapshots, what
 * counts as a UUID, the check every snapshot name and clone's domain name passes
 * before it is stored, and the library version.
 * Uniqueness of names within a domain is the model's business, not this file's. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "names.h"

#define NAME_MAX_BYTES 255

const char *vmsnap_version(void)
{
        return VMSNAP_VERSION;
}

static void random_bytes(uint8_t *buffer, size_t size)
{
        size_t done = 0;

        while (done < size) {
                ssize_t n = getrandom(buffer + done, size - done, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                done += (size_t)n;
        }
        if (done == size)
                return;

        /* getrandom() missing (seccomp, old kernel): the device gives the same bytes. */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        while (fd >= 0 && done < size) {
                ssize_t n = read(fd, buffer + done, size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                done += (size_t)n;
        }
        if (fd >= 0)
                close(fd);

        /* Without randomness, identifiers would collide and metadata would be overwritten. */
        if (done < size)
                abort();
}

void vmsnap_uuid_generate(char out[37])
{
        uint8_t bytes[16];

        random_bytes(bytes, sizeof(bytes));
        bytes[6] = (bytes[6] & 0x0f) | 0x40; /* version 4: random */
        bytes[8] = (bytes[8] & 0x3f) | 0x80; /* variant 1: RFC 4122 */

        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                 bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                 bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

/* True for the lowercase 8-4-4-4-12 form vmsnap writes; ids are compared as text, so an
 * uppercase spelling would be a different id. */
bool vmsnap_uuid_is_valid(const char *text)
{
        if (!text)
                return false;

        for (size_t i = 0; i < 36; i++) {
                char c = text[i];

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return false;
        }
        return text[36] == '\0';
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

bool vmsnap_uuid_parse(const char *text, char out[37])
{
        char digits[32];
        size_t n = 0, length;
        bool dashed;

        if (!text)
                return false;
        length = strnlen(text, 37);
        if (length == 36)
                dashed = true;
        else if (length == 32)
                dashed = false;
        else
                return false;

        for (size_t i = 0; i < length; i++) {
                if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
                        if (text[i] != '-')
                                return false;
                        continue;
                }
                if (hex_value(text[i]) < 0)
                        return false;
                digits[n++] = "0123456789abcdef"[hex_value(text[i])];
        }
        if (out)
                snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", digits, digits + 8, digits + 12, digits + 16,
                         digits + 20);
        return true;
}

/* Decodes one UTF-8 sequence at s (at most length bytes). Returns its length, or 0 when
 * it is malformed: truncated, overlong, a surrogate, or beyond U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, size_t length, uint32_t *ret)
{
        uint32_t code_point, minimum;
        size_t n;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                n = 2;
                code_point = s[0] & 0x1f;
                minimum = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                n = 3;
                code_point = s[0] & 0x0f;
                minimum = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                n = 4;
                code_point = s[0] & 0x07;
                minimum = 0x10000;
        } else
                return 0;

        if (length < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                code_point = (code_point << 6) | (s[i] & 0x3f);
        }

        if (code_point < minimum || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff))
                return 0;

        *ret = code_point;
        return n;
}

static bool is_control(uint32_t c)
{
        return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* Unicode White_Space characters (controls among them are refused earlier anyway). */
static bool is_space(uint32_t c)
{
        return c == ' ' || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
               c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Characters that change how the text around them is shown without showing
 * themselves: Unicode's format characters (category Cf: zero-width, joiners,
 * bidirectional marks, embeddings, overrides and isolates, the byte order mark,
 * tags) and the line and paragraph separators. A name holding one can look like
 * another name, or reorder what a person reads around it. Returns what it is, or NULL. */
static const char *invisible_kind(uint32_t c)
{
        if (c == 0x2028)
                return "a line separator";
        if (c == 0x2029)
                return "a paragraph separator";
        if (c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
            (c >= 0x2066 && c <= 0x2069))
                return "a bidirectional control character";
        if (c == 0x200b || c == 0x200c || c == 0x200d || c == 0x2060 || c == 0xfeff)
                return "a zero-width character";
        if (c == 0x00ad || (c >= 0x0600 && c <= 0x0605) || c == 0x06dd || c == 0x070f ||
            (c >= 0x0890 && c <= 0x0891) || c == 0x08e2 || c == 0x180e || (c >= 0x2061 && c <= 0x2064) ||
            (c >= 0x206a && c <= 0x206f) || (c >= 0xfff9 && c <= 0xfffb) || c == 0x110bd || c == 0x110cd ||
            (c >= 0x13430 && c <= 0x1343f) || (c >= 0x1bca0 && c <= 0x1bca3) ||
            (c >= 0x1d173 && c <= 0x1d17a) || c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f))
                return "a format character";
        return NULL;
}

int vmsnap_name_validate(const char *name, vmsnap_error *error)
{
        return vmsnap_name_check(name, VMSNAP_NAME_SNAPSHOT, error);
}

int vmsnap_domain_name_validate(const char *name, vmsnap_error *error)
{
        return vmsnap_name_check(name, VMSNAP_NAME_DOMAIN, error);
}

int vmsnap_name_check(const char *name, vmsnap_name_kind kind, vmsnap_error *error)
{
        const char *what = kind == VMSNAP_NAME_DOMAIN ? "domain name" : "snapshot name";
        size_t characters = 0;
        const unsigned char *bytes = (const unsigned char *)name;
        uint32_t first = 0, last = 0;
        size_t length;

        if (!name || name[0] == '\0')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "%s is empty", what);

        length = strnlen(name, NAME_MAX_BYTES + 1);
        if (length > NAME_MAX_BYTES)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s is %zu bytes long; at most %d bytes are allowed", what,
                                        strlen(name), NAME_MAX_BYTES);

        /* The name is quoted in messages only once it is known to be printable text. */
        for (size_t i = 0; i < length;) {
                uint32_t c;
                size_t n = utf8_decode(bytes + i, length - i, &c);

                if (n == 0)
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "%s is not valid UTF-8 (at byte %zu)", what, i);
                if (is_control(c))
                        return vmsnap_error_set(
                                error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "%s contains the control character U+%04X (character %zu, byte "
                                "%zu), which is not allowed",
                                what, (unsigned)c, characters + 1, i);
                if (invisible_kind(c))
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "%s contains U+%04X, %s (character %zu, byte %zu), which is "
                                                "not allowed: it is not shown, or changes how the text "
                                                "around it is shown",
                                                what, (unsigned)c, invisible_kind(c), characters + 1, i);
                if (i == 0)
                        first = c;
                last = c;
                characters++;
                i += n;
        }

        if (strchr(name, '/'))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s \"%s\" contains '/', which is not allowed", what, name);

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s \"%s\" is reserved", what, name);

        if (is_space(first) || is_space(last))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s \"%s\" starts or ends with white space, which is not allowed",
                                        what, name);

        /* A UUID names a domain or a snapshot by its id; a name spelled as one would
         * make a UUID name two things. */
        if (vmsnap_uuid_parse(name, NULL))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s \"%s\" has the form of a UUID, which is not allowed: a UUID "
                                        "always names %s by its id",
                                        what, name, kind == VMSNAP_NAME_DOMAIN ? "a domain" : "a snapshot");

        return 0;
}
