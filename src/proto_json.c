/*
 * proto_json.c: the JSON (RFC 8259) lexer under proto.c's message scanner:
 * strings (checked, and decoded when asked), numbers, literals, any value
 * skipped with the depth limit, and the fast path for a FILE_CHUNK's data
 * array. It knows no message type and no key: proto.c walks the members.
 * Owns: JSON value syntax (RFC 8259) and the depth limit.
 * Must not: allocate, log, do I/O, or read past the cursor's end.
 */
#include "autoconf.h"
#include "proto_json.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void dec_put(struct proto_json_dec *d, const unsigned char *src, size_t n)
{
	if (d->len < d->cap) {
		size_t room = d->cap - d->len;
		memcpy(d->out + d->len, src, n < room ? n : room);
	}
	d->len += n;
}

static void dec_put_utf8(struct proto_json_dec *d, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	dec_put(d, b, n);
}

size_t proto_json_dec_finish(struct proto_json_dec *d)
{
	size_t n = d->len < d->cap ? d->len : d->cap;

	if (d->len > d->cap) {
		for (size_t back = 1; back <= 3 && back <= n; back++) {
			unsigned char c = d->out[n - back];
			if (c < 0x80)
				break;
			if (c >= 0xc0) {
				size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
				if (want > back)
					n -= back;
				break;
			}
		}
	}
	d->out[n] = '\0';
	return n;
}

static bool hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
	uint32_t v = 0;

	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (proto_json_digit(c))
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

/* The first byte from p on that is '"', '\\' or a control character (or
 * end). Most strings of a message are plain runs (an SDP, a candidate),
 * so this is the lexer's hot loop: 16 bytes at a time with SSE2 (part of
 * every x86-64), else 8 at a time in a word. Either way the first flagged
 * byte is found from the mask itself, not by scanning the block again. */
#if defined(__SSE2__)
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v */
		__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
					   _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}
#else
/* A byte is zero after XOR with '"' or '\\', or is below 0x20, exactly
 * when the usual (v - 0x01..) & ~v & 0x80.. test flags it. The test can
 * also flag bytes above the first true one (the borrow), never below it,
 * so the lowest flag is exact. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	while (end - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = __builtin_bswap64(v); /* the first byte in the low bits */
#endif
		uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
		uint64_t t = (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs;
		if (t)
			return p + __builtin_ctzll(t) / 8;
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}
#endif

bool proto_json_string(struct proto_json *s, struct proto_json_dec *d)
{
	const unsigned char *p = s->p + 1, *end = s->end;

	for (;;) {
		const unsigned char *run = p;
		p = plain_run(p, end);
		if (d && p > run)
			dec_put(d, run, (size_t)(p - run));
		if (p == end || *p < 0x20)
			return proto_json_syntax(s);
		if (*p == '"') {
			s->p = p + 1;
			return true;
		}
		if (end - p < 2)
			return proto_json_syntax(s);
		unsigned char c = p[1];
		p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;
			if (!hex4(p, end, &cp))
				return proto_json_syntax(s);
			p += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return proto_json_syntax(s);
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return proto_json_syntax(s);
			}
			if (d)
				dec_put_utf8(d, cp);
			continue;
		}
		default:
			return proto_json_syntax(s);
		}
		if (d)
			dec_put(d, &c, 1);
	}
}

/* The number at the cursor: -? (0 | [1-9][0-9]*) (. digits)? ([eE] [+-]? digits)? */
static bool scan_number(struct proto_json *s)
{
	const unsigned char *p = s->p, *end = s->end;

	if (p < end && *p == '-')
		p++;
	if (p == end)
		return proto_json_syntax(s);
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && proto_json_digit(*p))
			p++;
	} else {
		return proto_json_syntax(s);
	}
	if (p < end && *p == '.') {
		p++;
		if (p == end || !proto_json_digit(*p))
			return proto_json_syntax(s);
		while (p < end && proto_json_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !proto_json_digit(*p))
			return proto_json_syntax(s);
		while (p < end && proto_json_digit(*p))
			p++;
	}
	s->p = p;
	return true;
}

bool proto_json_uint(const unsigned char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!proto_json_digit(p[i]))
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > PROTO_INT_MAX)
			return false;
	}
	*out = v;
	return true;
}

static bool scan_literal(struct proto_json *s, const char *word, size_t len)
{
	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return proto_json_syntax(s);
	s->p += len;
	return true;
}

static bool skip_object(struct proto_json *s)
{
	if (!proto_json_enter(s))
		return false;
	proto_json_ws(s);
	if (proto_json_peek(s) == '}') {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		if (proto_json_peek(s) != '"')
			return proto_json_syntax(s);
		if (!proto_json_string(s, NULL))
			return false;
		proto_json_ws(s);
		if (proto_json_peek(s) != ':')
			return proto_json_syntax(s);
		s->p++;
		proto_json_ws(s);
		if (!proto_json_skip_value(s))
			return false;
		proto_json_ws(s);
		if (proto_json_peek(s) == ',') {
			s->p++;
			proto_json_ws(s);
			continue;
		}
		if (proto_json_peek(s) != '}')
			return proto_json_syntax(s);
		s->p++;
		s->depth--;
		return true;
	}
}

static bool skip_array(struct proto_json *s)
{
	if (!proto_json_enter(s))
		return false;
	proto_json_ws(s);
	if (proto_json_peek(s) == ']') {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		if (!proto_json_skip_value(s))
			return false;
		proto_json_ws(s);
		if (proto_json_peek(s) == ',') {
			s->p++;
			proto_json_ws(s);
			continue;
		}
		if (proto_json_peek(s) != ']')
			return proto_json_syntax(s);
		s->p++;
		s->depth--;
		return true;
	}
}

bool proto_json_skip_value(struct proto_json *s)
{
	switch (proto_json_peek(s)) {
	case '{':
		return skip_object(s);
	case '[':
		return skip_array(s);
	case '"':
		return proto_json_string(s, NULL);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return scan_number(s);
	}
}

/* The FILE_CHUNK hot path: from p, the start of an element, takes the
 * elements of what JSON.stringify writes ("7,42,255,0,") a block at a
 * time with no branch on the data: each turn checks that its bytes are
 * digits and commas, that every element starting in it has 1 to 3 digits,
 * no leading zero and a value up to 255 (looking up to 3 bytes into the
 * next block for that), and counts its commas. At the first block where
 * anything else shows (the end of the array, white space, a bad element),
 * it stops at the start of the element that block is in, for the general
 * path to go on from. Returns where it stopped; *n counts the elements it
 * took. Two versions with the same result: 16 bytes a turn with SSE2,
 * else 8 in a word. */
#if defined(__SSE2__)
/* Lanes of x (x = byte - '0', wrapping) that are >= k. */
static inline __m128i v_ge(__m128i x, unsigned char k)
{
	return _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8((char)k)), x);
}

/* Lanes of x that are <= 9: the byte was a digit. */
static inline __m128i v_digit(__m128i x)
{
	return _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
}

static inline __m128i v_load(const unsigned char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* Lane i of the loads at p + 1, p + 2, p + 3 is byte i + 1, i + 2, i + 3,
 * and of the load at p - 1 byte i - 1 (p follows '[' or ',' on entry, so
 * p - 1 is in the text). Needs 19 bytes from p. */
static const unsigned char *data_blocks(const unsigned char *p, const unsigned char *end, uint32_t *n)
{
	const unsigned char *start = p;
	const __m128i zero = _mm_set1_epi8('0'), comma = _mm_set1_epi8(',');
	__m128i lead = _mm_cvtsi32_si128(0xff); /* lane 0 of the first block begins an element */
	uint32_t count = 0;

	while (end - p >= 19) {
		__m128i w0 = v_load(p);
		__m128i x0 = _mm_sub_epi8(w0, zero);
		__m128i d0 = v_digit(x0), c0 = _mm_cmpeq_epi8(w0, comma);
		if (_mm_movemask_epi8(_mm_or_si128(d0, c0)) != 0xffff)
			break;
		__m128i xA = _mm_sub_epi8(v_load(p + 1), zero), xB = _mm_sub_epi8(v_load(p + 2), zero);
		__m128i dA = v_digit(xA), dB = v_digit(xB), dC = v_digit(_mm_sub_epi8(v_load(p + 3), zero));
		__m128i after = _mm_or_si128(_mm_cmpeq_epi8(v_load(p - 1), comma), lead);
		__m128i first = _mm_and_si128(after, d0);
		__m128i three = _mm_and_si128(first, _mm_and_si128(dA, dB));
		/* above 255: 3-9, or 2 then 6-9, or 25 then 6-9 */
		__m128i tail = _mm_or_si128(v_ge(xA, 6), _mm_and_si128(v_ge(xA, 5), v_ge(xB, 6)));
		__m128i over = _mm_or_si128(v_ge(x0, 3), _mm_and_si128(v_ge(x0, 2), tail));
		__m128i bad = _mm_and_si128(after, c0); /* an empty element */
		bad = _mm_or_si128(bad, _mm_and_si128(_mm_and_si128(d0, dA), _mm_and_si128(dB, dC))); /* 4 digits */
		bad = _mm_or_si128(bad,
				   _mm_and_si128(_mm_and_si128(first, dA), _mm_cmpeq_epi8(x0, _mm_setzero_si128())));
		bad = _mm_or_si128(bad, _mm_and_si128(three, over));
		if (_mm_movemask_epi8(bad))
			break;
		/* as in the word version, a block that passes has a comma */
		unsigned cm = (unsigned)_mm_movemask_epi8(c0);
		count += (uint32_t)__builtin_popcount(cm);
		start = p + (31 - __builtin_clz(cm | 1)) + 1;
		lead = _mm_setzero_si128();
		p += 16;
	}
	*n += count;
	return start;
}
#else
/* Byte lanes of a 64-bit word, for the data array's block loop: lane i
 * is byte i of the text (bits 8i..8i+7), and a lane's flag is its bit 7. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)

static inline uint64_t load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Flags the lanes of x = text ^ '0' that are digits (x < 10). The high
 * bit is tested alone so that the addition never carries across lanes. */
static inline uint64_t lanes_digit(uint64_t x)
{
	return ~(x | ((x & ~HIGH) + 0x76 * ONES)) & HIGH;
}

/* Flags the lanes of w that are zero. */
static inline uint64_t lanes_zero(uint64_t w)
{
	return ~(((w & ~HIGH) + ~HIGH) | w) & HIGH;
}

/* Flags the lanes of x (each below 0x80 where it matters) that are >= k. */
static inline uint64_t lanes_ge(uint64_t x, unsigned k)
{
	return ((x & ~HIGH) + (0x80 - k) * ONES) & HIGH;
}

/* Needs 16 bytes left to read a block and the next. */
static const unsigned char *data_blocks(const unsigned char *p, const unsigned char *end, uint32_t *n)
{
	const unsigned char *start = p;
	uint64_t sep = 0x80; /* lane 0 of the first block begins an element */
	uint32_t count = 0;

	while (end - p >= 16) {
		uint64_t w0 = load8(p), w1 = load8(p + 8);
		uint64_t x0 = w0 ^ (0x30 * ONES), x1 = w1 ^ (0x30 * ONES);
		uint64_t d0 = lanes_digit(x0), d1 = lanes_digit(x1);
		uint64_t c0 = lanes_zero(w0 ^ (0x2c * ONES)); /* commas */
		if ((d0 | c0) != HIGH)
			break;
		/* Lane i of these holds byte i + 1, i + 2, i + 3. */
		uint64_t dA = (d0 >> 8) | (d1 << 56), dB = (d0 >> 16) | (d1 << 48), dC = (d0 >> 24) | (d1 << 40);
		uint64_t xA = (x0 >> 8) | (x1 << 56), xB = (x0 >> 16) | (x1 << 48);
		uint64_t after = (c0 << 8) | sep; /* the byte before is a comma */
		uint64_t first = after & d0; /* an element's first digit */
		uint64_t three = first & dA & dB; /* ... of 3 digits or more */
		/* a 3-digit element above 255: first digit 3-9, or 2 and then
		 * a second digit 6-9, or 25 and a third digit 6-9 */
		uint64_t over = lanes_ge(x0, 3) |
				(lanes_ge(x0, 2) & (lanes_ge(xA, 6) | (lanes_ge(xA, 5) & lanes_ge(xB, 6))));
		uint64_t bad = (after & c0) /* an empty element */
			       | (d0 & dA & dB & dC) /* 4 digits */
			       | (first & dA & ~lanes_ge(x0, 1)) /* a leading zero */
			       | (three & over);
		if (bad)
			break;
		/* Every block that passes has a comma (8 digits in a row
		 * would have failed the 4-digit test), so start moves to
		 * just after its last one on each turn. */
		count += (uint32_t)((((c0 >> 7) * ONES) >> 56) & 0xff);
		start = p + (63 - __builtin_clzll(c0 | 1)) / 8 + 1;
		sep = c0 >> 56;
		p += 8;
	}
	*n += count;
	return start;
}
#endif

/* data_blocks() takes the bulk of a FILE_CHUNK; the rest (the last
 * elements, white space, a bad element) goes one element at a time
 * through the general scanner. */
bool proto_json_bytes(struct proto_json *s, struct proto_json_bytes *out)
{
	const unsigned char *p, *end = s->end;
	uint32_t n = 0, bad_at = 0;
	bool bad = false;

	if (!proto_json_enter(s))
		return false;
	proto_json_ws(s);
	p = s->p;
	if (p < end && *p == ']')
		goto close;
	for (;;) {
		p = data_blocks(p, end, &n);
		s->p = p;
		proto_json_ws(s);
		const unsigned char *el = s->p;
		if (!proto_json_skip_value(s))
			return false;
		uint64_t v;
		if (!bad && (!proto_json_uint(el, (size_t)(s->p - el), &v) || v > 255)) {
			bad = true;
			bad_at = n;
		}
		n++;
		proto_json_ws(s);
		p = s->p;
		if (p == end)
			return proto_json_syntax(s);
		if (*p == ',') {
			s->p = p + 1;
			proto_json_ws(s);
			p = s->p;
			continue;
		}
		if (*p != ']')
			return proto_json_syntax(s);
		break;
	}
close:
	s->p = p + 1;
	s->depth--;
	out->n = n;
	out->bad = bad;
	out->bad_at = bad_at;
	return true;
}
