/*
 * FUZZ_SOURCES: src/clientaddr.c src/origin.c src/util.c
 * fuzz_edge.c: libFuzzer target for the parsers of what clients (and
 * proxies) say about themselves: X-Forwarded-For, Forwarded (RFC 7239),
 * X-Forwarded-Proto (clientaddr.c) and Origin (origin.c), plus the CIDR
 * list parser the config uses.
 * Input: 1 control byte, then up to four fields separated by '\n': the
 *   X-Forwarded-For value, the Forwarded value, the X-Forwarded-Proto value,
 *   and a text used as an Origin, an address and a CIDR list.
 *   c bit 0: trust_proxy on; bit 1: the peer (127.0.0.1) is trusted;
 *   bit 2: 10.0.0.0/8 and fd00::/8 are trusted too; bit 3: the peer is ::1.
 * Checked:
 *   - client_addr_compute() never fails, its text is a terminated string
 *     that rt_addr_parse() reads back as its address;
 *   - an untrusted peer (or trust off) is always the client, and https is
 *     never believed from it;
 *   - origin_normalize() is idempotent and its output is within bounds;
 *     origin_allowed() agrees with an exact list of that origin;
 *   - rt_netlist_parse() and rt_addr_parse_node() on the text, in bounds.
 */
#include "clientaddr.h"
#include "origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_edge: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 20000)
		return 0;
	uint8_t c = data[0];
	char *buf = malloc(size);
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	char *field[4] = { buf, NULL, NULL, NULL };
	for (int i = 1; i < 4 && field[i - 1]; i++) {
		char *nl = strchr(field[i - 1], '\n');
		if (nl) {
			*nl = '\0';
			field[i] = nl + 1;
		}
	}

	struct rt_netlist trusted;
	struct rt_err err;
	const char *list = (c & 2) ? ((c & 4) ? "127.0.0.1, ::1, 10.0.0.0/8, fd00::/8" : "127.0.0.1, ::1")
				   : ((c & 4) ? "10.0.0.0/8, fd00::/8" : "");
	check(rt_netlist_parse(list, &trusted, &err) == RT_OK, "fixed list parses");
	struct rt_addr peer;
	const char *ps = (c & 8) ? "::1" : "127.0.0.1";
	check(rt_addr_parse(ps, strlen(ps), &peer) == RT_OK, "peer parses");

	struct client_headers h = { .nxff = 0 };
	if (field[0][0])
		h.xff[h.nxff++] = field[0];
	if (field[1] && field[1][0])
		h.fwd[h.nfwd++] = field[1];
	if (field[2] && field[2][0])
		h.xfp[h.nxfp++] = field[2];
	bool trust = c & 1;
	struct client_addr out;
	client_addr_compute(&peer, &h, trust, &trusted, &out);
	check(memchr(out.text, '\0', sizeof out.text) != NULL, "text is terminated");
	struct rt_addr back;
	check(rt_addr_parse(out.text, strlen(out.text), &back) == RT_OK && rt_addr_eq(&back, &out.addr),
	      "text reads back as the address");
	if (!trust || !(c & 2)) {
		check(rt_addr_eq(&out.addr, &peer) && out.source == CLIENT_FROM_PEER, "untrusted peer is the client");
		check(!out.https && !out.proto_known, "untrusted scheme ignored");
	}
	if (out.source != CLIENT_FROM_PEER)
		check(out.note == CLIENT_NOTE_NONE, "a header client comes without a note");
	rt_netlist_free(&trusted);

	const char *t = field[3] ? field[3] : field[0];
	size_t tl = strlen(t);
	char n1[ORIGIN_MAX], n2[ORIGIN_MAX];
	if (origin_normalize(t, tl, n1, sizeof n1) == RT_OK) {
		check(strlen(n1) < sizeof n1, "normal form in bounds");
		check(origin_normalize(n1, strlen(n1), n2, sizeof n2) == RT_OK && strcmp(n1, n2) == 0,
		      "normal form is idempotent");
		if (!strchr(t, ',')) {
			char tmp[ORIGIN_MAX + 1];
			snprintf(tmp, sizeof tmp, "%s", n1);
			struct origin_policy p = { tmp, false, NULL, NULL };
			check(origin_allowed(&p, t), "an origin is allowed by a list of itself");
		}
	}
	struct origin_policy any = { t, true, "https://x.example", "http://127.0.0.1" };
	(void)origin_allowed(&any, "https://x.example");
	(void)origin_list_check(t, &err);
	char url[ORIGIN_MAX];
	(void)origin_of_url(t, url, sizeof url);
	struct rt_netlist nl;
	if (rt_netlist_parse(t, &nl, &err) == RT_OK) {
		for (int i = 0; i < nl.n; i++)
			check(nl.v[i].bits <= (nl.v[i].addr.family == 4 ? 32 : 128), "prefix in range");
		rt_netlist_free(&nl);
	}
	struct rt_addr a;
	(void)rt_addr_parse_node(t, tl, &a);
	free(buf);
	return 0;
}
