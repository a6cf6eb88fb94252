/*
 * stun.h: the client side of a STUN Binding transaction (RFC 5389, whose
 * message format RFC 8489 keeps), as pure functions over byte arrays: the
 * request, the framing of a message on a stream, and the parsing of an
 * answer, which is untrusted input from the network. No I/O, no logging,
 * no clock: the metrics child's ICE checker (icecheck.c) owns the sockets.
 *
 * Refused, as RFC 5389 7.3 asks: anything that is not a STUN message (top
 * two bits, magic cookie, length not a multiple of 4 or not the size of
 * the datagram, an attribute running past the end), a message of another
 * transaction, method or class, an unknown comprehension-required
 * attribute, a bad FINGERPRINT, an error response without ERROR-CODE and
 * a success response without a mapped address. MESSAGE-INTEGRITY is not
 * checked (the request carries no credentials); attributes after it are
 * ignored, except FINGERPRINT.
 */
#ifndef RT_STUN_H
#define RT_STUN_H

#include "rtftd.h"

#define STUN_HEADER_LEN 20
#define STUN_TID_LEN 12 /* 96-bit transaction id */
#define STUN_MAGIC_COOKIE 0x2112A442u
/* The largest message the 16-bit length field allows. */
#define STUN_MAX_MESSAGE (STUN_HEADER_LEN + 0xfffc)

/* Message types of the Binding method (method 0x001 and a class). */
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_INDICATION 0x0011
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111

/* Attribute types this module reads (RFC 5389 18.2). */
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define STUN_ATTR_ERROR_CODE 0x0009
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_FINGERPRINT 0x8028

#define STUN_REASON_MAX 127 /* bytes kept of an ERROR-CODE reason phrase */

/* A transport address from MAPPED-ADDRESS or XOR-MAPPED-ADDRESS, already
 * un-XORed; addr in network order. */
struct stun_addr {
	int family; /* 4 or 6 */
	uint8_t addr[16]; /* the first 4 bytes for IPv4 */
	uint16_t port;
};

/* What an answer said. */
struct stun_response {
	uint16_t type; /* STUN_BINDING_SUCCESS or STUN_BINDING_ERROR */
	/* success: the reflexive address, from XOR-MAPPED-ADDRESS when the
	 * answer has one (mapped_xor), else from MAPPED-ADDRESS */
	struct stun_addr mapped;
	bool mapped_xor;
	/* error: 300..699 and the reason phrase, printable ASCII only (any
	 * other byte shown as '?'), cut at STUN_REASON_MAX bytes */
	int error_code;
	char reason[STUN_REASON_MAX + 1];
	bool has_fingerprint; /* a FINGERPRINT was there, and it was right */
};

/* Writes a Binding request without attributes for transaction tid (the
 * caller's random bytes) into out. Returns its length, STUN_HEADER_LEN.
 * Any caller, any thread. */
size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t tid[STUN_TID_LEN]);

/* Framing on a stream (STUN over TCP, RFC 5389 7.2.2: messages follow one
 * another without any framing of their own). buf holds the first n bytes
 * of a message. RT_OK with *msg_len the length of the whole message,
 * header included; RT_AGAIN while n < STUN_HEADER_LEN; RT_ERR with err set
 * when the header is not that of a STUN message (the stream is then
 * useless). */
int stun_frame_len(const uint8_t *buf, size_t n, size_t *msg_len, struct rt_err *err) RT_MUSTCHECK;

/* Parses buf[0, len), one whole message (a datagram, or what
 * stun_frame_len() said on a stream), as the answer to the Binding
 * request of transaction tid. RT_OK with *out filled (success or error
 * response: look at out->type); RT_ERR with err saying what is wrong, *out
 * then unspecified. Reads nothing outside buf[0, len); buf need not be
 * aligned. */
int stun_parse_response(const uint8_t *buf, size_t len, const uint8_t tid[STUN_TID_LEN], struct stun_response *out,
			struct rt_err *err) RT_MUSTCHECK;

/* "192.0.2.1:32853" or "[2001:db8::1]:32853" into buf (at least
 * STUN_ADDR_STRLEN bytes); returns buf. */
#define STUN_ADDR_STRLEN 56
const char *stun_addr_format(const struct stun_addr *a, char *buf, size_t len);

/* CRC-32 as FINGERPRINT uses it (ISO 3309 / ITU-T V.42, the one of zlib),
 * before the XOR with 0x5354554e. Exposed for tests. */
uint32_t stun_crc32(const uint8_t *p, size_t n);

#endif
