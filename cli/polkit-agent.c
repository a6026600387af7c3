/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit-agent.c: pkttyagent as a child. It registers for its parent process
 * (this one) and signals readiness by closing --notify-fd. With --fallback it
 * yields to the agent of the caller's login session; polkit 122 then ignores it
 * altogether when the caller has no login session (no logind, a plain ssh or
 * console login), so --fallback is passed only when a desktop, whose agent
 * should answer, is there. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "polkit-agent.h"

#ifndef POLKIT_AGENT_BINARY
#define POLKIT_AGENT_BINARY "/usr/bin/pkttyagent"
#endif

static pid_t agent_pid;

void polkit_agent_open(void)
{
        if (agent_pid > 0 || geteuid() == 0 || !isatty(STDIN_FILENO))
                return;
        const char *binary = getenv("VMSNAPCTL_PKTTYAGENT"); /* tests point it elsewhere */
        if (!binary || !*binary)
                binary = POLKIT_AGENT_BINARY;
        if (access(binary, X_OK) < 0)
                return;

        int notify[2];
        if (pipe2(notify, O_CLOEXEC) < 0)
                return;
        pid_t pid = fork();
        if (pid < 0) {
                close(notify[0]);
                close(notify[1]);
                return;
        }
        if (pid == 0) {
                /* The agent must not inherit the signal mask the job waiter sets later, nor
                 * anything but the notify fd and the terminal. */
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                int fd = dup(notify[1]); /* without O_CLOEXEC */
                char fd_text[16];
                snprintf(fd_text, sizeof(fd_text), "%d", fd);
                bool desktop = getenv("DISPLAY") || getenv("WAYLAND_DISPLAY");
                execl(binary, binary, "--notify-fd", fd_text, desktop ? "--fallback" : (char *)NULL,
                      (char *)NULL);
                _exit(127);
        }
        agent_pid = pid;
        close(notify[1]);
        /* Until the agent has registered (it closes the fd) or died. */
        struct pollfd p = {.fd = notify[0], .events = POLLIN};
        while (poll(&p, 1, 10000) < 0 && errno == EINTR)
                ;
        close(notify[0]);
        atexit(polkit_agent_close);
}

void polkit_agent_close(void)
{
        if (agent_pid <= 0)
                return;
        kill(agent_pid, SIGTERM);
        kill(agent_pid, SIGCONT);
        while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        agent_pid = 0;
}
