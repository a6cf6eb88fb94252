/*
 * worker.c: a worker process's bootstrap and lifetime. After fork (child.c)
 * it serves HTTP on its inherited SO_REUSEPORT socket (routes in api.c,
 * the protocol in session.c over the directory and deliver back ends), beats its heart into shared memory, sends stats
 * to the metrics child, applies the master's configurations and drains on
 * a quit. The master's death is an EOF on the channel (and
 * PR_SET_PDEATHSIG): the worker then stops at once.
 * Must not: serve requests itself, touch the database on the request path,
 * or block the loop.
 */
#include "autoconf.h"
#include "worker.h"
#include "api.h"
#include "chan.h"
#include "child.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "bus.h"
#include "deliver.h"
#include "directory.h"
#include "session.h"
#include "transfers.h"
#include "ws.h"
#include "wsauth.h"
#include "shm.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <event2/event.h>
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
	struct event *tick_ev;
	struct event *deadline_ev;
	int64_t next_tick_us;
	int ticks;
	bool quitting;
	int quit_mode;
	struct event *done_ev;
} W;

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

static void quit_cb(int mode, int timeout_ms)
{
	begin_quit(mode, timeout_ms < 0 ? W.cfg->shutdown_timeout_ms : timeout_ms);
}

/* The reloadable settings of the WebSocket layer. */
static void apply_limits(const struct config *cfg)
{
	struct ws_limits lim = { .max_message = (uint64_t)cfg->max_message_bytes,
				 .max_outbound = (size_t)cfg->max_outbound_bytes,
				 .heartbeat_ms = cfg->heartbeat_interval_ms };
	ws_apply_limits(&lim);
}

static void apply_cb(struct config *nc)
{
	http_server_apply(&W.http, nc);
	session_apply(nc);
	transfers_apply(nc);
	apply_limits(nc);
	api_apply(nc);
	wsauth_apply(nc);
	config_free(W.cfg);
	W.cfg = nc;
}

static bool is_draining(void)
{
	return W.quitting;
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
		/* counters other modules keep, into this worker's record */
		rt_stats.ws_open = ws_count();
		rt_stats.ws_registered = session_registered();
		rt_stats.bus_frames_in = bus_frames_in;
		rt_stats.bus_frames_out = bus_frames_out;
		rt_stats.transfer_records_written = __atomic_load_n(&transfers_written, __ATOMIC_RELAXED);
		rt_stats.transfer_records_dropped = __atomic_load_n(&transfers_dropped, __ATOMIC_RELAXED);
		int rc = stats_send(W.a->stats_fd);
		if (rc == RT_ERR)
			log_debug("stats_send failed: %s", strerror(errno));
	}
}

void worker_main(struct worker_args *a)
{
	struct rt_err err;
	W.a = a;
	W.cfg = a->cfg;
	W.base = child_setup("worker", a->slot);
	stats_worker_init(a->slot, a->generation);
	if (http_server_init(&W.http, W.base, a->listen_fd, W.cfg, "worker", a->slot, &err) != RT_OK) {
		log_error("cannot serve HTTP: %s", err.msg);
		exit(RT_EXIT_CHILD_INIT);
	}
	W.http.on_idle = on_idle;
	child_routes(&W.http, is_draining);
	api_setup(&W.http, W.cfg);
	http_set_upgrade(&W.http, ws_upgrade);
	/* the protocol: sessions over this machine's directory and bus */
	ws_setup(W.base, &session_ws_handlers, a->slot, a->generation);
	directory_shm_bind(a->slot, a->generation);
	session_setup(W.base, W.cfg, &directory_shm, &deliver_bus);
	apply_limits(W.cfg);
	if (deliver_bus_setup(W.base, a->slot, atomic_load(&rt_shm->master_pid), &directory_shm, &session_sink, &err) !=
		    RT_OK ||
	    transfers_setup(W.cfg, a->slot, &err) != RT_OK || wsauth_setup(W.base, W.cfg, &err) != RT_OK) {
		log_error("cannot set up the protocol: %s", err.msg);
		exit(RT_EXIT_CHILD_INIT);
	}

	static const struct child_ops ops = { .quit = quit_cb, .apply = apply_cb };
	child_listen(W.base, a->chan_fd, &ops);
	W.tick_ev = event_new(W.base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, TICK_MS * 1000 };
	event_add(W.tick_ev, &tv);
	W.next_tick_us = time_mono_us() + TICK_MS * 1000;
	atomic_store(&rt_shm->slots[a->slot].heartbeat_ms, time_mono_ms());

	child_ready(a->chan_fd);
	log_debug("serving on fd %d (generation %u)", a->listen_fd, a->generation);
	event_base_dispatch(W.base);

	transfers_shutdown(); /* writes what is queued */
	wsauth_shutdown();
	/* final stats so the metrics child counts our last requests */
	if (a->stats_fd >= 0 && stats_send(a->stats_fd) != RT_OK)
		log_debug("final stats record not sent");
	log_debug("worker exiting");
	exit(RT_EXIT_OK);
}
