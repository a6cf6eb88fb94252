/*
 * proto_json.h: the JSON lexer of the proto module (proto_json.c), for
 * proto.c only: not a contract for the rest of the daemon. A cursor walks
 * a client message of known length; each function steps over one value
 * at the cursor and returns true, or false with s->fail set and the
 * cursor left anywhere. Pure (leaf): no I/O, no logging, no allocation.
 */
#ifndef RT_PROTO_JSON_H
#define RT_PROTO_JSON_H

#include "proto.h"

/* Why the scan stopped (proto_json.fail). */
enum {
	PROTO_JSON_OK = 0,
	PROTO_JSON_SYNTAX,
	PROTO_JSON_DEPTH, /* nested deeper than PROTO_MAX_DEPTH */
};

/* The cursor: p in [base, end); depth counts the objects and arrays open. */
struct proto_json {
	const unsigned char *p, *end, *base;
	int depth;
	int fail;
};

/* A string being decoded into a bounded buffer. len counts every decoded
 * byte, also those that did not fit in cap. */
struct proto_json_dec {
	unsigned char *out;
	size_t cap; /* bytes for text, the NUL not counted */
	size_t len;
};

/* What proto_json_bytes() counted of a data array. */
struct proto_json_bytes {
	uint32_t n; /* elements */
	bool bad; /* one is not an integer 0..255 */
	uint32_t bad_at; /* the first such, when bad */
};

/* Records a syntax error (unless a reason is set already); returns false. */
static inline bool proto_json_syntax(struct proto_json *s)
{
	if (s->fail == PROTO_JSON_OK)
		s->fail = PROTO_JSON_SYNTAX;
	return false;
}

static inline bool proto_json_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline void proto_json_ws(struct proto_json *s)
{
	const unsigned char *p = s->p;
	while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	s->p = p;
}

/* The next byte, or -1 at the end. */
static inline int proto_json_peek(const struct proto_json *s)
{
	return s->p < s->end ? *s->p : -1;
}

/* Steps over the '{' or '[' at the cursor into one more level; false
 * (PROTO_JSON_DEPTH) past PROTO_MAX_DEPTH. The caller closes the level
 * with s->depth--. */
static inline bool proto_json_enter(struct proto_json *s)
{
	if (++s->depth > PROTO_MAX_DEPTH) {
		s->fail = PROTO_JSON_DEPTH;
		return false;
	}
	s->p++;
	return true;
}

/* The string at the cursor (on its '"'), decoded into d unless d is NULL.
 * A \u escape of a UTF-16 surrogate must be a high one followed by a low
 * one; either alone is refused. */
bool proto_json_string(struct proto_json *s, struct proto_json_dec *d);
/* NUL-terminates d's text (d->out holds cap + 1 bytes); one that was cut
 * loses a UTF-8 sequence left incomplete at its end. Returns the bytes
 * kept. */
size_t proto_json_dec_finish(struct proto_json_dec *d);
/* Any value at the cursor (white space already skipped). Recursion is
 * bounded by PROTO_MAX_DEPTH. */
bool proto_json_skip_value(struct proto_json *s);
/* The array at the cursor (on its '['): counts its elements into *out and
 * notes the first that is not an integer 0..255. */
bool proto_json_bytes(struct proto_json *s, struct proto_json_bytes *out);
/* The text of a number the lexer accepted, read as an integer: true only
 * for plain digits (no sign, fraction or exponent) up to PROTO_INT_MAX. */
bool proto_json_uint(const unsigned char *p, size_t len, uint64_t *out);

#endif
