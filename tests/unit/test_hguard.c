/*
 * test_hguard.c: unit tests for hguard.c, the request framing guard.
 * Each case of the table is fed whole, split in two at every offset, and
 * one byte at a time; all three must give the same verdict, the same count
 * of completed request heads, and the verdict at the same byte.
 * Inputs that are too long to write out are built by a function.
 */
#include "hguard.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer for built inputs; aborts on allocation failure,
 * which is all a test can do. */
struct sbuf {
	unsigned char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fill(struct sbuf *b, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_add(b, &c, 1);
}

static const struct hguard_limits deflim = {4096, 16384, 65536};
static const struct hguard_limits zerobody = {4096, 16384, 0};

/* A request line of exactly n bytes, CRLF included, then a small head. */
static void build_line(struct sbuf *b, size_t n)
{
	const char *pre = "GET /", *post = " HTTP/1.1\r\n";
	sb_str(b, pre);
	sb_fill(b, 'a', n - strlen(pre) - strlen(post));
	sb_str(b, post);
	sb_str(b, "Host: x\r\n\r\n");
}

static void build_line_exact(struct sbuf *b)
{
	build_line(b, 4096);
}

static void build_line_over(struct sbuf *b)
{
	build_line(b, 4097);
}

static void build_long_uri(struct sbuf *b)
{
	build_line(b, 6000);
}

/* A head of exactly n bytes: request line, padding headers of at most 4000
 * bytes each (one line may not pass HGUARD_MAX_FIELD_LINE), CRLF. */
static void build_head(struct sbuf *b, size_t n)
{
	const char *pre = "GET / HTTP/1.1\r\n", *hdr = "X-Pad: ", *post = "\r\n";
	sb_str(b, pre);
	size_t left = n - strlen(pre) - strlen(post);
	while (left > 0) {
		size_t line = left > 4000 ? 4000 : left;
		if (left - line > 0 && left - line < strlen(hdr) + 3)
			line -= strlen(hdr) + 3; /* leave room for a whole last line */
		sb_str(b, hdr);
		sb_fill(b, 'p', line - strlen(hdr) - 2);
		sb_str(b, "\r\n");
		left -= line;
	}
	sb_str(b, post);
}

static void build_head_exact(struct sbuf *b)
{
	build_head(b, 16384);
}

static void build_head_over(struct sbuf *b)
{
	build_head(b, 16385);
}

static void build_big_header(struct sbuf *b)
{
	build_head(b, 20000);
}

/* 460 headers of 36 bytes: a head of 16,578 bytes. */
static void build_many_headers(struct sbuf *b)
{
	sb_str(b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 460; i++) {
		char line[64];
		snprintf(line, sizeof line, "X-Header-%04d: some-ordinary-value\r\n", i);
		sb_str(b, line);
	}
	sb_str(b, "\r\n");
}

/* A body of exactly max_body bytes that looks like requests, then a GET. */
static void build_body_exact(struct sbuf *b)
{
	sb_str(b, "POST /upload HTTP/1.1\r\nContent-Length: 65536\r\n\r\n");
	size_t start = b->len;
	while (b->len - start + 20 <= 65536)
		sb_str(b, "GET /x HTTP/1.1\r\n\r\n"); /* 19 bytes */
	sb_fill(b, '\n', 65536 - (b->len - start));
	sb_str(b, "GET / HTTP/1.1\r\n\r\n");
}

static void build_leading_run(struct sbuf *b)
{
	for (int i = 0; i < 4096; i++)
		sb_str(b, "\r\n");
	sb_str(b, "GET / HTTP/1.1\r\n\r\n");
}

/* Long values are measured, never stored: the digits and the white space
 * around them are far longer than the scanner's header buffer. */
static void build_cl_zeros(struct sbuf *b)
{
	sb_str(b, "POST / HTTP/1.1\r\nContent-Length:");
	sb_fill(b, ' ', 300);
	sb_fill(b, '0', 500);
	sb_str(b, "5");
	sb_fill(b, '\t', 300);
	sb_str(b, "\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n");
}

static void build_te_spaces(struct sbuf *b)
{
	sb_str(b, "POST / HTTP/1.1\r\nTransfer-Encoding:");
	sb_fill(b, ' ', 300);
	sb_str(b, "IDENTITY");
	sb_fill(b, ' ', 300);
	sb_str(b, "\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n");
}

static void build_long_name(struct sbuf *b)
{
	sb_str(b, "GET / HTTP/1.1\r\nContent-Length-");
	sb_fill(b, 'x', 100);
	sb_str(b, ": not a number\r\n\r\nGET / HTTP/1.1\r\n\r\n");
}

struct tcase {
	const char *name;
	const char *text; /* the input, or NULL when build is set */
	size_t len;	  /* bytes of text when it holds a NUL, else 0 */
	void (*build)(struct sbuf *b);
	const struct hguard_limits *lim; /* NULL: deflim */
	int want;			 /* verdict */
	uint32_t requests;		 /* request heads completed */
	long at;			 /* index of the byte that gives the verdict; -1: not checked */
};

/* clang-format off */
/* One case a line: clang-format would wrap every entry. */
#define T(name, text, want, requests, at) { name, text, 0, NULL, NULL, want, requests, at }
#define TN(name, text, want, requests, at) { name, text, sizeof(text) - 1, NULL, NULL, want, requests, at }
#define TB(name, build, want, requests, at) { name, NULL, 0, build, NULL, want, requests, at }

static const struct tcase cases[] = {
	T("normal GET", "GET /api/health HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n", 0, 1, -1),
	T("keep-alive pipelined GETs",
	  "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	  "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 0, 3, -1),
	T("POST with body then GET",
	  "POST /rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"a\":\r\n\r\n\"b\"}"
	  "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	  0, 2, -1),
	T("incomplete head", "GET / HTTP/1.1\r\nHost: x\r\n", 0, 0, -1),
	T("body still expected", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 0, 1, -1),
	T("bare LF request",
	  "GET / HTTP/1.1\nHost: x\n\nPOST / HTTP/1.1\nContent-Length: 1\n\nxGET / HTTP/1.1\n\n", 0, 3, -1),
	T("leading CRLFs between requests", "\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\n\n\rGET /b HTTP/1.1\r\n\r\n", 0, 2, -1),
	TB("leading empty lines beyond max_line", build_leading_run, 400, 0, 4096),

	TB("request line of max_line bytes", build_line_exact, 0, 1, -1),
	TB("request line of max_line + 1 bytes", build_line_over, 414, 0, 4096),
	TB("long URI refused before the line ends", build_long_uri, 414, 0, 4096),

	TB("head of max_head bytes", build_head_exact, 0, 1, -1),
	TB("head of max_head + 1 bytes", build_head_over, 431, 0, 16384),
	TB("one big header", build_big_header, 431, 0, 16384),
	TB("many small headers", build_many_headers, 431, 0, 16384),

	T("Content-Length over max_body", "POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413, 0, 39),
	TB("Content-Length of max_body", build_body_exact, 0, 2, -1),
	T("Content-Length of 2^53", "POST / HTTP/1.1\r\nContent-Length: 9007199254740992\r\n\r\n", 413, 0, 50),
	T("Content-Length over 2^53", "POST / HTTP/1.1\r\nContent-Length: 9007199254740993\r\n\r\n", 400, 0, 48),
	T("Content-Length of 21 digits",
	  "POST / HTTP/1.1\r\nContent-Length: 123456789012345678901\r\n\r\n", 400, 0, 49),
	TB("Content-Length with long zeros and OWS", build_cl_zeros, 0, 2, -1),
	T("Content-Length name in any case and OWS",
	  "POST / HTTP/1.1\r\ncontent-LENGTH:\t 4 \t\r\n\r\nbodyGET / HTTP/1.1\r\n\r\n", 0, 2, -1),
	T("two different Content-Length",
	  "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, 0, 54),
	T("same Content-Length twice",
	  "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", 0, 2, -1),
	T("Content-Length with a letter", "POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400, 0, 35),
	T("Content-Length empty", "POST / HTTP/1.1\r\nContent-Length:  \r\n\r\n", 400, 0, 35),
	T("Content-Length negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, 0, 33),
	T("Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", 400, 0, 34),
	T("Content-Length with inner space", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, 0, 35),
	T("space before the colon", "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", 400, 0, 31),
	T("header line without colon", "GET / HTTP/1.1\r\nHostx\r\n\r\n", 400, 0, 22),
	T("empty header name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400, 0, 16),
	TB("long name starting with Content-Length", build_long_name, 0, 2, -1),
	{ "Content-Length 0 with max_body 0",
	  "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, NULL, &zerobody, 0, 2, -1 },
	{ "Content-Length 1 with max_body 0",
	  "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 0, NULL, &zerobody, 413, 0, 35 },

	T("chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501, 0, 36),
	T("gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, 0, 36),
	T("identity then more", "POST / HTTP/1.1\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501, 0, 44),
	T("Transfer-Encoding cut short", "POST / HTTP/1.1\r\nTransfer-Encoding: ident\r\n\r\n", 501, 0, 42),
	T("Transfer-Encoding empty", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 501, 0, 36),
	TB("Transfer-Encoding identity with long OWS", build_te_spaces, 0, 2, -1),

	TN("NUL in the request line", "GET /a\0b HTTP/1.1\r\n\r\n", 400, 0, 6),
	TN("NUL in a header", "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 400, 0, 22),
	TN("NUL in a body is fine",
	   "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\0\0\0GET / HTTP/1.1\r\n\r\n", 0, 2, -1),
	T("obs-fold with space", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400, 0, 24),
	T("obs-fold with tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400, 0, 24),
	T("bare CR in a header", "GET / HTTP/1.1\r\nX-A: a\rContent-Length: 5\r\n\r\n", 400, 0, 23),
	T("bare CR in the request line", "GET / HTTP/1.1\r\r\n\r\n", 400, 0, 15),
	T("second request bad",
	  "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, 1, 55),
};
/* clang-format on */

/* Feeds one part from a copy of its exact size, so that the sanitizer
 * sees any read past the part. */
static int feed_copy(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, p, len);
	int v = hguard_feed(g, lim, copy, len);
	free(copy);
	return v;
}

static void run_case(const struct tcase *tc)
{
	const struct hguard_limits *lim = tc->lim ? tc->lim : &deflim;
	struct sbuf b = {0};
	struct hguard g;

	if (tc->build)
		tc->build(&b);
	else
		sb_add(&b, tc->text, tc->len ? tc->len : strlen(tc->text));
	/* Trim to the exact size: a read past the end is then caught. */
	b.p = realloc(b.p, b.len);
	if (!b.p)
		abort();

	/* Whole. */
	hguard_init(&g);
	int v = feed_copy(&g, lim, b.p, b.len);
	is_int(v, tc->want, tc->name);
	is_int(g.requests, tc->requests, "  requests completed");
	enum hguard_state whole_state = g.state;
	uint64_t whole_left = g.body_left;
	if (v) {
		ok(g.state == HG_FAILED, "  state is HG_FAILED after a verdict");
		int again = hguard_feed(&g, lim, (const unsigned char *)"GET / HTTP/1.1\r\n\r\n", 18);
		int empty = hguard_feed(&g, lim, NULL, 0);
		ok(again == v && empty == v, "  verdict is sticky (%d, %d)", again, empty);
	}

	/* One byte at a time: the verdict must come at the expected byte. */
	hguard_init(&g);
	long at = -1;
	int vb = 0;
	for (size_t i = 0; i < b.len && vb == 0; i++) {
		vb = feed_copy(&g, lim, b.p + i, 1);
		if (vb)
			at = (long)i;
	}
	ok(vb == v && g.requests == tc->requests, "  byte at a time: %d, %u requests", vb, g.requests);
	if (tc->at >= 0)
		is_int(at, tc->at, "  verdict at the expected byte");
	if (tc->build == build_long_uri) {
		const unsigned char *nl = memchr(b.p, '\n', b.len);
		ok(at >= 0 && nl && at < nl - b.p, "  verdict at %ld, before the line ends at %ld", at,
		   nl ? (long)(nl - b.p) : -1L);
	}

	/* Split in two at every offset. No copies here, unlike above: that
	 * would make this loop quadratic in memcpy as well. */
	size_t bad = 0, first_bad = 0;
	for (size_t k = 0; k <= b.len; k++) {
		hguard_init(&g);
		int vs = hguard_feed(&g, lim, b.p, k);
		if (vs == 0)
			vs = hguard_feed(&g, lim, b.p + k, b.len - k);
		if (vs != v || g.requests != tc->requests || g.state != whole_state ||
		    (vs == 0 && g.body_left != whole_left)) {
			if (!bad)
				first_bad = k;
			bad++;
		}
	}
	if (!ok(bad == 0, "  same result at all %zu split points", b.len + 1))
		printf("#   %zu differ, first at offset %zu\n", bad, first_bad);
	free(b.p);
}

static void test_reasons(void)
{
	is_str(hguard_reason(414), "request line too long", "reason 414");
	is_str(hguard_reason(431), "request headers too large", "reason 431");
	is_str(hguard_reason(413), "request body too large", "reason 413");
	is_str(hguard_reason(400), "malformed request framing", "reason 400");
	is_str(hguard_reason(501), "chunked request bodies are not accepted", "reason 501");
	ok(hguard_reason(0) != NULL && hguard_reason(999) != NULL, "reason of other codes is not NULL");
}

static void test_init(void)
{
	struct hguard g;
	memset(&g, 0xa5, sizeof g);
	hguard_init(&g);
	ok(g.state == HG_LINE && g.requests == 0 && g.status == 0 && !g.line_started, "init gives a fresh state");
	is_int(hguard_feed(&g, &deflim, NULL, 0), 0, "feeding nothing is fine");
}

/* req_start marks where the request after the last complete one begins,
 * whatever the split; head_pending says whether that request has begun. */
static void test_req_start(void)
{
	const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
			  "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			  "GET /c HTT";
	size_t len = strlen(two);
	size_t first = strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	size_t second = first + strlen("POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	size_t bad = 0;
	for (size_t k = 0; k <= len; k++) {
		struct hguard g;
		hguard_init(&g);
		(void)hguard_feed(&g, &deflim, (const unsigned char *)two, k);
		size_t want = k >= second ? second : k >= first ? first : 0;
		size_t body_at = second - 3; /* the head of the POST ends here */
		bool pending = !(k == first || k == 0 || (k >= body_at && k <= second));
		if (g.req_start != want || g.fed != k || hguard_head_pending(&g) != pending ||
		    (k > first && k < second - 3 && g.state == HG_BODY)) {
			if (!bad)
				printf("#   at %zu: req_start %llu want %zu, pending %d\n", k,
				       (unsigned long long)g.req_start, want, hguard_head_pending(&g));
			bad++;
		}
	}
	ok(bad == 0, "req_start and head_pending follow request boundaries at every prefix");

	struct hguard g;
	hguard_init(&g);
	const char *body = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab";
	(void)hguard_feed(&g, &deflim, (const unsigned char *)body, strlen(body));
	ok(!hguard_head_pending(&g) && g.state == HG_BODY, "inside a body no head is pending");
}

/* One header line longer than libevhtp's 8 KiB field buffer is refused even
 * when the whole head is within max_head. */
static void test_field_line(void)
{
	size_t n = HGUARD_MAX_FIELD_LINE + 100;
	char *req = malloc(n + 64);
	int len = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
	memset(req + len, 'a', n);
	len += (int)n;
	memcpy(req + len, "\r\n\r\n", 4);
	len += 4;
	struct hguard g;
	hguard_init(&g);
	is_int(hguard_feed(&g, &deflim, (unsigned char *)req, (size_t)len), 431, "one 8 KiB header line gives 431");
	hguard_init(&g);
	int v = 0;
	for (int i = 0; i < len && !v; i++)
		v = hguard_feed(&g, &deflim, (unsigned char *)req + i, 1);
	is_int(v, 431, "the same, byte by byte");
	hguard_init(&g);
	len = sprintf(req, "GET / HTTP/1.1\r\nX-Ok: ");
	memset(req + len, 'b', 7000);
	len += 7000;
	memcpy(req + len, "\r\n\r\n", 4);
	len += 4;
	is_int(hguard_feed(&g, &deflim, (unsigned char *)req, (size_t)len), 0, "a 7000-byte header line is fine");
	free(req);
}

int main(void)
{
	test_init();
	test_req_start();
	test_field_line();
	test_reasons();
	for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++)
		run_case(&cases[i]);
	return done_testing();
}
