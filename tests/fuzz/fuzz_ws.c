/*
 * FUZZ_SOURCES: src/wsframe.c src/proto.c src/proto_json.c src/proto_format.c src/util.c
 * fuzz_ws.c: libFuzzer target for the client side of a worker's WebSocket
 * connection: the bytes a client sends after the upgrade, through
 * wsframe.c's decoder driven as ws.c drives it, into the text path ws.c
 * and session.c take (proto_parse(), proto_relay_slices()).
 * Input: 2 control bytes, then the client's byte stream.
 *   c[0] bits 0-3: the reader's max_message = 1 KiB << (bits % 12),
 *        1 KiB..2 MiB; bit 4 set: 0 (no limit).
 *   c[1] bits 0-3: the stream arrives in reads of 1 to 2^bits bytes (0:
 *        one byte at a time); the rest seeds the sizes.
 * Each read is appended to a growing input buffer; then, as long as
 * wsf_peek() of the head (given its first min(avail, 14) bytes) says OK
 * and the whole frame is there, exactly frame_len bytes are copied to a
 * fresh heap block (so ASan sees a read or write past the frame) and
 * handed to wsf_take(). The run stops at the first ERROR or NOMEM (from
 * either call) or after a CLOSE. wsf_trim() is called after each message
 * as ws.c does (after every event in the run in one go).
 * Checked:
 *   - wsf_peek(): never MORE with 14 bytes; on OK the lengths add up, the
 *     header alone gives the same answer and one byte less gives MORE;
 *   - a message is no longer than max_message (when not 0); every text
 *     message is valid UTF-8 by the reference validator here, and util.c's
 *     utf8_valid() agrees with it; an unfragmented message, a ping or pong
 *     payload and a close reason are delivered in place, inside the frame;
 *     pings and pongs are at most 125 bytes; a close code is valid on the
 *     wire (RFC 6455 7.4) or 1005 for an empty body, with a UTF-8 reason;
 *   - the events (kinds, bytes, codes) are the same when the stream is
 *     read in one go and in the reads above, and the same as those of the
 *     reference decoder here, a byte-at-a-time state machine written from
 *     RFC 6455. Where the RFC leaves a choice the reference allows it:
 *     when a header breaks two rules either code; a text message whose
 *     first fragments cannot begin valid UTF-8 may be refused (1007) at
 *     any of its fragments; a header cut off by the end of the stream may
 *     be refused early when every way of completing it is refused;
 *   - the answers ws.c writes (a pong with the ping's payload, a close
 *     with the peer's code), built with wsf_server_header(): only unmasked,
 *     final pong and close frames of at most 125 bytes, nothing after the
 *     close; wsf_server_header() on a length from the input reads back;
 *     wsf_unmask() at a position from the input matches a bytewise XOR;
 *   - proto_parse() of a text message: spans inside the message; an
 *     accepted relayed message gives 1..PROTO_RELAY_SLICES non-empty
 *     slices, each inside the object, the sender or one of the literals,
 *     adding up to the expected length, valid UTF-8 and read back as a
 *     JSON object of the same type with a sender and no recipient;
 * utf8_valid() is also compared with the reference on the raw input.
 */
#include "proto.h"
#include "util.h"
#include "wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "fuzz_ws: check failed at line %d: %s\n", __LINE__, #cond);                    \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#include "proto_checks.h"

/* ---- reference UTF-8 (RFC 3629), by decoding the code point ---- */

/* Length of the well-formed character at s (n bytes readable), or 0. */
static size_t ref_char(const uint8_t *s, size_t n)
{
	uint32_t cp, min;
	size_t k;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		k = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		k = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		k = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t j = 1; j < k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

static bool ref_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = ref_char(s + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* Whether s[0, n) can begin valid UTF-8: valid, but for a last character
 * that may still be completed (Unicode table 3-7, byte by byte). */
static bool ref_utf8_prefix(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = ref_char(s + i, n - i);
		if (k) {
			i += k;
			continue;
		}
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t need;
		if (c >= 0xc2 && c <= 0xdf)
			need = 2;
		else if (c >= 0xe0 && c <= 0xef)
			need = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 4;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (n - i >= need)
			return false; /* all there, and not a character */
		for (size_t j = 1; i + j < n; j++) {
			if (s[i + j] < (j == 1 ? lo : 0x80) || s[i + j] > (j == 1 ? hi : 0xbf))
				return false;
		}
		return true;
	}
	return true;
}

/* ---- the server's output: a frame checker that keeps no bytes ---- */

enum sink_state { SK_HDR0, SK_HDR1, SK_PAYLOAD, SK_CLOSED };

struct sink {
	enum sink_state st;
	uint8_t opcode;
	size_t left; /* payload bytes still to come */
	size_t at;   /* payload bytes seen */
	uint16_t code; /* of the close frame */
	bool close_done;
	size_t frames;
	size_t bytes;
};

static void sink_byte(struct sink *k, uint8_t b)
{
	k->bytes++;
	switch (k->st) {
	case SK_HDR0:
		CHECK((b & 0x80) != 0);    /* FIN: the server never fragments these */
		CHECK((b & 0x70) == 0);    /* no RSV bits */
		k->opcode = b & 0x0f;
		CHECK(k->opcode == WSF_OP_PONG || k->opcode == WSF_OP_CLOSE);
		k->st = SK_HDR1;
		break;
	case SK_HDR1:
		CHECK((b & 0x80) == 0); /* a server does not mask */
		k->left = b & 0x7f;
		CHECK(k->left <= 125);
		CHECK(k->opcode != WSF_OP_CLOSE || k->left != 1);
		k->at = 0;
		k->code = 0;
		k->st = SK_PAYLOAD;
		break;
	case SK_PAYLOAD:
		if (k->opcode == WSF_OP_CLOSE && k->at < 2)
			k->code = (uint16_t)(k->code << 8 | b);
		k->at++;
		k->left--;
		break;
	case SK_CLOSED:
		CHECK(!"a byte after the close frame");
		break;
	}
	if (k->st == SK_PAYLOAD && k->left == 0) {
		k->frames++;
		if (k->opcode == WSF_OP_CLOSE) {
			k->close_done = true;
			k->st = SK_CLOSED;
		} else {
			k->st = SK_HDR0;
		}
	}
}

static uint32_t next_rand(uint32_t *s)
{
	/* xorshift32 */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}


/* ---- what session.c knows of the connection ---- */

struct conn {
	char *sender; /* heap, so slices into it are told apart */
};


/* The literals proto_relay_slices() may add. */
static const char *const relay_lits[] = {
	"{\"sender\":\"", "\",", "\"", ",\"transferMode\":\"websocket\"}", "\"transferMode\":\"websocket\"}", "}",
};

static bool is_literal(const struct proto_slice *s)
{
	for (size_t i = 0; i < sizeof relay_lits / sizeof relay_lits[0]; i++)
		if (s->len == strlen(relay_lits[i]) && memcmp(s->p, relay_lits[i], s->len) == 0)
			return true;
	return false;
}

static void check_relay(struct conn *c, const char *msg, size_t len, const struct proto_msg *m)
{
	struct proto_slice sl[PROTO_RELAY_SLICES + 1];
	const char *obj = msg + m->object.off, *obj_end = obj + m->object.len;
	size_t n, total = 0;

	memset(sl, 0, sizeof sl);
	n = proto_relay_slices(msg, m, c->sender, sl);
	CHECK(n >= 1 && n <= PROTO_RELAY_SLICES);
	CHECK(sl[PROTO_RELAY_SLICES].p == NULL);
	for (size_t i = 0; i < n; i++) {
		CHECK(sl[i].len > 0 && sl[i].p != NULL);
		if (sl[i].p >= msg && sl[i].p < msg + len) {
			/* the client's members: strictly between its braces */
			CHECK(sl[i].p > obj && sl[i].len < (size_t)(obj_end - sl[i].p));
		} else if (sl[i].p == c->sender) {
			CHECK(sl[i].len == strlen(c->sender));
		} else {
			CHECK(is_literal(&sl[i]));
		}
		CHECK(sl[i].len <= len + 64);
		total += sl[i].len;
	}
	bool add = m->type == PROTO_FILE_METADATA && !m->has_transfer_mode;
	bool others = m->members > m->ncuts;
	size_t want = strlen("{\"sender\":\"") + strlen(c->sender) + ((others || add) ? 2 : 1) + (m->object.len - 2) -
		      check_cuts(msg, len, m) + 1;
	if (add)
		want += strlen("\"transferMode\":\"websocket\"") + (others ? 1 : 0);
	CHECK(total == want);
	CHECK(total <= len + strlen(c->sender) + 64);

	/* The forwarded text goes out as a text frame: it must be UTF-8 and a
	 * JSON object a client reads the same way. */
	char *out = malloc(total);
	CHECK(out != NULL);
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + at, sl[i].p, sl[i].len);
		at += sl[i].len;
	}
	CHECK(out[0] == '{' && out[total - 1] == '}');
	CHECK(ref_utf8((const uint8_t *)out, total));
	struct proto_msg m2;
	struct rt_err err;
	int r = proto_parse(out, total, &m2, &err);
	CHECK(r == RT_ERR); /* it has no recipient */
	CHECK(m2.is_json && m2.type == m->type && m2.has_sender && !m2.has_recipient);
	CHECK(m2.object.off == 0 && m2.object.len == total);
	CHECK(m2.members == m->members - m->ncuts + 1 + (add ? 1u : 0u) && m2.ncuts == 1);
	free(out);
}

/* What session.c's on_text does with a message, as far as proto.c goes. */
static void on_text(struct conn *c, const char *msg, size_t len)
{
	struct proto_msg m;
	struct rt_err err;

	err.msg[0] = '\x01';
	int r = proto_parse(msg, len, &m, &err);
	CHECK(r == RT_OK || r == RT_ERR);
	if (r == RT_ERR) {
		CHECK(err.msg[0] != '\x01' && err.msg[0] != '\0');
		CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
		CHECK(ref_utf8((const uint8_t *)err.msg, strlen(err.msg)));
	}
	if (!m.is_json) {
		CHECK(r == RT_ERR);
		return;
	}
	CHECK(span_in(m.object, len) && m.object.len >= 2);
	CHECK(msg[m.object.off] == '{' && msg[m.object.off + m.object.len - 1] == '}');
	CHECK(span_in(m.username_raw, len));
	CHECK(strlen(m.username) <= PROTO_NAME_MAX && strlen(m.recipient) <= PROTO_NAME_MAX);
	CHECK(strlen(m.file_name) <= PROTO_FILE_NAME_MAX && strlen(m.file_type) <= PROTO_MIME_MAX);
	(void)check_cuts(msg, len, &m);
	CHECK(m.ncuts >= (m.has_recipient ? 1u : 0u) + (m.has_sender ? 1u : 0u));
	if (m.data.len) {
		CHECK(span_in(m.data, len));
		CHECK(msg[m.data.off] == '[' && msg[m.data.off + m.data.len - 1] == ']');
	}
	if (r == RT_OK) {
		CHECK(m.type != PROTO_NONE);
		CHECK(proto_type_name(m.type)[0] != '\0');
		if (proto_is_relay(m.type)) {
			CHECK(m.has_recipient);
			check_relay(c, msg, len, &m);
		}
	}
}


/* ---- the events of a run ---- */

/* Error codes a reference event allows, as bits. */
#define C1002 1u
#define C1007 2u
#define C1009 4u
/* A reference event that is no event: the decoder may refuse the frame here. */
#define REF_MAY ((enum wsf_event_kind)100)

static unsigned code_bit(uint16_t code)
{
	return code == 1002 ? C1002 : code == 1007 ? C1007 : code == 1009 ? C1009 : 0;
}

struct rec {
	enum wsf_event_kind kind;
	uint16_t code;	/* CLOSE, ERROR */
	unsigned codes; /* reference ERROR: the codes allowed */
	bool may1007;	/* reference NONE: a 1007 here is allowed */
	size_t off, len; /* data in the list's bytes */
};

struct evlist {
	struct rec *v;
	size_t n, cap;
	uint8_t *bytes;
	size_t blen, bcap;
	unsigned pending; /* reference: codes an early refusal of a cut header may give */
};

static struct rec *ev_add(struct evlist *l, enum wsf_event_kind kind, uint16_t code, const uint8_t *data, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		CHECK(l->v != NULL);
	}
	if (l->blen + len > l->bcap) {
		size_t cap = l->bcap ? l->bcap : 256;
		while (cap < l->blen + len)
			cap *= 2;
		l->bytes = realloc(l->bytes, cap);
		CHECK(l->bytes != NULL);
		l->bcap = cap;
	}
	struct rec *e = &l->v[l->n++];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->code = code;
	e->off = l->blen;
	e->len = len;
	if (len)
		memcpy(l->bytes + l->blen, data, len);
	l->blen += len;
	return e;
}

static void ev_free(struct evlist *l)
{
	free(l->v);
	free(l->bytes);
}

/* ---- the reference decoder: RFC 6455 5.2-5.6, 7.4, 8.1, a byte at a time ---- */

enum ref_state { R_B0, R_B1, R_EXT, R_MASK, R_PAYLOAD, R_STOP };

struct refdec {
	uint64_t limit;
	enum ref_state st;
	uint8_t b0;
	bool masked;
	int ext_left, mask_got;
	int form; /* how the length is written: 7, 126 (16 bits), 127 (64 bits) */
	uint64_t len, at;
	uint8_t mask[4];
	uint8_t ctl[125]; /* a control frame's payload */
	bool in_msg;
	uint8_t msg_op;
	uint8_t *msg;
	size_t msg_len, msg_cap;
	struct evlist *out;
};

static bool is_control(uint8_t op)
{
	return op >= 8;
}

/* The codes a header breaks rules for (0: none). */
static unsigned ref_verdict(const struct refdec *d, uint8_t b0, bool masked, uint64_t len)
{
	uint8_t op = b0 & 0x0f;
	bool fin = (b0 & 0x80) != 0;
	unsigned c = 0;

	if (b0 & 0x70)
		c |= C1002;
	if (!(op <= 2 || (op >= 8 && op <= 10)))
		c |= C1002;
	if (!masked)
		c |= C1002;
	if (len >> 63)
		c |= C1002;
	if (is_control(op)) {
		if (!fin || len > 125)
			c |= C1002;
		return c;
	}
	if (op == 0 && !d->in_msg)
		c |= C1002;
	if (op != 0 && d->in_msg)
		c |= C1002;
	if (op <= 2 && d->limit) {
		uint64_t before = op == 0 ? d->msg_len : 0;
		if (len > d->limit || before + len > d->limit)
			c |= C1009;
	}
	return c;
}

static void ref_error(struct refdec *d, unsigned codes)
{
	struct rec *e = ev_add(d->out, WSF_EV_ERROR, 0, NULL, 0);
	e->codes = codes;
	d->st = R_STOP;
}

static void ref_frame_done(struct refdec *d)
{
	uint8_t op = d->b0 & 0x0f;
	bool fin = (d->b0 & 0x80) != 0;
	size_t n = (size_t)d->len;

	d->st = R_B0;
	if (op == WSF_OP_PING || op == WSF_OP_PONG) {
		ev_add(d->out, op == WSF_OP_PING ? WSF_EV_PING : WSF_EV_PONG, 0, d->ctl, n);
		return;
	}
	if (op == WSF_OP_CLOSE) {
		if (n == 0) {
			ev_add(d->out, WSF_EV_CLOSE, 1005, NULL, 0);
		} else if (n == 1) {
			ref_error(d, C1002);
			return;
		} else {
			uint16_t code = (uint16_t)(d->ctl[0] << 8 | d->ctl[1]);
			bool code_ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
				       (code >= 3000 && code <= 4999);
			bool reason_ok = ref_utf8(d->ctl + 2, n - 2);
			if (!code_ok || !reason_ok) {
				ref_error(d, (code_ok ? 0 : C1002) | (reason_ok ? 0 : C1007));
				return;
			}
			ev_add(d->out, WSF_EV_CLOSE, code, d->ctl + 2, n - 2);
		}
		d->st = R_STOP;
		return;
	}
	/* data: the payload is in d->msg already */
	if (op != 0)
		d->msg_op = op;
	if (!fin) {
		d->in_msg = true;
		struct rec *e = ev_add(d->out, WSF_EV_NONE, 0, NULL, 0);
		e->may1007 = d->msg_op == WSF_OP_TEXT && !ref_utf8_prefix(d->msg, d->msg_len);
		return;
	}
	if (d->msg_op == WSF_OP_TEXT && !ref_utf8(d->msg, d->msg_len)) {
		ref_error(d, C1007);
		return;
	}
	ev_add(d->out, d->msg_op == WSF_OP_TEXT ? WSF_EV_TEXT : WSF_EV_BINARY, 0, d->msg, d->msg_len);
	d->in_msg = false;
	d->msg_len = 0;
}

/* RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the
 * length". Accepting a longer form is fine, and so is refusing it (1002):
 * a header with one may be refused even where it breaks no other rule. */
static unsigned ref_may(int form, uint64_t len)
{
	return ((form == 126 && len < 126) || (form == 127 && len < 65536)) ? C1002 : 0;
}

static void ref_header_done(struct refdec *d)
{
	unsigned v = ref_verdict(d, d->b0, d->masked, d->len);
	unsigned may = ref_may(d->form, d->len);
	if (v) {
		ref_error(d, v | may);
		return;
	}
	if (may) {
		struct rec *e = ev_add(d->out, REF_MAY, 0, NULL, 0);
		e->codes = may;
	}
	if ((d->b0 & 0x0f) == WSF_OP_TEXT || (d->b0 & 0x0f) == WSF_OP_BINARY)
		d->msg_len = 0;
	d->at = 0;
	if (d->len == 0)
		ref_frame_done(d);
	else
		d->st = R_PAYLOAD;
}

static void ref_byte(struct refdec *d, uint8_t b)
{
	switch (d->st) {
	case R_B0:
		d->b0 = b;
		d->st = R_B1;
		break;
	case R_B1:
		d->masked = (b & 0x80) != 0;
		d->len = b & 0x7f;
		d->mask_got = 0;
		d->form = d->len >= 126 ? (int)d->len : 7;
		if (d->len >= 126) {
			d->ext_left = d->len == 126 ? 2 : 8;
			d->len = 0;
			d->st = R_EXT;
		} else if (d->masked) {
			d->st = R_MASK;
		} else {
			ref_header_done(d);
		}
		break;
	case R_EXT:
		d->len = d->len << 8 | b;
		if (--d->ext_left == 0) {
			if (d->masked)
				d->st = R_MASK;
			else
				ref_header_done(d);
		}
		break;
	case R_MASK:
		d->mask[d->mask_got++] = b;
		if (d->mask_got == 4)
			ref_header_done(d);
		break;
	case R_PAYLOAD: {
		uint8_t u = b ^ d->mask[d->at % 4];
		if (is_control(d->b0 & 0x0f))
			d->ctl[d->at] = u;
		else {
			/* grown as the bytes come: the length may be a lie */
			if (d->msg_len == d->msg_cap) {
				d->msg_cap = d->msg_cap ? 2 * d->msg_cap : 64;
				d->msg = realloc(d->msg, d->msg_cap);
				CHECK(d->msg != NULL);
			}
			d->msg[d->msg_len++] = u;
		}
		if (++d->at == d->len)
			ref_frame_done(d);
		break;
	}
	case R_STOP:
		break;
	}
}

/* At the end of the stream, inside a header: the codes every completion
 * of it breaks, found with the completion that breaks the fewest rules
 * (masked, and missing length bytes 0: the shortest length). */
static unsigned ref_cut_header(const struct refdec *d)
{
	switch (d->st) {
	case R_B1:
		return ref_verdict(d, d->b0, true, 0);
	case R_EXT: {
		/* the lengths left: [lo, hi]; the fewest rules are broken by
		 * the shortest, and by the shortest written minimally */
		uint64_t lo = d->ext_left >= 8 ? 0 : d->len << (8 * d->ext_left);
		uint64_t hi = d->ext_left >= 8 ? ~(uint64_t)0 : lo | (((uint64_t)1 << (8 * d->ext_left)) - 1);
		uint64_t least = d->form == 126 ? 126 : 65536;
		unsigned c = ref_verdict(d, d->b0, d->masked, lo) | ref_may(d->form, lo);
		if (hi >= least)
			c &= ref_verdict(d, d->b0, d->masked, lo > least ? lo : least);
		return c;
	}
	case R_MASK:
		return ref_verdict(d, d->b0, d->masked, d->len) | ref_may(d->form, d->len);
	default:
		return 0;
	}
}

static void ref_run(const uint8_t *p, size_t n, uint64_t limit, struct evlist *out)
{
	struct refdec d;
	memset(&d, 0, sizeof d);
	d.limit = limit;
	d.out = out;
	for (size_t i = 0; i < n && d.st != R_STOP; i++)
		ref_byte(&d, p[i]);
	out->pending = ref_cut_header(&d);
	free(d.msg);
}

/* ---- the decoder under test, driven as ws.c drives it ---- */

struct run {
	uint64_t limit;
	struct conn *c;
	bool deep;	   /* run the per-message checks (once per input) */
	bool trim_all;	   /* wsf_trim() after every event, not only after messages as ws.c */
	struct sink sink;  /* what ws.c answers */
	struct evlist evs;
};

static void answer(struct run *u, uint8_t op, uint16_t code, const uint8_t *data, size_t len)
{
	uint8_t hdr[16], body[2];
	memset(hdr, 0xee, sizeof hdr);
	size_t hl = wsf_server_header(hdr, op, len);
	CHECK(hl == 2 && hdr[10] == 0xee);
	for (size_t i = 0; i < hl; i++)
		sink_byte(&u->sink, hdr[i]);
	if (op == WSF_OP_CLOSE && len == 2) {
		body[0] = (uint8_t)(code >> 8);
		body[1] = (uint8_t)code;
		data = body;
	}
	for (size_t i = 0; i < len; i++)
		sink_byte(&u->sink, data[i]);
}

static bool inside(const uint8_t *q, size_t len, const uint8_t *p, size_t n)
{
	return q >= p && q <= p + n && len <= (size_t)(p + n - q);
}

/* Checks one event of the decoder for frame f (header h) and records it.
 * Returns whether the run goes on. */
static bool on_event(struct run *u, const struct wsf_header *h, const uint8_t *f, const struct wsf_event *ev)
{
	size_t flen = (size_t)h->frame_len;
	const uint8_t *pay = f + h->header_len;

	switch (ev->kind) {
	case WSF_EV_NONE:
		CHECK(!h->fin && !is_control(h->opcode));
		ev_add(&u->evs, WSF_EV_NONE, 0, NULL, 0);
		return true;
	case WSF_EV_TEXT:
	case WSF_EV_BINARY:
		CHECK(h->fin && !is_control(h->opcode));
		CHECK(ev->len == 0 || ev->data != NULL);
		CHECK(u->limit == 0 || ev->len <= u->limit);
		if (h->opcode != WSF_OP_CONT) /* unfragmented: in place */
			CHECK(ev->len == h->payload_len && (ev->len == 0 || ev->data == pay));
		if (ev->kind == WSF_EV_TEXT) {
			bool good = ref_utf8(ev->data, ev->len);
			CHECK(good);
			CHECK(utf8_valid(ev->data, ev->len) == good);
			if (u->deep)
				on_text(u->c, (const char *)ev->data, ev->len);
		}
		ev_add(&u->evs, ev->kind, 0, ev->data, ev->len);
		return true;
	case WSF_EV_PING:
	case WSF_EV_PONG:
		CHECK(h->opcode == (ev->kind == WSF_EV_PING ? WSF_OP_PING : WSF_OP_PONG));
		CHECK(ev->len <= WSF_MAX_CONTROL && ev->len == h->payload_len);
		CHECK(ev->len == 0 || inside(ev->data, ev->len, pay, flen - h->header_len));
		if (ev->kind == WSF_EV_PING)
			answer(u, WSF_OP_PONG, 0, ev->data, ev->len);
		ev_add(&u->evs, ev->kind, 0, ev->data, ev->len);
		return true;
	case WSF_EV_CLOSE:
		CHECK(h->opcode == WSF_OP_CLOSE);
		if (ev->code == 1005) {
			CHECK(h->payload_len == 0 && ev->len == 0);
		} else {
			CHECK(wsf_close_code_valid(ev->code));
			CHECK(h->payload_len == ev->len + 2);
			CHECK(ev->code == (uint16_t)(pay[0] << 8 | pay[1]));
			CHECK(ev->len == 0 || ev->data == pay + 2);
			CHECK(ref_utf8(ev->data, ev->len));
		}
		answer(u, WSF_OP_CLOSE, ev->code, NULL, ev->code == 1005 ? 0 : 2);
		CHECK(u->sink.close_done && u->sink.code == (ev->code == 1005 ? 0 : ev->code));
		ev_add(&u->evs, WSF_EV_CLOSE, ev->code, ev->data, ev->len);
		return false;
	case WSF_EV_ERROR:
		CHECK(ev->code == 1002 || ev->code == 1007 || ev->code == 1009);
		CHECK(ev->why != NULL && ev->why[0] != '\0');
		ev_add(&u->evs, WSF_EV_ERROR, ev->code, NULL, 0);
		return false;
	case WSF_EV_NOMEM:
		ev_add(&u->evs, WSF_EV_NOMEM, 0, NULL, 0);
		return false;
	}
	CHECK(!"an unknown event kind");
	return false;
}

/* Feeds the stream in reads of 1..maxread bytes (0: all at once). */
static void run_decoder(struct run *u, const uint8_t *s, size_t n, size_t maxread, uint32_t rs)
{
	struct wsf_reader r;
	uint8_t *buf = NULL;
	size_t cap = 0, start = 0, end = 0;
	bool going = true;

	memset(&r, 0, sizeof r);
	r.max_message = u->limit;
	for (size_t off = 0; off < n && going;) {
		size_t k = maxread ? 1 + next_rand(&rs) % maxread : n;
		if (k > n - off)
			k = n - off;
		if (start > 0) { /* keep the head at the start */
			memmove(buf, buf + start, end - start);
			end -= start;
			start = 0;
		}
		if (end + k > cap) {
			cap = (end + k) * 2;
			buf = realloc(buf, cap);
			CHECK(buf != NULL);
		}
		memcpy(buf + end, s + off, k);
		end += k;
		off += k;

		while (going) {
			size_t avail = end - start;
			size_t m = avail < WSF_MAX_HEADER ? avail : WSF_MAX_HEADER;
			struct wsf_header h;
			uint16_t code = 0;
			const char *why = NULL;
			memset(&h, 0xa5, sizeof h);
			enum wsf_peek_result pr = wsf_peek(&r, buf + start, m, &h, &code, &why);
			if (pr == WSF_PEEK_MORE) {
				CHECK(m < WSF_MAX_HEADER);
				break;
			}
			if (pr == WSF_PEEK_ERROR) {
				CHECK(code == 1002 || code == 1009);
				CHECK(why != NULL && why[0] != '\0');
				ev_add(&u->evs, WSF_EV_ERROR, code, NULL, 0);
				going = false;
				break;
			}
			CHECK(pr == WSF_PEEK_OK);
			CHECK(h.header_len >= 2 && h.header_len <= m);
			CHECK(h.frame_len == h.header_len + h.payload_len && h.frame_len >= h.payload_len);
			CHECK(u->limit == 0 || is_control(h.opcode) || h.payload_len <= u->limit);
			CHECK(!is_control(h.opcode) || (h.fin && h.payload_len <= WSF_MAX_CONTROL));
			CHECK(memcmp(h.mask, buf + start + h.header_len - 4, 4) == 0);
			{
				/* the header alone is enough, and all of it is needed */
				struct wsf_header h2;
				CHECK(wsf_peek(&r, buf + start, h.header_len, &h2, &code, &why) == WSF_PEEK_OK);
				CHECK(h2.header_len == h.header_len && h2.payload_len == h.payload_len &&
				      h2.frame_len == h.frame_len && h2.opcode == h.opcode && h2.fin == h.fin &&
				      memcmp(h2.mask, h.mask, 4) == 0);
				CHECK(wsf_peek(&r, buf + start, h.header_len - 1, &h2, &code, &why) == WSF_PEEK_MORE);
			}
			if (avail < h.frame_len)
				break;
			size_t flen = (size_t)h.frame_len;
			uint8_t *f = malloc(flen);
			CHECK(f != NULL);
			memcpy(f, buf + start, flen);
			struct wsf_event ev;
			memset(&ev, 0xa5, sizeof ev);
			wsf_take(&r, &h, f, &ev);
			going = on_event(u, &h, f, &ev);
			if (going && (u->trim_all || ev.kind == WSF_EV_TEXT || ev.kind == WSF_EV_BINARY)) {
				uint8_t op = r.msg_op;
				size_t fl = r.frag_len;
				wsf_trim(&r); /* done with the event's data */
				CHECK(r.msg_op == op && r.frag_len == fl);
				CHECK(op != 0 || (r.frag == NULL && r.frag_cap == 0));
			}
			free(f);
			start += flen;
		}
	}
	wsf_reset(&r);
	CHECK(r.frag == NULL && r.msg_op == 0);
	free(buf);
}

/* The decoder's events against the reference's. */
static void compare_ref(const struct evlist *a, const struct evlist *ref)
{
	size_t i = 0, j = 0;
	for (;;) {
		const struct rec *e = i < a->n ? &a->v[i] : NULL;
		bool refused = e && e->kind == WSF_EV_ERROR;
		for (; j < ref->n && ref->v[j].kind == REF_MAY; j++) {
			if (refused && (code_bit(e->code) & ref->v[j].codes)) {
				CHECK(i + 1 == a->n);
				return; /* a refusal the RFC allows */
			}
		}
		if (!e) {
			if (j != ref->n)
				fprintf(stderr, "fuzz_ws: decoder gave %zu events, reference more (%d)\n", a->n,
					ref->v[j].kind);
			CHECK(j == ref->n);
			return;
		}
		if (j == ref->n) {
			/* a header cut off by the end, refused early */
			if (!(refused && (code_bit(e->code) & ref->pending)))
				fprintf(stderr, "fuzz_ws: event %zu: decoder %d code %u, reference no more (%#x)\n", i,
					e->kind, e->code, ref->pending);
			CHECK(i + 1 == a->n && refused && (code_bit(e->code) & ref->pending));
			return;
		}
		const struct rec *w = &ref->v[j];
		if (refused && e->code == 1007 && w->kind == WSF_EV_NONE && w->may1007) {
			CHECK(i + 1 == a->n);
			return; /* text that cannot become UTF-8, refused early */
		}
		if (e->kind != w->kind || (refused && !(code_bit(e->code) & w->codes)))
			fprintf(stderr, "fuzz_ws: event %zu: decoder %d code %u, reference %d codes %#x\n", i, e->kind,
				e->code, w->kind, w->codes);
		CHECK(e->kind == w->kind);
		CHECK(!refused || (code_bit(e->code) & w->codes));
		CHECK(e->code == w->code || refused);
		CHECK(e->len == w->len && (e->len == 0 || memcmp(a->bytes + e->off, ref->bytes + w->off, e->len) == 0));
		i++;
		j++;
	}
}

/* Two runs of the decoder on the same stream: the very same events. */
static void compare_runs(const struct evlist *a, const struct evlist *b)
{
	CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++) {
		CHECK(a->v[i].kind == b->v[i].kind && a->v[i].code == b->v[i].code && a->v[i].len == b->v[i].len);
		CHECK(a->v[i].len == 0 || memcmp(a->bytes + a->v[i].off, b->bytes + b->v[i].off, a->v[i].len) == 0);
	}
}

static void run_stream(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 2;
	size_t n = size - 2;
	struct conn c;
	struct run whole, parts;
	struct evlist ref;
	uint64_t limit = (data[0] & 0x10) ? 0 : (uint64_t)1024 << ((data[0] & 15) % 12);
	uint32_t rs = 0x9e3779b9u ^ ((uint32_t)data[1] << 16) ^ (uint32_t)n;

	if (rs == 0)
		rs = 1;
	c.sender = strdup("alice");
	CHECK(c.sender != NULL);
	memset(&whole, 0, sizeof whole);
	memset(&parts, 0, sizeof parts);
	memset(&ref, 0, sizeof ref);
	whole.limit = parts.limit = limit;
	whole.c = parts.c = &c;
	parts.deep = true;
	whole.trim_all = true;

	run_decoder(&parts, p, n, (size_t)1 << (data[1] & 15), rs);
	run_decoder(&whole, p, n, 0, rs);
	ref_run(p, n, limit, &ref);
	compare_runs(&whole.evs, &parts.evs);
	compare_ref(&whole.evs, &ref);

	ev_free(&whole.evs);
	ev_free(&parts.evs);
	ev_free(&ref);
	free(c.sender);
}

/* ---- wsf_server_header() and wsf_unmask() on values from the input ---- */

static void check_helpers(const uint8_t *data, size_t size)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		v = v << 8 | data[i];
	static const uint8_t ops[] = {WSF_OP_TEXT, WSF_OP_BINARY, WSF_OP_CLOSE, WSF_OP_PING, WSF_OP_PONG};
	uint8_t op = ops[(size ? data[size - 1] : 0) % 5];
	uint64_t lens[3] = {v, v & 0xffff, v & 0x7f};
	for (int j = 0; j < 3; j++) {
		uint64_t len = lens[j];
		if (len >> 63)
			continue; /* not a length a frame may carry */
		uint8_t out[16];
		memset(out, 0xee, sizeof out);
		size_t n = wsf_server_header(out, op, len);
		CHECK(n == (len <= 125 ? 2u : len <= 0xffff ? 4u : 10u));
		CHECK(out[10] == 0xee);
		CHECK(out[0] == (0x80 | op) && (out[1] & 0x80) == 0);
		uint64_t back = out[1] & 0x7f;
		if (back == 126)
			back = (uint64_t)out[2] << 8 | out[3];
		else if (back == 127)
			for (int i = 0; i < 8; i++)
				back = back << 8 | out[2 + i];
		CHECK(back == len);
	}

	/* wsf_unmask(): the input as payload, at a position from it */
	size_t n = size < 300 ? size : 300;
	uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
	CHECK(a && b);
	uint8_t mask[4] = {(uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24), (uint8_t)(v >> 32)};
	uint64_t at = v ^ (v >> 17);
	memcpy(a, data, n);
	for (size_t i = 0; i < n; i++)
		b[i] = data[i] ^ mask[(at + i) % 4];
	size_t cut = n ? (size_t)(v % (n + 1)) : 0;
	wsf_unmask(a, cut, mask, at);
	wsf_unmask(a + cut, n - cut, mask, at + cut);
	CHECK(memcmp(a, b, n) == 0);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_helpers(data, size);
	CHECK(utf8_valid(data, size) == ref_utf8(data, size));
	if (size < 2)
		return 0;
	run_stream(data, size);
	return 0;
}
