/* Unit tests for stats.c folding and the metrics child's per-slot table. */
#include "autoconf.h"
#include "metrics.h"
#include "stats.h"
#include "tap.h"

#include <string.h>

static struct stats_record rec(int slot, int pid, uint32_t seq, uint64_t reqs)
{
	struct stats_record r;
	memset(&r, 0, sizeof r);
	r.magic = STATS_MAGIC;
	r.version = STATS_VERSION;
	r.slot = slot;
	r.pid = pid;
	r.seq = seq;
	r.http_requests[ROUTE_HEALTHZ][stats_status_index(200)] = reqs;
	r.conns_open = (int64_t)reqs;
	return r;
}

static struct metrics_agg agg;

int main(void)
{
	is_int(stats_status_code(stats_status_index(431)), 431, "status index round trip");
	is_int(stats_status_code(stats_status_index(299)), 0, "unknown status is other");
	is_int(stats_bucket(stats_http_bounds, STATS_HTTP_BUCKETS, 0.00005), 0, "tiny value in first bucket");
	is_int(stats_bucket(stats_http_bounds, STATS_HTTP_BUCKETS, 0.001), 3, "bound is inclusive (le)");
	is_int(stats_bucket(stats_http_bounds, STATS_HTTP_BUCKETS, 99.0), STATS_HTTP_BUCKETS - 1, "huge value in +Inf");

	struct stats_record r = rec(0, 100, 1, 5), tot;
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_OK, "record accepted");
	r = rec(1, 101, 1, 7);
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_OK, "second slot accepted");
	metrics_agg_total(&agg, &tot);
	is_int(tot.http_requests[ROUTE_HEALTHZ][stats_status_index(200)], 12, "totals sum slots");

	r = rec(0, 100, 2, 9);
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_OK, "newer record of the same worker replaces");
	metrics_agg_total(&agg, &tot);
	is_int(tot.http_requests[ROUTE_HEALTHZ][stats_status_index(200)], 16, "cumulative record is not double counted");

	r = rec(0, 100, 1, 3);
	(void)metrics_agg_add(&agg, &r, sizeof r);
	metrics_agg_total(&agg, &tot);
	is_int(tot.http_requests[ROUTE_HEALTHZ][stats_status_index(200)], 16, "a late, older record is ignored");

	r = rec(0, 200, 1, 2); /* slot 0 replaced by a new pid */
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_OK, "replacement worker accepted");
	metrics_agg_total(&agg, &tot);
	is_int(tot.http_requests[ROUTE_HEALTHZ][stats_status_index(200)], 18,
	       "replaced worker's totals are kept (counter never goes back)");
	is_int(agg.slot[0].conns_open, 2, "gauge comes from the new worker only");

	uint64_t rejected = agg.rejected;
	char junk[10] = { 0 };
	ok(metrics_agg_add(&agg, junk, sizeof junk) == RT_ERR, "short datagram refused");
	r = rec(RT_MAX_SLOTS, 1, 1, 1);
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_ERR, "slot out of range refused");
	r = rec(0, 1, 1, 1);
	r.magic = 0;
	ok(metrics_agg_add(&agg, &r, sizeof r) == RT_ERR, "bad magic refused");
	is_int(agg.rejected, rejected + 3, "rejections counted");

	/* Client errors are counted per protocol error code. */
	static struct stats_record dst, src;
	dst.errors[ERR_NOT_ONLINE] = 2;
	src.errors[ERR_NOT_ONLINE] = 3;
	src.errors[ERR_RATE_LIMITED] = 1;
	stats_fold(&dst, &src);
	is_int(dst.errors[ERR_NOT_ONLINE], 5, "fold adds errors of the same code");
	is_int(dst.errors[ERR_RATE_LIMITED], 1, "  and keeps codes apart");
	is_int(dst.errors[ERR_BAD_MESSAGE], 0, "  and adds nothing to the others");
	return done_testing();
}
