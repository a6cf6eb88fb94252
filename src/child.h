/*
 * child.h: what every child of the master (the workers and the metrics
 * child) does the same way after fork: its log role, the test suite's
 * fault injection, its event base, the master's channel, CHAN_READY, and
 * the /healthz and /readyz routes. Child processes only; the policy of
 * what a quit or a new configuration means stays with each child, behind
 * struct child_ops.
 */
#ifndef RT_CHILD_H
#define RT_CHILD_H

#include "rtftd.h"

struct config;
struct event_base;
struct http_server;

struct child_ops {
	/* Stop: mode is an enum chan_quit_mode, timeout_ms the master's deadline
	 * from now, or -1 when none was given (SIGTERM): use
	 * shutdown_timeout_ms. Also called, with QUIT_SHUTDOWN and 1000, when
	 * the master's channel is gone: nobody would supervise the child. */
	void (*quit)(int mode, int timeout_ms);
	/* A new, valid configuration from the master, already applied to the
	 * log. The callee owns nc (and frees the one it replaces). */
	void (*apply)(struct config *nc);
};

/* First call after fork: names the process in the log (role "worker" or
 * "metrics", slot >= 0 for a worker, -1 otherwise), exits
 * RT_EXIT_CHILD_INIT when RTFTD_TEST_FAIL_INIT equals role (rtftd(8),
 * ENVIRONMENT) or when no event base can be made. Returns the base, which
 * the child owns. */
struct event_base *child_setup(const char *role, int slot);

/* Reads the master's channel chan_fd on base from now on: CHAN_QUIT and
 * CHAN_CONFIG go to ops (copied; ops' functions must outlive the loop),
 * CHAN_REOPEN_LOG reopens the log here. SIGTERM on base is taken as a quit
 * without a deadline. */
void child_listen(struct event_base *base, int chan_fd, const struct child_ops *ops);

/* Registers /healthz and /readyz on srv. /readyz answers 503 "draining"
 * while is_draining() is true (NULL: never), else http_readyz_json. */
void child_routes(struct http_server *srv, bool (*is_draining)(void));

/* Tells the master that this child serves (CHAN_READY); exits
 * RT_EXIT_CHILD_INIT when it cannot. */
void child_ready(int chan_fd);

#endif
