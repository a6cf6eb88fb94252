/*
 * wsauth.c: the token on the upgrade: where it is found, what is checked,
 * and what a session keeps of it.
 */
#include "autoconf.h"
#include "wsauth.h"
#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "util.h"
#include "ws.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct wsauth {
	uint64_t conn;
	int64_t exp; /* unix seconds, skew included */
	struct event *ev;
	char name[JWT_NAME_MAX + 1];
};

static struct {
	struct event_base *base;
	bool on;
	bool jwks;
	char *secret, *issuer, *audience, *name_claim;
} A;

void wsauth_apply(const struct config *cfg)
{
	struct rt_err err;
	A.jwks = cfg->jwks_url && *cfg->jwks_url;
	if (jwks_configure(cfg->jwks_url ? cfg->jwks_url : "", &err) != RT_OK) {
		log_error("jwks_url: %s", err.msg);
		A.jwks = false;
	}
	str_replace(&A.secret, cfg->jwt_secret);
	str_replace(&A.issuer, cfg->jwt_issuer);
	str_replace(&A.audience, cfg->jwt_audience);
	str_replace(&A.name_claim, cfg->jwt_name_claim);
	A.on = A.jwks || (A.secret && *A.secret);
}

int wsauth_setup(struct event_base *base, const struct config *cfg, struct rt_err *err)
{
	A.base = base;
	if (jwks_configure(cfg->jwks_url ? cfg->jwks_url : "", err) != RT_OK)
		return RT_ERR;
	wsauth_apply(cfg);
	return RT_OK;
}

void wsauth_shutdown(void)
{
	jwks_stop();
}

bool wsauth_enabled(void)
{
	return A.on;
}

const char *wsauth_name_claim(void)
{
	return A.on && A.name_claim && *A.name_claim ? A.name_claim : NULL;
}

/* ---- where the token is ---- */

static bool token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

/* Sec-WebSocket-Protocol: the token entry, and whether "rtft" was offered */
static const char *from_protocols(const char *v, size_t *len, bool *offered)
{
	const char *found = NULL;
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *e = v;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		size_t n = (size_t)(e - v), pl = strlen(WSAUTH_PROTOCOL_TOKEN);
		if (n == strlen(WSAUTH_PROTOCOL) && memcmp(v, WSAUTH_PROTOCOL, n) == 0)
			*offered = true;
		else if (!found && n > pl && memcmp(v, WSAUTH_PROTOCOL_TOKEN, pl) == 0) {
			found = v + pl;
			*len = n - pl;
		}
		v = e;
	}
	return found;
}

/* the token, or NULL; *where names the place for the log */
static const char *find_token(evhtp_request_t *req, size_t *len, bool *offered, const char **where)
{
	const char *t = from_protocols(evhtp_header_find(req->headers_in, "Sec-WebSocket-Protocol"), len, offered);
	if (t) {
		*where = "Sec-WebSocket-Protocol";
		return t;
	}
	const char *h = evhtp_header_find(req->headers_in, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		*len = strlen(h);
		while (*len && h[*len - 1] == ' ')
			(*len)--;
		*where = "Authorization";
		return h;
	}
	const char *q = req->uri && req->uri->query ? evhtp_kv_find(req->uri->query, "token") : NULL;
	if (q) {
		*len = strlen(q);
		*where = "query";
		return q;
	}
	return NULL;
}

/* ---- the check ---- */

static int refuse(evhtp_request_t *req, int status, const char *why, const char *where)
{
	log_info("websocket upgrade refused (%d): %s%s%s%s", status, why, where ? " (token in " : "",
		 where ? where : "", where ? ")" : "");
	evhtp_headers_add_header(req->headers_out,
				 evhtp_header_new("WWW-Authenticate",
						  status == 401 ? "Bearer realm=\"rtft\", error=\"invalid_token\""
								: "Bearer realm=\"rtft\"",
						  0, 0));
	if (status == 503)
		evhtp_headers_add_header(req->headers_out, evhtp_header_new("Retry-After", "5", 0, 0));
	return status;
}

int wsauth_check(evhtp_request_t *req, struct wsauth **auth, const char **protocol, const char **why)
{
	*auth = NULL;
	size_t len = 0;
	bool offered = false;
	const char *where = NULL;
	const char *tok = find_token(req, &len, &offered, &where);
	*protocol = offered ? WSAUTH_PROTOCOL : NULL;
	if (!A.on)
		return 0;
	if (!tok || !len) {
		*why = "sign-in required: no token";
		return refuse(req, 401, *why, NULL);
	}
	for (size_t i = 0; i < len && i <= JWT_MAX_BYTES; i++)
		if (!token_char(tok[i])) {
			*why = "malformed token";
			return refuse(req, 401, *why, where);
		}
	struct jwt_policy p = {
		.secret = A.secret,
		.secret_len = A.secret ? strlen(A.secret) : 0,
		.issuer = A.issuer,
		.audience = A.audience,
		.name_claim = A.name_claim,
	};
	struct jwt_keyset *ks = A.jwks ? jwks_current() : NULL;
	struct jwt_claims cl;
	enum jwt_result r = jwt_verify(tok, len, &p, ks, time_wall_ms() / 1000, &cl);
	jwt_keyset_unref(ks);
	if (r == JWT_UNKNOWN_KID || (r == JWT_NO_KEYS && A.jwks))
		jwks_want_refresh();
	if (r != JWT_OK) {
		*why = jwt_result_text(r);
		return refuse(req, r == JWT_NO_KEYS ? 503 : 401, *why, where);
	}
	struct wsauth *a = xcalloc(1, sizeof *a);
	a->exp = cl.exp;
	memcpy(a->name, cl.name, sizeof a->name);
	*auth = a;
	return 0;
}

/* ---- the session's side ---- */

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wsauth *a = arg;
	struct ws_conn *c = ws_find(a->conn);
	if (!c)
		return;
	int64_t left_ms = a->exp * 1000 - time_wall_ms();
	if (left_ms > 0) { /* the wall clock went back: wait again */
		struct timeval tv = { (time_t)(left_ms / 1000), (suseconds_t)(left_ms % 1000) * 1000 };
		event_add(a->ev, &tv);
		return;
	}
	log_info("websocket %llu: token expired", (unsigned long long)a->conn);
	ws_close(c, WSAUTH_CLOSE_EXPIRED, "token expired");
}

void wsauth_attach(struct wsauth *a, struct ws_conn *c)
{
	if (!a)
		return;
	a->conn = ws_id(c);
	a->ev = evtimer_new(A.base, expire_cb, a);
	int64_t left_ms = a->exp * 1000 - time_wall_ms();
	if (left_ms < 0)
		left_ms = 0;
	struct timeval tv = { (time_t)(left_ms / 1000), (suseconds_t)(left_ms % 1000) * 1000 };
	event_add(a->ev, &tv);
}

void wsauth_free(struct wsauth *a)
{
	if (!a)
		return;
	if (a->ev)
		event_free(a->ev);
	free(a);
}

const char *wsauth_name(const struct wsauth *a)
{
	return a && a->name[0] ? a->name : NULL;
}
