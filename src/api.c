/*
 * api.c: the worker's HTTP routes (see api.h).
 * Owns: the per-address limiter of GET /api/ice-servers.
 * Must not: block the loop, or keep state that must survive the worker
 * (the limiter is per process, like everything in a worker's memory).
 */
#include "autoconf.h"
#include "api.h"
#include "clientaddr.h"
#include "config.h"
#include "http.h"
#include "ice.h"
#include "ratelimit.h"
#include "proto.h"
#include "session.h"
#include "util.h"
#include "www.h"
#include "wsauth.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ICE_LIMIT_ENTRIES 4096

static struct {
	const struct config *cfg;
	struct rl_table ice_limit; /* GET /api/ice-servers per client address */
} A;

static int root_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	return www_serve(req, body, A.cfg, "/");
}

static int static_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
	return www_serve(req, body, A.cfg, path);
}

/* The limiter's key: the client's IPv4 address, or the /64 of an IPv6
 * one (one client usually has a whole /64); the client is http_client()'s,
 * so behind a trusted proxy each client has a bucket of its own. Returns
 * its length, 0 when unknown. */
static size_t client_key(evhtp_request_t *req, char key[16])
{
	const struct client_addr *ca = http_client(req);
	if (ca->addr.family == 4) {
		memcpy(key, ca->addr.b, 4);
		return 4;
	}
	if (ca->addr.family == 6) {
		memcpy(key, ca->addr.b, 8);
		return 8;
	}
	return 0;
}

static int ice_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	char key[16] = "";
	size_t klen = client_key(req, key);
	int retry = 0;
	if (!rl_hit(&A.ice_limit, key, klen, time_mono_ms(), A.cfg->rate_limit_window_ms, A.cfg->rate_limit_max,
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
	char *js = ice_json(session_ice(), user, time(NULL), false, NULL);
	evbuffer_add(body, js, strlen(js));
	evbuffer_add(body, "\n", 1);
	free(js);
	return 200;
}

/* "signin": whether the WebSocket needs a token, so that the web page can
 * tell a refused sign-in (a browser never sees the 401) from an outage;
 * "name_claim": the claim that names the session, for the page to
 * prefill the name from its token. Neither is a secret. */
static int info_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	char url[1024], claim[256] = "";
	(void)proto_escape_string(A.cfg->external_url, url, sizeof url);
	const char *nc = wsauth_name_claim();
	if (nc)
		(void)proto_escape_string(nc, claim, sizeof claim);
	evbuffer_add_printf(body,
			    "{\"name\":\"rtftd\",\"version\":\"%s\",\"protocol\":1,\"external_url\":\"%s\","
			    "\"signin\":%s%s%s%s}\n",
			    PACKAGE_VERSION, url, wsauth_enabled() ? "true" : "false", nc ? ",\"name_claim\":\"" : "",
			    claim, nc ? "\"" : "");
	return 200;
}

static int ws_plain_handler(evhtp_request_t *req, struct evbuffer *body, void *arg)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new("Upgrade", "websocket", 0, 0));
	evbuffer_add_printf(body, "{\"error\":\"this endpoint takes WebSocket upgrades\",\"status\":426}\n");
	return 426;
}

void api_setup(struct http_server *srv, const struct config *cfg)
{
	A.cfg = cfg;
	rl_init(&A.ice_limit, ICE_LIMIT_ENTRIES);
	http_route(srv, "/", ROUTE_ROOT, root_handler, NULL);
	http_route(srv, "/api/info", ROUTE_API, info_handler, NULL);
	http_route(srv, "/ws", ROUTE_WS, ws_plain_handler, NULL);
	http_route(srv, "/api/ice-servers", ROUTE_API, ice_handler, NULL);
	http_set_fallback(srv, ROUTE_STATIC, static_handler, NULL);
}

void api_apply(const struct config *cfg)
{
	A.cfg = cfg;
}
