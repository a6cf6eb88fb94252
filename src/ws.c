/*
 * ws.c: the WebSocket side of a worker (see ws.h).
 * Owns: struct ws_conn and its lifetime (ws_handshake.c judges the
 * upgrade request; ws_accept here takes it over), reading and
 * writing the connection's socket, framing through wsframe.c, liveness
 * pings, the graceful close (queue the close frame, flush, half-close,
 * wait briefly for the peer's EOF) so that a 1009 or 1007 really reaches
 * the client, and the id table used by the bus.
 * Must not: interpret messages, or free a connection inside a callback
 * that still uses it (dead connections are reaped from a separate event).
 *
 * I/O: a readable socket is read once per event into a buffer shared by
 * the worker, and complete frames are handled in place (unmasked there,
 * never copied); only an incomplete frame is kept, in the connection's own
 * input buffer. What is sent is appended to the connection's output buffer
 * and the connection is marked dirty; one event at the end of the loop
 * turn writes every dirty connection with one writev each, so a burst of
 * messages to one client costs one system call. A write event is armed
 * only while the socket refuses bytes. Idle connections hold no buffers.
 */
#include "autoconf.h"
#include "ws.h"
#include "edge.h"
#include "log.h"
#include "rbuf.h"
#include "util.h"
#include "wsauth.h"
#include "wsframe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define WS_CLOSE_WAIT_MS 2000 /* after our close frame: wait this long for the peer's */
#define WS_TABLE_MIN 1024
#define WS_READ_CHUNK (64 * 1024) /* one read per readable event */
#define WS_READ_BIG (256 * 1024) /* the same, while a frame is incomplete */

enum ws_state {
	WS_OPEN = 0,
	WS_CLOSING, /* a close frame is queued: nothing more is delivered or sent */
	WS_DRAINING, /* our close is written and the socket half-closed: wait for EOF */
	WS_DEAD, /* waiting to be reaped */
};

struct ws_conn {
	uint64_t id;
	int fd;
	enum ws_state state;
	uint16_t close_code; /* sent or received */
	bool closed_cb_done;
	bool started; /* the read event is armed (after the hand-over from libevhtp) */
	bool dirty; /* in WS.dirty: output waits for the end of the loop turn */
	bool closing; /* counted in WS.closing */
	bool peer_gone; /* EOF read while output was still queued */
	struct event *rev;
	struct event *wev; /* created the first time the socket refuses bytes */
	struct evbuffer *in; /* an incomplete frame; NULL when there is none */
	struct rbuf *big; /* ... or a big one (RBUF_MIN or more), read straight into here */
	size_t big_have; /* bytes of it read so far */
	struct evbuffer *out; /* NULL when nothing waits */
	struct bufferevent *handoff; /* libevhtp's, until the next loop turn */
	struct evbuffer *pending; /* bytes sent with the upgrade request */
	struct wsf_reader rd;
	int64_t opened_ms;
	int64_t last_seen_ms; /* last bytes from the peer (one clock read per read, not per frame) */
	int64_t last_ping_ms;
	int64_t close_deadline_ms;
	void *user;
	struct conn_info *info; /* of the upgrade request: client, request id */
	struct wsauth *auth; /* sign-in: the token's expiry and name, or NULL */
	struct ws_conn *prev, *next; /* all connections */
	struct ws_conn *hnext; /* id hash chain */
	struct ws_conn *reap_next;
	struct ws_conn *dprev, *dnext; /* dirty list */
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
	struct ws_conn *dirty;
	struct event *flush_ev;
	uint8_t *rbuf; /* WS_READ_CHUNK */
	int64_t closing; /* connections with a close deadline */
	int64_t last_walk_ms; /* last liveness walk over every connection */
} WS;

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

const struct wsauth *ws_auth(const struct ws_conn *c)
{
	return c->auth;
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
	return c->info ? c->info->client.text : "?";
}

const struct conn_info *ws_info(const struct ws_conn *c)
{
	return c->info;
}

int64_t ws_count(void)
{
	return WS.count;
}

size_t ws_outbound(const struct ws_conn *c)
{
	return c->out ? evbuffer_get_length(c->out) : 0;
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

static void dirty_unlink(struct ws_conn *c)
{
	if (!c->dirty)
		return;
	if (c->dprev)
		c->dprev->dnext = c->dnext;
	else
		WS.dirty = c->dnext;
	if (c->dnext)
		c->dnext->dprev = c->dprev;
	c->dprev = c->dnext = NULL;
	c->dirty = false;
}

static void mark_dirty(struct ws_conn *c)
{
	if (c->dirty || c->state == WS_DEAD)
		return;
	c->dirty = true;
	c->dprev = NULL;
	c->dnext = WS.dirty;
	if (WS.dirty)
		WS.dirty->dprev = c;
	WS.dirty = c;
	/* runs after the events already active in this turn */
	if (!event_pending(WS.flush_ev, EV_TIMEOUT, NULL))
		event_active(WS.flush_ev, EV_TIMEOUT, 0);
}

static void schedule_reap(struct ws_conn *c)
{
	if (c->state == WS_DEAD)
		return;
	dirty_unlink(c);
	c->state = WS_DEAD;
	if (c->rev)
		event_del(c->rev);
	if (c->wev)
		event_del(c->wev);
	c->reap_next = WS.reap;
	WS.reap = c;
	event_active(WS.reap_ev, EV_TIMEOUT, 0);
}

static void drop_handoff(struct ws_conn *c)
{
	if (!c->handoff)
		return;
	/* the socket is ours: the bufferevent must not close it */
	bufferevent_setfd(c->handoff, -1);
	bufferevent_free(c->handoff);
	c->handoff = NULL;
}

static void conn_free(struct ws_conn *c)
{
	rt_assert(c->state == WS_DEAD); /* only reap_cb frees */
	if (!c->closed_cb_done) {
		c->closed_cb_done = true;
		if (WS.h->on_close)
			WS.h->on_close(c, c->close_code ? c->close_code : 1006);
	}
	int64_t ms = time_mono_ms() - c->opened_ms;
	log_debug("websocket %llu from %s closed (code %u) after %lld ms", (unsigned long long)c->id,
		  log_addr(ws_peer(c)), c->close_code ? c->close_code : 1006, (long long)ms);
	dirty_unlink(c);
	if (c->closing)
		WS.closing--;
	table_remove(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		WS.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	WS.count--;
	drop_handoff(c);
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->fd >= 0)
		close(c->fd);
	if (c->in)
		evbuffer_free(c->in);
	rbuf_unref(c->big);
	if (c->out)
		evbuffer_free(c->out);
	if (c->pending)
		evbuffer_free(c->pending);
	wsf_reset(&c->rd);
	free(c->info);
	wsauth_free(c->auth);
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

static void abnormal(struct ws_conn *c)
{
	if (!c->close_code)
		c->close_code = 1006; /* no close frame: abnormal closure */
	schedule_reap(c);
}

/* Everything queued is written, our close frame last: half-close and wait
 * for the peer's EOF so that the close frame is not lost to a reset. */
static void finish_close(struct ws_conn *c)
{
	if (c->state != WS_CLOSING)
		return;
	rt_assert(!c->out || evbuffer_get_length(c->out) == 0);
	c->state = WS_DRAINING;
	if (!c->closed_cb_done) {
		c->closed_cb_done = true;
		if (WS.h->on_close)
			WS.h->on_close(c, c->close_code ? c->close_code : 1005);
	}
	shutdown(c->fd, SHUT_WR);
	c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
	if (c->peer_gone)
		schedule_reap(c); /* its EOF came already */
}

/* ---- writing ---- */

static void write_cb(evutil_socket_t fd, short what, void *arg);

static void conn_write(struct ws_conn *c)
{
	if (c->state == WS_DEAD || c->state == WS_DRAINING || c->handoff)
		return; /* a connection still held by libevhtp is written on hand-over */
	if (c->out && evbuffer_get_length(c->out) > 0) {
		int n = evbuffer_write(c->out, c->fd);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			abnormal(c);
			return;
		}
		if (evbuffer_get_length(c->out) > 0) {
			if (!c->wev)
				c->wev = event_new(WS.base, c->fd, EV_WRITE | EV_PERSIST, write_cb, c);
			if (!event_pending(c->wev, EV_WRITE, NULL))
				event_add(c->wev, NULL);
			return;
		}
	}
	if (c->wev)
		event_del(c->wev);
	if (c->out) {
		evbuffer_free(c->out); /* idle connections hold no buffers */
		c->out = NULL;
	}
	if (c->state == WS_CLOSING)
		finish_close(c);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_write(arg);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	while (WS.dirty) {
		struct ws_conn *c = WS.dirty;
		rt_assert(c->state != WS_DEAD); /* schedule_reap takes it off the list */
		dirty_unlink(c);
		conn_write(c);
	}
}

static struct evbuffer *outbuf(struct ws_conn *c)
{
	if (!c->out)
		c->out = evbuffer_new();
	return c->out;
}

/* Appends one frame (no checks) and marks the connection dirty. */
static void put_frame(struct ws_conn *c, uint8_t opcode, const struct iovec *iov, int n)
{
	uint64_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	uint8_t hdr[WSF_MAX_HEADER];
	size_t hl = wsf_server_header(hdr, opcode, len);
	rt_assert(c->state == WS_OPEN || (c->state == WS_CLOSING && opcode == WSF_OP_CLOSE)); /* then nothing */
	struct evbuffer *out = outbuf(c);
	evbuffer_add(out, hdr, hl);
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len)
			(void)rbuf_add(out, iov[i].iov_base, iov[i].iov_len); /* by reference where it can */
	mark_dirty(c);
}

/* No message is delivered or sent from now on; the connection goes by
 * the close deadline at the latest. */
static void enter_closing(struct ws_conn *c, uint16_t code)
{
	rt_assert(c->state == WS_OPEN && !c->closing);
	c->state = WS_CLOSING;
	c->closing = true;
	WS.closing++;
	c->close_code = code;
	/* a peer that does not read our close frame is not waited for long */
	c->close_deadline_ms = time_mono_ms() + WS_CLOSE_WAIT_MS;
}

/* Queues our close frame: nothing is delivered or sent after it. */
static void send_close(struct ws_conn *c, uint16_t code, const char *reason, size_t rlen)
{
	if (c->state != WS_OPEN)
		return;
	enter_closing(c, code);
	uint8_t body[2 + WSF_MAX_CONTROL];
	size_t bl = 0;
	if (code != 1005) {
		if (rlen > WSF_MAX_CONTROL - 2)
			rlen = WSF_MAX_CONTROL - 2;
		body[0] = (uint8_t)(code >> 8);
		body[1] = (uint8_t)code;
		if (rlen)
			memcpy(body + 2, reason, rlen);
		bl = 2 + rlen;
	}
	struct iovec iov = { body, bl };
	put_frame(c, WSF_OP_CLOSE, &iov, 1);
	/* the input is dropped by the reader (a message may still be in use) */
}

/* After a close: input that is not read yet is of no interest any more. */
static void drop_input(struct ws_conn *c)
{
	if (c->in) {
		evbuffer_free(c->in);
		c->in = NULL;
	}
	rbuf_unref(c->big);
	c->big = NULL;
	wsf_reset(&c->rd);
}

/* ---- reading ---- */

/* Acts on one event from the decoder; false when nothing more is to be
 * read from this connection in this turn. */
static bool on_event(struct ws_conn *c, const struct wsf_event *ev)
{
	rt_assert(c->state == WS_OPEN); /* nothing is delivered after a close */
	switch (ev->kind) {
	case WSF_EV_NONE:
		return true;
	case WSF_EV_TEXT:
		if (WS.h->on_text)
			WS.h->on_text(c, (const char *)ev->data, ev->len);
		break;
	case WSF_EV_BINARY:
		if (WS.h->on_binary)
			WS.h->on_binary(c, ev->data, ev->len);
		break;
	case WSF_EV_PING: {
		/* a client that pings and never reads must not make its queue
		 * grow without bound */
		if (ws_outbound(c) + ev->len + 2 > WS.lim.max_outbound) {
			send_close(c, 1008, "outbound limit reached: the client is not reading", 49);
			return false;
		}
		struct iovec iov = { (void *)ev->data, ev->len };
		put_frame(c, WSF_OP_PONG, &iov, 1);
		return true;
	}
	case WSF_EV_PONG:
		return true;
	case WSF_EV_CLOSE:
		/* answer with the same code (nothing when there was none) */
		send_close(c, ev->code, NULL, 0);
		c->close_code = ev->code;
		return false;
	case WSF_EV_ERROR:
		log_debug("websocket %llu from %s: %s", (unsigned long long)c->id, log_addr(ws_peer(c)), ev->why);
		send_close(c, ev->code, ev->why, strlen(ev->why));
		return false;
	case WSF_EV_NOMEM:
		send_close(c, 1011, "out of memory", 13);
		return false;
	}
	wsf_trim(&c->rd);
	return c->state == WS_OPEN;
}

/* Frames in a contiguous block: returns the bytes consumed (the rest is an
 * incomplete frame), or (size_t)-1 when reading must stop. */
static size_t take_frames(struct ws_conn *c, uint8_t *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		struct wsf_header h;
		uint16_t code;
		const char *why;
		enum wsf_peek_result pr = wsf_peek(&c->rd, p + off, n - off, &h, &code, &why);
		if (pr == WSF_PEEK_ERROR) {
			struct wsf_event ev = { .kind = WSF_EV_ERROR, .code = code, .why = why };
			on_event(c, &ev);
			return (size_t)-1;
		}
		if (pr == WSF_PEEK_MORE || h.frame_len > n - off)
			break;
		struct wsf_event ev;
		wsf_take(&c->rd, &h, p + off, &ev);
		off += (size_t)h.frame_len;
		if (!on_event(c, &ev))
			return (size_t)-1;
	}
	return off;
}

static void peer_eof(struct ws_conn *c);

/* The frame at the start of c->in (all that c->in holds) is big: the rest
 * of it is read straight into an rbuf of its own, which the output of its
 * message can then refer to instead of copying it (rbuf.h). Without the
 * memory, it goes on in c->in. */
static void go_big(struct ws_conn *c, size_t frame_len)
{
	struct rbuf *b = rbuf_new(frame_len);
	if (!b)
		return;
	size_t have = evbuffer_get_length(c->in);
	rt_assert(have < frame_len);
	evbuffer_remove(c->in, b->data, have);
	evbuffer_free(c->in);
	c->in = NULL;
	c->big = b;
	c->big_have = have;
}

/* The big frame is complete: its message is handled in place. */
static void take_big(struct ws_conn *c)
{
	struct rbuf *b = c->big;
	c->big = NULL;
	struct wsf_header h;
	uint16_t code;
	const char *why;
	enum wsf_peek_result pr = wsf_peek(&c->rd, b->data, b->len, &h, &code, &why);
	rt_assert(pr == WSF_PEEK_OK && h.frame_len == b->len); /* go_big() peeked these bytes */
	(void)pr;
	struct wsf_event ev;
	wsf_take(&c->rd, &h, b->data, &ev);
	rbuf_enter(b);
	bool go_on = on_event(c, &ev);
	rbuf_leave();
	rbuf_unref(b);
	if (!go_on)
		drop_input(c);
}

/* After a read of the socket: true when it gave n > 0 bytes (the peer was
 * seen now); EOF and errors are dealt with here. */
static bool got_bytes(struct ws_conn *c, ssize_t n)
{
	if (n == 0) {
		peer_eof(c);
		return false;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			abnormal(c);
		return false;
	}
	c->last_seen_ms = time_mono_ms();
	return true;
}

static void read_big(struct ws_conn *c)
{
	struct rbuf *b = c->big;
	ssize_t n = read(c->fd, b->data + c->big_have, b->len - c->big_have);
	if (!got_bytes(c, n))
		return;
	c->big_have += (size_t)n;
	if (c->big_have == b->len)
		take_big(c);
}

/* Frames from the connection's own input buffer (an incomplete frame, and
 * what arrived after it). */
static void take_buffered(struct ws_conn *c)
{
	while (c->in && c->state == WS_OPEN) {
		size_t avail = evbuffer_get_length(c->in);
		uint8_t head[WSF_MAX_HEADER];
		size_t hn = avail < sizeof head ? avail : sizeof head;
		evbuffer_copyout(c->in, head, hn);
		struct wsf_header h;
		uint16_t code;
		const char *why;
		enum wsf_peek_result pr = wsf_peek(&c->rd, head, hn, &h, &code, &why);
		if (pr == WSF_PEEK_ERROR) {
			struct wsf_event ev = { .kind = WSF_EV_ERROR, .code = code, .why = why };
			on_event(c, &ev);
			drop_input(c);
			return;
		}
		if (pr == WSF_PEEK_MORE)
			return;
		if (h.frame_len > avail) {
			if (h.frame_len >= RBUF_MIN)
				go_big(c, (size_t)h.frame_len);
			return;
		}
		uint8_t *p = evbuffer_pullup(c->in, (ssize_t)h.frame_len);
		if (!p) {
			struct wsf_event ev = { .kind = WSF_EV_NOMEM };
			on_event(c, &ev);
			drop_input(c);
			return;
		}
		struct wsf_event ev;
		wsf_take(&c->rd, &h, p, &ev);
		if (!on_event(c, &ev)) {
			drop_input(c);
			return;
		}
		evbuffer_drain(c->in, (size_t)h.frame_len);
		if (evbuffer_get_length(c->in) == 0) {
			evbuffer_free(c->in);
			c->in = NULL;
		}
	}
	if (c->state != WS_OPEN)
		drop_input(c);
}

/* The peer sends no more. After our close: the handshake is complete.
 * Otherwise what is queued for it (our close frame, replies to its last
 * messages) is still written, up to the close deadline, then it goes. */
static void peer_eof(struct ws_conn *c)
{
	if (c->state == WS_DRAINING) {
		schedule_reap(c); /* the close handshake is complete */
		return;
	}
	if (!c->out || evbuffer_get_length(c->out) == 0) {
		abnormal(c);
		return;
	}
	event_del(c->rev);
	c->peer_gone = true;
	if (c->state == WS_OPEN)
		enter_closing(c, 1006); /* no close frame: abnormal closure */
	drop_input(c);
	mark_dirty(c);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_conn *c = arg;
	if (c->state == WS_DEAD)
		return;
	if (c->big && c->state == WS_OPEN) {
		read_big(c);
		return;
	}
	if (c->in && c->state == WS_OPEN) {
		/* the rest of a big frame: straight into its buffer, no copy
		 * through the worker's */
		int n = evbuffer_read(c->in, c->fd, WS_READ_BIG);
		if (got_bytes(c, n))
			take_buffered(c);
		return;
	}
	ssize_t n = read(c->fd, WS.rbuf, WS_READ_CHUNK);
	if (!got_bytes(c, n))
		return;
	if (c->state != WS_OPEN)
		return; /* after a close: what the peer still sends is dropped */
	if (c->in) {
		evbuffer_add(c->in, WS.rbuf, (size_t)n);
		take_buffered(c);
		return;
	}
	size_t used = take_frames(c, WS.rbuf, (size_t)n);
	if (used == (size_t)-1 || c->state != WS_OPEN) {
		drop_input(c);
		return;
	}
	if (used < (size_t)n) {
		c->in = evbuffer_new();
		evbuffer_add(c->in, WS.rbuf + used, (size_t)n - used);
		take_buffered(c); /* nothing complete: sees whether it is big */
	}
}

/* The next loop turn after the upgrade: libevhtp is done with its
 * bufferevent, so the socket and what was read with the request move here. */
static void handover_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_conn *c = ws_find((uint64_t)(uintptr_t)arg);
	if (!c || !c->handoff)
		return;
	struct evbuffer *bin = bufferevent_get_input(c->handoff);
	if (evbuffer_get_length(bin) > 0 || c->pending) {
		c->in = evbuffer_new();
		evbuffer_add_buffer(c->in, bin);
		if (c->pending) {
			evbuffer_add_buffer(c->in, c->pending);
			evbuffer_free(c->pending);
			c->pending = NULL;
		}
	}
	drop_handoff(c);
	c->rev = event_new(WS.base, c->fd, EV_READ | EV_PERSIST, read_cb, c);
	event_add(c->rev, NULL);
	c->started = true;
	if (c->in && c->state == WS_OPEN)
		take_buffered(c);
	conn_write(c);
}

struct ws_conn *ws_accept(evhtp_request_t *req, const char *accept, struct evbuffer *held, struct conn_info *info,
			  struct wsauth *auth, const char *protocol)
{
	struct ws_conn *c = xcalloc(1, sizeof *c);
	c->info = info;
	c->auth = auth;
	c->rd.max_message = WS.lim.max_message;
	c->handoff = evhtp_connection_take_ownership(req->conn);
	bufferevent_disable(c->handoff, EV_READ | EV_WRITE);
	bufferevent_setcb(c->handoff, NULL, NULL, NULL, NULL);
	c->fd = bufferevent_getfd(c->handoff);
	c->id = ++WS.next_id;
	c->opened_ms = c->last_seen_ms = time_mono_ms();
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

	struct evbuffer *out = outbuf(c);
	evbuffer_add_printf(out,
			    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: %s\r\n",
			    accept);
	if (protocol)
		evbuffer_add_printf(out, "Sec-WebSocket-Protocol: %s\r\n", protocol);
	if (WS.slot >= 0)
		evbuffer_add_printf(out, "X-RTFT-Worker: %d\r\n", WS.slot);
	if (info && info->request_id[0])
		evbuffer_add_printf(out, "X-Request-ID: %s\r\n", info->request_id);
	evbuffer_add_printf(out, "\r\n");
	wsauth_attach(auth, c);
	if (WS.h->on_open)
		WS.h->on_open(c);
	/* libevhtp drains the request from its buffer when we return; the
	 * socket is taken over on the next loop turn */
	event_base_once(WS.base, -1, EV_TIMEOUT, handover_cb, (void *)(uintptr_t)c->id, NULL);
	return c;
}

/* ---- sending and closing ---- */

static int queue(struct ws_conn *c, uint8_t opcode, const struct iovec *iov, int n)
{
	if (c->state != WS_OPEN)
		return RT_ERR;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (ws_outbound(c) + len > WS.lim.max_outbound)
		return RT_AGAIN;
	put_frame(c, opcode, iov, n);
	return RT_OK;
}

int ws_send_text(struct ws_conn *c, const char *msg, size_t len)
{
	struct iovec iov = { (void *)msg, len };
	return queue(c, WSF_OP_TEXT, &iov, 1);
}

int ws_send_textv(struct ws_conn *c, const struct iovec *iov, int n)
{
	return queue(c, WSF_OP_TEXT, iov, n);
}

int ws_send_binary(struct ws_conn *c, const uint8_t *msg, size_t len)
{
	struct iovec iov = { (void *)msg, len };
	return queue(c, WSF_OP_BINARY, &iov, 1);
}

int ws_send_binaryv(struct ws_conn *c, const struct iovec *iov, int n)
{
	return queue(c, WSF_OP_BINARY, iov, n);
}

/* ---- one message to many ---- */

struct ws_shared {
	unsigned refs;
	size_t len;
	uint8_t frame[]; /* header and payload */
};

struct ws_shared *ws_shared_new(const char *msg, size_t len)
{
	uint8_t hdr[WSF_MAX_HEADER];
	size_t hl = wsf_server_header(hdr, WSF_OP_TEXT, len);
	struct ws_shared *s = xmalloc(sizeof *s + hl + len);
	s->refs = 1;
	s->len = hl + len;
	memcpy(s->frame, hdr, hl);
	memcpy(s->frame + hl, msg, len);
	return s;
}

void ws_shared_release(struct ws_shared *s)
{
	if (s && --s->refs == 0)
		free(s);
}

static void shared_unref(const void *data, size_t len, void *arg)
{
	ws_shared_release(arg);
}

int ws_send_shared(struct ws_conn *c, struct ws_shared *s)
{
	if (c->state != WS_OPEN)
		return RT_ERR;
	if (ws_outbound(c) + s->len > WS.lim.max_outbound)
		return RT_AGAIN;
	s->refs++;
	if (evbuffer_add_reference(outbuf(c), s->frame, s->len, shared_unref, s) != 0) {
		s->refs--;
		return RT_ERR;
	}
	mark_dirty(c);
	return RT_OK;
}

void ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	send_close(c, code, reason, reason ? strlen(reason) : 0);
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
	/* walking 100,000 idle connections costs cache misses, not work:
	 * every tick only while a close deadline runs, else a few times per
	 * heartbeat interval */
	int64_t every = hb / 4;
	if (WS.closing == 0 && now - WS.last_walk_ms < every)
		return;
	WS.last_walk_ms = now;
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
			log_debug("websocket %llu from %s: no pong for %lld ms", (unsigned long long)c->id,
				  log_addr(ws_peer(c)), (long long)(now - c->last_seen_ms));
			ws_close(c, 1001, "no answer to ping");
			continue;
		}
		if (now - c->last_seen_ms >= hb && now - c->last_ping_ms >= hb) {
			c->last_ping_ms = now;
			put_frame(c, WSF_OP_PING, NULL, 0);
		}
	}
}

void ws_apply_limits(const struct ws_limits *lim)
{
	WS.lim = *lim; /* max_message: for connections opened from now on */
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
	WS.rbuf = xmalloc(WS_READ_CHUNK);
	WS.reap_ev = event_new(base, -1, 0, reap_cb, NULL);
	WS.flush_ev = event_new(base, -1, 0, flush_cb, NULL);
	WS.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	if (WS.lim.heartbeat_ms)
		ws_apply_limits(&WS.lim);
}
