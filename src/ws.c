/*
 * ws.c: the WebSocket side of a worker (see ws.h).
 * Owns: struct ws_conn and its lifetime, the handshake, wslay on the
 * connection's bufferevent, liveness pings, the graceful close (queue the
 * close frame, flush, half-close, wait briefly for the peer's EOF) so that a
 * 1009 or 1007 really reaches the client, and the id table used by the bus.
 * Must not: interpret messages, or free a connection inside a libevent or
 * wslay callback that still uses it (dead connections are reaped from a
 * separate event at the end of the loop turn).
 */
#include "autoconf.h"
#include "ws.h"
#include "http.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_CLOSE_WAIT_MS 2000 /* after our close frame: wait this long for the peer's */
#define WS_TABLE_MIN 1024

enum ws_state { WS_OPEN = 0, WS_CLOSING, WS_DRAINING, WS_DEAD };

struct ws_conn {
	uint64_t id;
	struct bufferevent *bev;
	wslay_event_context_ptr ctx;
	struct evbuffer *pending; /* bytes sent with the upgrade request */
	enum ws_state state;
	uint16_t close_code; /* sent or received */
	bool closed_cb_done;
	bool fatal; /* wslay gave up on the input: a close frame was written by hand */
	int64_t opened_ms;
	int64_t last_seen_ms; /* any frame from the peer */
	int64_t last_ping_ms;
	int64_t close_deadline_ms;
	size_t queued; /* bytes queued in wslay, not yet in the bufferevent */
	void *user;
	char peer[64];
	struct ws_conn *prev, *next; /* all connections */
	struct ws_conn *hnext; /* id hash chain */
	struct ws_conn *reap_next;
};

static struct {
	struct event_base *base;
	const struct ws_handlers *h;
	struct ws_limits lim;
	int slot;
	uint64_t next_id;
	struct ws_conn *all;
	int64_t count;
	struct ws_conn **table;
	size_t table_size;
	struct ws_conn *reap;
	struct event *reap_ev;
	struct event *tick_ev;
} WS;

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 */

/* ---- id table ---- */

static size_t hslot(uint64_t id)
{
	return (size_t)(id * 0x9e3779b97f4a7c15ULL >> 20) & (WS.table_size - 1);
}

static void table_insert(struct ws_conn *c)
{
	if ((size_t)WS.count + 1 > WS.table_size) {
		size_t nsize = WS.table_size * 2;
		struct ws_conn **nt = xcalloc(nsize, sizeof *nt);
		size_t old = WS.table_size;
		struct ws_conn **ot = WS.table;
		WS.table = nt;
		WS.table_size = nsize;
		for (size_t i = 0; i < old; i++)
			for (struct ws_conn *e = ot[i], *n; e; e = n) {
				n = e->hnext;
				size_t s = hslot(e->id);
				e->hnext = WS.table[s];
				WS.table[s] = e;
			}
		free(ot);
	}
	size_t s = hslot(c->id);
	c->hnext = WS.table[s];
	WS.table[s] = c;
}

static void table_remove(struct ws_conn *c)
{
	for (struct ws_conn **pp = &WS.table[hslot(c->id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			return;
		}
}

struct ws_conn *ws_find(uint64_t id)
{
	for (struct ws_conn *e = WS.table[hslot(id)]; e; e = e->hnext)
		if (e->id == id)
			return e->state == WS_DEAD ? NULL : e;
	return NULL;
}

uint64_t ws_id(const struct ws_conn *c)
{
	return c->id;
}

void *ws_user(const struct ws_conn *c)
{
	return c->user;
}

void ws_set_user(struct ws_conn *c, void *user)
{
	c->user = user;
}

const char *ws_peer(const struct ws_conn *c)
{
	return c->peer;
}

int64_t ws_count(void)
{
	return WS.count;
}

size_t ws_outbound(const struct ws_conn *c)
{
	return c->queued + (c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0);
}

void ws_foreach(void (*fn)(struct ws_conn *c, void *arg), void *arg)
{
	for (struct ws_conn *c = WS.all, *n; c; c = n) {
		n = c->next;
		if (c->state == WS_OPEN)
			fn(c, arg);
	}
}

/* ---- lifetime ---- */

static void schedule_reap(struct ws_conn *c)
{
	if (c->state == WS_DEAD)
		return;
	c->state = WS_DEAD;
	c->reap_next = WS.reap;
	WS.reap = c;
	event_active(WS.reap_ev, EV_TIMEOUT, 0);
}

static void conn_free(struct ws_conn *c)
{
	if (!c->closed_cb_done) {
		c->closed_cb_done = true;
		if (WS.h->on_close)
			WS.h->on_close(c, c->close_code ? c->close_code : 1006);
	}
	int64_t ms = time_mono_ms() - c->opened_ms;
	log_debug("websocket %llu from %s closed (code %u) after %lld ms", (unsigned long long)c->id, c->peer,
		  c->close_code ? c->close_code : 1006, (long long)ms);
	table_remove(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		WS.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	WS.count--;
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->ctx)
		wslay_event_context_free(c->ctx);
	if (c->pending)
		evbuffer_free(c->pending);
	free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	while (WS.reap) {
		struct ws_conn *c = WS.reap;
		WS.reap = c->reap_next;
		conn_free(c);
	}
}

/* Everything queued is written: half-close and wait for the peer's EOF so
 * our close frame is not lost to a reset. */
static void finish_close(struct ws_conn *c)
{
	if (c->state == WS_DRAINING || c->state == WS_DEAD)
		return;
	c->state = WS_DRAINING;
	if (!c->closed_cb_done) {
		c->closed_cb_done = true;
		if (WS.h->on_close)
			WS.h->on_close(c, c->close_code ? c->close_code : 1005);
	}
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
	struct timeval tv = { WS_CLOSE_WAIT_MS / 1000, (WS_CLOSE_WAIT_MS % 1000) * 1000 };
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
}

static void flush(struct ws_conn *c)
{
	if (c->state == WS_DEAD || c->state == WS_DRAINING)
		return;
	if (c->fatal) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			finish_close(c);
		return;
	}
	if (wslay_event_send(c->ctx) != 0) {
		schedule_reap(c);
		return;
	}
	bool done = !wslay_event_want_write(c->ctx) &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
	if (wslay_event_get_close_sent(c->ctx) && done) {
		if (!c->close_code)
			c->close_code = wslay_event_get_status_code_sent(c->ctx);
		finish_close(c);
	} else if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx) && done) {
		finish_close(c);
	}
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_conn *c = user;
	int n = 0;
	if (c->pending && evbuffer_get_length(c->pending) > 0)
		n = evbuffer_remove(c->pending, buf, len);
	else
		n = evbuffer_remove(bufferevent_get_input(c->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws_conn *c = user;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	/* keep the socket buffer fed, but let messages wait in wslay's queue
	 * (counted in c->queued) once a good amount is pending */
	if (evbuffer_get_length(out) >= 256 * 1024) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (evbuffer_add(out, data, len) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	c->queued = c->queued > len ? c->queued - len : 0;
	return (ssize_t)len;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct ws_conn *c = user;
	c->last_seen_ms = time_mono_ms();
	if (c->state != WS_OPEN)
		return;
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME:
		if (!utf8_valid(arg->msg, arg->msg_length)) {
			ws_close(c, 1007, "text message is not valid UTF-8");
			return;
		}
		if (WS.h->on_text)
			WS.h->on_text(c, (const char *)arg->msg, arg->msg_length);
		break;
	case WSLAY_BINARY_FRAME:
		if (WS.h->on_binary)
			WS.h->on_binary(c, arg->msg, arg->msg_length);
		break;
	case WSLAY_CONNECTION_CLOSE:
		c->close_code = arg->status_code ? arg->status_code : 1005;
		c->state = WS_CLOSING; /* wslay has queued the reply */
		c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
		break;
	default:
		break; /* ping (answered by wslay) and pong: liveness only */
	}
}

/* ---- bufferevent callbacks ---- */

static void process(struct ws_conn *c)
{
	if (c->state == WS_DRAINING) {
		/* after our close: read and drop until EOF */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->state == WS_DEAD)
		return;
	if (c->fatal || !wslay_event_get_read_enabled(c->ctx)) {
		/* closing: what the peer still sends is dropped, never buffered */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->fatal)
			return;
	}
	int rc = wslay_event_recv(c->ctx);
	if (rc != 0) {
		/* wslay refuses to go on: our callbacks never fail, so this is
		 * the peer breaking the framing rules (a fragmented or oversized
		 * control frame, say), unless memory ran out. Write the close
		 * frame by hand, then half-close. */
		uint16_t code = rc == WSLAY_ERR_NOMEM ? 1011 : 1002;
		uint8_t frame[4] = { 0x88, 0x02, (uint8_t)(code >> 8), (uint8_t)(code & 0xff) };
		c->fatal = true;
		c->state = WS_CLOSING;
		c->close_code = code;
		c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
		struct evbuffer *in = bufferevent_get_input(c->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		evbuffer_add(bufferevent_get_output(c->bev), frame, sizeof frame);
		return;
	}
	if (!wslay_event_get_read_enabled(c->ctx) && !wslay_event_get_close_sent(c->ctx) && c->state == WS_OPEN) {
		/* wslay refused the input (bad frame, too big): it queued a close */
		c->state = WS_CLOSING;
		c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
	}
	if (wslay_event_get_close_sent(c->ctx) && !c->close_code)
		c->close_code = wslay_event_get_status_code_sent(c->ctx);
	flush(c);
}

static void readcb(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void writecb(struct bufferevent *bev, void *arg)
{
	flush(arg);
}

static void eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct ws_conn *c = arg;
	if (!c->close_code)
		c->close_code = 1006; /* no close frame: abnormal closure */
	schedule_reap(c);
}

static void pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_conn *c = ws_find((uint64_t)(uintptr_t)arg);
	if (c)
		process(c);
}

/* ---- handshake ---- */

static bool header_has_token(const char *v, const char *token)
{
	if (!v)
		return false;
	size_t tl = strlen(token);
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == tl && strncasecmp(start, token, tl) == 0)
			return true;
	}
	return false;
}

bool ws_is_upgrade(evhtp_request_t *req)
{
	return header_has_token(evhtp_header_find(req->headers_in, "Upgrade"), "websocket");
}

static bool valid_key(const char *key)
{
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return false;
	unsigned char raw[20];
	int n = EVP_DecodeBlock(raw, (const unsigned char *)key, 24);
	return n == 18; /* 16 bytes plus two from the padding */
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(buf, len, "%s:%d", host, port);
}

int ws_handshake_check(evhtp_request_t *req, char accept[32], const char **why)
{
	if (req->method != htp_method_GET) {
		*why = "a WebSocket upgrade must be a GET";
		return 400;
	}
	if (req->proto != EVHTP_PROTO_11) {
		*why = "a WebSocket upgrade needs HTTP/1.1";
		return 400;
	}
	if (!header_has_token(evhtp_header_find(req->headers_in, "Connection"), "upgrade")) {
		*why = "the Connection header must include \"Upgrade\"";
		return 400;
	}
	const char *version = evhtp_header_find(req->headers_in, "Sec-WebSocket-Version");
	if (!version || strcmp(version, "13") != 0) {
		*why = "unsupported Sec-WebSocket-Version: only 13 is supported";
		evhtp_headers_add_header(req->headers_out, evhtp_header_new("Sec-WebSocket-Version", "13", 0, 0));
		return 426;
	}
	const char *key = evhtp_header_find(req->headers_in, "Sec-WebSocket-Key");
	if (!valid_key(key)) {
		*why = "Sec-WebSocket-Key must be 16 bytes in base64";
		return 400;
	}
	char concat[64];
	snprintf(concat, sizeof concat, "%s%s", key, WS_GUID);
	unsigned char digest[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)concat, strlen(concat), digest);
	EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
	return 0;
}

struct ws_conn *ws_accept(evhtp_request_t *req, const char *accept, struct evbuffer *held)
{
	struct ws_conn *c = xcalloc(1, sizeof *c);
	struct wslay_event_callbacks cbs = { .recv_callback = recv_cb, .send_callback = send_cb,
					     .on_msg_recv_callback = msg_cb };
	if (wslay_event_context_server_init(&c->ctx, &cbs, c) != 0)
		abort(); /* only fails on allocation */
	wslay_event_config_set_max_recv_msg_length(c->ctx, WS.lim.max_message);

	c->bev = evhtp_connection_take_ownership(req->conn);
	c->id = ++WS.next_id;
	c->opened_ms = c->last_seen_ms = time_mono_ms();
	peer_name(bufferevent_getfd(c->bev), c->peer, sizeof c->peer);
	if (held && evbuffer_get_length(held) > 0) {
		c->pending = evbuffer_new();
		evbuffer_add_buffer(c->pending, held);
	}
	c->next = WS.all;
	if (WS.all)
		WS.all->prev = c;
	WS.all = c;
	WS.count++;
	table_insert(c);

	bufferevent_setcb(c->bev, readcb, writecb, eventcb, c);
	bufferevent_set_timeouts(c->bev, NULL, NULL); /* liveness is ours now */
	/* stop reading the socket while this much input waits: with a client
	 * that sends faster than we can answer, TCP pushes back, not memory */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 256 * 1024);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out,
			    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: %s\r\n",
			    accept);
	if (WS.slot >= 0)
		evbuffer_add_printf(out, "X-RTFT-Worker: %d\r\n", WS.slot);
	evbuffer_add_printf(out, "\r\n");
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (WS.h->on_open)
		WS.h->on_open(c);
	/* libevhtp drains the request from the input when we return: anything
	 * the client sent after it is processed on the next loop turn */
	if (c->pending)
		event_base_once(WS.base, -1, EV_TIMEOUT, pending_cb, (void *)(uintptr_t)c->id, NULL);
	return c;
}

/* ---- sending and closing ---- */

static int queue(struct ws_conn *c, uint8_t opcode, const uint8_t *msg, size_t len)
{
	if (c->state != WS_OPEN)
		return RT_ERR;
	if (ws_outbound(c) + len > WS.lim.max_outbound)
		return RT_AGAIN;
	struct wslay_event_msg m = { opcode, msg, len };
	if (wslay_event_queue_msg(c->ctx, &m) != 0)
		return RT_ERR;
	c->queued += len;
	flush(c);
	return RT_OK;
}

int ws_send_text(struct ws_conn *c, const char *msg, size_t len)
{
	return queue(c, WSLAY_TEXT_FRAME, (const uint8_t *)msg, len);
}

int ws_send_binary(struct ws_conn *c, const uint8_t *msg, size_t len)
{
	return queue(c, WSLAY_BINARY_FRAME, msg, len);
}

void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	if (c->state != WS_OPEN)
		return;
	c->state = WS_CLOSING;
	c->close_code = code;
	/* a peer that does not read our close frame is not waited for long */
	c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
	size_t rlen = reason ? strlen(reason) : 0;
	if (rlen > 120)
		rlen = 120;
	if (wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, rlen) != 0) {
		schedule_reap(c);
		return;
	}
	wslay_event_shutdown_read(c->ctx);
	flush(c);
}

void ws_close_all(uint16_t code, const char *reason)
{
	for (struct ws_conn *c = WS.all, *n; c; c = n) {
		n = c->next;
		ws_close(c, code, reason);
	}
}

/* ---- liveness ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = time_mono_ms();
	int64_t hb = WS.lim.heartbeat_ms;
	for (struct ws_conn *c = WS.all, *n; c; c = n) {
		n = c->next;
		if ((c->state == WS_DRAINING || c->state == WS_CLOSING) && c->close_deadline_ms &&
		    now >= c->close_deadline_ms) {
			schedule_reap(c);
			continue;
		}
		if (c->state != WS_OPEN)
			continue;
		if (now - c->last_seen_ms > 2 * hb) {
			log_debug("websocket %llu from %s: no pong for %lld ms", (unsigned long long)c->id, c->peer,
				  (long long)(now - c->last_seen_ms));
			ws_close(c, 1001, "no answer to ping");
			continue;
		}
		if (now - c->last_seen_ms >= hb && now - c->last_ping_ms >= hb) {
			c->last_ping_ms = now;
			struct wslay_event_msg m = { WSLAY_PING, NULL, 0 };
			if (wslay_event_queue_msg(c->ctx, &m) == 0)
				flush(c);
		}
	}
}

void ws_apply_limits(const struct ws_limits *lim)
{
	WS.lim = *lim;
	if (WS.tick_ev) {
		/* often enough for close deadlines, pings go by last_seen_ms */
		int ms = lim->heartbeat_ms / 2;
		if (ms > 250)
			ms = 250;
		if (ms < 50)
			ms = 50;
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		event_add(WS.tick_ev, &tv);
	}
}

void ws_setup(struct event_base *base, const struct ws_handlers *h, int slot, uint32_t generation)
{
	WS.base = base;
	WS.h = h;
	WS.slot = slot;
	/* ids are unique per worker process, and the pid keeps them apart
	 * from a predecessor's in the same slot */
	WS.next_id = (uint64_t)getpid() << 32;
	WS.table_size = WS_TABLE_MIN;
	WS.table = xcalloc(WS.table_size, sizeof *WS.table);
	WS.reap_ev = event_new(base, -1, 0, reap_cb, NULL);
	WS.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	if (WS.lim.heartbeat_ms)
		ws_apply_limits(&WS.lim);
}
