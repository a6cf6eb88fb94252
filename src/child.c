/*
 * child.c: the bootstrap shared by the workers and the metrics child (see
 * child.h).
 * Owns: the channel event and its receive buffer, the SIGTERM event, the
 * health routes' handlers.
 * Must not: decide what a quit or a configuration does to a child (its
 * child_ops do), or run in the master.
 */
#include "autoconf.h"
#include "child.h"
#include "chan.h"
#include "config.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static struct {
	struct child_ops ops;
	int chan_fd;
	struct event *chan_ev;
	struct event *term_ev;
	bool (*is_draining)(void);
} C = { .chan_fd = -1 };

struct event_base *child_setup(const char *role, int slot)
{
	log_set_role(role, slot);
	const char *fault = getenv("RTFTD_TEST_FAIL_INIT");
	if (fault && strcmp(fault, role) == 0) {
		log_error("cannot initialise: RTFTD_TEST_FAIL_INIT=%s", role);
		exit(RT_EXIT_CHILD_INIT);
	}
	struct event_base *base = event_base_new();
	if (!base) {
		log_error("event_base_new() failed");
		exit(RT_EXIT_CHILD_INIT);
	}
	return base;
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
	log_set_addr_mode(nc->log_addr);
	C.ops.apply(nc);
	log_debug("configuration applied");
	if (chan_send(C.chan_fd, CHAN_CONFIG_OK, NULL, 0) == RT_ERR)
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
			event_del(C.chan_ev); /* an EOF stays readable */
			C.ops.quit(QUIT_SHUTDOWN, 1000);
			return;
		}
		buf[n] = '\0';
		switch (type) {
		case CHAN_QUIT: {
			struct chan_quit q = { QUIT_SHUTDOWN, 1000 };
			if ((size_t)n >= sizeof q)
				memcpy(&q, buf, sizeof q);
			C.ops.quit(q.mode, q.timeout_ms);
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

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	/* the master stops us over the channel; a TERM sent to the whole
	 * process group is taken as the same polite request */
	C.ops.quit(QUIT_SHUTDOWN, -1);
}

void child_listen(struct event_base *base, int chan_fd, const struct child_ops *ops)
{
	C.ops = *ops;
	C.chan_fd = chan_fd;
	C.chan_ev = event_new(base, chan_fd, EV_READ | EV_PERSIST, chan_cb, NULL);
	event_add(C.chan_ev, NULL);
	C.term_ev = evsignal_new(base, SIGTERM, sigterm_cb, NULL);
	event_add(C.term_ev, NULL);
}

static int healthz_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	evbuffer_add_printf(body, "{\"status\":\"ok\"}\n");
	return 200;
}

static int readyz_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	if (C.is_draining && C.is_draining()) {
		evbuffer_add_printf(body, "{\"status\":\"draining\",\"checks\":{}}\n");
		return 503;
	}
	return http_readyz_json(body);
}

void child_routes(struct http_server *srv, bool (*is_draining)(void))
{
	C.is_draining = is_draining;
	http_route(srv, "/healthz", ROUTE_HEALTHZ, healthz_handler, NULL);
	http_route(srv, "/readyz", ROUTE_READYZ, readyz_handler, NULL);
}

void child_ready(int chan_fd)
{
	if (chan_send(chan_fd, CHAN_READY, NULL, 0) != RT_OK) {
		log_error("cannot tell the master we are ready: %s", strerror(errno));
		exit(RT_EXIT_CHILD_INIT);
	}
}
