/*
 * test_stun.c: unit tests for stun.c, the client side of a STUN Binding
 * transaction, written against stun.h and RFC 5389 rather than the code.
 * The answers are RFC 5769's test vectors (IPv4 and IPv6 responses, whose
 * FINGERPRINT stun.c checks) and messages built by hand here. Every
 * message is parsed from a heap block of its exact size, so a read past
 * its end is caught under ASan; so is every prefix of one.
 */
#include "tap.h"
#include "stun.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5769 2.1-2.3: one transaction id for all three samples */
static const uint8_t rfc_tid[12] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };

/* RFC 5769 2.1, sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED,
 * USERNAME, MESSAGE-INTEGRITY, FINGERPRINT) */
static const uint8_t rfc_request[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa,
	0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20,
	0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00,
	0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a,
	0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf,
	0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28,
	0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2, sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853 */
static const uint8_t rfc_v4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
	0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 2.3, sample IPv6 response: XOR-MAPPED-ADDRESS
 * [2001:db8:1234:5678:11:2233:4455:6677]:32853 */
static const uint8_t rfc_v6[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa,
	0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f,
	0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1,
	0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e,
	0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80,
	0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* ---- parsing from exact-size heap blocks ---- */

static int parse(const uint8_t *m, size_t n, const uint8_t *tid, struct stun_response *r, struct rt_err *err)
{
	uint8_t *copy = malloc(n + 1); /* +1: never malloc(0) */
	if (!copy)
		abort();
	memcpy(copy, m, n);
	err->msg[0] = '\0';
	int rc = stun_parse_response(copy, n, tid, r, err);
	free(copy);
	return rc;
}

/* RT_ERR, with an error text holding want */
static void refused(const uint8_t *m, size_t n, const uint8_t *tid, const char *want, const char *name)
{
	struct stun_response r;
	struct rt_err err;
	int rc = parse(m, n, tid, &r, &err);
	if (!ok(rc == RT_ERR && strstr(err.msg, want) != NULL, "%s: refused (%s)", name, want))
		printf("#   rc %d, error \"%s\"\n", rc, err.msg);
}

/* ---- building messages ---- */

struct msg {
	uint8_t b[1024];
	size_t n;
};

static const uint8_t my_tid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void msg_start(struct msg *m, unsigned type)
{
	memset(m, 0, sizeof *m);
	put16(m->b, type);
	m->b[4] = 0x21;
	m->b[5] = 0x12;
	m->b[6] = 0xa4;
	m->b[7] = 0x42;
	memcpy(m->b + 8, my_tid, 12);
	m->n = 20;
	put16(m->b + 2, 0);
}

/* Appends an attribute, padded with pad bytes to 4, and fixes the length. */
static void msg_attr_pad(struct msg *m, unsigned type, const void *v, size_t len, uint8_t pad)
{
	put16(m->b + m->n, type);
	put16(m->b + m->n + 2, (unsigned)len);
	memcpy(m->b + m->n + 4, v, len);
	m->n += 4 + len;
	while (m->n % 4)
		m->b[m->n++] = pad;
	put16(m->b + 2, (unsigned)(m->n - 20));
}

static void msg_attr(struct msg *m, unsigned type, const void *v, size_t len)
{
	msg_attr_pad(m, type, v, len, 0);
}

/* FINGERPRINT over what is there, the length already counting it and
 * extra bytes of attributes that will follow it */
static void msg_fingerprint_then(struct msg *m, size_t extra)
{
	put16(m->b + 2, (unsigned)(m->n + 8 + extra - 20));
	uint32_t c = stun_crc32(m->b, m->n) ^ 0x5354554eu;
	uint8_t v[4] = { (uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c };
	msg_attr(m, STUN_ATTR_FINGERPRINT, v, 4);
}

static void msg_fingerprint(struct msg *m)
{
	msg_fingerprint_then(m, 0);
}

/* XOR-MAPPED-ADDRESS value for an IPv4 address a.b.c.d:port and my_tid */
static size_t xor_v4(uint8_t *v, const uint8_t ip[4], unsigned port)
{
	static const uint8_t cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };
	v[0] = 0;
	v[1] = 1;
	put16(v + 2, port ^ 0x2112);
	for (int i = 0; i < 4; i++)
		v[4 + i] = ip[i] ^ cookie[i];
	return 8;
}

static size_t plain_v4(uint8_t *v, const uint8_t ip[4], unsigned port)
{
	v[0] = 0;
	v[1] = 1;
	put16(v + 2, port);
	memcpy(v + 4, ip, 4);
	return 8;
}

static size_t error_code(uint8_t *v, int code, const char *reason, size_t rlen)
{
	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, rlen);
	return 4 + rlen;
}

/* ---- the tests ---- */

static void test_crc32(void)
{
	/* the CRC-32 check value (ISO 3309) */
	is_int(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u, "crc32 of \"123456789\"");
	is_int(stun_crc32(NULL, 0), 0, "crc32 of nothing");
}

static void test_request(void)
{
	uint8_t out[STUN_HEADER_LEN + 4];
	memset(out, 0xee, sizeof out);
	size_t n = stun_binding_request(out, rfc_tid);
	static const uint8_t want[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7,
					  0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };
	is_int(n, 20, "request: 20 bytes");
	ok(memcmp(out, want, 20) == 0, "request: type 0x0001, length 0, cookie, transaction id");
	ok(out[20] == 0xee, "request: nothing written past it");

	size_t len = 0;
	struct rt_err err;
	ok(stun_frame_len(out, n, &len, &err) == RT_OK && len == 20, "request: frames as 20 bytes");
	refused(out, n, rfc_tid, "not a Binding response", "our own request");
}

static void test_rfc5769(void)
{
	struct stun_response r;
	struct rt_err err;
	char a[STUN_ADDR_STRLEN];

	int rc = parse(rfc_v4, sizeof rfc_v4, rfc_tid, &r, &err);
	if (!ok(rc == RT_OK, "RFC 5769 IPv4 response parses"))
		printf("#   %s\n", err.msg);
	is_int(r.type, STUN_BINDING_SUCCESS, "IPv4: a success response");
	ok(r.mapped_xor && r.mapped.family == 4, "IPv4: XOR-MAPPED-ADDRESS, IPv4");
	is_int(r.mapped.port, 32853, "IPv4: port 32853");
	is_str(stun_addr_format(&r.mapped, a, sizeof a), "192.0.2.1:32853", "IPv4: 192.0.2.1:32853");
	ok(r.has_fingerprint, "IPv4: FINGERPRINT checked");

	rc = parse(rfc_v6, sizeof rfc_v6, rfc_tid, &r, &err);
	if (!ok(rc == RT_OK, "RFC 5769 IPv6 response parses"))
		printf("#   %s\n", err.msg);
	ok(r.mapped_xor && r.mapped.family == 6, "IPv6: XOR-MAPPED-ADDRESS, IPv6");
	is_str(stun_addr_format(&r.mapped, a, sizeof a), "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
	       "IPv6: [2001:db8:1234:5678:11:2233:4455:6677]:32853");
	ok(r.has_fingerprint, "IPv6: FINGERPRINT checked");

	size_t len = 0;
	ok(stun_frame_len(rfc_request, sizeof rfc_request, &len, &err) == RT_OK && len == sizeof rfc_request,
	   "RFC 5769 request: frames as its %zu bytes", sizeof rfc_request);
	refused(rfc_request, sizeof rfc_request, rfc_tid, "type 0x0001", "RFC 5769 request");

	/* one bit changed anywhere the FINGERPRINT covers, or in it */
	uint8_t m[sizeof rfc_v4];
	size_t spots[] = { 25, 45, 60, 77 }; /* SOFTWARE, address, MESSAGE-INTEGRITY, FINGERPRINT */
	for (size_t i = 0; i < RT_ARRAY_LEN(spots); i++) {
		char name[64];
		memcpy(m, rfc_v4, sizeof m);
		m[spots[i]] ^= 0x10;
		snprintf(name, sizeof name, "IPv4 response, byte %zu changed", spots[i]);
		refused(m, sizeof m, rfc_tid, "wrong FINGERPRINT", name);
	}

	/* another transaction */
	uint8_t other[12];
	memcpy(other, rfc_tid, 12);
	other[11] ^= 1;
	refused(rfc_v4, sizeof rfc_v4, other, "another transaction", "IPv4 response, other transaction id");
	other[11] ^= 1;
	other[0] ^= 0x80;
	refused(rfc_v6, sizeof rfc_v6, other, "another transaction", "IPv6 response, other transaction id");
}

static void test_prefixes(void)
{
	/* every prefix of a response: never read past, never accepted */
	int bad = 0, framed = 0;
	for (size_t n = 0; n < sizeof rfc_v4; n++) {
		struct stun_response r;
		struct rt_err err;
		if (parse(rfc_v4, n, rfc_tid, &r, &err) != RT_ERR || !err.msg[0])
			bad++;
		size_t len = 0;
		int rc = stun_frame_len(rfc_v4, n, &len, &err);
		if (n < 20 ? rc == RT_AGAIN : rc == RT_OK && len == sizeof rfc_v4)
			framed++;
	}
	is_int(bad, 0, "every prefix of the IPv4 response is refused");
	is_int(framed, (int)sizeof rfc_v4, "stun_frame_len: RT_AGAIN under 20 bytes, then the whole length");

	/* and the message with bytes after it (a datagram is one message) */
	uint8_t longer[sizeof rfc_v4 + 4];
	memcpy(longer, rfc_v4, sizeof rfc_v4);
	memset(longer + sizeof rfc_v4, 0, 4);
	refused(longer, sizeof longer, rfc_tid, "does not match", "IPv4 response and 4 bytes more");
}

static void test_built(void)
{
	struct msg m;
	struct stun_response r;
	struct rt_err err;
	char a[STUN_ADDR_STRLEN];
	uint8_t v[64];
	static const uint8_t ip1[4] = { 10, 1, 2, 3 }, ip2[4] = { 198, 51, 100, 7 };

	/* MAPPED-ADDRESS only (an RFC 3489 server's answer) */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_MAPPED_ADDRESS, v, plain_v4(v, ip1, 3478));
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && !r.mapped_xor && !r.has_fingerprint,
	   "MAPPED-ADDRESS only: taken");
	is_str(stun_addr_format(&r.mapped, a, sizeof a), "10.1.2.3:3478", "MAPPED-ADDRESS: 10.1.2.3:3478");

	/* both: XOR-MAPPED-ADDRESS wins, in either order; the first of two counts */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_MAPPED_ADDRESS, v, plain_v4(v, ip1, 1000));
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip1, 3000));
	msg_fingerprint(&m);
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && r.mapped_xor && r.has_fingerprint,
	   "both address attributes and a FINGERPRINT: parsed");
	is_str(stun_addr_format(&r.mapped, a, sizeof a), "198.51.100.7:2000",
	       "XOR-MAPPED-ADDRESS preferred, the first of two");

	/* unknown attributes: optional ones are skipped, required ones refused */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr_pad(&m, 0x8fff, "abcde", 5, 0xff);
	msg_attr(&m, 0x8022, "x", 1); /* SOFTWARE */
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK, "unknown comprehension-optional attribute skipped");
	msg_attr(&m, 0x7fff, "", 0);
	refused(m.b, m.n, my_tid, "unknown comprehension-required STUN attribute 0x7fff",
		"unknown comprehension-required attribute");

	/* after MESSAGE-INTEGRITY everything but FINGERPRINT is ignored */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
	memset(v, 0x5a, 20);
	msg_attr(&m, STUN_ATTR_MESSAGE_INTEGRITY, v, 20);
	msg_attr(&m, 0x7fff, "zz", 2);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip1, 9));
	msg_fingerprint(&m);
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && r.has_fingerprint && r.mapped.port == 2000,
	   "attributes after MESSAGE-INTEGRITY ignored, FINGERPRINT still checked");

	/* FINGERPRINT is last */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
	msg_fingerprint_then(&m, 8); /* a right FINGERPRINT, but not last */
	msg_attr(&m, 0x8022, "late", 4);
	refused(m.b, m.n, my_tid, "after FINGERPRINT", "an attribute after FINGERPRINT");
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
	msg_attr(&m, STUN_ATTR_FINGERPRINT, "abcdefgh", 8);
	refused(m.b, m.n, my_tid, "FINGERPRINT of 8 bytes", "FINGERPRINT of 8 bytes");

	/* no address */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, 0x8022, "coturn", 6);
	refused(m.b, m.n, my_tid, "without a mapped address", "success response without an address");

	/* malformed addresses */
	msg_start(&m, STUN_BINDING_SUCCESS);
	xor_v4(v, ip2, 2000);
	v[1] = 3;
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 8);
	refused(m.b, m.n, my_tid, "unknown family 0x03", "address family 3");
	msg_start(&m, STUN_BINDING_SUCCESS);
	xor_v4(v, ip2, 2000);
	memset(v + 8, 0, 12);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, 20);
	refused(m.b, m.n, my_tid, "of 20 bytes for IPv4", "IPv4 address of 20 bytes");
	msg_start(&m, STUN_BINDING_SUCCESS);
	v[1] = 2;
	msg_attr(&m, STUN_ATTR_MAPPED_ADDRESS, v, 8);
	refused(m.b, m.n, my_tid, "of 8 bytes for IPv6", "IPv6 address of 8 bytes");
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_MAPPED_ADDRESS, v, 3);
	refused(m.b, m.n, my_tid, "MAPPED-ADDRESS of 3 bytes", "address of 3 bytes");

	/* other classes and methods */
	static const struct {
		unsigned type;
		const char *name;
	} types[] = {
		{ STUN_BINDING_REQUEST, "a Binding request" },
		{ STUN_BINDING_INDICATION, "a Binding indication" },
		{ 0x0103, "an Allocate success response" },
		{ 0x0113, "an Allocate error response" },
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(types); i++) {
		msg_start(&m, types[i].type);
		msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip2, 2000));
		refused(m.b, m.n, my_tid, "not a Binding response", types[i].name);
	}
}

static void test_errors(void)
{
	struct msg m;
	struct stun_response r;
	struct rt_err err;
	uint8_t v[300];

	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 401, "Unauthorized", 12));
	msg_attr(&m, 0x0014, "rtft.test", 9); /* REALM */
	msg_attr(&m, 0x0015, "0123456789abcdef", 16); /* NONCE */
	msg_fingerprint(&m);
	int rc = parse(m.b, m.n, my_tid, &r, &err);
	ok(rc == RT_OK && r.type == STUN_BINDING_ERROR, "error response parses");
	is_int(r.error_code, 401, "error response: 401");
	is_str(r.reason, "Unauthorized", "error response: reason phrase");

	/* a padded reason, and bytes that are not printable ASCII */
	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr_pad(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 420, "Bad\n\x1b[31m\xc3\xa9", 11), 0x41);
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && r.error_code == 420, "error 420 with padding");
	is_str(r.reason, "Bad??[31m??", "control and non-ASCII bytes of the reason shown as '?'");

	/* a long reason is cut */
	msg_start(&m, STUN_BINDING_ERROR);
	char longr[200];
	memset(longr, 'r', sizeof longr);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 500, longr, sizeof longr));
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && strlen(r.reason) == STUN_REASON_MAX,
	   "a 200-byte reason is cut to %d", STUN_REASON_MAX);

	/* an address in an error response is not taken */
	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 600, "", 0));
	ok(parse(m.b, m.n, my_tid, &r, &err) == RT_OK && r.error_code == 600 && r.reason[0] == '\0',
	   "error 600 without a reason");

	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, 0x8022, "coturn", 6);
	refused(m.b, m.n, my_tid, "without ERROR-CODE", "error response without ERROR-CODE");
	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 299, "", 0));
	refused(m.b, m.n, my_tid, "class 2", "ERROR-CODE class 2");
	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, error_code(v, 700, "", 0));
	refused(m.b, m.n, my_tid, "class 7", "ERROR-CODE class 7");
	msg_start(&m, STUN_BINDING_ERROR);
	error_code(v, 400, "", 0);
	v[3] = 100;
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, 4);
	refused(m.b, m.n, my_tid, "number 100", "ERROR-CODE number 100");
	msg_start(&m, STUN_BINDING_ERROR);
	msg_attr(&m, STUN_ATTR_ERROR_CODE, v, 3);
	refused(m.b, m.n, my_tid, "ERROR-CODE of 3 bytes", "ERROR-CODE of 3 bytes");
}

static void test_garbage(void)
{
	struct msg m;
	struct rt_err err;
	size_t len;
	uint8_t v[16];
	static const uint8_t ip[4] = { 127, 0, 0, 1 };

	refused((const uint8_t *)"", 0, my_tid, "too short", "nothing");
	refused((const uint8_t *)"HTTP/1.1 400 Bad Request\r\n\r\n", 28, my_tid, "not a STUN message", "HTTP");
	uint8_t junk[64];
	memset(junk, 0xff, sizeof junk);
	refused(junk, sizeof junk, my_tid, "first byte 0xff", "all ones");
	ok(stun_frame_len(junk, sizeof junk, &len, &err) == RT_ERR, "stun_frame_len refuses all ones");

	/* the header says more than there is, less, or not a multiple of 4 */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip, 9));
	put16(m.b + 2, 16);
	refused(m.b, m.n, my_tid, "does not match", "length field larger than the datagram");
	put16(m.b + 2, 8);
	refused(m.b, m.n, my_tid, "does not match", "length field smaller than the datagram");
	put16(m.b + 2, 10);
	refused(m.b, m.n, my_tid, "not a multiple of 4", "length 10");
	ok(stun_frame_len(m.b, m.n, &len, &err) == RT_ERR, "stun_frame_len refuses length 10");
	put16(m.b + 2, 0xfffc);
	ok(stun_frame_len(m.b, 20, &len, &err) == RT_OK && len == STUN_MAX_MESSAGE,
	   "stun_frame_len: the largest length");

	/* an attribute running past the end */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip, 9));
	put16(m.b + 22, 9); /* 9: padded to 12, 4 more than there are */
	refused(m.b, m.n, my_tid, "runs past the end", "attribute length 9 of 8 bytes");
	put16(m.b + 22, 0xffff);
	refused(m.b, m.n, my_tid, "runs past the end", "attribute length 65535");

	/* a top bit set, the cookie off by one */
	msg_start(&m, STUN_BINDING_SUCCESS);
	msg_attr(&m, STUN_ATTR_XOR_MAPPED_ADDRESS, v, xor_v4(v, ip, 9));
	m.b[0] |= 0x40;
	refused(m.b, m.n, my_tid, "not a STUN message", "type with bit 14 set");
	m.b[0] &= 0x3f;
	m.b[7] ^= 1;
	refused(m.b, m.n, my_tid, "no magic cookie", "cookie 0x2112a443");

	/* random changes to a response: refused or parsed, never a crash
	 * (ASan watches the exact-size copies) */
	uint32_t s = 0x12345678;
	int parsed = 0;
	for (int i = 0; i < 20000; i++) {
		uint8_t b[sizeof rfc_v6];
		size_t n = sizeof rfc_v6;
		memcpy(b, rfc_v6, n);
		for (int k = 0; k < 1 + i % 4; k++) {
			s ^= s << 13;
			s ^= s >> 17;
			s ^= s << 5;
			b[s % n] ^= (uint8_t)(s >> 8);
		}
		if (i % 3 == 0)
			n -= (s >> 3) % 24;
		struct stun_response r;
		if (parse(b, n, rfc_tid, &r, &err) == RT_OK)
			parsed++;
	}
	ok(parsed < 20000, "20000 changed responses survived (%d parsed, the FINGERPRINT refuses most)", parsed);
}

int main(void)
{
	test_crc32();
	test_request();
	test_rfc5769();
	test_prefixes();
	test_built();
	test_errors();
	test_garbage();
	return done_testing();
}
