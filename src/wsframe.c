/*
 * wsframe.c: RFC 6455 framing for the server side (see wsframe.h).
 * Owns: header decoding, unmasking, fragment assembly, the rules on
 * control frames, close bodies and UTF-8.
 * Must not: do I/O or keep anything but the reader's assembly state.
 */
#include "autoconf.h"
#include "wsframe.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static bool is_control(uint8_t op)
{
	return op & 0x8;
}

enum wsf_peek_result wsf_peek(const struct wsf_reader *r, const uint8_t *p, size_t n, struct wsf_header *h,
			      uint16_t *code, const char **why)
{
	if (n < 2)
		return WSF_PEEK_MORE;
	uint8_t b0 = p[0], b1 = p[1];
	uint8_t op = b0 & 0x0f;
	*code = 1002;
	if (b0 & 0x70) {
		*why = "reserved bits set (no extension was agreed)";
		return WSF_PEEK_ERROR;
	}
	if (op != WSF_OP_CONT && op != WSF_OP_TEXT && op != WSF_OP_BINARY && op != WSF_OP_CLOSE && op != WSF_OP_PING &&
	    op != WSF_OP_PONG) {
		*why = "unknown opcode";
		return WSF_PEEK_ERROR;
	}
	if (!(b1 & 0x80)) {
		*why = "client frames must be masked";
		return WSF_PEEK_ERROR;
	}
	bool fin = b0 & 0x80;
	uint64_t len = b1 & 0x7f;
	if (is_control(op)) {
		if (!fin) {
			*why = "fragmented control frame";
			return WSF_PEEK_ERROR;
		}
		if (len > WSF_MAX_CONTROL) {
			*why = "control frame longer than 125 bytes";
			return WSF_PEEK_ERROR;
		}
	} else if (op == WSF_OP_CONT && !r->msg_op) {
		*why = "continuation frame without a message to continue";
		return WSF_PEEK_ERROR;
	} else if (op != WSF_OP_CONT && r->msg_op) {
		*why = "new message inside a fragmented one";
		return WSF_PEEK_ERROR;
	}
	size_t hl = 2;
	if (len == 126) {
		if (n < 4)
			return WSF_PEEK_MORE;
		len = (uint64_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (len == 127) {
		if (n < 10)
			return WSF_PEEK_MORE;
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | p[i];
		if (len >> 63) {
			*why = "frame length with the top bit set";
			return WSF_PEEK_ERROR;
		}
		hl = 10;
	}
	if (!is_control(op) && r->max_message) {
		uint64_t before = op == WSF_OP_CONT ? r->frag_len : 0;
		if (len > r->max_message || before + len > r->max_message) {
			*code = 1009;
			*why = "message too big";
			return WSF_PEEK_ERROR;
		}
	}
	if (n < hl + 4)
		return WSF_PEEK_MORE;
	memcpy(h->mask, p + hl, 4);
	h->opcode = op;
	h->fin = fin;
	h->header_len = hl + 4;
	h->payload_len = len;
	h->frame_len = hl + 4 + len;
	return WSF_PEEK_OK;
}

void wsf_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t at)
{
	uint8_t m[8];
	for (int i = 0; i < 8; i++)
		m[i] = mask[(at + (uint64_t)i) & 3];
	size_t i = 0;
	/* byte by byte until p is 8-aligned, keeping the mask in phase */
	while (i < n && ((uintptr_t)(p + i) & 7)) {
		p[i] ^= m[i & 3];
		i++;
	}
	uint64_t m64;
	uint8_t rot[8];
	for (int k = 0; k < 8; k++)
		rot[k] = m[(i + (size_t)k) & 3];
	memcpy(&m64, rot, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		v ^= m64;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= m[i & 3];
}

static void error(struct wsf_event *ev, uint16_t code, const char *why)
{
	ev->kind = WSF_EV_ERROR;
	ev->code = code;
	ev->why = why;
}

bool wsf_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

static void take_close(const uint8_t *pl, size_t n, struct wsf_event *ev)
{
	if (n == 0) {
		ev->kind = WSF_EV_CLOSE;
		ev->code = 1005;
		return;
	}
	if (n == 1) {
		error(ev, 1002, "close frame with a 1-byte body");
		return;
	}
	uint16_t code = (uint16_t)(pl[0] << 8 | pl[1]);
	if (!wsf_close_code_valid(code)) {
		error(ev, 1002, "invalid close code");
		return;
	}
	if (!utf8_valid(pl + 2, n - 2)) {
		error(ev, 1007, "close reason is not valid UTF-8");
		return;
	}
	ev->kind = WSF_EV_CLOSE;
	ev->code = code;
	ev->data = pl + 2;
	ev->len = n - 2;
}

static void deliver(uint8_t op, const uint8_t *data, size_t len, struct wsf_event *ev)
{
	if (op == WSF_OP_TEXT && !utf8_valid(data, len)) {
		error(ev, 1007, "text message is not valid UTF-8");
		return;
	}
	ev->kind = op == WSF_OP_TEXT ? WSF_EV_TEXT : WSF_EV_BINARY;
	ev->data = data;
	ev->len = len;
}

void wsf_take(struct wsf_reader *r, const struct wsf_header *h, uint8_t *p, struct wsf_event *ev)
{
	uint8_t *pl = p + h->header_len;
	size_t n = (size_t)h->payload_len;
	memset(ev, 0, sizeof *ev);
	wsf_unmask(pl, n, h->mask, 0);
	switch (h->opcode) {
	case WSF_OP_PING:
		ev->kind = WSF_EV_PING;
		ev->data = pl;
		ev->len = n;
		return;
	case WSF_OP_PONG:
		ev->kind = WSF_EV_PONG;
		ev->data = pl;
		ev->len = n;
		return;
	case WSF_OP_CLOSE:
		take_close(pl, n, ev);
		return;
	default:
		break;
	}
	if (h->opcode != WSF_OP_CONT && h->fin) {
		deliver(h->opcode, pl, n, ev); /* the common case: in place */
		return;
	}
	if (h->opcode != WSF_OP_CONT) {
		r->msg_op = h->opcode;
		r->frag_len = 0;
	}
	if (r->frag_len + n > r->frag_cap) {
		size_t cap = r->frag_cap ? r->frag_cap : 1024;
		while (cap < r->frag_len + n)
			cap *= 2;
		uint8_t *nb = realloc(r->frag, cap);
		if (!nb) {
			ev->kind = WSF_EV_NOMEM;
			ev->code = 1011;
			return;
		}
		r->frag = nb;
		r->frag_cap = cap;
	}
	if (n)
		memcpy(r->frag + r->frag_len, pl, n);
	r->frag_len += n;
	if (!h->fin) {
		ev->kind = WSF_EV_NONE;
		return;
	}
	uint8_t op = r->msg_op;
	r->msg_op = 0;
	size_t len = r->frag_len;
	r->frag_len = 0;
	deliver(op, r->frag, len, ev);
}

void wsf_trim(struct wsf_reader *r)
{
	if (!r->msg_op)
		wsf_reset(r);
}

void wsf_reset(struct wsf_reader *r)
{
	free(r->frag);
	r->frag = NULL;
	r->frag_len = r->frag_cap = 0;
	r->msg_op = 0;
}

size_t wsf_server_header(uint8_t *out, uint8_t opcode, uint64_t len)
{
	out[0] = 0x80 | (opcode & 0x0f);
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}
