/*
 * FUZZ_SOURCES: src/proto.c src/util.c
 * FUZZ_LIBS: -lwslay
 * fuzz_ws.c: libFuzzer target for the client side of a worker's WebSocket
 * connection: the bytes a client sends after the upgrade, through wslay's
 * event API configured as ws.c configures it, into the text path ws.c and
 * room.c take (UTF-8 check, proto_parse(), proto_relay_slices()).
 * Input: 2 control bytes, then the client's byte stream.
 *   c[0] bits 0-3: max_recv_msg_length = 1 KiB << (bits % 12), 1 KiB..2 MiB;
 *        bits 4-5: how the socket takes our writes: 0 and 3 everything,
 *        1 a few bytes per call, 2 at most 64 bytes per loop turn, then
 *        WSLAY_ERR_WOULDBLOCK (as ws.c's send_cb does at 256 KiB).
 *   c[1] bits 0-3: the stream arrives in reads of 1 to 2^bits bytes (0:
 *        one byte at a time); the rest seeds the sizes.
 * Each read is handed to wslay_event_recv() through the recv callback,
 * then wslay_event_send() runs, as ws.c's process() and flush() do. The
 * run stops when wslay_event_recv() fails (ws.c then writes a close frame
 * by hand) or, after a final flush, once wslay stops reading.
 * Checked:
 *   - a message is no longer than the limit; every text message wslay
 *     delivers is valid UTF-8 by the reference validator here, and
 *     util.c's utf8_valid() (what ws.c checks text with) agrees with it;
 *   - proto_parse() of a text message: spans inside the message; an
 *     accepted relayed message gives 1..PROTO_RELAY_SLICES non-empty
 *     slices, each inside the object, the sender or one of the literals,
 *     adding up to the expected length, valid UTF-8 and read back as a
 *     JSON object of the same type with a sender and no recipient;
 *   - what the server writes is only unmasked, final pong and close frames
 *     of at most 125 bytes, nothing after the close, no more bytes than
 *     the client sent plus 4; a close received is answered with its code;
 *     when wslay stops reading it has sent a close;
 *   - json_escape_append() (util.c) on the raw input, at a fitting size
 *     and cut short: never writes past cap, keeps what was before *pos,
 *     gives JSON string content that is valid UTF-8 with only the escapes
 *     it may use, decodes to the input with each byte that is not UTF-8
 *     replaced by U+FFFD, and a cut output is a prefix of the whole one,
 *     cut between pieces, with the next piece not fitting.
 * With -DFUZZ_WS_STRICT_CLOSE_REASON a close reason must be UTF-8 too:
 * wslay 1.1.1 gets that wrong when the reason arrives in small reads.
 * utf8_valid() is also compared with the reference on the raw input.
 */
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "fuzz_ws: check failed at line %d: %s\n", __LINE__, #cond);                    \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

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
		CHECK(k->opcode == WSLAY_PONG || k->opcode == WSLAY_CONNECTION_CLOSE);
		k->st = SK_HDR1;
		break;
	case SK_HDR1:
		CHECK((b & 0x80) == 0); /* a server does not mask */
		k->left = b & 0x7f;
		CHECK(k->left <= 125);
		CHECK(k->opcode != WSLAY_CONNECTION_CLOSE || k->left != 1);
		k->at = 0;
		k->code = 0;
		k->st = SK_PAYLOAD;
		break;
	case SK_PAYLOAD:
		if (k->opcode == WSLAY_CONNECTION_CLOSE && k->at < 2)
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
		if (k->opcode == WSLAY_CONNECTION_CLOSE) {
			k->close_done = true;
			k->st = SK_CLOSED;
		} else {
			k->st = SK_HDR0;
		}
	}
}

/* ---- the connection ---- */

struct conn {
	wslay_event_context_ptr ctx;
	uint64_t limit;
	const uint8_t *in; /* the current read */
	size_t in_left;
	size_t fed; /* stream bytes given to wslay */
	int send_mode;
	size_t turn_sent; /* mode 2: bytes taken this loop turn */
	uint32_t rs;
	struct sink sink;
	char *sender; /* heap, so slices into it are told apart */
	bool close_msg; /* a close message was delivered */
	uint16_t close_code; /* its status code, 0 for none */
	size_t texts, binaries;
};

static uint32_t next_rand(uint32_t *s)
{
	/* xorshift32 */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct conn *c = user;
	(void)flags;
	CHECK(len > 0);
	if (c->in_left == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < c->in_left ? len : c->in_left;
	memcpy(buf, c->in, n);
	c->in += n;
	c->in_left -= n;
	c->fed += n;
	return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct conn *c = user;
	size_t n = len;
	(void)flags;
	CHECK(len > 0);
	if (c->send_mode == 1) {
		size_t most = 1 + next_rand(&c->rs) % 8;
		if (n > most)
			n = most;
	} else if (c->send_mode == 2) {
		if (c->turn_sent >= 64) {
			wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
			return -1;
		}
		if (n > 64 - c->turn_sent)
			n = 64 - c->turn_sent;
		c->turn_sent += n;
	}
	for (size_t i = 0; i < n; i++)
		sink_byte(&c->sink, data[i]);
	return (ssize_t)n;
}

static bool span_in(struct proto_span sp, size_t len)
{
	return (size_t)sp.off + sp.len <= len;
}

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
	bool others = m->members > 1;
	size_t want = strlen("{\"sender\":\"") + strlen(c->sender) + ((others || add) ? 2 : 1) + (m->object.len - 2) -
		      m->recipient_member.len + 1;
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
	CHECK(r == RT_ERR); /* "sender" is the server's to set */
	CHECK(m2.is_json && m2.type == m->type && m2.has_sender && !m2.has_recipient);
	CHECK(m2.object.off == 0 && m2.object.len == total);
	CHECK(m2.members == m->members + (add ? 1u : 0u));
	free(out);
}

/* What room.c's on_text does with a message, as far as proto.c goes. */
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
	if (m.has_recipient) {
		CHECK(span_in(m.recipient_member, len) && m.recipient_member.len > 0);
		CHECK(m.recipient_member.off > m.object.off &&
		      m.recipient_member.off + m.recipient_member.len < m.object.off + m.object.len);
	} else {
		CHECK(m.recipient_member.len == 0);
	}
	if (m.data.len) {
		CHECK(span_in(m.data, len));
		CHECK(msg[m.data.off] == '[' && msg[m.data.off + m.data.len - 1] == ']');
	}
	if (r == RT_OK) {
		CHECK(m.type != PROTO_NONE);
		CHECK(proto_type_name(m.type)[0] != '\0');
		if (proto_is_relay(m.type)) {
			CHECK(m.has_recipient && !m.has_sender);
			check_relay(c, msg, len, &m);
		}
	}
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct conn *c = user;

	CHECK(arg->msg_length <= c->limit);
	CHECK(arg->msg_length == 0 || arg->msg != NULL);
	CHECK(!c->close_msg); /* nothing is read after a close */
	switch (arg->opcode) {
	case WSLAY_TEXT_FRAME: {
		/* ws.c: utf8_valid(), 1007 when it fails. wslay checked the
		 * text already, so the reference must agree. */
		bool ok = ref_utf8(arg->msg, arg->msg_length);
		CHECK(ok);
		CHECK(utf8_valid(arg->msg, arg->msg_length) == ok);
		CHECK(wslay_event_get_read_enabled(ctx));
		c->texts++;
		on_text(c, (const char *)arg->msg, arg->msg_length);
		break;
	}
	case WSLAY_BINARY_FRAME:
		CHECK(wslay_event_get_read_enabled(ctx));
		c->binaries++; /* room.c answers with an ERROR; nothing to parse */
		break;
	case WSLAY_CONNECTION_CLOSE:
		/* wslay has queued its answer and stopped reading */
		CHECK(!wslay_event_get_read_enabled(ctx));
		/* wslay takes a 1-byte close body (RFC 6455 5.5.1 has no
		 * such thing) as one without a code: ws.c records 1005 and
		 * wslay answers with an empty close. Allowed here. */
		if (arg->msg_length >= 2) {
			CHECK(arg->status_code == (uint16_t)(arg->msg[0] << 8 | arg->msg[1]));
			/* wslay 1.1.1 checks a close reason's UTF-8 from the
			 * third byte of every read, not of the payload: a reason
			 * read a byte at a time is not checked at all, and a
			 * valid one split inside a character gets 1007. ws.c
			 * never uses the reason (wslay echoes it to the same
			 * client), so this is only checked on request. */
#ifdef FUZZ_WS_STRICT_CLOSE_REASON
			CHECK(ref_utf8(arg->msg + 2, arg->msg_length - 2));
#endif
		} else {
			CHECK(arg->status_code == 0);
		}
		c->close_msg = true;
		c->close_code = arg->status_code;
		break;
	case WSLAY_PING:
	case WSLAY_PONG:
		CHECK(arg->msg_length <= 125);
		break;
	default:
		CHECK(!"unknown opcode delivered");
	}
}

/* ws.c's flush(): a failure there means the connection is reaped. */
static void flush(struct conn *c)
{
	c->turn_sent = 0;
	CHECK(wslay_event_send(c->ctx) == 0);
}

static void run_stream(const uint8_t *data, size_t size)
{
	struct conn c;
	struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb, .send_callback = send_cb, .on_msg_recv_callback = msg_cb};
	const uint8_t *p = data + 2;
	size_t n = size - 2;

	memset(&c, 0, sizeof c);
	c.limit = (uint64_t)1024 << ((data[0] & 15) % 12);
	c.send_mode = (data[0] >> 4) & 3;
	c.rs = 0x9e3779b9u ^ ((uint32_t)data[1] << 16) ^ (uint32_t)n;
	if (c.rs == 0)
		c.rs = 1;
	c.sender = strdup("alice");
	CHECK(c.sender != NULL);
	CHECK(wslay_event_context_server_init(&c.ctx, &cbs, &c) == 0);
	wslay_event_config_set_max_recv_msg_length(c.ctx, c.limit);

	size_t maxread = (size_t)1 << (data[1] & 15);
	bool failed = false;
	for (size_t off = 0; off < n;) {
		size_t r = 1 + next_rand(&c.rs) % maxread;
		if (r > n - off)
			r = n - off;
		if (!wslay_event_get_read_enabled(c.ctx))
			break; /* ws.c drops what comes after that */
		c.in = p + off;
		c.in_left = r;
		off += r;
		int rc = wslay_event_recv(c.ctx);
		if (rc != 0) {
			/* only the peer breaking the framing gets here */
			CHECK(rc == WSLAY_ERR_CALLBACK_FAILURE);
			CHECK(!wslay_event_get_read_enabled(c.ctx));
			failed = true;
			break;
		}
		/* every byte of a read is taken while reading is on */
		CHECK(c.in_left == 0 || !wslay_event_get_read_enabled(c.ctx));
		flush(&c);
	}

	if (!failed) {
		/* the rest of what is queued, as writecb() would */
		for (int i = 0; wslay_event_want_write(c.ctx); i++) {
			CHECK(i < 100000);
			flush(&c);
		}
		if (!wslay_event_get_read_enabled(c.ctx)) {
			/* wslay stopped reading: it has sent a close */
			CHECK(wslay_event_get_close_sent(c.ctx));
			CHECK(c.sink.close_done && c.sink.st == SK_CLOSED);
			uint16_t sent = wslay_event_get_status_code_sent(c.ctx);
			CHECK(sent == (c.sink.code ? c.sink.code : WSLAY_CODE_NO_STATUS_RCVD));
			if (c.close_msg) {
				/* answered with the peer's own code */
				CHECK(wslay_event_get_close_received(c.ctx));
				CHECK(sent == (c.close_code ? c.close_code : WSLAY_CODE_NO_STATUS_RCVD));
			} else {
				CHECK(sent == WSLAY_CODE_PROTOCOL_ERROR || sent == WSLAY_CODE_MESSAGE_TOO_BIG ||
				      sent == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
			}
		} else {
			CHECK(!c.close_msg && !c.sink.close_done);
		}
		CHECK(c.sink.st == SK_HDR0 || c.sink.st == SK_CLOSED);
	}
	CHECK(c.sink.close_done == (wslay_event_get_close_sent(c.ctx) != 0));
	CHECK(c.sink.bytes <= c.fed + 4);
	CHECK(c.fed <= n);
	wslay_event_context_free(c.ctx);
	free(c.sender);
}

/* ---- json_escape_append() ---- */

/* Length of the piece of escaped text at e (n bytes), checking its form. */
static size_t esc_piece(const char *e, size_t n)
{
	const uint8_t *u = (const uint8_t *)e;
	if (u[0] == '\\') {
		CHECK(n >= 2);
		if (u[1] == 'u') {
			CHECK(n >= 6 && memcmp(e, "\\u", 2) == 0);
			return 6;
		}
		CHECK(u[1] == '"' || u[1] == '\\' || u[1] == 'n' || u[1] == 'r' || u[1] == 't');
		return 2;
	}
	CHECK(u[0] >= 0x20 && u[0] != 0x7f && u[0] != '"');
	size_t k = ref_char(u, n);
	CHECK(k > 0);
	return k;
}

static int hexval(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'a' && h <= 'f')
		return h - 'a' + 10;
	CHECK(!"not a lower-case hex digit");
	return 0;
}

/* Decodes escaped text e[0, n) into out (big enough); returns its length. */
static size_t esc_decode(const char *e, size_t n, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = esc_piece(e + i, n - i);
		if (e[i] != '\\') {
			memcpy(out + o, e + i, k);
			o += k;
		} else if (e[i + 1] == 'u') {
			if (memcmp(e + i, "\\ufffd", 6) == 0) {
				memcpy(out + o, "\xef\xbf\xbd", 3);
				o += 3;
			} else {
				CHECK(e[i + 2] == '0' && e[i + 3] == '0');
				int v = hexval(e[i + 4]) << 4 | hexval(e[i + 5]);
				CHECK(v < 0x20 || v == 0x7f);
				CHECK(v != '\n' && v != '\r' && v != '\t' && v != 0);
				out[o++] = (uint8_t)v;
			}
		} else {
			char ch = e[i + 1];
			out[o++] = (uint8_t)(ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch == 't' ? '\t' : ch);
		}
		i += k;
	}
	return o;
}

static void check_escape(const uint8_t *data, size_t size)
{
	size_t n = 0;
	while (n < size && n < 2048 && data[n])
		n++;
	char *in = malloc(n + 1);
	CHECK(in != NULL);
	memcpy(in, data, n);
	in[n] = '\0';

	/* What it must decode to: the input, bytes that are not UTF-8 as
	 * U+FFFD. */
	uint8_t *want = malloc(3 * n + 1);
	size_t wl = 0;
	CHECK(want != NULL);
	for (size_t i = 0; i < n;) {
		size_t k = ref_char((const uint8_t *)in + i, n - i);
		if (k) {
			memcpy(want + wl, in + i, k);
			wl += k;
			i += k;
		} else {
			memcpy(want + wl, "\xef\xbf\xbd", 3);
			wl += 3;
			i++;
		}
	}

	/* Something already in the buffer before *pos. */
	size_t pre = size ? data[size - 1] % 4 : 0;

	/* Room for everything: whole, exactly as big as needed plus one. */
	size_t bigcap = pre + 6 * n + 1;
	char *big = malloc(bigcap);
	CHECK(big != NULL);
	memset(big, 'P', pre);
	size_t pos = pre;
	json_escape_append(big, bigcap, &pos, in);
	CHECK(pos >= pre && pos < bigcap && big[pos] == '\0');
	for (size_t i = 0; i < pre; i++)
		CHECK(big[i] == 'P');
	size_t elen = pos - pre;
	const char *esc = big + pre;
	CHECK(ref_utf8((const uint8_t *)esc, elen));
	CHECK(memchr(esc, '\0', elen) == NULL);
	uint8_t *dec = malloc(3 * n + 1);
	CHECK(dec != NULL);
	size_t dl = esc_decode(esc, elen, dec);
	CHECK(dl == wl && memcmp(dec, want, wl) == 0);

	/* The exact size: it must still fit. */
	char *exact = malloc(pre + elen + 1);
	CHECK(exact != NULL);
	memset(exact, 'P', pre);
	pos = pre;
	json_escape_append(exact, pre + elen + 1, &pos, in);
	CHECK(pos == pre + elen && memcmp(exact + pre, esc, elen) == 0 && exact[pos] == '\0');

	/* Cut short: a prefix, between pieces, and the next one not fitting. */
	size_t cap = pre + 1 + (size > 1 ? (data[size - 2] * 3u) % (elen + 2) : 0);
	char *small = malloc(cap);
	CHECK(small != NULL);
	memset(small, 'P', pre);
	pos = pre;
	json_escape_append(small, cap, &pos, in);
	CHECK(pos >= pre && pos < cap && small[pos] == '\0');
	for (size_t i = 0; i < pre; i++)
		CHECK(small[i] == 'P');
	size_t sl = pos - pre;
	CHECK(sl <= elen && memcmp(small + pre, esc, sl) == 0);
	size_t b = 0;
	while (b < sl)
		b += esc_piece(esc + b, elen - b);
	CHECK(b == sl); /* never inside a piece */
	if (sl < elen)
		CHECK(pos + esc_piece(esc + sl, elen - sl) >= cap);

	/* Nothing to write into: untouched. */
	char none = 'N';
	pos = 0;
	json_escape_append(&none, 0, &pos, in);
	CHECK(none == 'N' && pos == 0);

	free(small);
	free(exact);
	free(dec);
	free(big);
	free(want);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_escape(data, size);
	CHECK(utf8_valid(data, size) == ref_utf8(data, size));
	if (size < 2)
		return 0;
	run_stream(data, size);
	return 0;
}
