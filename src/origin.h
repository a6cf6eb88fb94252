/*
 * origin.h: which web origins may use this server (the WebSocket upgrade
 * and the /api endpoints' CORS). Pure string functions over the
 * cors_origins list; no I/O, no allocation.
 *
 * An origin is "scheme://host[:port]" compared without case, with the
 * scheme's default port (80 for http and ws, 443 for https and wss)
 * dropped. The list holds exact origins, "null" (only matches when listed:
 * sandboxed frames and file: pages send it) and "*" (any origin but
 * "null").
 */
#ifndef RT_ORIGIN_H
#define RT_ORIGIN_H

#include "rtftd.h"

#define ORIGIN_MAX 256

/* The normal form of an origin into out: RT_ERR for anything that is not
 * scheme://host[:port] (a path, query, user info, spaces, an empty host),
 * except "null", which stays "null". One trailing '/' is allowed. */
int origin_normalize(const char *s, size_t len, char *out, size_t cap) RT_MUSTCHECK;

/* The origin of an http(s) URL ("https://x.example:8443/app" gives
 * "https://x.example:8443"), normalized; RT_ERR when there is none. */
int origin_of_url(const char *url, char *out, size_t cap) RT_MUSTCHECK;

/* Checks a cors_origins value: RT_OK, or RT_ERR with the bad entry in err. */
int origin_list_check(const char *list, struct rt_err *err) RT_MUSTCHECK;

/* Whether list (cors_origins) has a "*" entry; whether it has no entry. */
bool origin_list_has_any(const char *list);
bool origin_list_empty(const char *list);

struct origin_policy {
	const char *list; /* cors_origins */
	bool any_by_default; /* an empty list allows any origin (development) */
	const char *external_origin; /* origin_of_url(external_url), or NULL */
	const char *own_origin; /* the request's own scheme://Host, or NULL */
};

/* Whether origin (an Origin header value) may use the server: "*" in the
 * list, an exact entry, the external_url's origin, the page's own origin,
 * or an empty list with any_by_default. */
bool origin_allowed(const struct origin_policy *p, const char *origin);

#endif
