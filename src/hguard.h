/*
 * hguard.h: a byte-level guard in front of libevhtp's HTTP parser.
 * libevhtp 1.2.18 misreads request URIs over about 4 KiB and has no header
 * size limit of its own, so every byte a client sends is first run through
 * this scanner, which tracks request boundaries (request line, headers,
 * Content-Length body) and stops the connection with a status code before
 * the parser sees anything too long.
 * Pure (leaf): no I/O, no allocation, the caller owns the state.
 */
#ifndef RT_HGUARD_H
#define RT_HGUARD_H

#include "rtftd.h"

struct hguard_limits {
	uint32_t max_line; /* request line, bytes including CRLF */
	uint32_t max_head; /* request line + headers + final CRLF */
	uint64_t max_body; /* Content-Length limit */
};

enum hguard_state {
	HG_LINE = 0, /* in the request line (leading CRLFs are skipped) */
	HG_HEADERS, /* in header lines */
	HG_BODY, /* skipping body_left bytes */
	HG_FAILED, /* a verdict was given; feed no more */
};

struct hguard {
	enum hguard_state state;
	uint32_t line_len; /* bytes of the current line so far */
	uint32_t head_len; /* bytes of the current head so far */
	uint64_t body_left;
	uint64_t content_length;
	bool has_cl;
	bool chunked;
	bool line_started; /* a non-CRLF byte of the request line was seen */
	/* The header currently being scanned, for Content-Length and
	 * Transfer-Encoding: only the first bytes are kept. */
	char hdr[64];
	uint32_t hdr_len;
	uint32_t requests; /* request heads completed */
	int status; /* the verdict once state is HG_FAILED, else 0 */
	bool saw_cr; /* the last head byte was a CR: only an LF may follow */
	uint8_t hdr_phase; /* where in the header line: start, name, value */
	uint8_t hdr_kind; /* Content-Length, Transfer-Encoding or other */
	uint32_t te_len; /* bytes of "identity" matched in a Transfer-Encoding */
	uint64_t cl_value; /* Content-Length of this line, parsed digit by digit */
	uint64_t fed; /* stream offset: bytes scanned so far */
	uint64_t req_start; /* stream offset where the current request began
			     * (just after the previous one's head or body) */
	bool stop_at_end; /* hguard_feed returns right after a request ends */
};

/* libevhtp 1.2.18 keeps one header line in an 8 KiB buffer and drops the
 * connection without a reply beyond it: refuse longer lines with 431. */
#define HGUARD_MAX_FIELD_LINE 8000

/* True while a request head has started but not ended: its bytes must not
 * reach libevhtp yet (its URI parser misreads a request line that arrives
 * in pieces). Bytes from req_start on are the incomplete head. */
bool hguard_head_pending(const struct hguard *g);

/* Verdicts: 0 = fine so far, else the HTTP status to answer with and close:
 * 414 request line too long, 431 headers too large, 413 body too large,
 * 400 malformed framing (bad or duplicate Content-Length, NUL byte, bare LF
 * runs beyond limits), 501 chunked request bodies (not accepted). */
void hguard_init(struct hguard *g);
/* Scans len bytes; returns 0 or a status code. Once a status is returned
 * the state is HG_FAILED and later calls return the same status. */
int hguard_feed(struct hguard *g, const struct hguard_limits *lim, const unsigned char *p, size_t len);
/* With g->stop_at_end set, hguard_feed stops right after the byte that
 * ends a request (head without body, or last body byte); g->fed tells how
 * far it got. The caller feeds the rest in another call. */

/* Human reason for a status given by hguard_feed. */
const char *hguard_reason(int status);

#endif
