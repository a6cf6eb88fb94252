/*
 * http.c: libevhtp glue for the main and metrics listeners.
 * Owns: connection tracking (struct hconn), the byte guard that sees every
 * client byte before libevhtp's parser (see hguard.h for why), request ids,
 * the JSON error bodies, per-request logging and stats, and graceful quit.
 * Must not: block, or free a connection inside libevhtp's own callback chain
 * except through libevhtp's documented calls.
 */
#include "autoconf.h"
#include "http.h"
#include "www.h"
#include "config.h"
#include "edge.h"
#include "hguard.h"
#include "log.h"
#include "proto.h"
#include "shm.h"
#include "util.h"
#include "ws.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct hconn {
	struct http_server *srv;
	evhtp_connection_t *conn;
	struct hguard guard;
	int verdict; /* status from the guard, 0 while fine */
	bool in_flight; /* a request head has started and its reply is not done */
	int64_t req_start_us;
	bool in_readcb; /* inside libevhtp's read callback: defer the free */
	bool dead; /* libevhtp freed the connection while in_readcb */
	bool moving; /* bytes are being moved back: not new, do not scan */
	struct evbuffer *hold; /* an incomplete request head kept from libevhtp */
	uint64_t appended; /* stream offset: bytes the client has sent so far */
	struct event *retry; /* pipelined input left by a paused libevhtp */
	/* stream offsets where complete requests end, oldest first: libevhtp
	 * is given one request at a time */
	uint64_t ends[16];
	int nends;
	int idle_retries; /* retries in a row that moved nothing */
	uint64_t last_base;
	struct client_addr client; /* of the current request (edge_client) */
	struct hconn *prev, *next;
};

/* libevhtp's own read callback, saved the first time we wrap one. */
static bufferevent_data_cb evhtp_readcb;

static struct hconn *hconn_of(evhtp_connection_t *c)
{
	evhtp_hooks_t *h = evhtp_connection_get_hooks(c);
	return h ? h->on_connection_fini_arg : NULL;
}

static void unlink_hconn(struct hconn *hc)
{
	struct http_server *srv = hc->srv;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		srv->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	hc->prev = hc->next = NULL;
	srv->conns_open--;
	rt_stats.conns_open = srv->conns_open;
	if (srv->quitting && srv->conns_open == 0 && srv->on_idle)
		srv->on_idle(srv);
}

static void guard_evbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

static void hconn_free(struct hconn *hc)
{
	if (hc->retry)
		event_free(hc->retry);
	if (hc->hold)
		evbuffer_free(hc->hold);
	free(hc);
}

static evhtp_res on_conn_fini(evhtp_connection_t *c, void *arg)
{
	struct hconn *hc = arg;
	unlink_hconn(hc);
	struct bufferevent *bev = evhtp_connection_get_bev(c);
	if (bev)
		evbuffer_remove_cb(bufferevent_get_input(bev), guard_evbuf_cb, hc);
	/* libevhtp frees the request after this hook and runs the request
	 * hooks then: they must not find hc */
	evhtp_connection_unset_hook(c, evhtp_hook_on_request_fini);
	evhtp_connection_unset_hook(c, evhtp_hook_on_headers_start);
	if (hc->in_readcb)
		hc->dead = true; /* guarded_readcb frees it when libevhtp returns */
	else
		hconn_free(hc);
	return EVHTP_RES_OK;
}

static evhtp_res on_headers_start(evhtp_request_t *req, void *arg)
{
	struct hconn *hc = arg;
	hc->in_flight = true;
	return EVHTP_RES_OK;
}

static evhtp_res on_request_fini(evhtp_request_t *req, void *arg)
{
	struct hconn *hc = arg;
	hc->in_flight = false;
	return EVHTP_RES_OK;
}

static struct hguard_limits guard_limits(const struct config *cfg)
{
	struct hguard_limits l = { (uint32_t)cfg->max_request_line_bytes, (uint32_t)cfg->max_header_bytes,
				   (uint64_t)cfg->max_body_bytes };
	return l;
}

/* Runs as bytes are appended to the input buffer, before libevhtp's read
 * callback sees them: scan only the newly added bytes. */
static void guard_evbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct hconn *hc = arg;
	if (info->n_added == 0 || hc->moving)
		return;
	hc->appended += info->n_added;
	if (hc->verdict)
		return;
	if (!hguard_head_pending(&hc->guard) && hc->guard.state == HG_LINE)
		hc->req_start_us = time_mono_us(); /* the first bytes of a request */
	struct hguard_limits lim = guard_limits(hc->srv->cfg);
	size_t len = evbuffer_get_length(buf);
	struct evbuffer_ptr pos;
	if (evbuffer_ptr_set(buf, &pos, len - info->n_added, EVBUFFER_PTR_SET) < 0)
		return;
	struct evbuffer_iovec vec[8];
	size_t left = info->n_added;
	hc->guard.stop_at_end = true;
	while (left > 0 && !hc->verdict) {
		int n = evbuffer_peek(buf, (ev_ssize_t)left, &pos, vec, 8);
		if (n <= 0)
			break;
		int used = n < 8 ? n : 8;
		for (int i = 0; i < used && left > 0 && !hc->verdict; i++) {
			size_t take = vec[i].iov_len < left ? vec[i].iov_len : left;
			const unsigned char *p = vec[i].iov_base;
			while (take > 0) {
				uint64_t before = hc->guard.fed, start = hc->guard.req_start;
				int v = hguard_feed(&hc->guard, &lim, p, take);
				size_t ate = (size_t)(hc->guard.fed - before);
				if (v) {
					hc->verdict = v;
					left = 0;
					break;
				}
				if (hc->guard.req_start != start && hc->nends < (int)RT_ARRAY_LEN(hc->ends))
					hc->ends[hc->nends++] = hc->guard.req_start;
				p += ate;
				take -= ate;
				left -= ate;
				if (evbuffer_ptr_set(buf, &pos, ate, EVBUFFER_PTR_ADD) < 0)
					left = 0;
				if (ate == 0)
					break; /* cannot happen: the guard always eats a byte */
			}
		}
	}
}

static void reject_done_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void reject_event_cb(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void next_request_id(struct http_server *srv, char *out, size_t len)
{
	snprintf(out, len, "%s%08llx", srv->rid_prefix, (unsigned long long)++srv->rid_counter);
}

/* Answer the guard's verdict ourselves and close: libevhtp never sees the
 * offending bytes. */
static void reject(struct hconn *hc, struct bufferevent *bev)
{
	struct http_server *srv = hc->srv;
	evhtp_connection_t *c = hc->conn;
	int status = hc->verdict;
	double secs = hc->req_start_us ? (double)(time_mono_us() - hc->req_start_us) / 1e6 : 0;
	/* no request was parsed: the client is the TCP peer */
	struct client_addr peer;
	struct rt_addr pa;
	client_addr_compute(rt_addr_from_sockaddr(c->saddr, &pa) == RT_OK ? &pa : NULL, NULL, false, NULL, &peer);

	/* detach from libevhtp: hooks are cleared, so untrack by hand */
	evbuffer_remove_cb(bufferevent_get_input(bev), guard_evbuf_cb, hc);
	evhtp_connection_take_ownership(c);
	evhtp_connection_free(c);
	unlink_hconn(hc);
	hconn_free(hc);

	char rid[32];
	next_request_id(srv, rid, sizeof rid);
	const char *reason = hguard_reason(status);
	const char *text = status == 414   ? "URI Too Long"
			   : status == 431 ? "Request Header Fields Too Large"
			   : status == 413 ? "Payload Too Large"
			   : status == 501 ? "Not Implemented"
					   : "Bad Request";
	char body[256];
	int blen = snprintf(body, sizeof body, "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%s\"}\n", reason,
			    status, rid);
	struct evbuffer *out = bufferevent_get_output(bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
			    "X-Request-ID: %s\r\nConnection: close\r\n",
			    status, text, blen, rid);
	if (srv->slot >= 0)
		evbuffer_add_printf(out, "X-RTFT-Worker: %d\r\n", srv->slot);
	evbuffer_add_printf(out, "\r\n%s", body);
	/* drop what the client sent; do not read more */
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, reject_done_cb, reject_event_cb, NULL);
	bufferevent_enable(bev, EV_WRITE);
	struct timeval tv = { 5, 0 };
	bufferevent_set_timeouts(bev, NULL, &tv);

	stats_http(ROUTE_REJECTED, status, secs);
	struct log_ctx ctx = { .request_id = rid, .client = peer.text, .status = status, .latency_ms = secs * 1000.0 };
	log_msg(LOG_LVL_INFO, &ctx, "request refused: %s", reason);
}

/* Moves the bytes of in from offset `from` on into hc->hold. A socket
 * bufferevent's input is frozen at its end outside libevent's own read, so
 * bytes can only be taken from and put back at the front. */
static void hold_tail(struct hconn *hc, struct evbuffer *in, size_t from)
{
	struct evbuffer *head = evbuffer_new();
	if (!hc->hold)
		hc->hold = evbuffer_new();
	hc->moving = true;
	evbuffer_remove_buffer(in, head, from);
	evbuffer_remove_buffer(in, hc->hold, evbuffer_get_length(in));
	evbuffer_prepend_buffer(in, head);
	hc->moving = false;
	evbuffer_free(head);
}

/* Puts the held bytes back after whatever libevhtp left in the input. */
static void release_hold(struct hconn *hc, struct evbuffer *in)
{
	if (!hc->hold || evbuffer_get_length(hc->hold) == 0)
		return;
	hc->moving = true;
	if (evbuffer_get_length(in) > 0) {
		struct evbuffer *rest = evbuffer_new();
		evbuffer_remove_buffer(in, rest, evbuffer_get_length(in));
		evbuffer_add_buffer(rest, hc->hold);
		evbuffer_prepend_buffer(in, rest);
		evbuffer_free(rest);
	} else {
		evbuffer_prepend_buffer(in, hc->hold);
	}
	hc->moving = false;
}

static void guarded_readcb(struct bufferevent *bev, void *arg);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;
	struct bufferevent *bev = evhtp_connection_get_bev(hc->conn);
	if (!bev)
		return;
	if (hc->conn->flags & EVHTP_CONN_FLAG_PAUSED) {
		/* still writing the previous reply (bounded by the write
		 * timeout, request_timeout_ms) */
		struct timeval tv = { 0, 5000 };
		evtimer_add(hc->retry, &tv);
		return;
	}
	guarded_readcb(bev, hc->conn);
}

static void schedule_retry(struct hconn *hc)
{
	if (!hc->retry)
		hc->retry = evtimer_new(hc->srv->base, retry_cb, hc);
	struct timeval tv = { 0, 0 };
	evtimer_add(hc->retry, &tv);
}

/* Bytes reach libevhtp only up to the end of the last complete request
 * (head and body): an incomplete head, or the head the guard refused, is
 * held back. So libevhtp's URI parser never sees a request line in
 * pieces, and requests before a refused one are still answered. */
static void guarded_readcb(struct bufferevent *bev, void *arg)
{
	evhtp_connection_t *c = arg;
	struct hconn *hc = hconn_of(c);
	if (!hc) {
		evhtp_readcb(bev, arg);
		return;
	}
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	uint64_t base = hc->appended - len; /* stream offset of in[0] */
	size_t pass = len;
	if ((hc->verdict || hguard_head_pending(&hc->guard)) && hc->guard.req_start >= base)
		pass = (size_t)(hc->guard.req_start - base);
	/* one complete request at a time: libevhtp parses everything it is
	 * given but serves the next request only after more input arrives */
	while (hc->nends > 0 && hc->ends[0] <= base) {
		memmove(hc->ends, hc->ends + 1, sizeof hc->ends[0] * (size_t)--hc->nends);
	}
	if (hc->nends > 0 && hc->ends[0] - base < pass)
		pass = (size_t)(hc->ends[0] - base);
	if (pass < len)
		hold_tail(hc, in, pass);
	size_t unconsumed = 0;
	if (pass > 0) {
		hc->in_readcb = true;
		evhtp_readcb(bev, arg);
		hc->in_readcb = false;
		if (hc->dead) {
			hconn_free(hc);
			return;
		}
		unconsumed = evbuffer_get_length(in);
	}
	release_hold(hc, in);
	if (hc->verdict) {
		/* the refused bytes may come after requests still to be served:
		 * pipelined ones, or an upgrade whose WebSocket frames the guard
		 * scanned as the next request. Serve those first (the retry
		 * below comes back), refuse once the refused request is next. */
		uint64_t next = hc->appended - evbuffer_get_length(in);
		if (next >= hc->guard.req_start || hc->idle_retries >= 100 || hc->nends == 0) {
			reject(hc, bev);
			return;
		}
		hc->idle_retries = base == hc->last_base ? hc->idle_retries + 1 : 0;
		hc->last_base = base;
		schedule_retry(hc); /* always come back: the refusal is owed */
		return;
	}
	/* libevhtp 1.2.18 pauses a connection while it writes a reply and does
	 * not look at requests already buffered behind it until more bytes
	 * arrive: come back for them ourselves */
	if (unconsumed > 0 || hc->nends > 1 || (hc->nends == 1 && hc->ends[0] > base + pass)) {
		/* never spin: give up after many turns that consumed nothing */
		hc->idle_retries = base == hc->last_base ? hc->idle_retries + 1 : 0;
		hc->last_base = base;
		if (hc->idle_retries < 100)
			schedule_retry(hc);
	}
}

static evhtp_res post_accept_cb(evhtp_connection_t *c, void *arg)
{
	struct http_server *srv = arg;
	struct bufferevent *bev = evhtp_connection_get_bev(c);
	struct hconn *hc = xcalloc(1, sizeof *hc);
	hc->srv = srv;
	hc->conn = c;
	hguard_init(&hc->guard);
	hc->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = hc;
	srv->conns = hc;
	srv->conns_open++;
	srv->conns_accepted++;
	rt_stats.conns_open = srv->conns_open;
	rt_stats.conns_accepted = srv->conns_accepted;

	evhtp_connection_set_hook(c, evhtp_hook_on_connection_fini, (evhtp_hook)on_conn_fini, hc);
	evhtp_connection_set_hook(c, evhtp_hook_on_headers_start, (evhtp_hook)on_headers_start, hc);
	evhtp_connection_set_hook(c, evhtp_hook_on_request_fini, (evhtp_hook)on_request_fini, hc);

	bufferevent_data_cb rcb = NULL, wcb = NULL;
	bufferevent_event_cb ecb = NULL;
	void *cbarg = NULL;
	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
	if (!evhtp_readcb)
		evhtp_readcb = rcb;
	bufferevent_setcb(bev, guarded_readcb, wcb, ecb, cbarg);
	evbuffer_add_cb(bufferevent_get_input(bev), guard_evbuf_cb, hc);
	return EVHTP_RES_OK;
}

static void add_header(evhtp_request_t *req, const char *k, const char *v)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 1, 1));
}

static bool valid_request_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return false;
		if (n >= 128)
			return false;
	}
	return n > 0;
}

/* traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags> */
static bool trace_id_of(const char *tp, char out[33])
{
	if (!tp || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-')
		return false;
	for (int i = 0; i < 32; i++) {
		char ch = tp[3 + i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	memcpy(out, tp + 3, 32);
	out[32] = '\0';
	return strcmp(out, "00000000000000000000000000000000") != 0;
}

struct reqinfo {
	char rid[136];
	char trace[33];
	bool has_trace;
	char client[RT_ADDR_TEXT]; /* kept for the log line: an upgrade detaches hconn */
};

const struct client_addr *http_client(evhtp_request_t *req)
{
	struct hconn *hc = req->conn ? hconn_of(req->conn) : NULL;
	if (hc)
		return &hc->client;
	static struct client_addr unknown;
	client_addr_compute(NULL, NULL, false, NULL, &unknown);
	return &unknown;
}

const char *http_request_id(evhtp_request_t *req)
{
	const char *rid = evhtp_header_find(req->headers_out, "X-Request-ID");
	return rid ? rid : "";
}

bool http_trace_id(evhtp_request_t *req, char out[33])
{
	return trace_id_of(evhtp_header_find(req->headers_in, "traceparent"), out);
}

static void begin(struct http_server *srv, evhtp_request_t *req, struct reqinfo *ri)
{
	struct hconn *hc = hconn_of(req->conn);
	if (hc)
		edge_client(req, srv->cfg, &hc->client);
	snprintf(ri->client, sizeof ri->client, "%s", http_client(req)->text);
	const char *in = evhtp_header_find(req->headers_in, "X-Request-ID");
	if (in && valid_request_id(in))
		snprintf(ri->rid, sizeof ri->rid, "%s", in);
	else
		next_request_id(srv, ri->rid, sizeof ri->rid);
	ri->has_trace = trace_id_of(evhtp_header_find(req->headers_in, "traceparent"), ri->trace);
	add_header(req, "X-Request-ID", ri->rid);
	if (srv->slot >= 0) {
		char w[16];
		snprintf(w, sizeof w, "%d", srv->slot);
		add_header(req, "X-RTFT-Worker", w);
	}
	www_security_headers(req, srv->cfg, http_client(req)->https);
	if (srv->quitting)
		req->flags &= (uint16_t)~EVHTP_REQ_FLAG_KEEPALIVE;
}

static const char *method_name(evhtp_request_t *req)
{
	switch (req->method) {
	case htp_method_GET:
		return "GET";
	case htp_method_HEAD:
		return "HEAD";
	case htp_method_POST:
		return "POST";
	case htp_method_PUT:
		return "PUT";
	case htp_method_DELETE:
		return "DELETE";
	case htp_method_OPTIONS:
		return "OPTIONS";
	case htp_method_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

static void finish(struct http_server *srv, evhtp_request_t *req, struct reqinfo *ri, enum stats_route route,
		   int status)
{
	struct hconn *hc = hconn_of(req->conn);
	double secs = hc && hc->req_start_us ? (double)(time_mono_us() - hc->req_start_us) / 1e6 : 0;
	stats_http(route, status, secs);
	const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
	struct log_ctx ctx = { .request_id = ri->rid,
			       .trace_id = ri->has_trace ? ri->trace : NULL,
			       .client = ri->client,
			       .method = method_name(req),
			       .path = path,
			       .status = status,
			       .latency_ms = secs * 1000.0 };
	log_msg(LOG_LVL_INFO, &ctx, "http request");
}

static void send_json(evhtp_request_t *req, int status)
{
	if (!evhtp_header_find(req->headers_out, "Content-Type"))
		add_header(req, "Content-Type", "application/json");
	if (!evhtp_header_find(req->headers_out, "Cache-Control"))
		add_header(req, "Cache-Control", "no-store");
	if (req->method == htp_method_HEAD && status != 304) {
		/* libevhtp would send the body of a HEAD: say its length
		 * ourselves (it keeps a Content-Length it finds) and drop it */
		size_t n = evbuffer_get_length(req->buffer_out);
		char len[24];
		snprintf(len, sizeof len, "%zu", n);
		add_header(req, "Content-Length", len);
		evbuffer_drain(req->buffer_out, n);
	}
	evhtp_send_reply(req, (evhtp_res)status);
}

static void error_body(evhtp_request_t *req, int status, const char *msg, const char *rid)
{
	char esc[512];
	(void)proto_escape_string(msg, esc, sizeof esc);
	evbuffer_add_printf(req->buffer_out, "{\"error\":\"%s\",\"status\":%d,\"request_id\":\"%s\"}\n", esc, status,
			    rid);
}

void http_reply_error(evhtp_request_t *req, int status, const char *msg)
{
	const char *rid = evhtp_header_find(req->headers_out, "X-Request-ID");
	error_body(req, status, msg, rid ? rid : "");
	send_json(req, status);
}

static void route_run(struct route *r, evhtp_request_t *req)
{
	struct http_server *srv = r->srv;
	struct reqinfo ri;
	begin(srv, req, &ri);
	int status;
	const char *why = NULL;
	if (srv->upgrade && (r->route == ROUTE_ROOT || r->route == ROUTE_WS) && ws_is_upgrade(req)) {
		status = srv->upgrade(req, srv, &why);
		if (status == 101) {
			finish(srv, req, &ri, ROUTE_WS, 101);
			return; /* the connection is the WebSocket layer's now */
		}
		error_body(req, status, why ? why : "bad WebSocket handshake", ri.rid);
	} else if (r->route == ROUTE_API &&
		   (status = edge_api_cors(req, srv->cfg, http_client(req), req->buffer_out))) {
		/* OPTIONS: answered */
	} else if (req->method != htp_method_GET && req->method != htp_method_HEAD) {
		add_header(req, "Allow", "GET, HEAD");
		status = 405;
		error_body(req, status, "method not allowed", ri.rid);
	} else if ((r->route == ROUTE_ROOT || r->route == ROUTE_STATIC) &&
		   (status = edge_https_redirect(req, srv->cfg, http_client(req)))) {
		/* plain http through a trusted proxy: to https */
	} else {
		status = r->handler(req, req->buffer_out, r->arg);
		if (status >= 400 && evbuffer_get_length(req->buffer_out) == 0)
			error_body(req, status, status == 404 ? "not found" : "internal error", ri.rid);
	}
	send_json(req, status);
	/* a file that is not there counts as any unknown path */
	finish(srv, req, &ri, r == &srv->fallback && status == 404 ? ROUTE_NOT_FOUND : r->route, status);
}

/* libevhtp 1.2.18 matches evhtp_set_cb paths as prefixes ("/" would take
 * every request), so all requests come here and match paths exactly. */
static void dispatch_cb(evhtp_request_t *req, void *arg)
{
	struct http_server *srv = arg;
	const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
	for (int i = 0; i < srv->nroutes; i++)
		if (strcmp(srv->routes[i].path, path) == 0) {
			route_run(&srv->routes[i], req);
			return;
		}
	if (srv->fallback.handler) {
		route_run(&srv->fallback, req);
		return;
	}
	struct reqinfo ri;
	begin(srv, req, &ri);
	error_body(req, 404, "not found", ri.rid);
	send_json(req, 404);
	finish(srv, req, &ri, ROUTE_NOT_FOUND, 404);
}

void http_set_fallback(struct http_server *srv, enum stats_route route, http_handler h, void *arg)
{
	srv->fallback.path = "";
	srv->fallback.srv = srv;
	srv->fallback.route = route;
	srv->fallback.handler = h;
	srv->fallback.arg = arg;
}

void http_set_upgrade(struct http_server *srv, http_upgrade_handler h)
{
	srv->upgrade = h;
}

struct evbuffer *http_detach(evhtp_connection_t *c)
{
	struct hconn *hc = hconn_of(c);
	if (!hc)
		return NULL;
	struct bufferevent *bev = evhtp_connection_get_bev(c);
	if (bev)
		evbuffer_remove_cb(bufferevent_get_input(bev), guard_evbuf_cb, hc);
	struct evbuffer *held = hc->hold;
	hc->hold = NULL;
	unlink_hconn(hc);
	evhtp_connection_unset_hook(c, evhtp_hook_on_connection_fini);
	evhtp_connection_unset_hook(c, evhtp_hook_on_request_fini);
	evhtp_connection_unset_hook(c, evhtp_hook_on_headers_start);
	if (hc->in_readcb)
		hc->dead = true; /* guarded_readcb frees it when libevhtp returns */
	else
		hconn_free(hc);
	return held;
}

void http_route(struct http_server *srv, const char *path, enum stats_route route, http_handler h, void *arg)
{
	srv->routes = xrealloc(srv->routes, sizeof(struct route) * (size_t)(srv->nroutes + 1));
	struct route *r = &srv->routes[srv->nroutes++];
	r->path = path;
	r->srv = srv;
	r->route = route;
	r->handler = h;
	r->arg = arg;
}

static void set_timeouts(struct http_server *srv, const struct config *cfg)
{
	struct timeval tv = { cfg->request_timeout_ms / 1000, (cfg->request_timeout_ms % 1000) * 1000 };
	evhtp_set_timeouts(srv->htp, &tv, &tv);
	for (struct hconn *hc = srv->conns; hc; hc = hc->next) {
		struct bufferevent *bev = evhtp_connection_get_bev(hc->conn);
		if (bev)
			bufferevent_set_timeouts(bev, &tv, &tv);
	}
}

/* accept() failed for a reason that waiting fixes (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): the connection stays queued and the socket stays
 * readable, so libevent would call accept() again at once, forever, and
 * log each failure. Stop listening for a moment instead, and say so once
 * in a while. */
#define ACCEPT_PAUSE_MS 100
static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	if (srv->htp->server && !srv->quitting)
		evconnlistener_enable(srv->htp->server);
}

static void accept_error_cb(struct evconnlistener *lst, void *arg)
{
	evhtp_t *htp = arg; /* the listener is libevhtp's */
	struct http_server *srv = htp->arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return; /* about one connection (EPROTO, ENETUNREACH, ...): go on */
	srv->accept_errors++;
	int64_t now = time_mono_ms();
	if (now - srv->accept_warned_ms >= 10000) {
		log_warn("accept() failed: %s (%llu times so far); not accepting for %d ms%s", strerror(e),
			 (unsigned long long)srv->accept_errors, ACCEPT_PAUSE_MS,
			 e == EMFILE || e == ENFILE ? ": raise the open files limit (LimitNOFILE) or add workers" : "");
		srv->accept_warned_ms = now;
	}
	evconnlistener_disable(lst);
	if (!srv->accept_retry)
		srv->accept_retry = evtimer_new(srv->base, accept_resume_cb, srv);
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	evtimer_add(srv->accept_retry, &tv);
}

int http_server_init(struct http_server *srv, struct event_base *base, int listen_fd, const struct config *cfg,
		     const char *role RT_UNUSED, int slot, struct rt_err *err)
{
	memset(srv, 0, sizeof *srv);
	srv->base = base;
	srv->cfg = cfg;
	srv->slot = slot;
	rand_hex(srv->rid_prefix, sizeof srv->rid_prefix, 4);
	srv->htp = evhtp_new(base, srv);
	if (!srv->htp) {
		rt_err_set(err, "evhtp_new() failed");
		return RT_ERR;
	}
	evhtp_disable_flag(srv->htp, EVHTP_FLAG_ENABLE_100_CONT);
	evhtp_set_post_accept_cb(srv->htp, post_accept_cb, srv);
	evhtp_set_gencb(srv->htp, dispatch_cb, srv);
	set_timeouts(srv, cfg);
	if (evhtp_accept_socket(srv->htp, listen_fd, 1024) != 0) {
		rt_err_set(err, "evhtp_accept_socket(fd %d) failed", listen_fd);
		return RT_ERR;
	}
	evconnlistener_set_error_cb(srv->htp->server, accept_error_cb);
	return RT_OK;
}

void http_server_apply(struct http_server *srv, const struct config *cfg)
{
	srv->cfg = cfg;
	set_timeouts(srv, cfg);
}

void http_server_quit(struct http_server *srv)
{
	if (srv->quitting)
		return;
	srv->quitting = true;
	if (srv->htp->server) {
		evconnlistener_free(srv->htp->server);
		srv->htp->server = NULL;
	}
	struct hconn *next;
	for (struct hconn *hc = srv->conns; hc; hc = next) {
		next = hc->next;
		/* a request counts as in flight from its first byte, also while
		 * its head is still held back from libevhtp */
		if (!hc->in_flight && !hguard_head_pending(&hc->guard))
			evhtp_connection_free(hc->conn);
	}
	if (srv->conns_open == 0 && srv->on_idle)
		srv->on_idle(srv);
}

void http_server_close_all(struct http_server *srv)
{
	struct hconn *next;
	for (struct hconn *hc = srv->conns; hc; hc = next) {
		next = hc->next;
		evhtp_connection_free(hc->conn);
	}
}

void http_server_fini(struct http_server *srv)
{
	http_server_close_all(srv);
	if (srv->accept_retry) {
		event_free(srv->accept_retry);
		srv->accept_retry = NULL;
	}
	if (srv->htp && srv->htp->server) {
		evconnlistener_free(srv->htp->server);
		srv->htp->server = NULL;
	}
}

int http_readyz_json(struct evbuffer *body)
{
	struct shm *s = rt_shm;
	int64_t now = time_mono_ms();
	int db_state = atomic_load(&s->db_state);
	int64_t checked = atomic_load(&s->db_checked_ms);
	bool db_fresh = checked > 0 && now - checked < 15000;
	bool db_ok = db_state == 1 && db_fresh;
	char dberr[SHM_DB_ERROR_LEN + 1] = "";
	if (!db_ok)
		shm_get_db_error(s, dberr, sizeof dberr);
	if (!db_ok && !dberr[0])
		snprintf(dberr, sizeof dberr, "%s", db_state == 0 ? "not checked yet" : "last check is stale");
	char esc[SHM_DB_ERROR_LEN * 6 + 1];
	(void)proto_escape_string(dberr, esc, sizeof esc);

	bool mig_ok = atomic_load(&s->migrations_ok);
	int ready = shm_ready_workers(s);
	int wanted = atomic_load(&s->workers_wanted);
	bool workers_ok = ready >= wanted && wanted > 0;
	bool draining = atomic_load(&s->shutting_down);

	/* STUN/TURN reachability (icecheck.c): not part of readiness, but
	 * "degraded" (still 200) when servers are configured and none of them
	 * answered the last round. No server configured: no check shown. */
	struct shm_ice ice;
	const char *ice_status = NULL, *ice_why = "";
	if (!shm_get_ice(s, &ice))
		ice.servers = 0;
	if (ice.servers > 0) {
		ice_status = "unchecked";
		if (ice.interval_ms == 0)
			ice_why = "checks are off (ice_check_interval_ms = 0)";
		else if (ice.checked == 0)
			ice_why = "stuns: and turns: servers are not checked";
		else if (ice.checked_ms == 0)
			ice_why = "not checked yet";
		else if (now - ice.checked_ms > 2 * (int64_t)ice.interval_ms + 30000)
			ice_why = "last check is stale";
		else if (ice.answering > 0)
			ice_status = "ok";
		else {
			ice_status = "degraded";
			ice_why = ice.reason[0] ? ice.reason : "no server answers";
		}
	}
	const char *status = "ready";
	if (draining)
		status = "draining";
	else if (!(db_ok && mig_ok && workers_ok))
		status = "not_ready";
	else if (ice_status && strcmp(ice_status, "degraded") == 0)
		status = "degraded";

	evbuffer_add_printf(body, "{\"status\":\"%s\",", status);
	if (strcmp(status, "degraded") == 0)
		evbuffer_add_printf(body, "\"reason\":\"no STUN or TURN server answers\",");
	evbuffer_add_printf(body, "\"checks\":{");
	if (db_ok)
		evbuffer_add_printf(body,
				    "\"database\":{\"status\":\"ok\",\"latency_ms\":%.3f,\"checked_ms_ago\":%lld}",
				    atomic_load(&s->db_ping_seconds) * 1000.0, (long long)(now - checked));
	else
		evbuffer_add_printf(body, "\"database\":{\"status\":\"failing\",\"error\":\"%s\"}", esc);
	evbuffer_add_printf(body, ",\"migrations\":{\"status\":\"%s\",\"version\":%d,\"latest\":%d}",
			    mig_ok ? "ok" : "failing", atomic_load(&s->migrations_version),
			    atomic_load(&s->migrations_latest));
	evbuffer_add_printf(body, ",\"workers\":{\"status\":\"%s\",\"ready\":%d,\"wanted\":%d}",
			    workers_ok ? "ok" : "failing", ready, wanted);
	if (ice_status) {
		evbuffer_add_printf(body, ",\"ice\":{\"status\":\"%s\"", ice_status);
		if (strcmp(ice_status, "unchecked") != 0)
			evbuffer_add_printf(body, ",\"answering\":%d", ice.answering);
		evbuffer_add_printf(body, ",\"servers\":%d,\"checked\":%d", ice.servers, ice.checked);
		if (ice.checked_ms > 0)
			evbuffer_add_printf(body, ",\"checked_ms_ago\":%lld", (long long)(now - ice.checked_ms));
		if (ice_why[0]) {
			char why[SHM_ICE_REASON_LEN * 6 + 1];
			(void)proto_escape_string(ice_why, why, sizeof why);
			evbuffer_add_printf(body, ",\"reason\":\"%s\"", why);
		}
		evbuffer_add_printf(body, "}");
	}
	evbuffer_add_printf(body, "}}\n");
	return strcmp(status, "ready") == 0 || strcmp(status, "degraded") == 0 ? 200 : 503;
}
