/*
 * ws.h: WebSocket connections of a worker: the RFC 6455 upgrade from a
 * libevhtp request, framing (wsframe.c) on the connection's socket, output
 * batched per loop turn, ping/pong and close codes, the outbound limit, and a table of this
 * worker's connections by id. What the messages mean is session.c's business.
 */
#ifndef RT_WS_H
#define RT_WS_H

#include "rtftd.h"

#include <evhtp.h>
#include <sys/uio.h>

struct ws_conn;
struct http_server;
struct conn_info;
struct wsauth;

/* What session.c is told. Callbacks may call ws_send_* and ws_close on c; a
 * connection is never freed inside its own callbacks. */
struct ws_handlers {
	void (*on_open)(struct ws_conn *c);
	void (*on_text)(struct ws_conn *c, const char *msg, size_t len);
	void (*on_binary)(struct ws_conn *c, const uint8_t *msg, size_t len);
	/* the connection is going away (code sent or received); last call */
	void (*on_close)(struct ws_conn *c, uint16_t code);
};

struct ws_limits {
	uint64_t max_message; /* larger messages close with 1009 */
	size_t max_outbound; /* bytes queued for a slow reader before it is closed (1008) */
	int heartbeat_ms; /* server ping interval; two missed pongs close (1001) */
};

/* Once per worker. */
void ws_setup(struct event_base *base, const struct ws_handlers *h, int slot, uint32_t generation);
void ws_apply_limits(const struct ws_limits *lim);

/* Whether req asks for a WebSocket (Upgrade: websocket). */
bool ws_is_upgrade(evhtp_request_t *req);
/* Checks the handshake: 0 when valid (accept[29] gets the
 * Sec-WebSocket-Accept value), else the HTTP status to answer (400, 426)
 * with *why set (and headers added to req for 426). */
int ws_handshake_check(evhtp_request_t *req, char accept[32], const char **why);
/* Takes the connection from libevhtp and answers 101 (with the request's
 * X-Request-ID). held: bytes the client sent after the request head (may
 * be NULL); moved into the connection. info (edge.h) and auth (wsauth.h),
 * each may be NULL, are the connection's from now on; protocol: the
 * Sec-WebSocket-Protocol to answer, or NULL. Call only after
 * ws_handshake_check returned 0. */
struct ws_conn *ws_accept(evhtp_request_t *req, const char *accept, struct evbuffer *held, struct conn_info *info,
			  struct wsauth *auth, const char *protocol);
/* The upgrade handler for http_set_upgrade(): checks the handshake, the
 * Origin (edge_ws_origin: 403) and the sign-in (wsauth_check: 401, 503),
 * and accepts (101), or returns the status to
 * answer with *why set. */
int ws_upgrade(evhtp_request_t *req, struct http_server *srv, const char **why);

/* Queue a text or binary message: written at the end of the loop turn.
 * RT_OK; RT_AGAIN when it would put the connection over its outbound limit
 * (nothing is queued; the caller tells the sender); RT_ERR when the
 * connection is closing. */
int ws_send_text(struct ws_conn *c, const char *msg, size_t len);
int ws_send_binary(struct ws_conn *c, const uint8_t *msg, size_t len);
/* A text message given in pieces (no copy to join them first). */
int ws_send_textv(struct ws_conn *c, const struct iovec *iov, int n);
int ws_send_binaryv(struct ws_conn *c, const struct iovec *iov, int n);
/* One text message for many connections: the frame is built once and each
 * connection's output refers to it (no copy per recipient). ws_shared_new
 * returns it with one reference, which the caller releases when done;
 * ws_send_shared takes one more per connection (same results as
 * ws_send_text), dropped once that connection has written it. */
struct ws_shared;
struct ws_shared *ws_shared_new(const char *msg, size_t len);
int ws_send_shared(struct ws_conn *c, struct ws_shared *s);
void ws_shared_release(struct ws_shared *s);

/* Start the close handshake with code and reason. */
void ws_close(struct ws_conn *c, uint16_t code, const char *reason);
/* Every open connection: close with code (1001 on stop, 1012 on drain). */
void ws_close_all(uint16_t code, const char *reason);

struct ws_conn *ws_find(uint64_t id);
uint64_t ws_id(const struct ws_conn *c);
void *ws_user(const struct ws_conn *c);
/* the sign-in that came with the upgrade (wsauth.h), or NULL */
const struct wsauth *ws_auth(const struct ws_conn *c);
void ws_set_user(struct ws_conn *c, void *user);
size_t ws_outbound(const struct ws_conn *c);
/* the client address (of the upgrade request: edge.h), "?" when unknown */
const char *ws_peer(const struct ws_conn *c);
/* what the connection keeps of its upgrade request, or NULL */
const struct conn_info *ws_info(const struct ws_conn *c);
int64_t ws_count(void);
/* Calls fn for every open connection (fn must not close c). */
void ws_foreach(void (*fn)(struct ws_conn *c, void *arg), void *arg);

#endif
