/*
 * clientaddr.c: see clientaddr.h.
 * The forwarding headers are client input up to the nearest trusted proxy:
 * they are read right to left (the right-most entries were added by the
 * proxies nearest to us), only as far as the first address that is not a
 * trusted proxy, and whatever cannot be read leaves the TCP peer as the
 * client. At most HOPS_MAX entries from the right are looked at.
 */
#include "autoconf.h"
#include "clientaddr.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HOPS_MAX 64

static const uint8_t V4MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void set_v6(struct rt_addr *out, const uint8_t b[16])
{
	memset(out, 0, sizeof *out);
	if (memcmp(b, V4MAPPED, sizeof V4MAPPED) == 0) {
		out->family = 4;
		memcpy(out->b, b + 12, 4);
	} else {
		out->family = 6;
		memcpy(out->b, b, 16);
	}
}

int rt_addr_parse(const char *s, size_t len, struct rt_addr *out)
{
	char tmp[RT_ADDR_TEXT];
	if (!s || len == 0 || len >= sizeof tmp)
		return RT_ERR;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	uint8_t b[16];
	if (inet_pton(AF_INET, tmp, b) == 1) {
		memset(out, 0, sizeof *out);
		out->family = 4;
		memcpy(out->b, b, 4);
		return RT_OK;
	}
	if (inet_pton(AF_INET6, tmp, b) == 1) {
		set_v6(out, b);
		return RT_OK;
	}
	return RT_ERR;
}

static bool all_digits(const char *s, size_t len)
{
	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int rt_addr_parse_node(const char *s, size_t len, struct rt_addr *out)
{
	if (!s || len == 0)
		return RT_ERR;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return RT_ERR;
		size_t rest = len - (size_t)(close - s) - 1;
		if (rest > 0 && (close[1] != ':' || !all_digits(close + 2, rest - 1)))
			return RT_ERR;
		struct rt_addr a;
		if (rt_addr_parse(s + 1, (size_t)(close - s - 1), &a) != RT_OK)
			return RT_ERR;
		*out = a;
		return RT_OK;
	}
	if (rt_addr_parse(s, len, out) == RT_OK)
		return RT_OK;
	/* "192.0.2.1:4711": one colon, an IPv4 address before it */
	const char *colon = memchr(s, ':', len);
	if (!colon || memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) ||
	    !all_digits(colon + 1, len - (size_t)(colon - s) - 1))
		return RT_ERR;
	struct rt_addr a;
	if (rt_addr_parse(s, (size_t)(colon - s), &a) != RT_OK || a.family != 4)
		return RT_ERR;
	*out = a;
	return RT_OK;
}

int rt_addr_from_sockaddr(const struct sockaddr *sa, struct rt_addr *out)
{
	if (sa && sa->sa_family == AF_INET) {
		memset(out, 0, sizeof *out);
		out->family = 4;
		memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return RT_OK;
	}
	if (sa && sa->sa_family == AF_INET6) {
		set_v6(out, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
		return RT_OK;
	}
	return RT_ERR;
}

void rt_addr_format(const struct rt_addr *a, char *buf, size_t cap)
{
	if (!a || (a->family != 4 && a->family != 6) ||
	    !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
}

bool rt_addr_eq(const struct rt_addr *a, const struct rt_addr *b)
{
	return a->family == b->family && memcmp(a->b, b->b, a->family == 4 ? 4 : 16) == 0;
}

static void mask_to(struct rt_addr *a, int bits)
{
	int total = a->family == 4 ? 32 : 128;
	for (int i = bits; i < total; i++)
		a->b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

int rt_net_parse(const char *s, size_t len, struct rt_net *out)
{
	const char *slash = s ? memchr(s, '/', len) : NULL;
	size_t alen = slash ? (size_t)(slash - s) : len;
	struct rt_net n;
	if (rt_addr_parse(s, alen, &n.addr) != RT_OK)
		return RT_ERR;
	int max = n.addr.family == 4 ? 32 : 128;
	int bits = max;
	if (slash) {
		size_t blen = len - alen - 1;
		if (blen == 0 || blen > 3 || !all_digits(slash + 1, blen))
			return RT_ERR;
		bits = 0;
		for (size_t i = 1; i <= blen; i++)
			bits = bits * 10 + (slash[i] - '0');
		/* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
		bool mapped = n.addr.family == 4 && memchr(s, ':', alen);
		if (mapped) {
			if (bits < 96)
				return RT_ERR;
			bits -= 96;
		}
		if (bits > max)
			return RT_ERR;
	}
	n.bits = (uint8_t)bits;
	mask_to(&n.addr, bits);
	*out = n;
	return RT_OK;
}

bool rt_net_contains(const struct rt_net *n, const struct rt_addr *a)
{
	if (n->addr.family != a->family)
		return false;
	int full = n->bits / 8, rest = n->bits % 8;
	if (memcmp(n->addr.b, a->b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t m = (uint8_t)(0xffu << (8 - rest));
	return (a->b[full] & m) == n->addr.b[full];
}

static const char *skip_ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *trim_end(const char *start, const char *end)
{
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

int rt_netlist_parse(const char *list, struct rt_netlist *out, struct rt_err *err)
{
	out->v = NULL;
	out->n = 0;
	const char *p = list ? list : "";
	const char *end = p + strlen(p);
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *s = skip_ows(p, e);
		const char *t = trim_end(s, e);
		if (t > s) {
			struct rt_net n;
			if (rt_net_parse(s, (size_t)(t - s), &n) != RT_OK) {
				rt_err_set(err, "\"%.*s\" is not an IP address or CIDR range",
					   (int)(t - s > 64 ? 64 : t - s), s);
				rt_netlist_free(out);
				return RT_ERR;
			}
			out->v = xrealloc(out->v, sizeof *out->v * (size_t)(out->n + 1));
			out->v[out->n++] = n;
		}
		p = comma ? comma + 1 : end;
	}
	return RT_OK;
}

void rt_netlist_free(struct rt_netlist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool rt_netlist_contains(const struct rt_netlist *l, const struct rt_addr *a)
{
	if (!l || !a || !a->family)
		return false;
	for (int i = 0; i < l->n; i++)
		if (rt_net_contains(&l->v[i], a))
			return true;
	return false;
}

/* ---- the forwarding headers ---- */

struct span {
	const char *s;
	size_t len;
};

/* The last HOPS_MAX entries of a list, oldest first once unrolled. */
struct hops {
	struct span node[HOPS_MAX], proto[HOPS_MAX];
	int n; /* entries seen, may exceed HOPS_MAX */
	bool bad;
};

static void hops_add(struct hops *h, struct span node, struct span proto)
{
	h->node[h->n % HOPS_MAX] = node;
	h->proto[h->n % HOPS_MAX] = proto;
	h->n++;
}

static int hops_kept(const struct hops *h)
{
	return h->n < HOPS_MAX ? h->n : HOPS_MAX;
}

/* The i-th kept entry counted from the right (0: right-most). */
static int hops_index(const struct hops *h, int from_right)
{
	return (h->n - 1 - from_right) % HOPS_MAX;
}

/* A plain list (X-Forwarded-For, X-Forwarded-Proto): entries split on
 * commas, blanks trimmed, empty entries skipped (RFC 9110 5.6.1). */
static void split_plain(struct hops *h, const char *const *fields, int nfields)
{
	for (int f = 0; f < nfields; f++) {
		const char *p = fields[f], *end = p + strlen(p);
		while (p <= end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *e = comma ? comma : end;
			const char *s = skip_ows(p, e);
			const char *t = trim_end(s, e);
			if (t > s)
				hops_add(h, (struct span){ s, (size_t)(t - s) }, (struct span){ NULL, 0 });
			if (!comma)
				break;
			p = comma + 1;
		}
	}
}

/* One value of a Forwarded pair: a token or a quoted-string (quotes and
 * backslashes are kept in the span; unquote_node handles them). Returns
 * the end of the value, or NULL when a quote is not closed. */
static const char *value_end(const char *p, const char *end)
{
	if (p < end && *p == '"') {
		for (p++; p < end; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				return p + 1;
		}
		return NULL;
	}
	while (p < end && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
		p++;
	return p;
}

/* Forwarded (RFC 7239 4): elements split on commas outside quotes, each a
 * ';'-separated list of name=value pairs; for= and proto= are kept. */
static void split_forwarded(struct hops *h, const char *const *fields, int nfields)
{
	for (int f = 0; f < nfields && !h->bad; f++) {
		const char *p = fields[f], *end = p + strlen(p);
		struct span node = { NULL, 0 }, proto = { NULL, 0 };
		bool any = false;
		while (p < end) {
			p = skip_ows(p, end);
			if (p < end && (*p == ',' || *p == ';')) {
				if (*p == ',') {
					if (any)
						hops_add(h, node, proto);
					node = proto = (struct span){ NULL, 0 };
					any = false;
				}
				p++;
				continue;
			}
			const char *name = p;
			while (p < end && *p != '=' && *p != ';' && *p != ',')
				p++;
			if (p >= end || *p != '=') {
				h->bad = true;
				return;
			}
			size_t nlen = (size_t)(trim_end(name, p) - name);
			const char *v = skip_ows(p + 1, end);
			const char *ve = value_end(v, end);
			if (!ve) {
				h->bad = true;
				return;
			}
			struct span val = { v, (size_t)(ve - v) };
			if (nlen == 3 && strncasecmp(name, "for", 3) == 0)
				node = val;
			else if (nlen == 5 && strncasecmp(name, "proto", 5) == 0)
				proto = val;
			any = true;
			p = ve;
		}
		if (any)
			hops_add(h, node, proto);
	}
}

/* A for= value: unquoted into buf (a quoted-string may hold "[v6]:port"). */
static int parse_fwd_node(struct span v, struct rt_addr *out)
{
	if (!v.s)
		return RT_ERR;
	if (v.len >= 2 && v.s[0] == '"') {
		char buf[80];
		size_t n = 0;
		for (size_t i = 1; i + 1 < v.len; i++) {
			if (v.s[i] == '\\' && i + 2 < v.len)
				i++;
			if (n + 1 >= sizeof buf)
				return RT_ERR;
			buf[n++] = v.s[i];
		}
		return rt_addr_parse_node(buf, n, out);
	}
	return rt_addr_parse_node(v.s, v.len, out);
}

static bool span_is(struct span v, const char *word)
{
	size_t wl = strlen(word);
	if (v.len >= 2 && v.s[0] == '"') {
		v.s++;
		v.len -= 2;
	}
	return v.len == wl && strncasecmp(v.s, word, wl) == 0;
}

/* Walks hops right to left. Returns the index from the right of the
 * client, -1 when an entry cannot be read. */
static int walk(const struct hops *h, bool forwarded, const struct rt_netlist *trusted, struct rt_addr *client)
{
	int kept = hops_kept(h);
	for (int i = 0; i < kept; i++) {
		int at = hops_index(h, i);
		struct rt_addr a;
		int rc = forwarded ? parse_fwd_node(h->node[at], &a)
				   : rt_addr_parse_node(h->node[at].s, h->node[at].len, &a);
		if (rc != RT_OK)
			return -1;
		*client = a;
		if (!rt_netlist_contains(trusted, &a))
			return i;
	}
	return kept - 1; /* every one is a proxy we trust: the furthest is the client */
}

void client_addr_compute(const struct rt_addr *peer, const struct client_headers *h, bool trust,
			 const struct rt_netlist *trusted, struct client_addr *out)
{
	memset(out, 0, sizeof *out);
	if (peer)
		out->addr = *peer;
	bool any = h && (h->nxff || h->nfwd || h->nxfp);
	if (!trust || !h || !peer || !rt_netlist_contains(trusted, peer)) {
		if (any)
			out->note = CLIENT_NOTE_IGNORED;
		rt_addr_format(&out->addr, out->text, sizeof out->text);
		return;
	}
	struct hops hops = { .n = 0 }, protos = { .n = 0 };
	split_plain(&protos, h->xfp, h->nxfp);
	bool forwarded = h->nxff == 0 && h->nfwd > 0;
	if (forwarded)
		split_forwarded(&hops, h->fwd, h->nfwd);
	else
		split_plain(&hops, h->xff, h->nxff);
	int idx = -1;
	struct rt_addr client;
	if (h->too_many || hops.bad)
		out->note = CLIENT_NOTE_MALFORMED;
	else if (hops.n > 0 && (idx = walk(&hops, forwarded, trusted, &client)) < 0)
		out->note = CLIENT_NOTE_MALFORMED;
	else if (hops.n > 0) {
		out->addr = client;
		out->source = forwarded ? CLIENT_FROM_FORWARDED : CLIENT_FROM_XFF;
	}
	/* the scheme: proto= of the client's element, else the entry of
	 * X-Forwarded-Proto that lines up with the client's, else its last */
	struct span proto = { NULL, 0 };
	if (idx >= 0 && forwarded)
		proto = hops.proto[hops_index(&hops, idx)];
	if (!proto.s && protos.n > 0) {
		bool lined_up = idx >= 0 && !forwarded && protos.n == hops.n && idx < hops_kept(&protos);
		proto = protos.node[hops_index(&protos, lined_up ? idx : 0)];
	}
	out->proto_known = proto.s != NULL;
	out->https = proto.s && span_is(proto, "https");
	rt_addr_format(&out->addr, out->text, sizeof out->text);
}
