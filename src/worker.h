/*
 * worker.h: a worker process: one libevent loop, libevhtp on the inherited
 * listening socket, heartbeats and stats to the metrics child, control
 * messages from the master. Never returns: exits 0 after a quit, or
 * RT_EXIT_CHILD_INIT when it cannot initialise.
 */
#ifndef RT_WORKER_H
#define RT_WORKER_H

#include "rtftd.h"

struct config;

struct worker_args {
	int slot; /* index into shm slots */
	int index; /* "worker N" */
	uint32_t generation;
	int listen_fd;
	int chan_fd; /* child end of the channel to the master */
	int stats_fd; /* SOCK_DGRAM to the metrics child */
	struct config *cfg; /* inherited; the worker owns it after fork */
};

RT_NORETURN void worker_main(struct worker_args *a);

#endif
