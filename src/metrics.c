/*
 * metrics.c: the metrics child (see metrics.h).
 * Owns: the per-slot stats table, the Prometheus text exposition, the
 * database checker thread, CHAN_STATUS to the master. The STUN/TURN
 * checker thread is icecheck.c's; this file starts it and shows its
 * results.
 * Must not: serve clients of the main listener, or block its loop on the
 * database (the checker thread owns the only db handle of this process).
 */
#include "autoconf.h"
#include "metrics.h"
#include "chan.h"
#include "child.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "icecheck.h"
#include "log.h"
#include "shm.h"
#include "util.h"
#include "presence.h"
#include "proto.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json_c_version.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEARTBEAT_STALE_MS 5000
#define DB_CHECK_INTERVAL_MS 5000

static struct {
	struct metrics_args *a;
	struct event_base *base;
	struct http_server http;
	bool http_on;
	struct config *cfg;
	struct metrics_agg agg;
	struct event *stats_ev, *tick_ev;
	pthread_t db_thread;
	bool db_thread_on;
	pthread_mutex_t db_lock;
	pthread_cond_t db_cond;
	bool db_stop;
	struct db_stats db_stats; /* checker's handle, copied under db_lock */
	int64_t started_ms;
} M = { .db_lock = PTHREAD_MUTEX_INITIALIZER, .db_cond = PTHREAD_COND_INITIALIZER };

/* ---- aggregation (pure) ---- */

int metrics_agg_add(struct metrics_agg *m, const void *buf, size_t len)
{
	struct stats_record rec;
	if (len != sizeof rec) {
		m->rejected++;
		return RT_ERR;
	}
	memcpy(&rec, buf, sizeof rec);
	if (rec.magic != STATS_MAGIC || rec.version != STATS_VERSION || rec.slot < 0 || rec.slot >= RT_MAX_SLOTS) {
		m->rejected++;
		return RT_ERR;
	}
	struct stats_record *cur = &m->slot[rec.slot];
	if (m->have[rec.slot] && cur->pid != rec.pid) {
		/* the slot has a new worker: keep the old one's totals */
		stats_fold(&m->retired, cur);
	} else if (m->have[rec.slot] && rec.seq < cur->seq) {
		m->rejected++; /* reordered: keep the newer one */
		return RT_OK;
	}
	*cur = rec;
	m->have[rec.slot] = true;
	m->records++;
	return RT_OK;
}

void metrics_agg_total(const struct metrics_agg *m, struct stats_record *out)
{
	*out = m->retired;
	for (int i = 0; i < RT_MAX_SLOTS; i++)
		if (m->have[i])
			stats_fold(out, &m->slot[i]);
}

/* ---- database checker thread ---- */

static void *db_thread_main(void *arg)
{
	const char *url = M.cfg->database_url;
	struct db_opts opts = { .connect_timeout_s = 3, .application_name = "rtftd-metrics" };
	opts.sslmode = config_db_sslmode(M.cfg->db_ssl);
	struct db *db = NULL;
	pthread_mutex_lock(&M.db_lock);
	while (!M.db_stop) {
		pthread_mutex_unlock(&M.db_lock);
		struct rt_err err = { "" };
		int64_t t0 = time_mono_us();
		int rc = RT_ERR;
		if (!db)
			db = db_open(url, &opts, &err);
		if (db)
			rc = db_ping(db, &err);
		double secs = (double)(time_mono_us() - t0) / 1e6;
		if (rc == RT_OK) {
			atomic_store(&rt_shm->db_ping_seconds, secs);
			shm_set_db_error(rt_shm, "");
			if (atomic_exchange(&rt_shm->db_state, 1) == 2)
				log_info("database reachable again");
		} else {
			shm_set_db_error(rt_shm, err.msg);
			if (atomic_exchange(&rt_shm->db_state, 2) != 2)
				log_warn("database check failed: %s", err.msg);
		}
		atomic_store(&rt_shm->db_checked_ms, time_mono_ms());
		pthread_mutex_lock(&M.db_lock);
		if (db)
			M.db_stats = *db_get_stats(db);
		if (M.db_stop)
			break;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += DB_CHECK_INTERVAL_MS / 1000;
		pthread_cond_timedwait(&M.db_cond, &M.db_lock, &until);
	}
	pthread_mutex_unlock(&M.db_lock);
	if (db)
		db_close(db);
	return NULL;
}

static void db_thread_stop(void)
{
	if (!M.db_thread_on)
		return;
	pthread_mutex_lock(&M.db_lock);
	M.db_stop = true;
	pthread_cond_signal(&M.db_cond);
	pthread_mutex_unlock(&M.db_lock);
	pthread_join(M.db_thread, NULL);
	M.db_thread_on = false;
}

/* ---- exposition ---- */

static void help_type(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct evbuffer *b, const char *name, const char *labels, const double *bounds, int n,
		      const uint64_t *counts, double sum)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";
	for (int i = 0; i < n; i++) {
		cum += counts[i];
		if (i < n - 1)
			evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
					    (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
					    (unsigned long long)cum);
	}
	if (labels[0]) {
		evbuffer_add_printf(b, "%s_sum{%s} %.9f\n", name, labels, sum);
		evbuffer_add_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
	} else {
		evbuffer_add_printf(b, "%s_sum %.9f\n", name, sum);
		evbuffer_add_printf(b, "%s_count %llu\n", name, (unsigned long long)cum);
	}
}

static bool slot_live(int i)
{
	int pid = atomic_load(&rt_shm->slots[i].pid);
	int st = atomic_load(&rt_shm->slots[i].state);
	return pid > 0 && st != SLOT_EMPTY;
}

/* text as a label value of the exposition format: backslash, double
 * quote and line feed escaped */
static void label_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	for (; *s && o + 3 <= cap; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

static void render_ice(struct evbuffer *b)
{
	struct icecheck_server srv[ICE_MAX_SERVERS];
	char url[ICE_MAX_SERVERS][2 * sizeof srv[0].url + 1];
	int n = icecheck_snapshot(srv, ICE_MAX_SERVERS);
	for (int i = 0; i < n; i++)
		label_escape(url[i], sizeof url[i], srv[i].url);

	help_type(b, "rtftd_ice_server_up", "gauge",
		  "1 when the STUN or TURN server answered the last STUN Binding request, by URL.");
	for (int i = 0; i < n; i++)
		if (srv[i].is_checked && srv[i].has_result)
			evbuffer_add_printf(b, "rtftd_ice_server_up{url=\"%s\"} %d\n", url[i], srv[i].is_up ? 1 : 0);
	help_type(b, "rtftd_ice_server_rtt_seconds", "gauge",
		  "Round-trip time of the last answered STUN Binding request, by URL.");
	for (int i = 0; i < n; i++)
		if (srv[i].is_checked && srv[i].is_up)
			evbuffer_add_printf(b, "rtftd_ice_server_rtt_seconds{url=\"%s\"} %.6f\n", url[i],
					    srv[i].rtt_seconds);
	help_type(b, "rtftd_ice_server_checks_total", "counter",
		  "STUN Binding checks of each STUN or TURN server, by result (stuns: and turns: are unchecked).");
	for (int i = 0; i < n; i++)
		for (int r = 0; r < ICECHECK_NRESULTS; r++) {
			/* a TLS entry only ever counts as unchecked, the others never */
			if ((r == ICECHECK_UNCHECKED) == srv[i].is_checked)
				continue;
			evbuffer_add_printf(b, "rtftd_ice_server_checks_total{url=\"%s\",result=\"%s\"} %llu\n", url[i],
					    icecheck_result_name((enum icecheck_result)r),
					    (unsigned long long)srv[i].results[r]);
		}
}

/* resident bytes and cpu seconds of a pid from /proc */
static bool proc_usage(int pid, double *rss, double *cpu)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	/* fields after the command: state(3) ... utime(14) stime(15) ... rss(24) */
	unsigned long long ut = 0, st = 0;
	long long rsspages = 0;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		field++;
		if (field == 14)
			ut = strtoull(tok, NULL, 10);
		else if (field == 15)
			st = strtoull(tok, NULL, 10);
		else if (field == 24) {
			rsspages = strtoll(tok, NULL, 10);
			break;
		}
	}
	long hz = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	*cpu = (double)(ut + st) / (double)(hz > 0 ? hz : 100);
	*rss = (double)rsspages * (double)(page > 0 ? page : 4096);
	return true;
}

static void render_build(struct evbuffer *b)
{
	help_type(b, "rtftd_build_info", "gauge", "Version of rtftd and of the libraries it runs with.");
	evbuffer_add_printf(
		b, "rtftd_build_info{version=\"%s\",libevent=\"%s\",sqlite=\"%s\",libpq=\"%d\",json_c=\"%s\"} 1\n",
		PACKAGE_VERSION, event_get_version(), sqlite3_libversion(), PQlibVersion(), json_c_version());
}

static void render_http(struct evbuffer *b, const struct stats_record *tot)
{
	help_type(b, "rtftd_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int s = 0; s < STATS_NSTATUS; s++) {
			if (!tot->http_requests[r][s])
				continue;
			int code = stats_status_code(s);
			char codestr[16];
			if (code)
				snprintf(codestr, sizeof codestr, "%d", code);
			else
				snprintf(codestr, sizeof codestr, "other");
			evbuffer_add_printf(b, "rtftd_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
					    stats_route_name(r), codestr, (unsigned long long)tot->http_requests[r][s]);
		}

	help_type(b, "rtftd_http_request_duration_seconds", "histogram",
		  "Time from the first byte of a request head to its reply, by route.");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		uint64_t c = 0;
		for (int i = 0; i < STATS_HTTP_BUCKETS; i++)
			c += tot->http_hist[r][i];
		if (!c)
			continue;
		char labels[64];
		snprintf(labels, sizeof labels, "route=\"%s\"", stats_route_name(r));
		histogram(b, "rtftd_http_request_duration_seconds", labels, stats_http_bounds, STATS_HTTP_BUCKETS,
			  tot->http_hist[r], tot->http_sum[r]);
	}
}

/* connections, event loops and workers: gauges per live slot, counters from the totals */
static void render_workers(struct evbuffer *b, const struct stats_record *tot)
{
	help_type(b, "rtftd_connections_accepted_total", "counter", "TCP connections accepted by all workers.");
	evbuffer_add_printf(b, "rtftd_connections_accepted_total %llu\n", (unsigned long long)tot->conns_accepted);

	help_type(b, "rtftd_connections_open", "gauge", "Connections open, per worker.");
	int64_t now = time_mono_ms();
	struct evbuffer *lag = evbuffer_new(), *beat = evbuffer_new();
	for (int i = 0; i < RT_MAX_SLOTS; i++) {
		if (!slot_live(i))
			continue;
		const struct stats_record *r = &M.agg.slot[i];
		bool fresh = M.agg.have[i] && r->pid == atomic_load(&rt_shm->slots[i].pid);
		evbuffer_add_printf(b, "rtftd_connections_open{worker=\"%d\"} %lld\n", i,
				    fresh ? (long long)r->conns_open : 0LL);
		evbuffer_add_printf(lag, "rtftd_event_loop_lag_max_seconds{worker=\"%d\"} %.6f\n", i,
				    fresh ? r->lag_max_recent : 0.0);
		int64_t hb = atomic_load(&rt_shm->slots[i].heartbeat_ms);
		evbuffer_add_printf(beat, "rtftd_worker_heartbeat_age_seconds{worker=\"%d\"} %.3f\n", i,
				    hb ? (double)(now - hb) / 1000.0 : -1.0);
	}
	/* each family's samples must follow its own HELP/TYPE lines */
	help_type(b, "rtftd_event_loop_lag_max_seconds", "gauge",
		  "Worst lateness of the worker's 250 ms timer since its previous report.");
	evbuffer_add_buffer(b, lag);
	help_type(b, "rtftd_worker_heartbeat_age_seconds", "gauge", "Time since the worker's last heartbeat.");
	evbuffer_add_buffer(b, beat);
	evbuffer_free(lag);
	evbuffer_free(beat);

	help_type(b, "rtftd_event_loop_lag_seconds", "histogram",
		  "Lateness of the workers' 250 ms timer: how long the event loop was busy.");
	histogram(b, "rtftd_event_loop_lag_seconds", "", stats_lag_bounds, STATS_LAG_BUCKETS, tot->lag_hist,
		  tot->lag_sum);

	help_type(b, "rtftd_worker_restarts_total", "counter", "Workers that died unexpectedly and were replaced.");
	evbuffer_add_printf(b, "rtftd_worker_restarts_total %llu\n",
			    (unsigned long long)atomic_load(&rt_shm->worker_restarts));
	help_type(b, "rtftd_workers_ready", "gauge", "Workers of the current generation that are serving.");
	evbuffer_add_printf(b, "rtftd_workers_ready %d\n", shm_ready_workers(rt_shm));
	help_type(b, "rtftd_workers_configured", "gauge", "WORKERS of the current generation.");
	evbuffer_add_printf(b, "rtftd_workers_configured %d\n", atomic_load(&rt_shm->workers_wanted));
}

/* the checker thread's own statements plus the workers' */
static void render_db(struct evbuffer *b, const struct stats_record *tot)
{
	pthread_mutex_lock(&M.db_lock);
	struct db_stats dbs = M.db_stats;
	pthread_mutex_unlock(&M.db_lock);
	dbs.queries += tot->db.queries;
	dbs.errors += tot->db.errors;
	dbs.sum_seconds += tot->db.sum_seconds;
	for (int i = 0; i < DB_HIST_BUCKETS; i++)
		dbs.hist[i] += tot->db.hist[i];
	help_type(b, "rtftd_db_up", "gauge", "1 when the last database check succeeded.");
	evbuffer_add_printf(b, "rtftd_db_up %d\n", atomic_load(&rt_shm->db_state) == 1 ? 1 : 0);
	help_type(b, "rtftd_db_query_duration_seconds", "histogram", "Duration of database statements.");
	histogram(b, "rtftd_db_query_duration_seconds", "", db_hist_bounds, DB_HIST_BUCKETS, dbs.hist, dbs.sum_seconds);
	help_type(b, "rtftd_db_query_errors_total", "counter", "Database statements that failed.");
	evbuffer_add_printf(b, "rtftd_db_query_errors_total %llu\n", (unsigned long long)dbs.errors);
}

static void render_processes(struct evbuffer *b)
{
	help_type(b, "rtftd_process_resident_memory_bytes", "gauge", "Resident memory of each rtftd process.");
	struct evbuffer *cpu = evbuffer_new();
	double rss, secs;
	int mpid = atomic_load(&rt_shm->master_pid);
	if (mpid > 0 && proc_usage(mpid, &rss, &secs)) {
		evbuffer_add_printf(b, "rtftd_process_resident_memory_bytes{role=\"master\",worker=\"\"} %.0f\n", rss);
		evbuffer_add_printf(cpu, "rtftd_process_cpu_seconds_total{role=\"master\",worker=\"\"} %.2f\n", secs);
	}
	if (proc_usage((int)getpid(), &rss, &secs)) {
		evbuffer_add_printf(b, "rtftd_process_resident_memory_bytes{role=\"metrics\",worker=\"\"} %.0f\n", rss);
		evbuffer_add_printf(cpu, "rtftd_process_cpu_seconds_total{role=\"metrics\",worker=\"\"} %.2f\n", secs);
	}
	for (int i = 0; i < RT_MAX_SLOTS; i++) {
		int pid = atomic_load(&rt_shm->slots[i].pid);
		if (!slot_live(i) || !proc_usage(pid, &rss, &secs))
			continue;
		evbuffer_add_printf(b, "rtftd_process_resident_memory_bytes{role=\"worker\",worker=\"%d\"} %.0f\n", i,
				    rss);
		evbuffer_add_printf(cpu, "rtftd_process_cpu_seconds_total{role=\"worker\",worker=\"%d\"} %.2f\n", i,
				    secs);
	}
	help_type(b, "rtftd_process_cpu_seconds_total", "counter", "User and system CPU time of each rtftd process.");
	evbuffer_add_buffer(b, cpu);
	evbuffer_free(cpu);
}

/* WebSocket and protocol */
static void render_protocol(struct evbuffer *b, const struct stats_record *tot)
{
	int64_t ws_open = 0, ws_reg = 0;
	for (int i = 0; i < RT_MAX_SLOTS; i++)
		if (slot_live(i) && M.agg.have[i] && M.agg.slot[i].pid == atomic_load(&rt_shm->slots[i].pid)) {
			ws_open += M.agg.slot[i].ws_open;
			ws_reg += M.agg.slot[i].ws_registered;
		}
	help_type(b, "rtftd_websocket_connections_open", "gauge", "WebSocket connections open on all workers.");
	evbuffer_add_printf(b, "rtftd_websocket_connections_open %lld\n", (long long)ws_open);
	help_type(b, "rtftd_websocket_connections_total", "counter", "WebSocket connections accepted.");
	evbuffer_add_printf(b, "rtftd_websocket_connections_total %llu\n", (unsigned long long)tot->ws_accepted);
	help_type(b, "rtftd_users_registered", "gauge", "Connections holding a name (from the workers' reports).");
	evbuffer_add_printf(b, "rtftd_users_registered %lld\n", (long long)ws_reg);
	help_type(b, "rtftd_presence_names", "gauge", "Names in the shared directory.");
	evbuffer_add_printf(b, "rtftd_presence_names %zu\n", presence_count());
	help_type(b, "rtftd_presence_repairs_total", "counter",
		  "Times the name directory was repaired after a worker died holding its lock.");
	evbuffer_add_printf(b, "rtftd_presence_repairs_total %llu\n", (unsigned long long)presence_repairs());
	help_type(b, "rtftd_messages_received_total", "counter", "WebSocket messages from clients, by type.");
	for (int t = 0; t < STATS_MSG_TYPES; t++)
		if (tot->msgs_in[t])
			evbuffer_add_printf(b, "rtftd_messages_received_total{type=\"%s\"} %llu\n",
					    t == STATS_MSG_TYPES - 1 ? "BINARY_CHUNK"
					    : t                      ? proto_type_name((enum proto_type)t)
								     : "invalid",
					    (unsigned long long)tot->msgs_in[t]);
	help_type(b, "rtftd_messages_relayed_total", "counter", "Messages forwarded to their recipient, by type.");
	for (int t = 1; t < STATS_MSG_TYPES; t++)
		if (tot->msgs_out[t])
			evbuffer_add_printf(b, "rtftd_messages_relayed_total{type=\"%s\"} %llu\n",
					    t == STATS_MSG_TYPES - 1 ? "BINARY_CHUNK"
								     : proto_type_name((enum proto_type)t),
					    (unsigned long long)tot->msgs_out[t]);
	help_type(b, "rtftd_messages_sent_total", "counter", "The server's own messages to clients (replies, lists).");
	evbuffer_add_printf(b, "rtftd_messages_sent_total %llu\n", (unsigned long long)tot->replies_out);
	help_type(b, "rtftd_relayed_bytes_total", "counter", "Bytes of relayed messages forwarded.");
	evbuffer_add_printf(b, "rtftd_relayed_bytes_total %llu\n", (unsigned long long)tot->relayed_bytes);
	help_type(b, "rtftd_client_errors_total", "counter", "ERROR and USERNAME_ERROR messages sent, by reason.");
	for (int e = 0; e < ERR_COUNT; e++)
		if (tot->errors[e])
			evbuffer_add_printf(b, "rtftd_client_errors_total{reason=\"%s\"} %llu\n",
					    proto_error_code((enum proto_error)e), (unsigned long long)tot->errors[e]);
	help_type(b, "rtftd_websocket_closes_total", "counter", "WebSocket connections closed, by close code.");
	for (int c = 0; c < STATS_NCLOSE; c++)
		if (tot->closes[c]) {
			int code = stats_close_code(c);
			if (code)
				evbuffer_add_printf(b, "rtftd_websocket_closes_total{code=\"%d\"} %llu\n", code,
						    (unsigned long long)tot->closes[c]);
			else
				evbuffer_add_printf(b, "rtftd_websocket_closes_total{code=\"other\"} %llu\n",
						    (unsigned long long)tot->closes[c]);
		}
	help_type(b, "rtftd_bus_frames_sent_total", "counter", "Frames sent to other workers (cross-worker relays).");
	evbuffer_add_printf(b, "rtftd_bus_frames_sent_total %llu\n", (unsigned long long)tot->bus_frames_out);
	help_type(b, "rtftd_bus_frames_received_total", "counter", "Frames received from other workers.");
	evbuffer_add_printf(b, "rtftd_bus_frames_received_total %llu\n", (unsigned long long)tot->bus_frames_in);
}

static void render_transfers(struct evbuffer *b, const struct stats_record *tot)
{
	static const char *modes[2] = { "webrtc", "websocket" };
	static const char *outcomes[3] = { "unknown", "completed", "failed" };
	help_type(b, "rtftd_transfers_started_total", "counter", "File offers (FILE_METADATA) forwarded, by mode.");
	for (int m = 0; m < 2; m++)
		evbuffer_add_printf(b, "rtftd_transfers_started_total{mode=\"%s\"} %llu\n", modes[m],
				    (unsigned long long)tot->transfers_started[m]);
	help_type(b, "rtftd_transfers_ended_total", "counter",
		  "Transfers ended, by mode and outcome (unknown: peer to peer, sender left without FILE_COMPLETE).");
	for (int m = 0; m < 2; m++)
		for (int o = 0; o < 3; o++)
			if (tot->transfers[m][o])
				evbuffer_add_printf(b, "rtftd_transfers_ended_total{mode=\"%s\",outcome=\"%s\"} %llu\n",
						    modes[m], outcomes[o], (unsigned long long)tot->transfers[m][o]);
	help_type(b, "rtftd_transfer_records_written_total", "counter",
		  "Transfer record events written to the database.");
	evbuffer_add_printf(b, "rtftd_transfer_records_written_total %llu\n",
			    (unsigned long long)tot->transfer_records_written);
	help_type(b, "rtftd_transfer_records_dropped_total", "counter",
		  "Transfer record events not written (queue full or database error).");
	evbuffer_add_printf(b, "rtftd_transfer_records_dropped_total %llu\n",
			    (unsigned long long)tot->transfer_records_dropped);
}

static void render_stats_records(struct evbuffer *b)
{
	help_type(b, "rtftd_stats_records_total", "counter", "Stats records received from workers.");
	evbuffer_add_printf(b, "rtftd_stats_records_total %llu\n", (unsigned long long)M.agg.records);
	help_type(b, "rtftd_stats_records_rejected_total", "counter", "Stats datagrams refused as malformed or late.");
	evbuffer_add_printf(b, "rtftd_stats_records_rejected_total %llu\n", (unsigned long long)M.agg.rejected);
}

/* One scrape: every family once, in this order. */
static void render(struct evbuffer *b)
{
	struct stats_record tot;
	metrics_agg_total(&M.agg, &tot);
	render_build(b);
	render_http(b, &tot);
	render_workers(b, &tot);
	render_db(b, &tot);
	render_ice(b);
	render_processes(b);
	render_protocol(b, &tot);
	render_transfers(b, &tot);
	render_stats_records(b);
}

static int metrics_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	evhtp_headers_add_header(req->headers_out,
				 evhtp_header_new("Content-Type", "text/plain; version=0.0.4; charset=utf-8", 0, 0));
	render(body);
	return 200;
}

/* ---- loop ---- */

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	static struct stats_record buf;
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(fd, &buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0)
			return;
		(void)metrics_agg_add(&M.agg, &buf, (size_t)n);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = time_mono_ms();
	struct chan_status st = { .all_alive = 1 };
	uint32_t gen = atomic_load(&rt_shm->generation);
	for (int i = 0; i < RT_MAX_SLOTS; i++) {
		if (!slot_live(i))
			continue;
		int state = atomic_load(&rt_shm->slots[i].state);
		int64_t hb = atomic_load(&rt_shm->slots[i].heartbeat_ms);
		if (state == SLOT_READY && now - hb > HEARTBEAT_STALE_MS) {
			st.all_alive = 0;
			log_warn("worker %d has not beaten for %lld ms", i, (long long)(now - hb));
		}
		if (state == SLOT_READY && atomic_load(&rt_shm->slots[i].generation) == gen)
			st.workers_ready++;
		if (M.agg.have[i] && M.agg.slot[i].pid == atomic_load(&rt_shm->slots[i].pid))
			st.connections += M.agg.slot[i].conns_open;
	}
	struct stats_record tot;
	metrics_agg_total(&M.agg, &tot);
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int s = 0; s < STATS_NSTATUS; s++)
			st.requests += (int64_t)tot.http_requests[r][s];
	if (chan_send(M.a->chan_fd, CHAN_STATUS, &st, sizeof st) == RT_ERR && errno != EAGAIN)
		log_debug("chan_send(STATUS) failed: %s", strerror(errno));
}

static void stop(void)
{
	event_base_loopexit(M.base, NULL);
}

static void quit_cb(int mode, int timeout_ms)
{
	stop(); /* nothing here to drain */
}

static void apply_cb(struct config *nc)
{
	if (M.http_on)
		http_server_apply(&M.http, nc);
	icecheck_apply(nc);
	/* the checker thread reads database_url, which never changes on
	 * reload (start-only), so the old config can go */
	struct config *old = M.cfg;
	pthread_mutex_lock(&M.db_lock);
	M.cfg = nc;
	pthread_mutex_unlock(&M.db_lock);
	config_free(old);
}

void metrics_main(struct metrics_args *a)
{
	struct rt_err err;
	M.a = a;
	M.cfg = a->cfg;
	M.started_ms = time_mono_ms();
	M.base = child_setup("metrics", -1);
	if (a->listen_fd >= 0) {
		if (http_server_init(&M.http, M.base, a->listen_fd, M.cfg, "metrics", -1, &err) != RT_OK) {
			log_error("cannot serve metrics: %s", err.msg);
			exit(RT_EXIT_CHILD_INIT);
		}
		M.http_on = true;
		http_route(&M.http, "/metrics", ROUTE_METRICS, metrics_handler, NULL);
		child_routes(&M.http, NULL);
	}
	static const struct child_ops ops = { .quit = quit_cb, .apply = apply_cb };
	child_listen(M.base, a->chan_fd, &ops);
	M.stats_ev = event_new(M.base, a->stats_fd, EV_READ | EV_PERSIST, stats_cb, NULL);
	M.tick_ev = event_new(M.base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(M.stats_ev, NULL);
	struct timeval tv = { 1, 0 };
	event_add(M.tick_ev, &tv);

	if (pthread_create(&M.db_thread, NULL, db_thread_main, NULL) != 0) {
		log_error("pthread_create(database checker) failed");
		exit(RT_EXIT_CHILD_INIT);
	}
	M.db_thread_on = true;
	if (icecheck_start(M.cfg, &err) != RT_OK) {
		log_error("cannot start the ice checks: %s", err.msg);
		exit(RT_EXIT_CHILD_INIT);
	}
	/* wait for the first database check (bounded by its connect timeout) so
	 * readiness is known when the master says READY=1 */
	for (int i = 0; i < 100 && atomic_load(&rt_shm->db_checked_ms) == 0; i++)
		usleep(50 * 1000);

	child_ready(a->chan_fd);
	event_base_dispatch(M.base);
	icecheck_stop();
	db_thread_stop();
	if (M.http_on)
		http_server_fini(&M.http);
	exit(RT_EXIT_OK);
}
