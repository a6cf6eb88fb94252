/*
 * origin.c: see origin.h.
 */
#include "autoconf.h"
#include "origin.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool scheme_char(char c, bool first)
{
	return isalpha((unsigned char)c) || (!first && (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.'));
}

/* host: a name (letters, digits, '-', '.', '_') or a [v6] literal */
static bool host_ok(const char *h, size_t len)
{
	if (len == 0)
		return false;
	if (h[0] == '[') {
		if (len < 3 || h[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
				return false;
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		char c = h[i];
		if (!isalnum((unsigned char)c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}

static bool is_default_port(const char *scheme, size_t slen, const char *port, size_t plen)
{
	bool p80 = plen == 2 && memcmp(port, "80", 2) == 0, p443 = plen == 3 && memcmp(port, "443", 3) == 0;
	if (slen == 4 && strncasecmp(scheme, "http", 4) == 0)
		return p80;
	if (slen == 2 && strncasecmp(scheme, "ws", 2) == 0)
		return p80;
	if (slen == 5 && strncasecmp(scheme, "https", 5) == 0)
		return p443;
	if (slen == 3 && strncasecmp(scheme, "wss", 3) == 0)
		return p443;
	return false;
}

int origin_normalize(const char *s, size_t len, char *out, size_t cap)
{
	if (!s || cap == 0)
		return RT_ERR;
	if (len > 0 && s[len - 1] == '/')
		len--;
	if (len == 4 && strncasecmp(s, "null", 4) == 0) {
		if (cap < 5)
			return RT_ERR;
		memcpy(out, "null", 5);
		return RT_OK;
	}
	if (len >= ORIGIN_MAX)
		return RT_ERR;
	size_t i = 0;
	while (i < len && scheme_char(s[i], i == 0))
		i++;
	size_t slen = i;
	if (slen == 0 || len - i < 3 || memcmp(s + i, "://", 3) != 0)
		return RT_ERR;
	const char *host = s + i + 3, *end = s + len;
	/* the port is after the last ':' outside a [v6] literal */
	const char *hend = end, *port = NULL;
	const char *close = host < end && host[0] == '[' ? memchr(host, ']', (size_t)(end - host)) : NULL;
	const char *colon = NULL;
	for (const char *p = close ? close : host; p < end; p++)
		if (*p == ':')
			colon = p;
	if (colon) {
		hend = colon;
		port = colon + 1;
		size_t plen = (size_t)(end - port);
		if (plen == 0 || plen > 5)
			return RT_ERR;
		for (size_t k = 0; k < plen; k++)
			if (!isdigit((unsigned char)port[k]))
				return RT_ERR;
	}
	if (!host_ok(host, (size_t)(hend - host)))
		return RT_ERR;
	size_t plen = port ? (size_t)(end - port) : 0;
	bool keep_port = port && !is_default_port(s, slen, port, plen);
	size_t need = slen + 3 + (size_t)(hend - host) + (keep_port ? 1 + plen : 0) + 1;
	if (need > cap)
		return RT_ERR;
	size_t o = 0;
	for (size_t k = 0; k < slen; k++)
		out[o++] = (char)tolower((unsigned char)s[k]);
	memcpy(out + o, "://", 3);
	o += 3;
	for (const char *p = host; p < hend; p++)
		out[o++] = (char)tolower((unsigned char)*p);
	if (keep_port) {
		out[o++] = ':';
		memcpy(out + o, port, plen);
		o += plen;
	}
	out[o] = '\0';
	return RT_OK;
}

int origin_of_url(const char *url, char *out, size_t cap)
{
	if (!url || !(str_has_prefix(url, "http://") || str_has_prefix(url, "https://")))
		return RT_ERR;
	const char *host = strstr(url, "://") + 3;
	size_t n = strcspn(host, "/?#");
	if (memchr(host, '@', n)) /* user info is not part of an origin */
		return RT_ERR;
	return origin_normalize(url, (size_t)(host - url) + n, out, cap);
}

/* Calls fn for each non-empty, trimmed entry of list; stops when fn
 * returns true and returns true then. */
static bool each_entry(const char *list, bool (*fn)(const char *s, size_t len, void *arg), void *arg)
{
	const char *p = list ? list : "";
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && fn(s, (size_t)(e - s), arg))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool find_bad(const char *s, size_t len, void *arg)
{
	char tmp[ORIGIN_MAX];
	if (len == 1 && s[0] == '*')
		return false;
	if (origin_normalize(s, len, tmp, sizeof tmp) == RT_OK)
		return false;
	rt_err_set(arg, "\"%.*s\" is not an origin (scheme://host[:port], null or *)", (int)(len > 80 ? 80 : len), s);
	return true;
}

int origin_list_check(const char *list, struct rt_err *err)
{
	return each_entry(list, find_bad, err) ? RT_ERR : RT_OK;
}

struct match {
	const char *origin; /* normalized */
	bool star_ok; /* the origin is not "null" */
};

static bool matches(const char *s, size_t len, void *arg)
{
	struct match *m = arg;
	if (len == 1 && s[0] == '*')
		return m->star_ok;
	char tmp[ORIGIN_MAX];
	return origin_normalize(s, len, tmp, sizeof tmp) == RT_OK && strcmp(tmp, m->origin) == 0;
}

static bool nonempty(const char *s, size_t len, void *arg)
{
	return true;
}

static bool star(const char *s, size_t len, void *arg)
{
	(void)arg;
	return len == 1 && s[0] == '*';
}

bool origin_list_has_any(const char *list)
{
	return each_entry(list, star, NULL);
}

bool origin_list_empty(const char *list)
{
	return !each_entry(list, nonempty, NULL);
}

bool origin_allowed(const struct origin_policy *p, const char *origin)
{
	char o[ORIGIN_MAX];
	if (!origin || origin_normalize(origin, strlen(origin), o, sizeof o) != RT_OK)
		return false;
	bool is_null = strcmp(o, "null") == 0;
	struct match m = { o, !is_null };
	if (each_entry(p->list, matches, &m))
		return true;
	if (is_null)
		return false;
	if (p->external_origin && strcmp(p->external_origin, o) == 0)
		return true;
	if (p->own_origin && strcmp(p->own_origin, o) == 0)
		return true;
	return p->any_by_default && origin_list_empty(p->list);
}
