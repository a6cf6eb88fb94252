/*
 * stats.c: worker-local counters (plain adds, no locks: one thread per
 * worker) and the pure folding used by the metrics child.
 * Must not: block, allocate per request, or log.
 */
#include "autoconf.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const double stats_http_bounds[STATS_HTTP_BUCKETS - 1] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
							   0.025,  0.05,    0.1,    0.25,  0.5,    1.0 };
const double stats_lag_bounds[STATS_LAG_BUCKETS - 1] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5 };

static const int status_codes[] = STATS_STATUS_CODES;
_Static_assert(RT_ARRAY_LEN(status_codes) + 1 == STATS_NSTATUS, "STATS_NSTATUS");

static const char *route_names[ROUTE_COUNT] = { "/",         "/healthz", "/readyz", "/api",  "/metrics",
						"not_found", "rejected", "/ws",     "static" };

struct stats_record rt_stats;

static const int close_codes[] = STATS_CLOSE_CODES;
_Static_assert(RT_ARRAY_LEN(close_codes) + 1 == STATS_NCLOSE, "STATS_NCLOSE");
int stats_close_index(int code)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(close_codes); i++)
		if (close_codes[i] == code)
			return (int)i;
	return STATS_NCLOSE - 1;
}

int stats_close_code(int idx)
{
	return idx >= 0 && idx < (int)RT_ARRAY_LEN(close_codes) ? close_codes[idx] : 0;
}

const char *stats_route_name(enum stats_route r)
{
	return (unsigned)r < ROUTE_COUNT ? route_names[r] : "?";
}

int stats_status_index(int status)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(status_codes); i++)
		if (status_codes[i] == status)
			return (int)i;
	return STATS_NSTATUS - 1;
}

int stats_status_code(int idx)
{
	return idx >= 0 && idx < (int)RT_ARRAY_LEN(status_codes) ? status_codes[idx] : 0;
}

int stats_bucket(const double *bounds, int nbuckets, double v)
{
	for (int i = 0; i < nbuckets - 1; i++)
		if (v <= bounds[i])
			return i;
	return nbuckets - 1;
}

void stats_fold(struct stats_record *dst, const struct stats_record *src)
{
	dst->conns_accepted += src->conns_accepted;
	for (int r = 0; r < ROUTE_COUNT; r++) {
		for (int s = 0; s < STATS_NSTATUS; s++)
			dst->http_requests[r][s] += src->http_requests[r][s];
		for (int b = 0; b < STATS_HTTP_BUCKETS; b++)
			dst->http_hist[r][b] += src->http_hist[r][b];
		dst->http_sum[r] += src->http_sum[r];
	}
	for (int b = 0; b < STATS_LAG_BUCKETS; b++)
		dst->lag_hist[b] += src->lag_hist[b];
	dst->lag_sum += src->lag_sum;
	dst->db.queries += src->db.queries;
	dst->db.errors += src->db.errors;
	for (int b = 0; b < DB_HIST_BUCKETS; b++)
		dst->db.hist[b] += src->db.hist[b];
	dst->db.sum_seconds += src->db.sum_seconds;
	dst->ws_accepted += src->ws_accepted;
	for (int i = 0; i < STATS_MSG_TYPES; i++) {
		dst->msgs_in[i] += src->msgs_in[i];
		dst->msgs_out[i] += src->msgs_out[i];
	}
	dst->replies_out += src->replies_out;
	dst->relayed_bytes += src->relayed_bytes;
	for (int i = 0; i < ERR_COUNT; i++)
		dst->errors[i] += src->errors[i];
	for (int i = 0; i < STATS_NCLOSE; i++)
		dst->closes[i] += src->closes[i];
	dst->bus_frames_out += src->bus_frames_out;
	dst->bus_frames_in += src->bus_frames_in;
	for (int m = 0; m < 2; m++) {
		dst->transfers_started[m] += src->transfers_started[m];
		for (int o = 0; o < 3; o++)
			dst->transfers[m][o] += src->transfers[m][o];
	}
	dst->transfer_records_written += src->transfer_records_written;
	dst->transfer_records_dropped += src->transfer_records_dropped;
}

void stats_worker_init(int slot, uint32_t generation)
{
	memset(&rt_stats, 0, sizeof rt_stats);
	rt_stats.magic = STATS_MAGIC;
	rt_stats.version = STATS_VERSION;
	rt_stats.slot = slot;
	rt_stats.pid = (int32_t)getpid();
	rt_stats.generation = generation;
	rt_stats.started_ms = time_mono_ms();
}

void stats_http(enum stats_route route, int status, double seconds)
{
	if ((unsigned)route >= ROUTE_COUNT)
		route = ROUTE_NOT_FOUND;
	rt_stats.http_requests[route][stats_status_index(status)]++;
	rt_stats.http_hist[route][stats_bucket(stats_http_bounds, STATS_HTTP_BUCKETS, seconds)]++;
	rt_stats.http_sum[route] += seconds;
}

void stats_lag(double seconds)
{
	rt_stats.lag_hist[stats_bucket(stats_lag_bounds, STATS_LAG_BUCKETS, seconds)]++;
	rt_stats.lag_sum += seconds;
	if (seconds > rt_stats.lag_max_recent)
		rt_stats.lag_max_recent = seconds;
}

int stats_send(int fd)
{
	rt_stats.seq++;
	ssize_t n = send(fd, &rt_stats, sizeof rt_stats, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof rt_stats) {
		rt_stats.lag_max_recent = 0;
		return RT_OK;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return RT_AGAIN;
	return RT_ERR;
}
