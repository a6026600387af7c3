/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit-agent.h: a text authentication agent for this process, started the way
 * systemd's polkit_agent_open() starts one, so that an administrator who is not
 * root is asked for a password in the terminal instead of being refused. */
#pragma once

/* Starts pkttyagent for this process when it can help (not root, stdin a terminal)
 * and waits until it has registered. Failing to start it is not an error: the call
 * is then refused as it would be without an agent. */
void polkit_agent_open(void);
/* Stops the agent, if one runs. Called at exit. */
void polkit_agent_close(void);
