/*
 * FUZZ_SOURCES: src/stun.c src/util.c
 * fuzz_stun.c: libFuzzer target for stun.c, the parser of what a STUN or
 * TURN server (or anyone who can send to the checker's socket) answers.
 * Input: 1 control byte, then the bytes of the answer.
 *   c bit 0 set: the transaction id expected is the message's own (bytes
 *       8..19), so the parser goes past the header; clear: all zeros.
 *   c bits 1-4: as a TCP stream, the answer arrives in reads of 1 to 2^k
 *       bytes (see icecheck.c's read_tcp()).
 * Checked:
 *   - stun_parse_response() on an exact-size heap copy (ASan sees a read
 *     past it): RT_ERR always comes with a message; RT_OK only for a
 *     message whose header says its length, with the cookie and the
 *     transaction id, of a Binding success or error response; a success
 *     response has an IPv4 or IPv6 address that stun_addr_format() writes
 *     within bounds; an error response a code of 300..699 and a reason of
 *     printable ASCII, at most STUN_REASON_MAX bytes; a FINGERPRINT
 *     claimed is right by a table-driven CRC-32 here;
 *   - stun_frame_len(): RT_AGAIN exactly under 20 bytes, RT_OK with the
 *     length field plus 20 (a multiple of 4) or RT_ERR with a message,
 *     the same for every prefix of at least 20 bytes; a message it frames
 *     from the stream parses as it does in one piece;
 *   - our own request with the input's transaction id is never taken for
 *     an answer.
 */
#include "stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_stun: check failed at line %d: %s\n", __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

static uint32_t crc_table[256];

static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses m[0, n) from an exact-size copy and checks the result. */
static int parse_checked(const uint8_t *m, size_t n, const uint8_t *tid, struct stun_response *r)
{
	uint8_t *copy = malloc(n ? n : 1);
	CHECK(copy != NULL);
	memcpy(copy, m, n);
	struct rt_err err;
	err.msg[0] = '\0';
	memset(r, 0xa5, sizeof *r);
	int rc = stun_parse_response(copy, n, tid, r, &err);
	free(copy);
	if (rc != RT_OK) {
		CHECK(rc == RT_ERR && err.msg[0] != '\0');
		return rc;
	}
	CHECK(n >= STUN_HEADER_LEN && n % 4 == 0);
	CHECK((size_t)(m[2] << 8 | m[3]) + STUN_HEADER_LEN == n);
	CHECK(be32(m + 4) == STUN_MAGIC_COOKIE);
	CHECK(memcmp(m + 8, tid, STUN_TID_LEN) == 0);
	CHECK(r->type == (m[0] << 8 | m[1]));
	if (r->type == STUN_BINDING_SUCCESS) {
		CHECK(r->mapped.family == 4 || r->mapped.family == 6);
		char a[STUN_ADDR_STRLEN + 8];
		memset(a, 'x', sizeof a);
		stun_addr_format(&r->mapped, a, STUN_ADDR_STRLEN);
		CHECK(memchr(a, '\0', STUN_ADDR_STRLEN) != NULL && a[STUN_ADDR_STRLEN] == 'x');
	} else {
		CHECK(r->type == STUN_BINDING_ERROR);
		CHECK(r->error_code >= 300 && r->error_code <= 699);
		size_t k = strnlen(r->reason, sizeof r->reason);
		CHECK(k <= STUN_REASON_MAX);
		for (size_t i = 0; i < k; i++)
			CHECK(r->reason[i] >= 0x20 && r->reason[i] < 0x7f);
	}
	if (r->has_fingerprint) {
		/* the last attribute, over everything before it */
		CHECK(n >= STUN_HEADER_LEN + 8);
		CHECK(m[n - 8] == 0x80 && m[n - 7] == 0x28 && m[n - 6] == 0 && m[n - 5] == 4);
		CHECK(be32(m + n - 4) == (ref_crc32(m, n - 8) ^ 0x5354554eu));
		CHECK(stun_crc32(m, n - 8) == ref_crc32(m, n - 8));
	}
	return rc;
}

/* The stream in reads of 1..maxread bytes, framed as icecheck.c does. */
static void run_stream(const uint8_t *s, size_t n, size_t maxread, const uint8_t *tid)
{
	uint8_t buf[4096];
	size_t have = 0, off = 0, k = 0;
	uint32_t rs = 0x9e3779b9u ^ (uint32_t)n;
	while (off < n) {
		rs ^= rs << 13;
		rs ^= rs >> 17;
		rs ^= rs << 5;
		k = 1 + rs % maxread;
		if (k > n - off)
			k = n - off;
		if (k > sizeof buf - have)
			return; /* icecheck.c refuses longer answers */
		memcpy(buf + have, s + off, k);
		have += k;
		off += k;
		size_t want = 0;
		struct rt_err err;
		err.msg[0] = '\0';
		int rc = stun_frame_len(buf, have, &want, &err);
		if (rc == RT_AGAIN) {
			CHECK(have < STUN_HEADER_LEN);
			continue;
		}
		CHECK(have >= STUN_HEADER_LEN);
		if (rc == RT_ERR) {
			CHECK(err.msg[0] != '\0');
			return;
		}
		CHECK(rc == RT_OK && want % 4 == 0 && want >= STUN_HEADER_LEN && want <= STUN_MAX_MESSAGE);
		CHECK(want == STUN_HEADER_LEN + (size_t)(buf[2] << 8 | buf[3]));
		if (have < want)
			continue;
		/* one piece or from the stream: the same answer */
		struct stun_response a, b;
		int ra = parse_checked(buf, want, tid, &a);
		int rb = parse_checked(s, want, tid, &b);
		CHECK(ra == rb);
		if (ra == RT_OK) {
			CHECK(a.type == b.type && a.error_code == b.error_code && a.mapped_xor == b.mapped_xor);
			CHECK(a.type != STUN_BINDING_SUCCESS ||
			      (a.mapped.family == b.mapped.family && a.mapped.port == b.mapped.port &&
			       memcmp(a.mapped.addr, b.mapped.addr, sizeof a.mapped.addr) == 0));
			CHECK(a.type != STUN_BINDING_ERROR || strcmp(a.reason, b.reason) == 0);
		}
		return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_tid[STUN_TID_LEN];
	if (size < 1)
		return 0;
	uint8_t c = data[0];
	const uint8_t *m = data + 1;
	size_t n = size - 1;
	const uint8_t *tid = (c & 1) && n >= STUN_HEADER_LEN ? m + 8 : zero_tid;
	struct stun_response r;

	int rc = parse_checked(m, n, tid, &r);

	/* framing agrees with itself on every prefix from 20 bytes on */
	size_t first = 0;
	struct rt_err err;
	for (size_t k = 0; k <= n && k <= 64; k++) {
		size_t want = 0;
		int fr = stun_frame_len(m, k, &want, &err);
		if (k < STUN_HEADER_LEN) {
			CHECK(fr == RT_AGAIN);
			continue;
		}
		CHECK(fr == RT_OK || fr == RT_ERR);
		if (k == STUN_HEADER_LEN)
			first = fr == RT_OK ? want : 0;
		else
			CHECK((fr == RT_OK ? want : 0) == first);
	}
	if (rc == RT_OK)
		CHECK(first == n);

	run_stream(m, n, (size_t)1 << ((c >> 1) & 15), tid);

	/* our own request, with the input's id, is not an answer */
	uint8_t req[STUN_HEADER_LEN];
	uint8_t t2[STUN_TID_LEN];
	memcpy(t2, tid, STUN_TID_LEN);
	CHECK(stun_binding_request(req, t2) == STUN_HEADER_LEN);
	CHECK(parse_checked(req, sizeof req, t2, &r) == RT_ERR);
	return 0;
}
