/*
 * FUZZ_SOURCES: src/hguard.c
 * fuzz_hguard.c: libFuzzer target for hguard.c, the request framing guard.
 * Input: 4 control bytes, then the bytes a client would send.
 *   c[0] bit 0 set: the default limits {4096, 16384, 65536}; clear: small
 *        ones, max_line = 16 + c[1], max_head = max_line + 8 * c[2],
 *        max_body = 3 * (c[0] >> 1), so that every limit is reachable.
 *   c[3] seeds the chunk sizes (1 to 2^(c[3] & 7) bytes) of a split feed.
 * The payload is fed whole, one byte at a time, in two parts, and in
 * random chunks with empty calls between them. Checked: the same verdict,
 * request count and end state every way; the verdict lands in the call
 * that holds the byte the one-byte feed gave it at; a verdict is sticky;
 * counters stay within the limits. Every call gets its bytes at the end of
 * a heap buffer of the exact size, so AddressSanitizer sees any read past
 * them.
 */
#include "hguard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "fuzz_hguard: check failed at line %d: %s\n", __LINE__, #cond);                \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

static const struct hguard_limits deflim = {4096, 16384, 65536};

/* Scratch buffer of exactly the payload's size; a part of length n is fed
 * from its last n bytes. */
static unsigned char *scratch;
static size_t scratch_len;

static int feed(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t n)
{
	unsigned char *at = scratch + scratch_len - n;
	if (n)
		memcpy(at, p, n);
	return hguard_feed(g, lim, n ? at : NULL, n);
}

static bool is_verdict(int v)
{
	return v == 0 || v == 400 || v == 413 || v == 414 || v == 431 || v == 501;
}

/* What must hold after every call. */
static void check_state(const struct hguard *g, const struct hguard_limits *lim, int v)
{
	CHECK(is_verdict(v));
	CHECK(hguard_reason(v) != NULL && hguard_reason(v)[0] != '\0');
	if (v) {
		CHECK(g->state == HG_FAILED && g->status == v);
		return;
	}
	CHECK(g->state == HG_LINE || g->state == HG_HEADERS || g->state == HG_BODY);
	CHECK(g->head_len <= lim->max_head);
	if (g->state == HG_LINE)
		CHECK(g->line_len <= lim->max_line);
	if (g->state == HG_BODY)
		CHECK(g->body_left > 0 && g->body_left <= lim->max_body);
	else
		CHECK(g->body_left == 0);
	if (g->has_cl)
		CHECK(g->content_length <= lim->max_body);
}

static bool same_state(const struct hguard *a, const struct hguard *b)
{
	return a->state == b->state && a->status == b->status && a->requests == b->requests &&
	       a->line_len == b->line_len && a->head_len == b->head_len && a->body_left == b->body_left &&
	       a->content_length == b->content_length && a->has_cl == b->has_cl && a->line_started == b->line_started &&
	       a->saw_cr == b->saw_cr && a->hdr_phase == b->hdr_phase && a->hdr_len == b->hdr_len;
}

static uint32_t next_rand(uint32_t *s)
{
	/* xorshift32: cheap and good enough to pick chunk sizes. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Once a verdict is given, more bytes and empty calls do not change it. */
static void check_sticky(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t n, int v)
{
	struct hguard before = *g;
	CHECK(feed(g, lim, p, n) == v);
	CHECK(hguard_feed(g, lim, NULL, 0) == v);
	CHECK(same_state(g, &before));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hguard_limits small, whole_lim;
	const struct hguard_limits *lim;
	struct hguard whole, bytes, two, chunks;

	if (size < 4)
		return 0;
	small.max_line = 16u + data[1];
	small.max_head = small.max_line + 8u * data[2];
	small.max_body = 3u * (uint64_t)(data[0] >> 1);
	whole_lim = (data[0] & 1) ? deflim : small;
	lim = &whole_lim;
	uint8_t seed = data[3];
	const unsigned char *p = data + 4;
	size_t n = size - 4;

	scratch_len = n ? n : 1;
	scratch = malloc(scratch_len);
	CHECK(scratch != NULL);

	/* Whole. */
	hguard_init(&whole);
	int v = feed(&whole, lim, p, n);
	check_state(&whole, lim, v);

	/* One byte at a time: also finds the byte that gives the verdict. */
	hguard_init(&bytes);
	size_t at = n;
	int vb = 0;
	for (size_t i = 0; i < n; i++) {
		vb = feed(&bytes, lim, p + i, 1);
		check_state(&bytes, lim, vb);
		if (vb) {
			at = i;
			break;
		}
	}
	CHECK(vb == v);
	CHECK(same_state(&bytes, &whole));

	/* Two parts, the split taken from the control bytes. */
	size_t k = ((size_t)seed * 257u + data[2]) % (n + 1);
	hguard_init(&two);
	int v2 = feed(&two, lim, p, k);
	check_state(&two, lim, v2);
	CHECK(v2 == 0 || at < k);
	if (v2 == 0) {
		v2 = feed(&two, lim, p + k, n - k);
		check_state(&two, lim, v2);
		CHECK(v2 == 0 || at >= k);
	}
	CHECK(v2 == v);
	CHECK(same_state(&two, &whole));

	/* Random chunks with empty calls between them. */
	uint32_t rs = 0x9e3779b9u ^ ((uint32_t)seed << 8) ^ (uint32_t)n;
	if (rs == 0)
		rs = 1;
	size_t maxchunk = (size_t)1 << (seed & 7);
	hguard_init(&chunks);
	int vc = 0;
	for (size_t off = 0; off < n && vc == 0;) {
		size_t c = 1 + next_rand(&rs) % maxchunk;
		if (c > n - off)
			c = n - off;
		vc = feed(&chunks, lim, p + off, c);
		check_state(&chunks, lim, vc);
		if (vc)
			CHECK(at >= off && at < off + c);
		else
			CHECK(at >= off + c);
		if (vc == 0) {
			vc = hguard_feed(&chunks, lim, NULL, 0);
			CHECK(vc == 0);
		}
		off += c;
	}
	CHECK(vc == v);
	CHECK(same_state(&chunks, &whole));

	if (v) {
		check_sticky(&whole, lim, p, n, v);
		check_sticky(&chunks, lim, p + at, n - at, v);
	}

	free(scratch);
	scratch = NULL;
	return 0;
}
