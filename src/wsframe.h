/*
 * wsframe.h: the server side of RFC 6455 framing, as pure functions over
 * byte arrays (no I/O, no libevent), so that ws.c stays about connections
 * and the decoder can be unit-tested and fuzzed on its own.
 *
 * Reading: ws.c peeks at the first bytes of its input with wsf_peek(),
 * which says how long the whole frame is (or that the header is not
 * complete yet, or that the frame breaks the rules); once that many bytes
 * are available it hands the whole frame, in one contiguous writable
 * block, to wsf_take(), which unmasks it in place and returns at most one
 * event. A fragmented message is assembled in the reader; an unfragmented
 * one is returned in place, without a copy.
 *
 * Rules enforced (the close code to send in brackets): reserved bits and
 * opcodes (1002), client frames must be masked (1002), control frames are
 * final and at most 125 bytes (1002), a 64-bit length has its top bit
 * clear (1002), continuation only inside a fragmented message and no new
 * data message inside one (1002), messages longer than the limit (1009,
 * refused from the header, before the payload arrives), text messages and
 * close reasons must be UTF-8 (1007), a close frame's body is empty or a
 * valid code plus reason (1002).
 */
#ifndef RT_WSFRAME_H
#define RT_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSF_MAX_HEADER 14 /* 2 + 8 (length) + 4 (mask) */
#define WSF_MAX_CONTROL 125

enum wsf_op {
	WSF_OP_CONT = 0x0,
	WSF_OP_TEXT = 0x1,
	WSF_OP_BINARY = 0x2,
	WSF_OP_CLOSE = 0x8,
	WSF_OP_PING = 0x9,
	WSF_OP_PONG = 0xa,
};

struct wsf_reader {
	uint64_t max_message; /* longest message accepted (0: no limit) */
	uint8_t msg_op; /* opcode of the fragmented message in progress, or 0 */
	uint8_t *frag; /* its bytes so far (malloc'd; NULL when none) */
	size_t frag_len, frag_cap;
};

/* A frame header, as wsf_peek() read it. */
struct wsf_header {
	uint8_t opcode;
	bool fin;
	uint8_t mask[4];
	size_t header_len; /* bytes before the payload */
	uint64_t payload_len;
	uint64_t frame_len; /* header_len + payload_len */
};

enum wsf_peek_result {
	WSF_PEEK_MORE = 0, /* the header is not complete: wait for more bytes */
	WSF_PEEK_OK = 1, /* *h is filled: wait until h->frame_len bytes are there */
	WSF_PEEK_ERROR = -1, /* the frame breaks a rule: close with *code */
};

/* Reads the header at p (n bytes available, any n). On WSF_PEEK_ERROR,
 * *code and *why say why (why is a static string). */
enum wsf_peek_result wsf_peek(const struct wsf_reader *r, const uint8_t *p, size_t n, struct wsf_header *h,
			      uint16_t *code, const char **why);

enum wsf_event_kind {
	WSF_EV_NONE = 0, /* a fragment was taken in: nothing to deliver yet */
	WSF_EV_TEXT, /* a complete text message, valid UTF-8 */
	WSF_EV_BINARY, /* a complete binary message */
	WSF_EV_PING, /* answer with a pong carrying data */
	WSF_EV_PONG,
	WSF_EV_CLOSE, /* the peer's close: code (1005 when the body was empty) and reason */
	WSF_EV_ERROR, /* a rule broken: close with code */
	WSF_EV_NOMEM, /* the assembly buffer could not grow: close with 1011 */
};

struct wsf_event {
	enum wsf_event_kind kind;
	const uint8_t *data; /* message, ping/pong payload or close reason */
	size_t len;
	uint16_t code; /* WSF_EV_CLOSE and WSF_EV_ERROR */
	const char *why; /* WSF_EV_ERROR: a static string */
};

/* Takes the whole frame described by h (from wsf_peek() on the same
 * bytes), p pointing at its first header byte, h->frame_len bytes. The
 * payload is unmasked in place. ev->data points into p, or into the
 * reader's assembly buffer, and stays valid until the next call. */
void wsf_take(struct wsf_reader *r, const struct wsf_header *h, uint8_t *p, struct wsf_event *ev);

/* Frees the assembly buffer (the reader can be used again). */
void wsf_reset(struct wsf_reader *r);
/* Frees the assembly buffer unless a fragmented message is in progress
 * (call when done with the last event's data). */
void wsf_trim(struct wsf_reader *r);

/* XORs n bytes at p with mask, as if p started at offset `at` of the
 * masked payload. */
void wsf_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t at);

/* Writes the header of a final, unmasked server frame carrying len bytes
 * into out (at most 10 bytes); returns its length. */
size_t wsf_server_header(uint8_t *out, uint8_t opcode, uint64_t len);

/* Whether a close code may appear on the wire (RFC 6455 7.4; 1004-1006
 * and 1015 never may). */
bool wsf_close_code_valid(uint16_t code);

#endif
