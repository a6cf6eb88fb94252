/*
 * edge.h: what a worker does because it runs at the edge, behind a proxy
 * or not: the client address of a request (clientaddr.h over the request's
 * headers and the trust settings), the origins allowed to open the
 * WebSocket and to read /api (CORS, origin.h), and the redirect of plain
 * HTTP page requests to https. http.c and ws.c call in here; the policy
 * lives here so both listeners and the upgrade agree.
 */
#ifndef RT_EDGE_H
#define RT_EDGE_H

#include "rtftd.h"
#include "clientaddr.h"
#include "log.h"

#include <evhtp.h>

struct config;

/* The client of req (see client_addr_compute) under cfg's trust_proxy and
 * trusted_proxies; headers from an untrusted peer or that cannot be read
 * are logged at debug. Callers take the address from http_client(). */
void edge_client(evhtp_request_t *req, const struct config *cfg, struct client_addr *out);

/* A WebSocket upgrade's Origin: 0 when allowed; else 403 with *why set and
 * a log line naming the origin and the client. */
int edge_ws_origin(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca, const char **why);

/* For /api routes, before the handler. Adds Access-Control-Allow-Origin and
 * Vary: Origin for an allowed Origin. For OPTIONS, answers (a preflight or
 * a plain OPTIONS: 204, or 403 for an origin not allowed) and returns the
 * status; 0 otherwise (go on with the handler). */
int edge_api_cors(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca, struct evbuffer *body);

/* For page requests (GET/HEAD of / and the static files): with
 * https_redirect on, an https external_url and a client that came over
 * plain http through a trusted proxy, adds Location and returns 301;
 * else 0. */
int edge_https_redirect(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca);

/* What a WebSocket keeps of its upgrade request, for its log lines. */
struct conn_info {
	struct client_addr client;
	char trace_id[33]; /* "" when the upgrade had no valid traceparent */
	char request_id[]; /* the upgrade's X-Request-ID */
};

/* From an upgrade request being accepted: call before http_detach().
 * The caller frees it with free(). */
struct conn_info *edge_conn_info(evhtp_request_t *req);
/* The log context of a connection's lines: request_id, trace_id, client
 * (info may be NULL: nothing is set); ctx is overwritten, other fields are
 * absent. Inline, so session.c (unit-tested over a stub WebSocket layer)
 * does not link the HTTP side. */
static inline void edge_log_ctx(const struct conn_info *info, struct log_ctx *ctx)
{
	*ctx = (struct log_ctx){ .latency_ms = -1 };
	if (!info)
		return;
	ctx->request_id = info->request_id[0] ? info->request_id : NULL;
	ctx->trace_id = info->trace_id[0] ? info->trace_id : NULL;
	ctx->client = info->client.text;
}

#endif
