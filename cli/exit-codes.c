/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exit-codes.c: error names to exit codes. The table is the one vmsnapctl(1)
 * documents; a new error name in the bus contract needs a line here and there. */
#include <string.h>

#include "exit-codes.h"

#define ERROR_PREFIX "org.example.Snapshots.Error."

static const struct {
        const char *name;
        int code;
} error_codes[] = {
        {"NotFound", EXIT_NOT_FOUND},
        {"Busy", EXIT_BUSY},
        {"InvalidArgument", EXIT_INVALID_ARGUMENT},
        {"DomainRunning", EXIT_DOMAIN_RUNNING},
        {"InPreview", EXIT_IN_PREVIEW},
        {"NoSpace", EXIT_NO_SPACE},
        {"Locked", EXIT_LOCKED},
        {"NotAuthorized", EXIT_NOT_AUTHORIZED},
        {"Unsupported", EXIT_UNSUPPORTED},
        {"Failed", EXIT_FAILED},
};

int exit_code_from_error_name(const char *name)
{
        if (!name || !*name)
                return EXIT_FAILURE_OTHER;
        if (strncmp(name, ERROR_PREFIX, strlen(ERROR_PREFIX)) == 0) {
                const char *suffix = name + strlen(ERROR_PREFIX);
                for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
                        if (strcmp(suffix, error_codes[i].name) == 0)
                                return error_codes[i].code;
                return EXIT_FAILURE_OTHER;
        }
        /* The bus itself refused: its policy, or an interactive check without an agent. */
        if (strcmp(name, SD_BUS_ERROR_ACCESS_DENIED) == 0 ||
            strcmp(name, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED) == 0)
                return EXIT_NOT_AUTHORIZED;
        return EXIT_FAILURE_OTHER;
}
