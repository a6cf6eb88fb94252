/*
 * edge.c: see edge.h.
 * Owns: which request headers name the client, the origin policy built
 * from the config, the CORS headers of /api, the https redirect.
 * Must not: keep state between requests, or trust a forwarding header
 * from a peer that trusted_proxies does not name.
 */
#include "autoconf.h"
#include "edge.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "origin.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void collect(evhtp_request_t *req, struct client_headers *h)
{
	memset(h, 0, sizeof *h);
	evhtp_kv_t *kv;
	TAILQ_FOREACH(kv, req->headers_in, next)
	{
		const char **to = NULL;
		int *n = NULL;
		if (strcasecmp(kv->key, "X-Forwarded-For") == 0) {
			to = h->xff;
			n = &h->nxff;
		} else if (strcasecmp(kv->key, "Forwarded") == 0) {
			to = h->fwd;
			n = &h->nfwd;
		} else if (strcasecmp(kv->key, "X-Forwarded-Proto") == 0) {
			to = h->xfp;
			n = &h->nxfp;
		} else {
			continue;
		}
		if (*n < CLIENT_MAX_FIELDS)
			to[(*n)++] = kv->val ? kv->val : "";
		else
			h->too_many = true;
	}
}

void edge_client(evhtp_request_t *req, const struct config *cfg, struct client_addr *out)
{
	struct rt_addr peer;
	bool have_peer = req->conn && rt_addr_from_sockaddr(req->conn->saddr, &peer) == RT_OK;
	struct client_headers h;
	collect(req, &h);
	client_addr_compute(have_peer ? &peer : NULL, &h, cfg->trust_proxy, &cfg->trusted, out);
	if (out->note != CLIENT_NOTE_NONE && log_enabled(LOG_LVL_DEBUG)) {
		char p[RT_ADDR_TEXT];
		rt_addr_format(have_peer ? &peer : NULL, p, sizeof p);
		log_debug("forwarding headers from %s %s: the client is %s", p,
			  out->note == CLIENT_NOTE_IGNORED ? "ignored (not a trusted proxy: see trust_proxy)"
							   : "cannot be read",
			  out->text);
	}
}

/* ---- origins ---- */

struct policy_buf {
	struct origin_policy p;
	char ext[ORIGIN_MAX], own[ORIGIN_MAX];
};

static void policy_of(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca,
		      struct policy_buf *b)
{
	b->p.list = cfg->cors_origins;
	b->p.any_by_default = !cfg->is_production;
	b->p.external_origin = origin_of_url(cfg->external_url, b->ext, sizeof b->ext) == RT_OK ? b->ext : NULL;
	b->p.own_origin = NULL;
	/* Without external_url, the page's own origin (scheme and Host of this
	 * request) is allowed: a page cannot make a browser send another
	 * site's Host. With it, external_url's origin is the page's: a Host
	 * of any other name (DNS rebinding points a name of the attacker's at
	 * this server) earns nothing. */
	if (b->p.external_origin)
		return;
	const char *host = evhtp_header_find(req->headers_in, "Host");
	char tmp[ORIGIN_MAX];
	int n = host ? snprintf(tmp, sizeof tmp, "%s://%s", ca->https ? "https" : "http", host) : -1;
	if (n > 0 && (size_t)n < sizeof tmp && origin_normalize(tmp, (size_t)n, b->own, sizeof b->own) == RT_OK)
		b->p.own_origin = b->own;
}

static void log_refused(evhtp_request_t *req, const struct client_addr *ca, const char *origin, const char *why)
{
	char esc[6 * 200 + 1];
	char cut[201];
	snprintf(cut, sizeof cut, "%s", origin ? origin : "");
	(void)proto_escape_string(cut, esc, sizeof esc);
	struct log_ctx ctx = { .request_id = http_request_id(req), .client = ca->text, .latency_ms = -1 };
	if (origin)
		log_msg(LOG_LVL_INFO, &ctx, "websocket upgrade refused (403): origin \"%s\" %s (client %s)", esc, why,
			ca->text);
	else
		log_msg(LOG_LVL_INFO, &ctx, "websocket upgrade refused (403): %s (client %s)", why, ca->text);
}

int edge_ws_origin(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca, const char **why)
{
	const char *origin = evhtp_header_find(req->headers_in, "Origin");
	if (!origin) {
		if (!cfg->require_origin)
			return 0; /* not a browser */
		*why = "an Origin header is required (require_origin)";
		log_refused(req, ca, NULL, "no Origin header and require_origin is on");
		return 403;
	}
	struct policy_buf b;
	policy_of(req, cfg, ca, &b);
	if (origin_allowed(&b.p, origin))
		return 0;
	*why = "this origin may not use the server (see cors_origins)";
	log_refused(req, ca, origin, "is not allowed: list it in cors_origins");
	return 403;
}

static void add_copy(evhtp_request_t *req, const char *k, const char *v)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, 1));
}

static void add_const(evhtp_request_t *req, const char *k, const char *v)
{
	evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, 0));
}

/* Access-Control-Request-Headers, when it is a plain list of header names */
static bool header_list_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 512)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == ',' || c == ' '))
			return false;
	}
	return true;
}

int edge_api_cors(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca, struct evbuffer *body)
{
	const char *origin = evhtp_header_find(req->headers_in, "Origin");
	bool ok = false;
	add_const(req, "Vary", "Origin");
	if (origin) {
		struct policy_buf b;
		policy_of(req, cfg, ca, &b);
		ok = origin_allowed(&b.p, origin);
	}
	if (ok) {
		add_copy(req, "Access-Control-Allow-Origin", origin);
		add_const(req, "Access-Control-Expose-Headers", "X-Request-ID, Retry-After");
	}
	if (req->method != htp_method_OPTIONS)
		return 0;
	const char *method = evhtp_header_find(req->headers_in, "Access-Control-Request-Method");
	if (!method || !origin) {
		add_const(req, "Allow", "GET, HEAD, OPTIONS");
		return 204;
	}
	if (!ok) {
		evbuffer_add_printf(
			body,
			"{\"error\":\"this origin may not use the server (see cors_origins)\",\"status\":403,"
			"\"request_id\":\"%s\"}\n",
			http_request_id(req));
		return 403;
	}
	add_const(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
	const char *asked = evhtp_header_find(req->headers_in, "Access-Control-Request-Headers");
	if (asked && header_list_ok(asked))
		add_copy(req, "Access-Control-Allow-Headers", asked);
	add_const(req, "Access-Control-Max-Age", "600");
	return 204;
}

/* ---- https ---- */

/* Appends s to out, %-encoding what may not stand in a Location header. */
static bool append_encoded(char *out, size_t cap, size_t *pos, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '<' && *p != '>' && *p != '\\' && *p != '^' &&
			     *p != '`' && *p != '{' && *p != '|' && *p != '}';
		if (*pos + (plain ? 1 : 3) >= cap)
			return false;
		if (plain) {
			out[(*pos)++] = (char)*p;
		} else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[*p >> 4];
			out[(*pos)++] = hex[*p & 15];
		}
	}
	out[*pos] = '\0';
	return true;
}

int edge_https_redirect(evhtp_request_t *req, const struct config *cfg, const struct client_addr *ca)
{
	if (!cfg->https_redirect_on || !str_has_prefix(cfg->external_url, "https://"))
		return 0;
	if (!ca->proto_known || ca->https)
		return 0; /* only what a trusted proxy says came over plain http */
	const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "/";
	const char *query = req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : NULL;
	char loc[8192];
	size_t pos = 0;
	if (!append_encoded(loc, sizeof loc, &pos, cfg->external_url) ||
	    !append_encoded(loc, sizeof loc, &pos, path[0] == '/' ? path : "/"))
		return 0;
	if (query && *query) {
		if (pos + 1 >= sizeof loc)
			return 0;
		loc[pos++] = '?';
		if (!append_encoded(loc, sizeof loc, &pos, query))
			return 0;
	}
	add_copy(req, "Location", loc);
	return 301;
}

/* ---- WebSocket connections ---- */

struct conn_info *edge_conn_info(evhtp_request_t *req)
{
	const char *rid = http_request_id(req);
	size_t n = strlen(rid);
	struct conn_info *ci = xmalloc(sizeof *ci + n + 1);
	ci->client = *http_client(req);
	if (!http_trace_id(req, ci->trace_id))
		ci->trace_id[0] = '\0';
	memcpy(ci->request_id, rid, n + 1);
	return ci;
}
