/* Unit tests for clientaddr.c: address parsing, the CIDR matcher and the
 * client address chain (X-Forwarded-For, Forwarded, X-Forwarded-Proto). */
#include "autoconf.h"
#include "clientaddr.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct rt_addr A(const char *s)
{
	struct rt_addr a;
	if (rt_addr_parse(s, strlen(s), &a) != RT_OK) {
		printf("# bad test address %s\n", s);
		abort();
	}
	return a;
}

static const char *fmt(const struct rt_addr *a)
{
	static char buf[RT_ADDR_TEXT];
	rt_addr_format(a, buf, sizeof buf);
	return buf;
}

static bool parses(const char *s)
{
	struct rt_addr a;
	return rt_addr_parse(s, strlen(s), &a) == RT_OK;
}

static const char *node(const char *s)
{
	static char buf[RT_ADDR_TEXT];
	struct rt_addr a;
	if (rt_addr_parse_node(s, strlen(s), &a) != RT_OK)
		return "ERR";
	rt_addr_format(&a, buf, sizeof buf);
	return buf;
}

static void test_parse(void)
{
	struct rt_addr a = A("192.0.2.1");
	is_int(a.family, 4, "IPv4 literal");
	is_str(fmt(&a), "192.0.2.1", "IPv4 formats back");
	a = A("2001:DB8::1");
	is_int(a.family, 6, "IPv6 literal");
	is_str(fmt(&a), "2001:db8::1", "IPv6 in the usual lower-case form");
	a = A("::ffff:10.1.2.3");
	is_int(a.family, 4, "an IPv4-mapped IPv6 address is IPv4");
	is_str(fmt(&a), "10.1.2.3", "and formats as IPv4");
	ok(!parses(""), "empty is not an address");
	ok(!parses("1.2.3"), "three parts are not an IPv4 address");
	ok(!parses("256.1.1.1"), "octet over 255 refused");
	ok(!parses("1.2.3.4 "), "trailing blank refused");
	ok(!parses("1.2.3.4:80"), "a port is not part of a literal");
	ok(!parses("[::1]"), "brackets are not part of a literal");
	ok(!parses("fe80::1%eth0"), "zone ids refused");
	ok(!parses("unknown"), "unknown is not an address");
	ok(!parses("0123456789012345678901234567890123456789012345678901234567890"), "too long refused");
	ok(rt_addr_parse("1.2.3.4xyz", 7, &a) == RT_OK && strcmp(fmt(&a), "1.2.3.4") == 0,
	   "only len bytes are read");

	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:127.0.0.3", &s6.sin6_addr);
	ok(rt_addr_from_sockaddr((struct sockaddr *)&s6, &a) == RT_OK && a.family == 4 &&
		   strcmp(fmt(&a), "127.0.0.3") == 0,
	   "a dual-stack socket's IPv4 peer is IPv4");
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	inet_pton(AF_INET, "198.51.100.7", &s4.sin_addr);
	ok(rt_addr_from_sockaddr((struct sockaddr *)&s4, &a) == RT_OK && strcmp(fmt(&a), "198.51.100.7") == 0,
	   "sockaddr_in");
	struct sockaddr su = { .sa_family = AF_UNIX };
	ok(rt_addr_from_sockaddr(&su, &a) == RT_ERR, "AF_UNIX has no address");
	ok(rt_addr_from_sockaddr(NULL, &a) == RT_ERR, "NULL has no address");
	struct rt_addr none = { 0 };
	is_str(fmt(&none), "?", "an unknown address formats as ?");
}

static void test_nodes(void)
{
	is_str(node("192.0.2.60"), "192.0.2.60", "plain IPv4 node");
	is_str(node("192.0.2.60:4711"), "192.0.2.60", "IPv4 with a port");
	is_str(node("2001:db8::17"), "2001:db8::17", "bare IPv6 node");
	is_str(node("[2001:db8::17]"), "2001:db8::17", "bracketed IPv6");
	is_str(node("[2001:db8::17]:4711"), "2001:db8::17", "bracketed IPv6 with a port");
	is_str(node("[::1]:80"), "::1", "[::1]:80");
	is_str(node("192.0.2.60:"), "ERR", "empty port refused");
	is_str(node("192.0.2.60:abc"), "ERR", "port must be digits");
	is_str(node("192.0.2.60:123456"), "ERR", "port too long");
	is_str(node("[2001:db8::17"), "ERR", "unclosed bracket");
	is_str(node("[2001:db8::17]x"), "ERR", "junk after the bracket");
	is_str(node("[192.0.2.60]:80"), "192.0.2.60", "bracketed IPv4 is read (lenient)");
	is_str(node("unknown"), "ERR", "unknown");
	is_str(node("_hidden"), "ERR", "obfuscated identifier");
	is_str(node("example.org"), "ERR", "a name is not an address");
	is_str(node(""), "ERR", "empty");
	is_str(node("2001:db8::17:4711x"), "ERR", "IPv6 cannot carry a port without brackets");
}

static bool in(const char *net, const char *addr)
{
	struct rt_net n;
	if (rt_net_parse(net, strlen(net), &n) != RT_OK) {
		printf("# bad test net %s\n", net);
		abort();
	}
	struct rt_addr a = A(addr);
	return rt_net_contains(&n, &a);
}

static bool net_ok(const char *s)
{
	struct rt_net n;
	return rt_net_parse(s, strlen(s), &n) == RT_OK;
}

static void test_cidr(void)
{
	ok(in("127.0.0.0/8", "127.0.0.1") && in("127.0.0.0/8", "127.255.255.254"), "127/8 holds loopback");
	ok(!in("127.0.0.0/8", "128.0.0.1"), "127/8 does not hold 128.0.0.1");
	ok(in("10.1.2.3", "10.1.2.3") && !in("10.1.2.3", "10.1.2.4"), "a bare address is a /32");
	ok(in("10.0.0.0/31", "10.0.0.1") && !in("10.0.0.0/31", "10.0.0.2"), "/31");
	ok(in("192.168.0.0/23", "192.168.1.200") && !in("192.168.0.0/23", "192.168.2.1"), "/23 across a byte");
	ok(in("0.0.0.0/0", "203.0.113.9"), "/0 holds every IPv4 address");
	ok(!in("0.0.0.0/0", "2001:db8::1"), "... but no IPv6 one");
	ok(in("10.1.2.3/8", "10.200.0.1"), "host bits below the prefix are cleared");
	ok(in("::1", "::1") && !in("::1", "::2"), "::1 is a /128");
	ok(in("fd00::/8", "fd12:3456::1") && !in("fd00::/8", "fe80::1"), "fd00::/8");
	ok(in("2001:db8::/33", "2001:db8:7fff::1") && !in("2001:db8::/33", "2001:db8:8000::1"), "/33 boundary");
	ok(in("::/0", "2001:db8::1") && !in("::/0", "1.2.3.4"), "::/0 holds IPv6 only");
	ok(in("::ffff:10.0.0.0/104", "10.9.8.7") && !in("::ffff:10.0.0.0/104", "11.0.0.1"),
	   "an IPv4-mapped range is the IPv4 range");
	ok(in("::ffff:127.0.0.1", "127.0.0.1"), "a mapped address matches the IPv4 peer");
	ok(!net_ok("10.0.0.0/33"), "/33 refused for IPv4");
	ok(!net_ok("::/129"), "/129 refused for IPv6");
	ok(!net_ok("10.0.0.0/"), "empty prefix refused");
	ok(!net_ok("10.0.0.0/8x"), "junk prefix refused");
	ok(!net_ok("10.0.0.0/-1"), "negative prefix refused");
	ok(!net_ok("::ffff:10.0.0.0/95"), "a mapped range shorter than /96 refused");
	ok(!net_ok("example.org/24"), "names refused");
	ok(!net_ok(""), "empty refused");

	struct rt_netlist l;
	struct rt_err err;
	ok(rt_netlist_parse(" 127.0.0.0/8 , ::1,,10.0.0.0/8 ", &l, &err) == RT_OK && l.n == 3,
	   "a list with blanks and an empty entry");
	struct rt_addr a = A("10.3.3.3"), b = A("::1"), c = A("192.0.2.1");
	ok(rt_netlist_contains(&l, &a) && rt_netlist_contains(&l, &b) && !rt_netlist_contains(&l, &c),
	   "list membership");
	rt_netlist_free(&l);
	ok(rt_netlist_parse("", &l, &err) == RT_OK && l.n == 0 && !rt_netlist_contains(&l, &a), "empty list");
	ok(rt_netlist_parse("10.0.0.0/8, 10.0.0.300", &l, &err) == RT_ERR && l.n == 0 && strstr(err.msg, "10.0.0.300"),
	   "a bad entry is named");
	ok(!rt_netlist_contains(NULL, &a), "no list holds nothing");
}

/* the client of a request from peer with the given headers */
struct req {
	const char *xff[3], *fwd[3], *xfp[3];
};

static struct client_addr chain(const char *peer, bool trust, const char *trusted, struct req r)
{
	struct rt_netlist l;
	struct rt_err err;
	if (rt_netlist_parse(trusted, &l, &err) != RT_OK)
		abort();
	struct client_headers h = { .nxff = 0 };
	for (int i = 0; i < 3 && r.xff[i]; i++)
		h.xff[h.nxff++] = r.xff[i];
	for (int i = 0; i < 3 && r.fwd[i]; i++)
		h.fwd[h.nfwd++] = r.fwd[i];
	for (int i = 0; i < 3 && r.xfp[i]; i++)
		h.xfp[h.nxfp++] = r.xfp[i];
	struct rt_addr p = A(peer);
	struct client_addr out;
	client_addr_compute(&p, &h, trust, &l, &out);
	rt_netlist_free(&l);
	return out;
}

#define LOOP "127.0.0.0/8, ::1"

static void test_chain(void)
{
	struct client_addr c;
	c = chain("127.0.0.1", false, LOOP, (struct req){ .xff = { "203.0.113.5" } });
	is_str(c.text, "127.0.0.1", "trust_proxy off: the peer, whatever X-Forwarded-For says");
	is_int(c.note, CLIENT_NOTE_IGNORED, "... and the header is noted as ignored");
	is_int(c.source, CLIENT_FROM_PEER, "... source: peer");

	c = chain("198.51.100.1", true, LOOP, (struct req){ .xff = { "203.0.113.5" }, .xfp = { "https" } });
	is_str(c.text, "198.51.100.1", "an untrusted peer's X-Forwarded-For is ignored");
	ok(!c.https && !c.proto_known, "... and so is its X-Forwarded-Proto");
	is_int(c.note, CLIENT_NOTE_IGNORED, "... noted");

	c = chain("127.0.0.1", true, LOOP, (struct req){ 0 });
	is_str(c.text, "127.0.0.1", "a trusted peer without headers is the client");
	is_int(c.note, CLIENT_NOTE_NONE, "... nothing to note");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5" } });
	is_str(c.text, "203.0.113.5", "one proxy: the address it adds");
	is_int(c.source, CLIENT_FROM_XFF, "... from X-Forwarded-For");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "6.6.6.6, 203.0.113.5" } });
	is_str(c.text, "203.0.113.5", "what the client wrote left of the proxy's entry is not believed");

	c = chain("127.0.0.1", true, LOOP "," "10.0.0.0/8", (struct req){ .xff = { "6.6.6.6, 203.0.113.5, 10.0.0.7" } });
	is_str(c.text, "203.0.113.5", "two proxies: the right-most untrusted entry");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "6.6.6.6", "203.0.113.5" } });
	is_str(c.text, "203.0.113.5", "several header lines are one list, in order");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "127.0.0.5, 127.0.0.9" } });
	is_str(c.text, "127.0.0.5", "every entry trusted: the furthest one");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "  203.0.113.5 ,, " } });
	is_str(c.text, "203.0.113.5", "blanks and empty entries are skipped");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "[2001:db8::5]:1234" } });
	is_str(c.text, "2001:db8::5", "a bracketed IPv6 entry with a port");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5:5555" } });
	is_str(c.text, "203.0.113.5", "an IPv4 entry with a port");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5, garbage" } });
	is_str(c.text, "127.0.0.1", "a malformed right-most entry: the peer");
	is_int(c.note, CLIENT_NOTE_MALFORMED, "... noted as malformed");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "garbage, 203.0.113.5" } });
	is_str(c.text, "203.0.113.5", "junk left of the client is never read");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "" } });
	is_str(c.text, "127.0.0.1", "an empty header: the peer");

	c = chain("::1", true, LOOP, (struct req){ .xff = { "2001:db8::9" } });
	is_str(c.text, "2001:db8::9", "an IPv6 trusted peer");

	c = chain("127.0.0.3", true, "127.0.0.3", (struct req){ .xff = { "127.0.0.9, 127.0.0.2" } });
	is_str(c.text, "127.0.0.2", "only the proxy trusted: a loopback client is not skipped");

	/* Forwarded (RFC 7239) */
	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=192.0.2.60;proto=https;by=203.0.113.43" } });
	is_str(c.text, "192.0.2.60", "Forwarded for=");
	is_int(c.source, CLIENT_FROM_FORWARDED, "... from Forwarded");
	ok(c.https && c.proto_known, "... proto=https of that element");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=\"[2001:db8:cafe::17]:4711\"" } });
	is_str(c.text, "2001:db8:cafe::17", "quoted IPv6 with a port");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "For=\"[::1]:80\", for=198.51.100.17" } });
	is_str(c.text, "198.51.100.17", "the right-most element, names without case");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=198.51.100.17;proto=http, for=127.0.0.1" } });
	is_str(c.text, "198.51.100.17", "a trusted element is skipped");
	ok(!c.https && c.proto_known, "... and the client's proto= (http) is used");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=\"a,b\", for=198.51.100.17" } });
	is_str(c.text, "198.51.100.17", "a comma inside quotes does not split");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=unknown" } });
	is_str(c.text, "127.0.0.1", "for=unknown: the peer");
	is_int(c.note, CLIENT_NOTE_MALFORMED, "... noted");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for=\"[::1]:80" } });
	is_str(c.text, "127.0.0.1", "an unclosed quote: the peer");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "by=10.0.0.1" } });
	is_str(c.text, "127.0.0.1", "an element without for=: the peer");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .fwd = { "for" } });
	is_str(c.text, "127.0.0.1", "a pair without '=': the peer");

	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5" }, .fwd = { "for=6.6.6.6" } });
	is_str(c.text, "203.0.113.5", "with both, X-Forwarded-For is used (a client's own Forwarded passes nginx)");

	/* X-Forwarded-Proto */
	c = chain("127.0.0.1", true, LOOP, (struct req){ .xfp = { "https" } });
	ok(c.https && c.proto_known, "X-Forwarded-Proto: https from a trusted peer");
	c = chain("127.0.0.1", true, LOOP, (struct req){ .xfp = { "HTTP" } });
	ok(!c.https && c.proto_known, "X-Forwarded-Proto: HTTP (any case) is plain");
	c = chain("127.0.0.1", true, LOOP, (struct req){ .xfp = { "gopher" } });
	ok(!c.https && c.proto_known, "another scheme is not https");
	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5" }, .xfp = { "http, https" } });
	ok(c.https, "a list that does not line up with X-Forwarded-For: the right-most entry");
	c = chain("127.0.0.1", true, LOOP "," "10.0.0.0/8",
		  (struct req){ .xff = { "203.0.113.5, 10.0.0.2" }, .xfp = { "https, http" } });
	ok(c.https, "lined up with X-Forwarded-For: the client's own entry");
	c = chain("127.0.0.1", true, LOOP, (struct req){ .xff = { "203.0.113.5, junk" }, .xfp = { "https" } });
	ok(c.https && c.proto_known, "the scheme is still read when X-Forwarded-For is not");

	struct client_headers many = { .nxff = 0 };
	many.too_many = true;
	many.xff[many.nxff++] = "203.0.113.5";
	struct rt_netlist l;
	struct rt_err err;
	if (rt_netlist_parse(LOOP, &l, &err) != RT_OK)
		abort();
	struct rt_addr p = A("127.0.0.1");
	client_addr_compute(&p, &many, true, &l, &c);
	is_str(c.text, "127.0.0.1", "too many header lines: the peer");
	client_addr_compute(NULL, &many, true, &l, &c);
	is_str(c.text, "?", "no peer at all: unknown, no crash");
	client_addr_compute(&p, NULL, true, &l, &c);
	is_str(c.text, "127.0.0.1", "no headers given: the peer");

	/* a long chain: only the last 64 entries are looked at */
	size_t cap = 200 * 16 + 32;
	char *big = malloc(cap);
	size_t pos = 0;
	for (int i = 0; i < 200; i++)
		pos += (size_t)snprintf(big + pos, cap - pos, "%s127.0.0.%d", i ? "," : "", i % 250 + 1);
	struct client_headers h = { .nxff = 1 };
	h.xff[0] = big;
	client_addr_compute(&p, &h, true, &l, &c);
	ok(c.addr.family == 4 && c.text[0] == '1' && c.source == CLIENT_FROM_XFF,
	   "200 trusted entries: one of them, no overflow (%s)", c.text);
	free(big);
	rt_netlist_free(&l);
}

int main(void)
{
	test_parse();
	test_nodes();
	test_cidr();
	test_chain();
	return done_testing();
}
