/*
 * http.h: the main listener's HTTP side, shared by workers and the metrics
 * child: per-connection tracking, the byte guard in front of libevhtp,
 * request ids, JSON replies, request logging and the routes.
 */
#ifndef RT_HTTP_H
#define RT_HTTP_H

#include "rtftd.h"
#include "stats.h"

#include <evhtp.h>

struct config;
struct http_server;

/* Paths on which a WebSocket upgrade is accepted (worker only): the handler
 * runs instead of the route when the request has Upgrade: websocket. It
 * returns 101 after taking the connection, or an error status with *why. */
typedef int (*http_upgrade_handler)(evhtp_request_t *req, struct http_server *srv, const char **why);
/* A route handler: fills the reply and returns the status. */
typedef int (*http_handler)(evhtp_request_t *req, struct evbuffer *body, void *arg);

struct route {
	const char *path;
	struct http_server *srv;
	enum stats_route route;
	http_handler handler;
	void *arg;
};

struct http_server {
	struct event_base *base;
	evhtp_t *htp;
	const struct config *cfg; /* current config; swapped on reload */
	int slot; /* X-RTFT-Worker value, -1 for none */
	int64_t conns_open;
	uint64_t conns_accepted;
	bool quitting; /* stop keep-alive, close idle connections */
	void (*on_idle)(struct http_server *srv); /* quitting and no connections left */
	char rid_prefix[9];
	uint64_t rid_counter;
	struct hconn *conns; /* every open connection */
	http_upgrade_handler upgrade;
	struct route *routes; /* exact-match table, see http_route */
	int nroutes;
	struct route fallback; /* GET/HEAD of any other path, when set */
	struct event *accept_retry; /* accept() paused after EMFILE and the like */
	uint64_t accept_errors;
	int64_t accept_warned_ms;
};

/* Sets up libevhtp on base over listen_fd (already bound and listening).
 * role is not used (the log prefix carries it); callers still pass it. */
int http_server_init(struct http_server *srv, struct event_base *base, int listen_fd, const struct config *cfg,
		     const char *role, int slot, struct rt_err *err) RT_MUSTCHECK;
/* Apply reloadable settings (timeouts, limits). */
void http_server_apply(struct http_server *srv, const struct config *cfg);
/* Stop accepting; close idle connections, let in-flight requests finish
 * (their replies carry Connection: close). on_idle fires once none remain. */
void http_server_quit(struct http_server *srv);
/* Close every connection now (deadline passed). */
void http_server_close_all(struct http_server *srv);
void http_server_fini(struct http_server *srv);

/* Register GET/HEAD path with handler; other methods get 405 + Allow. */
void http_route(struct http_server *srv, const char *path, enum stats_route route, http_handler h, void *arg);

void http_set_upgrade(struct http_server *srv, http_upgrade_handler h);
/* Every path no route matches goes to h (GET/HEAD; 405 otherwise)
 * instead of the 404 reply. */
void http_set_fallback(struct http_server *srv, enum stats_route route, http_handler h, void *arg);
/* For the upgrade handler: untrack the connection before libevhtp lets it
 * go; returns the bytes held back after the request head (caller frees). */
struct evbuffer *http_detach(evhtp_connection_t *c);

/* The client of the request being served (edge_client: the TCP peer, or
 * what a trusted proxy says); every user of a client address takes it
 * from here. Valid until the reply is sent or the connection detached. */
struct client_addr;
const struct client_addr *http_client(evhtp_request_t *req);
/* The request's X-Request-ID (taken from the request or generated). */
const char *http_request_id(evhtp_request_t *req);
/* The trace id of the request's W3C traceparent into out; false when it
 * has none that is valid. */
bool http_trace_id(evhtp_request_t *req, char out[33]);

/* Send a JSON reply {"error":..., "status":...} with the request id. */
void http_reply_error(evhtp_request_t *req, int status, const char *msg);

/* The readiness document shared by both listeners. Appends JSON to body,
 * returns 200 or 503. */
int http_readyz_json(struct evbuffer *body);

#endif
