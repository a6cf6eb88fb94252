/*
 * metrics.h: the metrics child. Receives workers' stats records on a
 * SOCK_DGRAM socket, keeps the last record per slot (folding a replaced
 * worker's last record into a retired total), checks the database from a
 * thread of its own, reports liveness to the master, and serves /metrics,
 * /healthz and /readyz on METRICS_LISTEN.
 */
#ifndef RT_METRICS_H
#define RT_METRICS_H

#include "rtftd.h"
#include "stats.h"

struct config;

struct metrics_args {
	int listen_fd; /* -1 when metrics_listen is off */
	int chan_fd;
	int stats_fd; /* read end */
	struct config *cfg;
};

RT_NORETURN void metrics_main(struct metrics_args *a);

/* Pure: the slot table the child keeps, exposed for unit tests. */
struct metrics_agg {
	struct stats_record slot[RT_MAX_SLOTS];
	bool have[RT_MAX_SLOTS];
	struct stats_record retired; /* counters of replaced workers */
	uint64_t records, rejected;
};
/* Validates and stores one received datagram. RT_ERR for junk. */
int metrics_agg_add(struct metrics_agg *m, const void *buf, size_t len);
/* Sum of counters over retired + every slot (gauges not summed). */
void metrics_agg_total(const struct metrics_agg *m, struct stats_record *out);

#endif
