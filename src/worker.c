/*
 * worker.c: a worker process. Sets up its own event base after fork, serves
 * HTTP on its inherited SO_REUSEPORT socket, beats its heart into shared
 * memory, sends stats to the metrics child, and obeys the master's channel
 * (quit, new config, reopen log). The master's death is an EOF on the
 * channel (and PR_SET_PDEATHSIG): the worker then stops at once.
 * Must not: touch the database on the request path, or block the loop.
 */
#include "autoconf.h"
#include "worker.h"
#include "chan.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "proto.h"
#include "room.h"
#include "transfers.h"
#include "ws.h"
#include "shm.h"
#include "stats.h"
#include "util.h"
#include "ice.h"
#include "ratelimit.h"
#include "www.h"

#include <errno.h>
#include <netinet/in.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 250

static struct {
	struct worker_args *a;
	struct event_base *base;
	struct http_server http;
	struct config *cfg;
	struct event *chan_ev;
	struct event *tick_ev;
	struct event *deadline_ev;
	int64_t next_tick_us;
	int ticks;
	bool quitting;
	int quit_mode;
	struct event *done_ev;
	struct rlimit ice_limit; /* GET /api/ice-servers per client address */
} W;

static int root_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	return www_serve(req, body, W.cfg, "/");
}

static int static_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
	return www_serve(req, body, W.cfg, path);
}

/* GET /api/ice-servers: limited per client address (in this worker) */
static int ice_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	char key[64] = "";
	struct sockaddr *sa = req->conn ? req->conn->saddr : NULL;
	size_t klen = 0;
	if (sa && sa->sa_family == AF_INET) {
		memcpy(key, &((struct sockaddr_in *)sa)->sin_addr, 4);
		klen = 4;
	} else if (sa && sa->sa_family == AF_INET6) {
		/* one client usually has a whole /64 */
		memcpy(key, &((struct sockaddr_in6 *)sa)->sin6_addr, 8);
		klen = 8;
	}
	int retry = 0;
	if (!rl_hit(&W.ice_limit, key, klen, time_mono_ms(), W.cfg->rate_limit_window_ms, W.cfg->rate_limit_max,
		    &retry)) {
		char v[16];
		snprintf(v, sizeof v, "%d", retry);
		evhtp_headers_add_header(req->headers_out, evhtp_header_new("Retry-After", v, 0, 1));
		evbuffer_add_printf(body, "{\"error\":\"too many requests, try again in %d s\",\"status\":429}\n",
				    retry);
		return 429;
	}
	char user[17];
	rand_hex(user, sizeof user, 8);
	char *js = ice_json(room_ice(), user, time(NULL), false, NULL);
	evbuffer_add(body, js, strlen(js));
	evbuffer_add(body, "\n", 1);
	free(js);
	return 200;
}

static int healthz_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	evbuffer_add_printf(body, "{\"status\":\"ok\"}\n");
	return 200;
}

static int readyz_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	if (W.quitting) {
		evbuffer_add_printf(body, "{\"status\":\"draining\",\"checks\":{}}\n");
		return 503;
	}
	return http_readyz_json(body);
}

static int info_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	char url[1024];
	(void)proto_escape_string(W.cfg->external_url, url, sizeof url);
	evbuffer_add_printf(body, "{\"name\":\"rtftd\",\"version\":\"%s\",\"protocol\":1,\"external_url\":\"%s\"}\n",
			    PACKAGE_VERSION, url);
	return 200;
}

static int ws_plain_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new("Upgrade", "websocket", 0, 0));
	evbuffer_add_printf(body, "{\"error\":\"this endpoint takes WebSocket upgrades\",\"status\":426}\n");
	return 426;
}

static void stop_loop(void)
{
	event_base_loopexit(W.base, NULL);
}

/* Quitting: leave once no HTTP connection and no WebSocket is left. */
static void check_done(void)
{
	if (W.quitting && W.http.conns_open == 0 && ws_count() == 0) {
		log_debug("no connections left");
		stop_loop();
	}
}

static void on_idle(struct http_server *srv)
{
	check_done();
}

static void final_cb(evutil_socket_t fd, short what, void *arg)
{
	stop_loop();
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	log_info("deadline reached with %lld HTTP connections and %lld WebSockets open: closing them",
		 (long long)W.http.conns_open, (long long)ws_count());
	http_server_close_all(&W.http);
	/* a drain ends with 1012 so clients reconnect at once, to the new
	 * workers; then a short grace for the close handshakes */
	ws_close_all(W.quit_mode == QUIT_DRAIN ? 1012 : 1001,
		     W.quit_mode == QUIT_DRAIN ? "service restart" : "server shutting down");
	struct timeval tv = { 0, 800 * 1000 };
	event_base_once(W.base, -1, EV_TIMEOUT, final_cb, NULL, &tv);
}

static void begin_quit(int mode, int timeout_ms)
{
	if (W.quitting)
		return;
	W.quitting = true;
	W.quit_mode = mode;
	log_info("%s: no longer accepting, %lld connections open", mode == QUIT_DRAIN ? "draining" : "shutting down",
		 (long long)(W.http.conns_open + ws_count()));
	if (mode == QUIT_SHUTDOWN)
		ws_close_all(1001, "server shutting down");
	/* keep a margin so we exit before the master's own deadline */
	int ms = timeout_ms > 200 ? timeout_ms - 100 : timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	W.deadline_ev = evtimer_new(W.base, deadline_cb, NULL);
	evtimer_add(W.deadline_ev, &tv);
	http_server_quit(&W.http);
	check_done();
}

static void apply_config(const char *text)
{
	struct rt_err err;
	struct config *nc = config_parse_text(text, &err);
	if (!nc) {
		log_error("reload: cannot apply the master's configuration: %s", err.msg);
		return;
	}
	if (log_setup(nc->log_level, nc->log_format, nc->log_file, &err) != RT_OK)
		log_error("reload: %s (keeping the previous log file)", err.msg);
	http_server_apply(&W.http, nc);
	room_apply(nc);
	config_free(W.cfg);
	W.cfg = nc;
	log_debug("configuration applied");
	if (chan_send(W.a->chan_fd, CHAN_CONFIG_OK, NULL, 0) == RT_ERR)
		log_debug("chan_send(CONFIG_OK) failed: %s", strerror(errno));
}

static void chan_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[CHAN_MAX_PAYLOAD + 1];
	for (;;) {
		uint16_t type;
		int n = chan_recv(fd, &type, buf, CHAN_MAX_PAYLOAD);
		if (n == RT_AGAIN)
			return;
		if (n == RT_ERR) {
			/* the master is gone: nobody will supervise us, stop now */
			log_warn("lost the master's channel (%s): stopping", errno ? strerror(errno) : "EOF");
			event_del(W.chan_ev);
			begin_quit(QUIT_SHUTDOWN, 1000);
			return;
		}
		buf[n] = '\0';
		switch (type) {
		case CHAN_QUIT: {
			struct chan_quit q = { QUIT_SHUTDOWN, 1000 };
			if ((size_t)n >= sizeof q)
				memcpy(&q, buf, sizeof q);
			begin_quit(q.mode, q.timeout_ms);
			break;
		}
		case CHAN_CONFIG:
			apply_config(buf);
			break;
		case CHAN_REOPEN_LOG: {
			struct rt_err err;
			if (log_reopen(&err) != RT_OK)
				log_error("reopening the log file failed: %s", err.msg);
			break;
		}
		default:
			log_warn("unexpected channel message type %u ignored", type);
		}
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = time_mono_us();
	int64_t late = now - W.next_tick_us;
	stats_lag(late > 0 ? (double)late / 1e6 : 0.0);
	W.next_tick_us = now + TICK_MS * 1000;
	check_done();
	atomic_store(&rt_shm->slots[W.a->slot].heartbeat_ms, now / 1000);
	if (++W.ticks % 4 == 0 && W.a->stats_fd >= 0) {
		int rc = stats_send(W.a->stats_fd);
		if (rc == RT_ERR)
			log_debug("stats_send failed: %s", strerror(errno));
	}
}

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	/* the master stops us over the channel; a TERM sent to the whole
	 * process group is taken as the same polite request */
	begin_quit(QUIT_SHUTDOWN, W.cfg->shutdown_timeout_ms);
}

void worker_main(struct worker_args *a)
{
	struct rt_err err;
	W.a = a;
	W.cfg = a->cfg;
	log_set_role("worker", a->slot);
	stats_worker_init(a->slot, a->generation);

	/* fault injection for the test suite (rtftd(8), ENVIRONMENT) */
	const char *fault = getenv("RTFTD_TEST_FAIL_INIT");
	if (fault && strcmp(fault, "worker") == 0) {
		log_error("cannot initialise: RTFTD_TEST_FAIL_INIT=worker");
		exit(RT_EXIT_CHILD_INIT);
	}
	W.base = event_base_new();
	if (!W.base) {
		log_error("event_base_new() failed");
		exit(RT_EXIT_CHILD_INIT);
	}
	if (http_server_init(&W.http, W.base, a->listen_fd, W.cfg, "worker", a->slot, &err) != RT_OK) {
		log_error("cannot serve HTTP: %s", err.msg);
		exit(RT_EXIT_CHILD_INIT);
	}
	W.http.on_idle = on_idle;
	http_route(&W.http, "/", ROUTE_ROOT, root_handler, NULL);
	http_route(&W.http, "/healthz", ROUTE_HEALTHZ, healthz_handler, NULL);
	http_route(&W.http, "/readyz", ROUTE_READYZ, readyz_handler, NULL);
	http_route(&W.http, "/api/info", ROUTE_API, info_handler, NULL);
	http_route(&W.http, "/ws", ROUTE_WS, ws_plain_handler, NULL);
	http_route(&W.http, "/api/ice-servers", ROUTE_API, ice_handler, NULL);
	http_set_fallback(&W.http, ROUTE_STATIC, static_handler, NULL);
	rl_init(&W.ice_limit, 4096);
	http_set_upgrade(&W.http, room_upgrade);
	if (room_setup(W.base, a->slot, a->generation, atomic_load(&rt_shm->master_pid), W.cfg, &err) != RT_OK) {
		log_error("cannot set up the protocol: %s", err.msg);
		exit(RT_EXIT_CHILD_INIT);
	}

	W.chan_ev = event_new(W.base, a->chan_fd, EV_READ | EV_PERSIST, chan_cb, NULL);
	event_add(W.chan_ev, NULL);
	struct event *term_ev = evsignal_new(W.base, SIGTERM, sigterm_cb, NULL);
	event_add(term_ev, NULL);
	W.tick_ev = event_new(W.base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, TICK_MS * 1000 };
	event_add(W.tick_ev, &tv);
	W.next_tick_us = time_mono_us() + TICK_MS * 1000;
	atomic_store(&rt_shm->slots[a->slot].heartbeat_ms, time_mono_ms());

	if (chan_send(a->chan_fd, CHAN_READY, NULL, 0) != RT_OK) {
		log_error("cannot tell the master we are ready: %s", strerror(errno));
		exit(RT_EXIT_CHILD_INIT);
	}
	log_debug("serving on fd %d (generation %u)", a->listen_fd, a->generation);
	event_base_dispatch(W.base);

	transfers_shutdown(); /* writes what is queued */
	/* final stats so the metrics child counts our last requests */
	if (a->stats_fd >= 0 && stats_send(a->stats_fd) != RT_OK)
		log_debug("final stats record not sent");
	log_debug("worker exiting");
	exit(RT_EXIT_OK);
}
