/*
 * test_wsframe.c: unit tests for wsframe.c, the server side of RFC 6455
 * framing, written against wsframe.h and the RFC rather than the code.
 * Client frames are built by hand here (header, mask, masked payload) in
 * heap blocks of their exact size, so a read past a frame is caught under
 * ASan. Every frame is peeked at with each prefix of its header (MORE
 * until the header is complete, never OK early), then with the whole
 * frame, and taken; the event is compared with what the RFC asks for.
 * Also checked: wsf_unmask() against a byte-by-byte reference at every
 * offset, the bytes of wsf_server_header(), wsf_close_code_valid(), and
 * that wsf_reset() and wsf_trim() free the assembly buffer when they may.
 */
#include "tap.h"
#include "wsframe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

static uint8_t cur_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A client frame header: first byte b0, a masked length written in the
 * given form (0: the shortest, 126: 16 bits, 127: 64 bits), the mask
 * when masked. Returns its length (at most WSF_MAX_HEADER). */
static size_t put_header(uint8_t *out, uint8_t b0, int masked, uint64_t len, int form)
{
	size_t n = 0;
	uint8_t mbit = masked ? 0x80 : 0;

	if (form == 0)
		form = len <= 125 ? 7 : len <= 0xffff ? 126 : 127;
	out[n++] = b0;
	if (form == 7) {
		out[n++] = (uint8_t)(mbit | len);
	} else if (form == 126) {
		out[n++] = mbit | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = mbit | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	if (masked) {
		memcpy(out + n, cur_mask, 4);
		n += 4;
	}
	return n;
}

/* A whole client frame in a malloc'd block of exactly *flen bytes. */
static uint8_t *make_frame_ex(uint8_t b0, int masked, const void *payload, size_t len, int form, size_t *flen)
{
	uint8_t hdr[WSF_MAX_HEADER];
	size_t hl = put_header(hdr, b0, masked, len, form);
	uint8_t *f = malloc(hl + len + 1); /* +1: malloc(0) is never asked for */

	if (!f)
		abort();
	memcpy(f, hdr, hl);
	for (size_t i = 0; i < len; i++)
		f[hl + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (masked ? cur_mask[i % 4] : 0));
	*flen = hl + len;
	return f;
}

static uint8_t *make_frame(uint8_t b0, const void *payload, size_t len, size_t *flen)
{
	return make_frame_ex(b0, 1, payload, len, 0, flen);
}

/* ---- feeding one frame to a reader ---- */

/* What became of a frame: a peek error or the event taken. */
struct res {
	int peek; /* enum wsf_peek_result */
	enum wsf_event_kind kind;
	uint16_t code;
	size_t len;
	int in_place; /* ev.data points into the frame */
	int prefix_ok; /* every proper prefix of the header gave MORE, or the same error */
};

static uint8_t got[1 << 18]; /* the event's data, copied */

/* Peeks at every prefix of f, then takes it when the header is accepted. */
static struct res feed_raw(struct wsf_reader *r, uint8_t *f, size_t flen)
{
	struct res s;
	struct wsf_header h;
	uint16_t code = 0;
	const char *why = NULL;

	memset(&s, 0, sizeof s);
	s.prefix_ok = 1;
	s.kind = WSF_EV_NONE;
	s.peek = wsf_peek(r, f, flen < WSF_MAX_HEADER ? flen : WSF_MAX_HEADER, &h, &code, &why);
	size_t hl = s.peek == WSF_PEEK_OK ? h.header_len : (flen < WSF_MAX_HEADER ? flen : WSF_MAX_HEADER);
	for (size_t k = 0; k < hl; k++) {
		struct wsf_header h2;
		uint16_t c2 = 0;
		const char *w2 = NULL;
		int pr = wsf_peek(r, f, k, &h2, &c2, &w2);
		if (pr == WSF_PEEK_MORE)
			continue;
		if (pr == WSF_PEEK_ERROR && s.peek == WSF_PEEK_ERROR && c2 == code && w2)
			continue;
		s.prefix_ok = 0;
		printf("#   prefix of %zu bytes: peek %d code %u\n", k, pr, c2);
	}
	if (s.peek == WSF_PEEK_ERROR) {
		s.code = code;
		if (!why || !why[0])
			s.prefix_ok = 0;
		return s;
	}
	if (s.peek != WSF_PEEK_OK)
		return s;
	/* the whole frame: the same header */
	struct wsf_header h3;
	if (wsf_peek(r, f, flen, &h3, &code, &why) != WSF_PEEK_OK || h3.frame_len != h.frame_len ||
	    h3.header_len != h.header_len || h3.payload_len != h.payload_len || h3.opcode != h.opcode ||
	    h3.fin != h.fin || memcmp(h3.mask, h.mask, 4) != 0)
		s.prefix_ok = 0;
	if (h.frame_len != flen) {
		printf("#   frame_len %llu, frame has %zu bytes\n", (unsigned long long)h.frame_len, flen);
		s.peek = 99;
		return s;
	}
	struct wsf_event ev;
	memset(&ev, 0xa5, sizeof ev);
	wsf_take(r, &h, f, &ev);
	s.kind = ev.kind;
	s.code = (ev.kind == WSF_EV_CLOSE || ev.kind == WSF_EV_ERROR) ? ev.code : 0;
	if (ev.kind == WSF_EV_TEXT || ev.kind == WSF_EV_BINARY || ev.kind == WSF_EV_PING || ev.kind == WSF_EV_PONG ||
	    ev.kind == WSF_EV_CLOSE) {
		s.len = ev.len;
		if (ev.len > sizeof got)
			abort();
		if (ev.len) {
			memcpy(got, ev.data, ev.len);
			s.in_place = ev.data >= f && ev.data + ev.len <= f + flen;
		}
	}
	if (ev.kind == WSF_EV_ERROR && (!ev.why || !ev.why[0]))
		s.prefix_ok = 0;
	return s;
}

static struct res feed(struct wsf_reader *r, uint8_t b0, const void *payload, size_t len)
{
	size_t flen;
	uint8_t *f = make_frame(b0, payload, len, &flen);
	struct res s = feed_raw(r, f, flen);
	free(f);
	return s;
}

static const char *kind_name(int k)
{
	static const char *const names[] = {"NONE", "TEXT", "BINARY", "PING", "PONG", "CLOSE", "ERROR", "NOMEM"};
	return k >= 0 && k <= WSF_EV_NOMEM ? names[k] : "?";
}

/* An event of kind k (code, data when given) from an accepted header. */
static void is_ev(struct res s, enum wsf_event_kind k, uint16_t code, const void *data, size_t len, const char *name)
{
	int good = s.peek == WSF_PEEK_OK && s.prefix_ok && s.kind == k;
	if (good && (k == WSF_EV_CLOSE || k == WSF_EV_ERROR))
		good = s.code == code;
	if (good && data)
		good = s.len == len && memcmp(got, data, len) == 0;
	if (!ok(good, "%s", name))
		printf("#   peek %d, prefixes %s, got %s code %u len %zu; want %s code %u len %zu\n", s.peek,
		       s.prefix_ok ? "fine" : "WRONG", kind_name(s.kind), s.code, s.len, kind_name(k), code, len);
}

/* A peek error with the code (and MORE or the same error on prefixes). */
static void is_peek_err(struct res s, uint16_t code, const char *name)
{
	if (!ok(s.peek == WSF_PEEK_ERROR && s.code == code && s.prefix_ok, "%s", name))
		printf("#   peek %d code %u, prefixes %s, event %s code %u; want a peek error %u\n", s.peek, s.code,
		       s.prefix_ok ? "fine" : "WRONG", kind_name(s.kind), s.code, code);
}

static struct wsf_reader new_reader(uint64_t max)
{
	struct wsf_reader r;
	memset(&r, 0, sizeof r);
	r.max_message = max;
	return r;
}

/* ---- the header: lengths and prefixes ---- */

static void test_header_lengths(void)
{
	static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000, (uint64_t)1 << 32,
					 ((uint64_t)1 << 63) - 1};
	struct wsf_reader r = new_reader(0);

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		uint64_t len = lens[i];
		uint8_t hdr[WSF_MAX_HEADER + 8];
		size_t hl = put_header(hdr, FIN | WSF_OP_BINARY, 1, len, 0);
		size_t want_hl = len <= 125 ? 6 : len <= 0xffff ? 8 : 14;
		struct wsf_header h;
		uint16_t code;
		const char *why;
		int more = 1;

		memset(hdr + hl, 0x5a, sizeof hdr - hl); /* payload bytes after it */
		for (size_t k = 0; k < hl; k++) {
			uint8_t *p = malloc(k + 1);
			memcpy(p, hdr, k);
			if (wsf_peek(&r, p, k, &h, &code, &why) != WSF_PEEK_MORE) {
				more = 0;
				printf("#   not MORE with %zu bytes\n", k);
			}
			free(p);
		}
		ok(more, "length %llu: every prefix of the %zu-byte header is MORE", (unsigned long long)len, hl);
		for (size_t extra = 0; extra <= 8; extra += 8) {
			memset(&h, 0, sizeof h);
			int pr = wsf_peek(&r, hdr, hl + extra, &h, &code, &why);
			ok(pr == WSF_PEEK_OK && h.header_len == want_hl && h.payload_len == len &&
				   h.frame_len == want_hl + len && h.opcode == WSF_OP_BINARY && h.fin &&
				   memcmp(h.mask, cur_mask, 4) == 0,
			   "length %llu, %zu bytes: header %zu, payload, frame length, opcode, fin, mask",
			   (unsigned long long)len, hl + extra, want_hl);
		}
	}

	/* fin clear, other opcodes and lengths in a longer form than needed */
	uint8_t hdr[WSF_MAX_HEADER];
	struct wsf_header h;
	uint16_t code;
	const char *why;
	size_t hl = put_header(hdr, WSF_OP_TEXT, 1, 300, 0);
	ok(wsf_peek(&r, hdr, hl, &h, &code, &why) == WSF_PEEK_OK && !h.fin && h.opcode == WSF_OP_TEXT &&
		   h.frame_len == 308,
	   "text, fin clear, 300 bytes");
	for (int op = 0x8; op <= 0xa; op++) {
		hl = put_header(hdr, (uint8_t)(FIN | op), 1, 125, 0);
		ok(wsf_peek(&r, hdr, hl, &h, &code, &why) == WSF_PEEK_OK && h.fin && h.opcode == op &&
			   h.frame_len == 131,
		   "control opcode %#x with 125 bytes", op);
	}
	/* a zero mask is a mask */
	memset(cur_mask, 0, 4);
	hl = put_header(hdr, FIN | WSF_OP_TEXT, 1, 3, 0);
	ok(wsf_peek(&r, hdr, hl, &h, &code, &why) == WSF_PEEK_OK && h.frame_len == 9, "an all-zero mask");
	memcpy(cur_mask, "\x37\xfa\x21\x3d", 4);
}

/* ---- header rules ---- */

static void test_header_errors(void)
{
	struct wsf_reader r = new_reader(0);
	uint8_t pl[200];
	size_t flen;
	uint8_t *f;

	memset(pl, 'x', sizeof pl);
	is_peek_err(feed(&r, FIN | RSV1 | WSF_OP_TEXT, "hi", 2), 1002, "RSV1 on text: 1002");
	is_peek_err(feed(&r, FIN | RSV2 | WSF_OP_BINARY, "hi", 2), 1002, "RSV2 on binary: 1002");
	is_peek_err(feed(&r, FIN | RSV3 | WSF_OP_TEXT, "hi", 2), 1002, "RSV3 on text: 1002");
	is_peek_err(feed(&r, FIN | RSV1 | RSV2 | RSV3 | WSF_OP_PING, "", 0), 1002, "all RSV bits on ping: 1002");
	is_peek_err(feed(&r, FIN | RSV1 | WSF_OP_CLOSE, "", 0), 1002, "RSV1 on close: 1002");
	for (int op = 3; op <= 0xf; op++) {
		if (op >= 8 && op <= 0xa)
			continue;
		char name[64];
		snprintf(name, sizeof name, "opcode %#x: 1002", op);
		is_peek_err(feed(&r, (uint8_t)(FIN | op), "", 0), 1002, name);
		snprintf(name, sizeof name, "opcode %#x with a payload, fin clear: 1002", op);
		is_peek_err(feed(&r, (uint8_t)op, "abc", 3), 1002, name);
	}

	f = make_frame_ex(FIN | WSF_OP_TEXT, 0, "hello", 5, 0, &flen);
	is_peek_err(feed_raw(&r, f, flen), 1002, "unmasked text: 1002");
	free(f);
	f = make_frame_ex(FIN | WSF_OP_PING, 0, "", 0, 0, &flen);
	is_peek_err(feed_raw(&r, f, flen), 1002, "unmasked empty ping: 1002");
	free(f);
	f = make_frame_ex(FIN | WSF_OP_CLOSE, 0, "\x03\xe8", 2, 0, &flen);
	is_peek_err(feed_raw(&r, f, flen), 1002, "unmasked close: 1002");
	free(f);

	is_peek_err(feed(&r, WSF_OP_PING, "a", 1), 1002, "ping with fin clear: 1002");
	is_peek_err(feed(&r, WSF_OP_PONG, "", 0), 1002, "pong with fin clear: 1002");
	is_peek_err(feed(&r, WSF_OP_CLOSE, "\x03\xe8", 2), 1002, "close with fin clear: 1002");

	is_ev(feed(&r, FIN | WSF_OP_PING, pl, 125), WSF_EV_PING, 0, pl, 125, "ping of 125 bytes");
	is_peek_err(feed(&r, FIN | WSF_OP_PING, pl, 126), 1002, "ping of 126 bytes: 1002");
	is_peek_err(feed(&r, FIN | WSF_OP_PONG, pl, 126), 1002, "pong of 126 bytes: 1002");
	is_peek_err(feed(&r, FIN | WSF_OP_CLOSE, pl, 126), 1002, "close of 126 bytes: 1002");
	is_peek_err(feed(&r, FIN | WSF_OP_PING, pl, 200), 1002, "ping of 200 bytes: 1002");
	f = make_frame_ex(FIN | WSF_OP_PING, 1, pl, 126, 127, &flen);
	is_peek_err(feed_raw(&r, f, flen), 1002, "ping of 126 bytes, 64-bit length: 1002");
	free(f);

	/* 64-bit lengths with the top bit set, with and without a limit */
	static const uint64_t big[] = {(uint64_t)1 << 63, ~(uint64_t)0, ((uint64_t)1 << 63) + 5};
	for (int lim = 0; lim < 2; lim++) {
		r.max_message = lim ? 1000 : 0;
		for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
			uint8_t hdr[WSF_MAX_HEADER];
			size_t hl = put_header(hdr, FIN | WSF_OP_BINARY, 1, big[i], 127);
			f = malloc(hl);
			memcpy(f, hdr, hl);
			char name[96];
			snprintf(name, sizeof name, "64-bit length %#llx, limit %llu: 1002", (unsigned long long)big[i],
				 (unsigned long long)r.max_message);
			is_peek_err(feed_raw(&r, f, hl), 1002, name);
			free(f);
		}
	}
	r.max_message = 0;

	/* continuation with no message in progress */
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, "abc", 3), 1002, "continuation, final, no message: 1002");
	is_peek_err(feed(&r, WSF_OP_CONT, "abc", 3), 1002, "continuation, not final, no message: 1002");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, "", 0), 1002, "empty continuation, no message: 1002");

	/* a new data message inside a fragmented one */
	is_ev(feed(&r, WSF_OP_TEXT, "ab", 2), WSF_EV_NONE, 0, NULL, 0, "first fragment of a text message: NONE");
	is_peek_err(feed(&r, FIN | WSF_OP_TEXT, "cd", 2), 1002, "text inside a fragmented message: 1002");
	is_peek_err(feed(&r, WSF_OP_TEXT, "cd", 2), 1002, "text fragment inside a fragmented message: 1002");
	is_peek_err(feed(&r, FIN | WSF_OP_BINARY, "cd", 2), 1002, "binary inside a fragmented text message: 1002");
	is_ev(feed(&r, FIN | WSF_OP_PING, "p", 1), WSF_EV_PING, 0, "p", 1, "ping inside a fragmented message");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "cd", 2), WSF_EV_TEXT, 0, "abcd", 4, "continuation ends it: abcd");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, "ef", 2), 1002, "continuation after the message ended: 1002");
	is_ev(feed(&r, WSF_OP_BINARY, "\x00\x01", 2), WSF_EV_NONE, 0, NULL, 0, "first fragment of a binary message");
	is_peek_err(feed(&r, FIN | WSF_OP_TEXT, "x", 1), 1002, "text inside a fragmented binary message: 1002");
	is_peek_err(feed(&r, WSF_OP_BINARY, "x", 1), 1002, "binary inside a fragmented binary message: 1002");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "\xff", 1), WSF_EV_BINARY, 0, "\x00\x01\xff", 3, "binary message ends");
	wsf_reset(&r);
}

/* ---- the message limit ---- */

static uint8_t *make_bytes(size_t n, uint8_t seed)
{
	uint8_t *p = malloc(n + 1);
	if (!p)
		abort();
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
	return p;
}

static void test_limit(void)
{
	struct wsf_reader r = new_reader(1000);
	uint8_t *pl = make_bytes(70000, 1);
	uint8_t *txt = malloc(70000);
	memset(txt, 'a', 70000);

	is_ev(feed(&r, FIN | WSF_OP_TEXT, txt, 1000), WSF_EV_TEXT, 0, txt, 1000, "limit 1000: text of 1000 bytes");
	is_peek_err(feed(&r, FIN | WSF_OP_TEXT, txt, 1001), 1009, "limit 1000: text of 1001 bytes: 1009");
	is_peek_err(feed(&r, FIN | WSF_OP_BINARY, pl, 1001), 1009, "limit 1000: binary of 1001 bytes: 1009");
	is_peek_err(feed(&r, WSF_OP_BINARY, pl, 1001), 1009, "limit 1000: first fragment of 1001 bytes: 1009");

	/* refused from the header alone, before the payload is there */
	static const uint64_t huge[] = {1001, 65536, (uint64_t)1 << 40, ((uint64_t)1 << 63) - 1};
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		uint8_t hdr[WSF_MAX_HEADER];
		size_t hl = put_header(hdr, FIN | WSF_OP_BINARY, 1, huge[i], 0);
		uint8_t *f = malloc(hl);
		memcpy(f, hdr, hl);
		char name[96];
		snprintf(name, sizeof name, "limit 1000: header of a %llu-byte message alone: 1009",
			 (unsigned long long)huge[i]);
		is_peek_err(feed_raw(&r, f, hl), 1009, name);
		free(f);
	}

	/* fragments: the sum counts, refused from the fragment's header */
	is_ev(feed(&r, WSF_OP_TEXT, txt, 600), WSF_EV_NONE, 0, NULL, 0, "limit 1000: fragment of 600");
	ok(r.frag_len == 600 && r.msg_op == WSF_OP_TEXT, "the reader holds 600 bytes of a text message");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, txt, 401), 1009, "limit 1000: 600 + final 401: 1009");
	is_peek_err(feed(&r, WSF_OP_CONT, txt, 401), 1009, "limit 1000: 600 + fragment 401: 1009");
	{
		uint8_t hdr[WSF_MAX_HEADER];
		size_t hl = put_header(hdr, WSF_OP_CONT, 1, 500, 0);
		uint8_t *f = malloc(hl);
		memcpy(f, hdr, hl);
		is_peek_err(feed_raw(&r, f, hl), 1009, "limit 1000: 600 + 500, header alone: 1009");
		free(f);
	}
	is_ev(feed(&r, FIN | WSF_OP_PING, "", 0), WSF_EV_PING, 0, "", 0, "a ping does not count");
	is_ev(feed(&r, WSF_OP_CONT, txt, 400), WSF_EV_NONE, 0, NULL, 0, "limit 1000: 600 + 400");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, txt, 1), 1009, "limit 1000: 1000 + 1: 1009");
	is_ev(feed(&r, WSF_OP_CONT, "", 0), WSF_EV_NONE, 0, NULL, 0, "limit 1000: 1000 + empty fragment");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "", 0), WSF_EV_TEXT, 0, txt, 1000, "limit 1000: message of exactly 1000");
	ok(r.msg_op == 0 && r.frag_len == 0, "no message in progress after it");
	is_ev(feed(&r, WSF_OP_BINARY, pl, 999), WSF_EV_NONE, 0, NULL, 0, "limit 1000: binary fragment of 999");
	is_ev(feed(&r, FIN | WSF_OP_CONT, pl + 999, 1), WSF_EV_BINARY, 0, pl, 1000, "limit 1000: 999 + 1");
	wsf_reset(&r);

	/* 0: no limit */
	r = new_reader(0);
	is_ev(feed(&r, FIN | WSF_OP_BINARY, pl, 70000), WSF_EV_BINARY, 0, pl, 70000, "no limit: 70000 bytes");
	{
		uint8_t hdr[WSF_MAX_HEADER];
		struct wsf_header h;
		uint16_t code;
		const char *why;
		size_t hl = put_header(hdr, FIN | WSF_OP_BINARY, 1, (uint64_t)1 << 40, 0);
		ok(wsf_peek(&r, hdr, hl, &h, &code, &why) == WSF_PEEK_OK && h.payload_len == (uint64_t)1 << 40,
		   "no limit: a 2^40-byte header is OK");
	}
	is_ev(feed(&r, WSF_OP_BINARY, pl, 40000), WSF_EV_NONE, 0, NULL, 0, "no limit: fragment of 40000");
	is_ev(feed(&r, WSF_OP_CONT, pl + 40000, 20000), WSF_EV_NONE, 0, NULL, 0, "no limit: fragment of 20000");
	is_ev(feed(&r, FIN | WSF_OP_CONT, pl + 60000, 10000), WSF_EV_BINARY, 0, pl, 70000,
	      "no limit: three fragments make the 70000 bytes");
	wsf_reset(&r);

	/* limit 1: the boundary at its smallest */
	r = new_reader(1);
	is_ev(feed(&r, FIN | WSF_OP_TEXT, "a", 1), WSF_EV_TEXT, 0, "a", 1, "limit 1: 1 byte");
	is_peek_err(feed(&r, FIN | WSF_OP_TEXT, "ab", 2), 1009, "limit 1: 2 bytes: 1009");
	wsf_reset(&r);
	free(pl);
	free(txt);
}

/* ---- payloads of the usual sizes, in place ---- */

static void test_sizes(void)
{
	static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536};
	struct wsf_reader r = new_reader(0);
	uint8_t *pl = make_bytes(65536, 3);
	char *txt = malloc(65536);
	for (size_t i = 0; i < 65536; i++)
		txt[i] = (char)('a' + i % 26);

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		char name[80];
		struct res s;
		snprintf(name, sizeof name, "binary of %zu bytes", n);
		s = feed(&r, FIN | WSF_OP_BINARY, pl, n);
		is_ev(s, WSF_EV_BINARY, 0, pl, n, name);
		if (n)
			ok(s.in_place, "binary of %zu bytes: delivered in place", n);
		snprintf(name, sizeof name, "text of %zu bytes", n);
		s = feed(&r, FIN | WSF_OP_TEXT, txt, n);
		is_ev(s, WSF_EV_TEXT, 0, txt, n, name);
		if (n)
			ok(s.in_place, "text of %zu bytes: delivered in place", n);
	}
	/* a length written longer than it needs to be is still a length */
	for (int form = 126; form <= 127; form++) {
		size_t flen;
		uint8_t *f = make_frame_ex(FIN | WSF_OP_TEXT, 1, "hello", 5, form, &flen);
		char name[80];
		snprintf(name, sizeof name, "text of 5 bytes with a %s length", form == 126 ? "16-bit" : "64-bit");
		is_ev(feed_raw(&r, f, flen), WSF_EV_TEXT, 0, "hello", 5, name);
		free(f);
	}
	wsf_reset(&r);
	free(pl);
	free(txt);
}

/* ---- text and UTF-8 ---- */

static void test_text(void)
{
	struct wsf_reader r = new_reader(0);
	struct res s;

	s = feed(&r, FIN | WSF_OP_TEXT, "hello", 5);
	is_ev(s, WSF_EV_TEXT, 0, "hello", 5, "text \"hello\"");
	ok(s.in_place, "an unfragmented text is delivered in place");

	static const struct {
		const char *name, *s;
		size_t len;
	} good[] = {
		{"e acute", "\xc3\xa9", 2},
		{"euro sign", "\xe2\x82\xac", 3},
		{"U+FFFF", "\xef\xbf\xbf", 3},
		{"U+D7FF", "\xed\x9f\xbf", 3},
		{"U+E000", "\xee\x80\x80", 3},
		{"G clef", "\xf0\x9d\x84\x9e", 4},
		{"U+10FFFF", "\xf4\x8f\xbf\xbf", 4},
		{"NUL byte", "a\0b", 3},
		{"mixed", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ok", 14},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char name[80];
		snprintf(name, sizeof name, "valid UTF-8 text: %s", good[i].name);
		is_ev(feed(&r, FIN | WSF_OP_TEXT, good[i].s, good[i].len), WSF_EV_TEXT, 0, good[i].s, good[i].len,
		      name);
	}
	static const struct {
		const char *name, *s;
		size_t len;
	} bad[] = {
		{"0xff", "\xff", 1},
		{"0xfe", "a\xfe", 2},
		{"lone continuation byte", "\x80", 1},
		{"cut 2-byte character", "\xc3", 1},
		{"cut 3-byte character", "ab\xe2\x82", 4},
		{"cut 4-byte character", "\xf0\x9d\x84", 3},
		{"overlong slash (2 bytes)", "\xc0\xaf", 2},
		{"overlong 0xc1", "\xc1\xbf", 2},
		{"overlong slash (3 bytes)", "\xe0\x80\xaf", 3},
		{"overlong U+FFFF (4 bytes)", "\xf0\x8f\xbf\xbf", 4},
		{"surrogate U+D800", "\xed\xa0\x80", 3},
		{"surrogate U+DFFF", "\xed\xbf\xbf", 3},
		{"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80", 6},
		{"U+110000", "\xf4\x90\x80\x80", 4},
		{"0xf5 lead byte", "\xf5\x80\x80\x80", 4},
		{"5-byte form", "\xf8\x88\x80\x80\x80", 5},
		{"ASCII then a bad byte far in", "aaaaaaaaaaaaaaaaaaaaaaaa\xc3(", 26},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[80];
		snprintf(name, sizeof name, "invalid UTF-8 text: %s: 1007", bad[i].name);
		is_ev(feed(&r, FIN | WSF_OP_TEXT, bad[i].s, bad[i].len), WSF_EV_ERROR, 1007, NULL, 0, name);
		wsf_reset(&r);
	}
	/* invalid bytes in a binary message are just bytes */
	is_ev(feed(&r, FIN | WSF_OP_BINARY, "\xff\xc0\xaf\xed\xa0\x80", 6), WSF_EV_BINARY, 0,
	      "\xff\xc0\xaf\xed\xa0\x80", 6, "binary with bytes that are not UTF-8");
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	is_ev(feed(&r, FIN | WSF_OP_BINARY, all, 256), WSF_EV_BINARY, 0, all, 256, "binary with every byte value");

	/* characters split between fragments are fine when the whole is */
	is_ev(feed(&r, WSF_OP_TEXT, "\xc3", 1), WSF_EV_NONE, 0, NULL, 0, "e acute split: first byte");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "\xa9", 1), WSF_EV_TEXT, 0, "\xc3\xa9", 2, "e acute split: whole");
	is_ev(feed(&r, WSF_OP_TEXT, "x\xf0\x9d", 3), WSF_EV_NONE, 0, NULL, 0, "G clef in three: 1");
	is_ev(feed(&r, WSF_OP_CONT, "\x84", 1), WSF_EV_NONE, 0, NULL, 0, "G clef in three: 2");
	is_ev(feed(&r, WSF_OP_CONT, "", 0), WSF_EV_NONE, 0, NULL, 0, "G clef in three: an empty fragment");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "\x9ey", 2), WSF_EV_TEXT, 0, "x\xf0\x9d\x84\x9ey", 6, "G clef in three: whole");
	is_ev(feed(&r, WSF_OP_TEXT, "\xe2", 1), WSF_EV_NONE, 0, NULL, 0, "euro sign byte by byte: 1");
	is_ev(feed(&r, FIN | WSF_OP_PING, "", 0), WSF_EV_PING, 0, "", 0, "euro sign byte by byte: a ping between");
	is_ev(feed(&r, WSF_OP_CONT, "\x82", 1), WSF_EV_NONE, 0, NULL, 0, "euro sign byte by byte: 2");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "\xac", 1), WSF_EV_TEXT, 0, "\xe2\x82\xac", 3, "euro sign byte by byte: whole");

	/* ... and refused when it is not: at the end at the latest (failing
	 * fast on a fragment that cannot start valid text is allowed) */
	is_ev(feed(&r, WSF_OP_TEXT, "a\xc3", 2), WSF_EV_NONE, 0, NULL, 0, "cut character: a valid start");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "(", 1), WSF_EV_ERROR, 1007, NULL, 0, "then not a continuation byte: 1007");
	wsf_reset(&r);
	is_ev(feed(&r, WSF_OP_TEXT, "ab", 2), WSF_EV_NONE, 0, NULL, 0, "text ending");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "c\xc3", 2), WSF_EV_ERROR, 1007, NULL, 0,
	      "in a cut character: 1007");
	wsf_reset(&r);
	is_ev(feed(&r, WSF_OP_TEXT, "\xe0", 1), WSF_EV_NONE, 0, NULL, 0, "overlong split: 0xe0 may start text");
	s = feed(&r, FIN | WSF_OP_CONT, "\x80\xaf", 2);
	is_ev(s, WSF_EV_ERROR, 1007, NULL, 0, "overlong split: 0xe0 0x80 0xaf: 1007");
	wsf_reset(&r);
	is_ev(feed(&r, WSF_OP_TEXT, "\xed", 1), WSF_EV_NONE, 0, NULL, 0, "surrogate split: 0xed may start text");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "\xa0\x80", 2), WSF_EV_ERROR, 1007, NULL, 0, "surrogate split: 1007");
	wsf_reset(&r);
	s = feed(&r, WSF_OP_TEXT, "\xff", 1);
	if (s.peek == WSF_PEEK_OK && s.kind == WSF_EV_ERROR) {
		is_ev(s, WSF_EV_ERROR, 1007, NULL, 0, "0xff in a first fragment: 1007 at once");
	} else {
		is_ev(s, WSF_EV_NONE, 0, NULL, 0, "0xff in a first fragment: NONE (checked at the end)");
		is_ev(feed(&r, FIN | WSF_OP_CONT, "a", 1), WSF_EV_ERROR, 1007, NULL, 0,
		      "0xff in a first fragment: 1007 at the end");
	}
	wsf_reset(&r);
}

/* ---- fragmentation and control frames ---- */

static void test_fragments(void)
{
	struct wsf_reader r = new_reader(0);

	is_ev(feed(&r, WSF_OP_TEXT, "Hel", 3), WSF_EV_NONE, 0, NULL, 0, "fragmented text 1/3: NONE");
	is_ev(feed(&r, FIN | WSF_OP_PING, "p1", 2), WSF_EV_PING, 0, "p1", 2, "a ping in the middle: PING \"p1\"");
	is_ev(feed(&r, WSF_OP_CONT, "lo, ", 4), WSF_EV_NONE, 0, NULL, 0, "fragmented text 2/3: NONE");
	is_ev(feed(&r, FIN | WSF_OP_PONG, "x", 1), WSF_EV_PONG, 0, "x", 1, "a pong in the middle: PONG \"x\"");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "world", 5), WSF_EV_TEXT, 0, "Hello, world", 12,
	      "fragmented text 3/3: TEXT \"Hello, world\"");
	ok(r.msg_op == 0, "no message in progress afterwards");
	is_ev(feed(&r, FIN | WSF_OP_TEXT, "next", 4), WSF_EV_TEXT, 0, "next", 4, "the next message is whole");

	/* empty fragments */
	is_ev(feed(&r, WSF_OP_TEXT, "", 0), WSF_EV_NONE, 0, NULL, 0, "empty first fragment");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "", 0), WSF_EV_TEXT, 0, "", 0, "empty last fragment: an empty text");
	is_ev(feed(&r, WSF_OP_BINARY, "", 0), WSF_EV_NONE, 0, NULL, 0, "empty binary fragment");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "z", 1), WSF_EV_BINARY, 0, "z", 1, "then one byte: BINARY \"z\"");

	/* a close inside a fragmented message */
	is_ev(feed(&r, WSF_OP_TEXT, "abc", 3), WSF_EV_NONE, 0, NULL, 0, "fragment, then a close");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8", 2), WSF_EV_CLOSE, 1000, "", 0,
	      "a close inside a fragmented message: CLOSE 1000");
	wsf_reset(&r);

	/* many fragments, the assembly buffer grows */
	uint8_t *pl = make_bytes(100000, 9);
	size_t at = 0, step = 1, nones = 0;
	int okay = 1;
	while (at < 100000) {
		size_t n = step < 100000 - at ? step : 100000 - at;
		int last = at + n == 100000;
		struct res s = feed(&r, (uint8_t)((last ? FIN : 0) | (at ? WSF_OP_CONT : WSF_OP_BINARY)), pl + at, n);
		if (!last && !(s.peek == WSF_PEEK_OK && s.kind == WSF_EV_NONE))
			okay = 0;
		if (last)
			is_ev(s, WSF_EV_BINARY, 0, pl, 100000, "binary of 100000 bytes in growing fragments");
		nones += !last;
		at += n;
		step = step * 2 + 1;
	}
	ok(okay && nones > 10, "every fragment before the last: NONE (%zu)", nones);
	wsf_reset(&r);
	free(pl);
}

static void test_control(void)
{
	struct wsf_reader r = new_reader(0);
	uint8_t pl[125];
	for (int i = 0; i < 125; i++)
		pl[i] = (uint8_t)(i * 37 + 11);

	is_ev(feed(&r, FIN | WSF_OP_PING, "", 0), WSF_EV_PING, 0, "", 0, "empty ping");
	is_ev(feed(&r, FIN | WSF_OP_PING, "hello", 5), WSF_EV_PING, 0, "hello", 5, "ping \"hello\": its payload");
	is_ev(feed(&r, FIN | WSF_OP_PING, pl, 125), WSF_EV_PING, 0, pl, 125, "ping of 125 bytes: its payload");
	is_ev(feed(&r, FIN | WSF_OP_PING, "\xff\xfe", 2), WSF_EV_PING, 0, "\xff\xfe", 2, "ping, not UTF-8: fine");
	is_ev(feed(&r, FIN | WSF_OP_PONG, "", 0), WSF_EV_PONG, 0, "", 0, "empty pong");
	is_ev(feed(&r, FIN | WSF_OP_PONG, pl, 125), WSF_EV_PONG, 0, pl, 125, "pong of 125 bytes");

	/* close */
	struct res s = feed(&r, FIN | WSF_OP_CLOSE, "", 0);
	is_ev(s, WSF_EV_CLOSE, 1005, "", 0, "close, empty body: CLOSE 1005");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03", 1), WSF_EV_ERROR, 1002, NULL, 0, "close, 1-byte body: 1002");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8", 2), WSF_EV_CLOSE, 1000, "", 0, "close 1000, no reason");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8" "bye", 5), WSF_EV_CLOSE, 1000, "bye", 3,
	      "close 1000 \"bye\": CLOSE 1000, reason \"bye\"");
	uint8_t body[125];
	body[0] = 0x0f;
	body[1] = 0xa0; /* 4000 */
	memset(body + 2, 'r', 123);
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, body, 125), WSF_EV_CLOSE, 4000, body + 2, 123,
	      "close 4000 with a 123-byte reason");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8\xc3\xa9", 4), WSF_EV_CLOSE, 1000, "\xc3\xa9", 2,
	      "close 1000 with a UTF-8 reason");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8\xff", 3), WSF_EV_ERROR, 1007, NULL, 0,
	      "close reason 0xff: 1007");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8" "ab\xc3", 5), WSF_EV_ERROR, 1007, NULL, 0,
	      "close reason with a cut character: 1007");
	is_ev(feed(&r, FIN | WSF_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5), WSF_EV_ERROR, 1007, NULL, 0,
	      "close reason with a surrogate: 1007");

	static const unsigned bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t b[4] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i], 'o', 'k'};
		char name[64];
		snprintf(name, sizeof name, "close code %u on the wire: 1002", bad[i]);
		is_ev(feed(&r, FIN | WSF_OP_CLOSE, b, 2), WSF_EV_ERROR, 1002, NULL, 0, name);
		snprintf(name, sizeof name, "close code %u with a reason: 1002", bad[i]);
		is_ev(feed(&r, FIN | WSF_OP_CLOSE, b, 4), WSF_EV_ERROR, 1002, NULL, 0, name);
	}
	static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
					3000, 3999, 4000, 4999};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		uint8_t b[4] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i], 'o', 'k'};
		char name[64];
		snprintf(name, sizeof name, "close code %u: CLOSE %u", good[i], good[i]);
		is_ev(feed(&r, FIN | WSF_OP_CLOSE, b, 4), WSF_EV_CLOSE, (uint16_t)good[i], "ok", 2, name);
	}
	wsf_reset(&r);
}

/* ---- wsf_reset() ---- */

static void test_reset(void)
{
	struct wsf_reader r = new_reader(5000);
	uint8_t *pl = make_bytes(3000, 5);

	wsf_reset(&r);
	ok(r.frag == NULL && r.msg_op == 0 && r.max_message == 5000, "reset of a fresh reader");
	is_ev(feed(&r, WSF_OP_BINARY, pl, 3000), WSF_EV_NONE, 0, NULL, 0, "a fragment of 3000 bytes");
	ok(r.frag_len == 3000 && r.msg_op == WSF_OP_BINARY, "the reader holds the message");
	wsf_reset(&r);
	ok(r.frag == NULL && r.frag_len == 0 && r.frag_cap == 0 && r.msg_op == 0, "reset frees and forgets it");
	ok(r.max_message == 5000, "reset keeps the limit");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, "x", 1), 1002, "after reset, no message in progress: 1002");
	is_ev(feed(&r, WSF_OP_BINARY, pl, 3000), WSF_EV_NONE, 0, NULL, 0, "after reset: a new message starts");
	is_peek_err(feed(&r, FIN | WSF_OP_CONT, pl, 2001), 1009, "after reset: the limit counts from 0 again");
	is_ev(feed(&r, FIN | WSF_OP_CONT, pl, 2000), WSF_EV_BINARY, 0, NULL, 0, "after reset: it completes");
	ok(got[0] == pl[0] && got[2999] == pl[2999] && got[3000] == pl[0] && got[4999] == pl[1999],
	   "after reset: the bytes");
	wsf_reset(&r);
	wsf_reset(&r);
	ok(r.frag == NULL, "reset twice");
	free(pl);
}

/* ---- wsf_trim() ---- */

static void test_trim(void)
{
	struct wsf_reader r = new_reader(0);
	uint8_t *pl = make_bytes(5000, 7);

	wsf_trim(&r);
	ok(r.frag == NULL && r.msg_op == 0, "trim of a fresh reader");
	is_ev(feed(&r, WSF_OP_BINARY, pl, 2000), WSF_EV_NONE, 0, NULL, 0, "trim: a fragment of 2000 bytes");
	wsf_trim(&r);
	ok(r.frag != NULL && r.frag_len == 2000 && r.msg_op == WSF_OP_BINARY,
	   "trim inside a fragmented message keeps it");
	is_ev(feed(&r, FIN | WSF_OP_PING, "x", 1), WSF_EV_PING, 0, "x", 1, "trim: a ping in between");
	wsf_trim(&r);
	ok(r.frag_len == 2000 && r.msg_op == WSF_OP_BINARY, "trim after the ping keeps the message");
	is_ev(feed(&r, FIN | WSF_OP_CONT, pl + 2000, 3000), WSF_EV_BINARY, 0, pl, 5000,
	      "trim: the message completes with its 5000 bytes");
	wsf_trim(&r);
	ok(r.frag == NULL && r.frag_len == 0 && r.frag_cap == 0 && r.msg_op == 0,
	   "trim after the message frees the buffer");
	is_ev(feed(&r, WSF_OP_TEXT, "ab", 2), WSF_EV_NONE, 0, NULL, 0, "trim: the reader works again");
	is_ev(feed(&r, FIN | WSF_OP_CONT, "c", 1), WSF_EV_TEXT, 0, "abc", 3, "trim: abc");
	wsf_trim(&r);
	ok(r.frag == NULL, "trim again");
	is_ev(feed(&r, FIN | WSF_OP_TEXT, "whole", 5), WSF_EV_TEXT, 0, "whole", 5, "trim: a whole message after it");
	wsf_reset(&r);
	free(pl);
}

/* ---- wsf_unmask() ---- */

static void test_unmask(void)
{
	static const uint8_t masks[][4] = {{0x37, 0xfa, 0x21, 0x3d}, {0, 0, 0, 0}, {0xff, 0x01, 0x80, 0x7f}};
	uint8_t orig[64], buf[80], ref[80];
	int good = 1;
	size_t cases = 0;

	for (size_t i = 0; i < sizeof orig; i++)
		orig[i] = (uint8_t)(i * 29 + 3);
	for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
		for (uint64_t at = 0; at < 8; at++) {
			for (size_t off = 0; off < 8; off++) { /* where p is in the buffer */
				for (size_t n = 0; n <= 40; n++) {
					memset(buf, 0xee, sizeof buf);
					memcpy(buf + off, orig, n);
					memcpy(ref, buf, sizeof buf);
					for (size_t k = 0; k < n; k++)
						ref[off + k] ^= masks[m][(at + k) % 4];
					wsf_unmask(buf + off, n, masks[m], at);
					if (memcmp(buf, ref, sizeof buf) != 0) {
						if (good)
							printf("#   mask %zu at %llu, offset %zu, %zu bytes\n", m,
							       (unsigned long long)at, off, n);
						good = 0;
					}
					cases++;
				}
			}
		}
	}
	ok(good, "wsf_unmask: %zu cases (offsets 0..7, positions 0..7, lengths 0..40) match bytewise", cases);

	/* a large position: only at % 4 matters */
	static const uint64_t far[] = {((uint64_t)1 << 32) + 1, ((uint64_t)1 << 63) + 2, ~(uint64_t)0};
	for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
		memcpy(buf, orig, 33);
		memcpy(ref, orig, 33);
		for (size_t k = 0; k < 33; k++)
			ref[k] ^= masks[0][(far[i] + k) % 4];
		wsf_unmask(buf, 33, masks[0], far[i]);
		ok(memcmp(buf, ref, 33) == 0, "wsf_unmask at position %#llx", (unsigned long long)far[i]);
	}
	/* unmasking twice gives the bytes back; in two pieces is the same */
	memcpy(buf, orig, 64);
	wsf_unmask(buf, 23, masks[2], 0);
	wsf_unmask(buf + 23, 41, masks[2], 23);
	wsf_unmask(buf, 64, masks[2], 0);
	ok(memcmp(buf, orig, 64) == 0, "wsf_unmask in two pieces, then whole, is the identity");
}

/* ---- wsf_server_header() ---- */

static void test_server_header(void)
{
	static const struct {
		uint8_t op;
		uint64_t len;
		size_t n;
		const char *want;
	} cases[] = {
		{WSF_OP_TEXT, 0, 2, "\x81\x00"},
		{WSF_OP_TEXT, 1, 2, "\x81\x01"},
		{WSF_OP_TEXT, 125, 2, "\x81\x7d"},
		{WSF_OP_TEXT, 126, 4, "\x81\x7e\x00\x7e"},
		{WSF_OP_BINARY, 127, 4, "\x82\x7e\x00\x7f"},
		{WSF_OP_BINARY, 65535, 4, "\x82\x7e\xff\xff"},
		{WSF_OP_BINARY, 65536, 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"},
		{WSF_OP_TEXT, (uint64_t)1 << 32, 10, "\x81\x7f\x00\x00\x00\x01\x00\x00\x00\x00"},
		{WSF_OP_TEXT, 0x0102030405060708ULL, 10, "\x81\x7f\x01\x02\x03\x04\x05\x06\x07\x08"},
		{WSF_OP_CLOSE, 2, 2, "\x88\x02"},
		{WSF_OP_PING, 0, 2, "\x89\x00"},
		{WSF_OP_PONG, 125, 2, "\x8a\x7d"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t out[16];
		memset(out, 0xcc, sizeof out);
		size_t n = wsf_server_header(out, cases[i].op, cases[i].len);
		int good = n == cases[i].n && memcmp(out, cases[i].want, n) == 0;
		if (!ok(good, "server header: opcode %#x, %llu bytes", cases[i].op, (unsigned long long)cases[i].len)) {
			printf("#   got %zu bytes:", n);
			for (size_t k = 0; k < n && k < 16; k++)
				printf(" %02x", out[k]);
			printf("\n");
		}
		ok(n <= 10 && out[10] == 0xcc, "server header: no more than 10 bytes written");
		ok((out[0] & 0x80) && !(out[0] & 0x70) && !(out[1] & 0x80), "server header: FIN, no RSV, no mask bit");
	}
}

/* ---- wsf_close_code_valid() ---- */

static void test_close_codes(void)
{
	int good = 1;
	for (unsigned c = 0; c <= 65535; c++) {
		bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
		if (wsf_close_code_valid((uint16_t)c) != want) {
			printf("#   close code %u: %s\n", c, want ? "refused" : "accepted");
			good = 0;
		}
	}
	ok(good, "wsf_close_code_valid: 1000-1003, 1007-1014, 3000-4999 and nothing else");
	ok(!wsf_close_code_valid(1004) && !wsf_close_code_valid(1005) && !wsf_close_code_valid(1006) &&
		   !wsf_close_code_valid(1015),
	   "wsf_close_code_valid: 1004, 1005, 1006, 1015 never on the wire");
	ok(wsf_close_code_valid(1000) && wsf_close_code_valid(4999) && !wsf_close_code_valid(999) &&
		   !wsf_close_code_valid(5000) && !wsf_close_code_valid(2999) && wsf_close_code_valid(3000),
	   "wsf_close_code_valid: the boundaries");
}

int main(void)
{
	test_header_lengths();
	test_header_errors();
	test_limit();
	test_sizes();
	test_text();
	test_fragments();
	test_control();
	test_reset();
	test_trim();
	test_unmask();
	test_server_header();
	test_close_codes();
	return done_testing();
}
