/*
 * FUZZ_SOURCES: src/proto.c src/proto_json.c src/proto_format.c src/util.c
 * fuzz_proto.c: libFuzzer target for proto.c, the signaling message
 * scanner. Input: one client message, given to proto_parse() at the end of
 * a heap buffer of its exact size, so AddressSanitizer sees any read past
 * it. Checked:
 *   - a verdict and an error text; a message that is not a JSON object
 *     gets one of the texts for that; spans lie inside the input;
 *   - an accepted relayed message, forwarded through proto_relay_slices(),
 *     is read back by proto_parse() as a well-formed object of the same
 *     type with one sender, no recipient, the members less the cut ones
 *     (recipient and client senders) plus one (two for an added
 *     transferMode) and the same file fields; the cuts are disjoint and
 *     in order;
 *   - a file name holding one of PROTO_MARKUP_CHARS is flagged;
 *   - the element count of file.data and the first element that is not an
 *     integer 0..255 agree with a plain reference count done here;
 *   - proto_escape_string() output, whole or cut short, is JSON string
 *     content made of whole escapes and characters that decodes back to
 *     the input, each byte that is not UTF-8 as U+FFFD; a cut one stops
 *     where the next piece did not fit (util.c's json_escape_append(),
 *     which this replaced, was checked so in fuzz_ws.c);
 *   - the server's messages built from the input are JSON objects.
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "fuzz_proto: check failed at line %d: %s\n", __LINE__, #cond);                 \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#include "proto_checks.h"

static void *xmalloc_exact(size_t n)
{
	void *p = malloc(n ? n : 1);
	CHECK(p != NULL);
	return p;
}

static bool msg_is(const struct rt_err *err, const char *want)
{
	return strcmp(err->msg, want) == 0;
}

/* Reference for file.data: the elements of a well-formed array text,
 * split on the commas at its own level. Returns the count; *bad gets the
 * index of the first element that is not 1 to 3 digits without a leading
 * zero up to 255, or -1. */
static long ref_data(const char *p, size_t len, long *bad)
{
	long n = 0;
	int depth = 0;
	bool in_str = false;
	size_t el = 1;

	*bad = -1;
	CHECK(len >= 2 && p[0] == '[' && p[len - 1] == ']');
	for (size_t i = 1; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			depth++;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		} else if (depth == 0 && (c == ',' || i == len - 1)) {
			/* The element is p[el, i), white space around it. */
			size_t a = el, b = i;
			while (a < b && strchr(" \t\r\n", p[a]))
				a++;
			while (b > a && strchr(" \t\r\n", p[b - 1]))
				b--;
			if (a == b && c == ']' && n == 0)
				break; /* the empty array */
			bool good = b - a >= 1 && b - a <= 3 && !(p[a] == '0' && b - a > 1);
			int v = 0;
			for (size_t k = a; good && k < b; k++) {
				if (p[k] < '0' || p[k] > '9')
					good = false;
				else
					v = v * 10 + (p[k] - '0');
			}
			if ((!good || v > 255) && *bad < 0)
				*bad = n;
			n++;
			el = i + 1;
		}
	}
	return n;
}

/* RFC 3629 UTF-8, written out here independently of proto.c. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

/* Parses a NUL-terminated text from an exact-size copy. */
static int parse_text(const char *text, struct proto_msg *m, struct rt_err *err)
{
	size_t len = strlen(text);
	char *copy = xmalloc_exact(len);
	memcpy(copy, text, len);
	int r = proto_parse(copy, len, m, err);
	free(copy);
	return r;
}


static void check_forward(const char *buf, size_t len, const struct proto_msg *m)
{
	struct proto_slice sl[PROTO_RELAY_SLICES];
	size_t n = proto_relay_slices(buf, m, "alice", sl), total = 0;

	CHECK(n >= 1 && n <= PROTO_RELAY_SLICES);
	for (size_t i = 0; i < n; i++) {
		CHECK(sl[i].len > 0);
		/* A slice of the message lies inside the object. */
		if (sl[i].p >= buf && sl[i].p < buf + len)
			CHECK(sl[i].p > buf + m->object.off && sl[i].p + sl[i].len < buf + m->object.off + m->object.len);
		total += sl[i].len;
	}
	char *out = xmalloc_exact(total);
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + at, sl[i].p, sl[i].len);
		at += sl[i].len;
	}
	/* '{' "sender":"alice" [,] <the members between the braces, less
	 * the recipient member> [[,]"transferMode":"websocket"] '}' */
	bool added = m->type == PROTO_FILE_METADATA && !m->has_transfer_mode;
	bool others = m->members > m->ncuts;
	size_t want = 1 + strlen("\"sender\":\"alice\"") + (others || added ? 1 : 0) +
		      (m->object.len - 2 - check_cuts(buf, len, m)) + 1;
	if (added)
		want += strlen("\"transferMode\":\"websocket\"") + (others ? 1 : 0);
	CHECK(total == want);

	struct proto_msg m2;
	struct rt_err err;
	int r = proto_parse(out, total, &m2, &err);
	CHECK(r == RT_ERR && msg_is(&err, "\"recipient\" must be a string"));
	CHECK(m2.is_json && m2.type == m->type && m2.has_sender && !m2.has_recipient);
	CHECK(m2.members == m->members - m->ncuts + 1 + (added ? 1 : 0) && m2.ncuts == 1);
	CHECK(m2.object.off == 0 && m2.object.len == total);
	CHECK(strcmp(m2.file_name, m->file_name) == 0 && m2.file_name_len == m->file_name_len);
	CHECK(m2.file_size == m->file_size && m2.has_file_size == m->has_file_size);
	CHECK(m2.file_offset == m->file_offset && m2.data_len == m->data_len && m2.data.len == m->data.len);
	CHECK(m2.has_file_type == m->has_file_type && strcmp(m2.file_type, m->file_type) == 0);
	if (m->type == PROTO_FILE_METADATA)
		CHECK(m2.has_transfer_mode &&
		      m2.transfer_mode == (added ? PROTO_MODE_WEBSOCKET : m->transfer_mode));
	if (m->data.len)
		CHECK(memcmp(out + m2.data.off, buf + m->data.off, m->data.len) == 0);
	free(out);
}

static void check_parse(const uint8_t *data, size_t size)
{
	char *buf = xmalloc_exact(size);
	struct proto_msg m;
	struct rt_err err;

	memcpy(buf, data, size);
	strcpy(err.msg, "\x01");
	int r = proto_parse(buf, size, &m, &err);
	CHECK(r == RT_OK || r == RT_ERR);
	if (r == RT_ERR) {
		CHECK(err.msg[0] != '\x01' && err.msg[0] != '\0');
		CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
	}
	if (!m.is_json) {
		CHECK(r == RT_ERR);
		CHECK(msg_is(&err, PROTO_INVALID_FORMAT) || msg_is(&err, "message nested deeper than 32 levels") ||
		      msg_is(&err, "message must be a JSON object"));
		CHECK(m.type == PROTO_NONE && m.members == 0);
		free(buf);
		return;
	}
	CHECK(span_in(m.object, size) && m.object.len >= 2);
	CHECK(buf[m.object.off] == '{' && buf[m.object.off + m.object.len - 1] == '}');
	CHECK(strlen(m.username) <= PROTO_NAME_MAX && strlen(m.recipient) <= PROTO_NAME_MAX);
	CHECK(strlen(m.file_name) <= PROTO_FILE_NAME_MAX && strlen(m.file_type) <= PROTO_MIME_MAX);
	CHECK(m.username_too_long == (m.username_len > PROTO_NAME_MAX));
	CHECK(m.recipient_too_long == (m.recipient_len > PROTO_NAME_MAX));
	CHECK(m.file_name_truncated == (m.file_name_len > PROTO_FILE_NAME_MAX));
	CHECK(span_in(m.username_raw, size) && m.username_len <= m.username_raw.len);
	/* a decoded file name with markup in it is always flagged */
	if (strpbrk(m.file_name, PROTO_MARKUP_CHARS))
		CHECK(m.file_name_markup);
	(void)check_cuts(buf, size, &m);
	for (uint32_t i = 0; i < m.ncuts; i++) {
		struct proto_span c = m.cuts[i];
		CHECK(buf[c.off + c.len - 1] == ',' || buf[c.off] == ',' || m.members == m.ncuts);
	}
	if (m.data.len) {
		CHECK(span_in(m.data, size));
		long bad, n = ref_data(buf + m.data.off, m.data.len, &bad);
		CHECK(n == (long)m.data_len);
		if (r == RT_OK && m.type == PROTO_FILE_CHUNK)
			CHECK(bad < 0);
		unsigned at;
		if (r == RT_ERR && sscanf(err.msg, "\"file.data\" element %u is", &at) == 1)
			CHECK(bad == (long)at);
	}
	if (r == RT_OK) {
		CHECK(m.type != PROTO_NONE);
		if (proto_is_relay(m.type)) {
			CHECK(m.has_recipient);
			check_forward(buf, size, &m);
		}
	}
	free(buf);
}

/* Length of the piece of escaped text at e (n bytes): one escape, or one
 * UTF-8 character that needs none; 0 for anything else. */
static size_t esc_piece(const char *e, size_t n)
{
	const unsigned char *u = (const unsigned char *)e;

	if (u[0] == '\\') {
		if (n >= 6 && u[1] == 'u')
			return 6;
		return n >= 2 && u[1] && strchr("\"\\nrtbf", u[1]) ? 2 : 0;
	}
	if (u[0] < 0x20 || u[0] == 0x7f || u[0] == '"')
		return 0;
	for (size_t k = 1; k <= 4 && k <= n; k++)
		if (valid_utf8(u, k))
			return k;
	return 0;
}

/* The input up to its first NUL (at most 300 bytes), escaped, is a run of
 * pieces that reads back as the input with each byte that is not UTF-8
 * replaced by U+FFFD; escaped into a buffer of exactly its size it fits;
 * into a small one, it is cut between pieces where the next did not fit;
 * into none, nothing is written. */
static void check_escape(const uint8_t *data, size_t size)
{
	char in[301], esc[301 * 6 + 1], exact[301 * 6 + 1], small[64], msg[2048];
	unsigned char want[301 * 3];
	size_t n = 0, wl = 0;
	struct proto_msg m;
	struct rt_err err;

	while (n < size && n < 300 && data[n])
		n++;
	memcpy(in, data, n);
	in[n] = '\0';
	for (size_t i = 0; i < n;) {
		size_t k = 1;
		while (k <= 4 && (i + k > n || !valid_utf8((const unsigned char *)in + i, k)))
			k++;
		if (k <= 4) {
			memcpy(want + wl, in + i, k);
			wl += k;
			i += k;
		} else {
			memcpy(want + wl, "\xef\xbf\xbd", 3);
			wl += 3;
			i++;
		}
	}
	int len = proto_escape_string(in, esc, sizeof esc);
	CHECK(len >= 0 && (size_t)len == strlen(esc));
	for (size_t at = 0, k; at < (size_t)len; at += k)
		CHECK((k = esc_piece(esc + at, (size_t)len - at)) > 0);
	snprintf(msg, sizeof msg, "{\"type\":\"SET_USERNAME\",\"username\":\"%s\"}", esc);
	CHECK(parse_text(msg, &m, &err) == RT_OK);
	/* Cut at a character boundary past PROTO_NAME_MAX bytes. */
	size_t kept = strlen(m.username), most = wl < PROTO_NAME_MAX ? wl : PROTO_NAME_MAX;
	CHECK(m.username_len == wl && kept <= most && kept + 3 >= most);
	CHECK(memcmp(m.username, want, kept) == 0);

	CHECK(proto_escape_string(in, exact, (size_t)len + 1) == len && strcmp(exact, esc) == 0);

	size_t cap = size ? 1 + data[size - 1] % sizeof small : 0;
	int cut = proto_escape_string(in, small, cap);
	CHECK(cut == len);
	if (cap) {
		size_t k = strlen(small), at = 0;
		CHECK(k < cap && memcmp(small, esc, k) == 0);
		while (at < k)
			at += esc_piece(esc + at, (size_t)len - at);
		CHECK(at == k);
		if (k < (size_t)len)
			CHECK(k + esc_piece(esc + k, (size_t)len - k) >= cap);
		snprintf(msg, sizeof msg, "{\"type\":\"SET_USERNAME\",\"username\":\"%s\"}", small);
		CHECK(parse_text(msg, &m, &err) == RT_OK);
	}
	char none = 'N';
	CHECK(proto_escape_string(in, &none, 0) == len && none == 'N');

	/* The server's messages, with the input as the text and names. */
	const char *names[4] = {in, "bob", in, NULL};
	char out[8192];
	size_t w = proto_format_error(out, sizeof out, in);
	CHECK(w < sizeof out && w == strlen(out));
	CHECK(parse_text(out, &m, &err) == RT_ERR && m.is_json && msg_is(&err, "unknown message type \"ERROR\""));
	w = proto_format_username_set(out, sizeof out, in, names, 4, "bob", 3);
	CHECK(w < sizeof out && w == strlen(out));
	CHECK(parse_text(out, &m, &err) == RT_ERR && m.is_json && m.members == 3);
	w = proto_format_user_list(out, sizeof out, names, 4, in, 3);
	CHECK(w < sizeof out && parse_text(out, &m, &err) == RT_ERR && m.is_json && m.members == 2);
	w = proto_format_username_error(small, cap, in);
	CHECK(w >= strlen("{\"type\":\"USERNAME_ERROR\",\"message\":\"\"}"));
}

/* The binary relay header: fields inside the message, and a header
 * rewritten with the same name parses back to the same fields. */
static void check_binary(const uint8_t *data, size_t size)
{
	struct proto_binary b, b2;
	struct rt_err err;
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (proto_binary_parse(copy, size, &b, &err) != RT_OK) {
		CHECK(err.msg[0] != '\0');
		free(copy);
		return;
	}
	CHECK(b.data_off <= size && b.data_off + b.data_len == size);
	size_t n = strlen(b.name);
	if (n >= 1) {
		uint8_t hdr[PROTO_BIN_HEADER_MAX];
		size_t hl = proto_binary_header(hdr, b.name, b.tid, b.offset);
		CHECK(hl <= sizeof hdr);
		CHECK(proto_binary_parse(hdr, hl, &b2, &err) == RT_OK);
		CHECK(strcmp(b2.name, b.name) == 0 && b2.offset == b.offset && b2.data_len == 0);
		CHECK(memcmp(b2.tid, b.tid, PROTO_BIN_TID) == 0);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_escape(data, size);
	check_binary(data, size);
	return 0;
}
