/*
 * stats.h: the fixed-size record a worker sends to the metrics child about
 * once a second, and the pure helpers that fold records per slot.
 * Records carry cumulative values since the worker started, so a lost
 * datagram loses nothing; the metrics child keeps the last record per slot
 * and folds a replaced worker's last record into a "retired" total so
 * exported counters never go backwards.
 */
#ifndef RT_STATS_H
#define RT_STATS_H

#include "rtftd.h"
#include "db.h"
#include "proto.h"

enum stats_route {
	ROUTE_ROOT = 0, /* GET / */
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_API,
	ROUTE_METRICS,
	ROUTE_NOT_FOUND, /* no route matched */
	ROUTE_REJECTED, /* refused by the guard before routing */
	ROUTE_WS, /* WebSocket upgrades on / and /ws */
	ROUTE_STATIC, /* the web page's other files (www_root) */
	ROUTE_COUNT
};

/* The status codes rtftd emits; anything else is counted as "other". */
/* clang-format off */
#define STATS_STATUS_CODES {101, 200, 204, 400, 404, 405, 408, 413, 414, 426, 431, 500, 501, 503}
/* clang-format on */
#define STATS_NSTATUS 15 /* the codes above plus "other" */

#define STATS_HTTP_BUCKETS 14
extern const double stats_http_bounds[STATS_HTTP_BUCKETS - 1];
#define STATS_LAG_BUCKETS 9
extern const double stats_lag_bounds[STATS_LAG_BUCKETS - 1];

/* WebSocket messages by type, in and out (index: enum proto_type) */
#define STATS_MSG_TYPES 15 /* the proto types, and [14] for binary chunks */
/* close codes counted one by one; anything else is "other" */
/* clang-format off */
#define STATS_CLOSE_CODES {1000, 1001, 1002, 1005, 1006, 1007, 1008, 1009, 1011, 1012}
/* clang-format on */
#define STATS_NCLOSE 11

#define STATS_MAGIC 0x52545354u
#define STATS_VERSION 4

struct stats_record {
	uint32_t magic;
	uint32_t version;
	int32_t slot;
	int32_t pid;
	uint32_t generation;
	uint32_t seq;
	int64_t started_ms; /* monotonic */
	int64_t conns_open;
	uint64_t conns_accepted;
	uint64_t http_requests[ROUTE_COUNT][STATS_NSTATUS];
	uint64_t http_hist[ROUTE_COUNT][STATS_HTTP_BUCKETS]; /* non-cumulative */
	double http_sum[ROUTE_COUNT];
	uint64_t lag_hist[STATS_LAG_BUCKETS];
	double lag_sum;
	double lag_max_recent; /* worst lag since the previous record, seconds */
	struct db_stats db;

	/* WebSocket and protocol */
	int64_t ws_open;
	int64_t ws_registered;
	uint64_t ws_accepted;
	uint64_t msgs_in[STATS_MSG_TYPES];
	uint64_t msgs_out[STATS_MSG_TYPES]; /* relayed messages delivered, by type */
	uint64_t replies_out; /* the server's own messages sent */
	uint64_t relayed_bytes;
	uint64_t errors[ERR_COUNT]; /* ERROR and USERNAME_ERROR sent, by enum proto_error */
	uint64_t closes[STATS_NCLOSE];
	uint64_t bus_frames_out, bus_frames_in;
	uint64_t transfers[2][3]; /* [webrtc, websocket][active (outcome unknown), completed, failed] at their end */
	uint64_t transfers_started[2];
	uint64_t transfer_records_written, transfer_records_dropped;
};

const char *stats_route_name(enum stats_route r);
/* Index into http_requests' second dimension for a status code. */
int stats_status_index(int status);
/* The code for an index, or 0 for "other". */
int stats_status_code(int idx);
/* Index of the histogram bucket for v given n-1 upper bounds. */
int stats_bucket(const double *bounds, int nbuckets, double v);

int stats_close_index(int code);
int stats_close_code(int idx); /* 0 for "other" */

/* Adds every counter of src into dst (gauges are not added). */
void stats_fold(struct stats_record *dst, const struct stats_record *src);

/* ---- worker side ---- */
extern struct stats_record rt_stats;
void stats_worker_init(int slot, uint32_t generation);
void stats_http(enum stats_route route, int status, double seconds);
void stats_lag(double seconds);
/* Sends rt_stats on fd (SOCK_DGRAM, non-blocking). RT_AGAIN if the metrics
 * child is not keeping up (the next send carries the same totals). */
int stats_send(int fd) RT_MUSTCHECK;

#endif
