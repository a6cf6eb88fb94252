/*
 * stun.c: STUN Binding request and answer (see stun.h).
 * Owns: the byte layout of RFC 5389 messages as a client sees them.
 * Must not: do I/O, log, allocate, or trust a length it has not checked
 * against the buffer.
 */
#include "autoconf.h"
#include "stun.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define FINGERPRINT_XOR 0x5354554eu

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t tid[STUN_TID_LEN])
{
	put16(out, STUN_BINDING_REQUEST);
	put16(out + 2, 0); /* no attributes */
	put32(out + 4, STUN_MAGIC_COOKIE);
	memcpy(out + 8, tid, STUN_TID_LEN);
	return STUN_HEADER_LEN;
}

uint32_t stun_crc32(const uint8_t *p, size_t n)
{
	/* reflected, polynomial 0x04c11db7, initial and final XOR all ones;
	 * bit by bit: a check runs on a few hundred bytes a minute */
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return c ^ 0xffffffffu;
}

/* The header checks shared by the framing and the parser (RFC 5389 7.3). */
static int check_header(const uint8_t *buf, size_t *body_len, struct rt_err *err)
{
	uint16_t type = get16(buf);
	uint16_t len = get16(buf + 2);
	if (type & 0xc000) {
		rt_err_set(err, "not a STUN message (first byte 0x%02x)", buf[0]);
		return RT_ERR;
	}
	if (get32(buf + 4) != STUN_MAGIC_COOKIE) {
		rt_err_set(err, "not a STUN message (no magic cookie)");
		return RT_ERR;
	}
	if (len % 4) {
		rt_err_set(err, "STUN message length %u is not a multiple of 4", len);
		return RT_ERR;
	}
	*body_len = len;
	return RT_OK;
}

int stun_frame_len(const uint8_t *buf, size_t n, size_t *msg_len, struct rt_err *err)
{
	size_t body;
	if (n < STUN_HEADER_LEN)
		return RT_AGAIN;
	if (check_header(buf, &body, err) != RT_OK)
		return RT_ERR;
	*msg_len = STUN_HEADER_LEN + body;
	return RT_OK;
}

/* Attribute types a Binding response may carry, in the
 * comprehension-required range (0x0000-0x7fff): those of RFC 5389, of RFC
 * 8489, of RFC 5780 and of RFC 3489 that a server of either era may
 * send, and TURN's (RFC 5766), in case a TURN server echoes one. Anything
 * else there makes the answer unusable (RFC 5389 7.3.3, 7.3.4). */
static bool known_required(uint16_t t)
{
	switch (t) {
	case 0x0001: /* MAPPED-ADDRESS */
	case 0x0002: /* RESPONSE-ADDRESS (RFC 3489) */
	case 0x0003: /* CHANGE-REQUEST (RFC 5780) */
	case 0x0004: /* SOURCE-ADDRESS (RFC 3489) */
	case 0x0005: /* CHANGED-ADDRESS (RFC 3489) */
	case 0x0006: /* USERNAME */
	case 0x0008: /* MESSAGE-INTEGRITY */
	case 0x0009: /* ERROR-CODE */
	case 0x000a: /* UNKNOWN-ATTRIBUTES */
	case 0x000b: /* REFLECTED-FROM (RFC 3489) */
	case 0x000c: /* CHANNEL-NUMBER (RFC 5766) */
	case 0x000d: /* LIFETIME */
	case 0x0012: /* XOR-PEER-ADDRESS */
	case 0x0013: /* DATA */
	case 0x0014: /* REALM */
	case 0x0015: /* NONCE */
	case 0x0016: /* XOR-RELAYED-ADDRESS */
	case 0x0018: /* EVEN-PORT */
	case 0x0019: /* REQUESTED-TRANSPORT */
	case 0x001a: /* DONT-FRAGMENT */
	case 0x001c: /* MESSAGE-INTEGRITY-SHA256 (RFC 8489) */
	case 0x001d: /* PASSWORD-ALGORITHM */
	case 0x001e: /* USERHASH */
	case 0x0020: /* XOR-MAPPED-ADDRESS */
	case 0x0022: /* RESERVATION-TOKEN */
	case 0x0026: /* PADDING (RFC 5780) */
	case 0x0027: /* RESPONSE-PORT */
		return true;
	default:
		return false;
	}
}

/* MAPPED-ADDRESS or XOR-MAPPED-ADDRESS (RFC 5389 15.1, 15.2); hdr is the
 * message header, for the XOR with cookie and transaction id. */
static int parse_address(const uint8_t *v, size_t len, bool xored, const uint8_t *hdr, struct stun_addr *a,
			 struct rt_err *err)
{
	const char *name = xored ? "XOR-MAPPED-ADDRESS" : "MAPPED-ADDRESS";
	if (len < 4) {
		rt_err_set(err, "%s of %zu bytes", name, len);
		return RT_ERR;
	}
	size_t alen;
	if (v[1] == 0x01) {
		a->family = 4;
		alen = 4;
	} else if (v[1] == 0x02) {
		a->family = 6;
		alen = 16;
	} else {
		rt_err_set(err, "%s of unknown family 0x%02x", name, v[1]);
		return RT_ERR;
	}
	if (len != 4 + alen) {
		rt_err_set(err, "%s of %zu bytes for IPv%d", name, len, a->family);
		return RT_ERR;
	}
	memset(a->addr, 0, sizeof a->addr);
	a->port = get16(v + 2);
	memcpy(a->addr, v + 4, alen);
	if (xored) {
		/* the port with the cookie's top half, the address with the
		 * cookie and then the transaction id, both as on the wire */
		a->port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
		for (size_t i = 0; i < alen; i++)
			a->addr[i] ^= hdr[4 + i];
	}
	return RT_OK;
}

/* ERROR-CODE (RFC 5389 15.6). */
static int parse_error_code(const uint8_t *v, size_t len, struct stun_response *out, struct rt_err *err)
{
	if (len < 4) {
		rt_err_set(err, "ERROR-CODE of %zu bytes", len);
		return RT_ERR;
	}
	int cls = v[2] & 0x07, num = v[3];
	if (cls < 3 || cls > 6 || num > 99) {
		rt_err_set(err, "ERROR-CODE with class %d and number %d", cls, num);
		return RT_ERR;
	}
	out->error_code = cls * 100 + num;
	size_t n = len - 4, k = 0;
	for (size_t i = 0; i < n && k < STUN_REASON_MAX; i++) {
		uint8_t c = v[4 + i];
		out->reason[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out->reason[k] = '\0';
	return RT_OK;
}

int stun_parse_response(const uint8_t *buf, size_t len, const uint8_t tid[STUN_TID_LEN], struct stun_response *out,
			struct rt_err *err)
{
	size_t body;
	memset(out, 0, sizeof *out);
	if (len < STUN_HEADER_LEN) {
		rt_err_set(err, "%zu bytes are too short for a STUN message", len);
		return RT_ERR;
	}
	if (check_header(buf, &body, err) != RT_OK)
		return RT_ERR;
	if (STUN_HEADER_LEN + body != len) {
		rt_err_set(err, "STUN message length %zu does not match its %zu bytes", body, len);
		return RT_ERR;
	}
	if (memcmp(buf + 8, tid, STUN_TID_LEN) != 0) {
		rt_err_set(err, "STUN message of another transaction");
		return RT_ERR;
	}
	out->type = get16(buf);
	if (out->type != STUN_BINDING_SUCCESS && out->type != STUN_BINDING_ERROR) {
		rt_err_set(err, "STUN message of type 0x%04x, not a Binding response", out->type);
		return RT_ERR;
	}

	bool have_plain = false, have_xor = false, have_error = false, after_integrity = false;
	struct stun_addr plain;
	memset(&plain, 0, sizeof plain); /* padding too: copied whole into out */
	size_t pos = STUN_HEADER_LEN;
	while (pos < len) {
		if (len - pos < 4) {
			rt_err_set(err, "STUN attribute header cut off at byte %zu", pos);
			return RT_ERR;
		}
		uint16_t t = get16(buf + pos), alen = get16(buf + pos + 2);
		size_t padded = ((size_t)alen + 3) & ~(size_t)3;
		const uint8_t *v = buf + pos + 4;
		if (padded > len - pos - 4) {
			rt_err_set(err, "STUN attribute 0x%04x of %u bytes runs past the end", t, alen);
			return RT_ERR;
		}
		if (out->has_fingerprint) {
			/* FINGERPRINT is last (RFC 5389 15.5) */
			rt_err_set(err, "STUN attribute 0x%04x after FINGERPRINT", t);
			return RT_ERR;
		}
		if (t == STUN_ATTR_FINGERPRINT) {
			if (alen != 4) {
				rt_err_set(err, "FINGERPRINT of %u bytes", alen);
				return RT_ERR;
			}
			/* over the message up to the attribute, with the length
			 * field as sent, which already counts the attribute */
			uint32_t want = stun_crc32(buf, pos) ^ FINGERPRINT_XOR;
			if (get32(v) != want) {
				rt_err_set(err, "wrong FINGERPRINT 0x%08x (0x%08x expected)", get32(v), want);
				return RT_ERR;
			}
			out->has_fingerprint = true;
		} else if (after_integrity) {
			/* ignored, RFC 5389 15.4 */
		} else if (t < 0x8000 && !known_required(t)) {
			rt_err_set(err, "unknown comprehension-required STUN attribute 0x%04x", t);
			return RT_ERR;
		} else if (t == STUN_ATTR_MESSAGE_INTEGRITY) {
			after_integrity = true;
		} else if (t == STUN_ATTR_XOR_MAPPED_ADDRESS && !have_xor && out->type == STUN_BINDING_SUCCESS) {
			/* only the first of repeated attributes counts (RFC 5389 15) */
			if (parse_address(v, alen, true, buf, &out->mapped, err) != RT_OK)
				return RT_ERR;
			have_xor = true;
		} else if (t == STUN_ATTR_MAPPED_ADDRESS && !have_plain && out->type == STUN_BINDING_SUCCESS) {
			if (parse_address(v, alen, false, buf, &plain, err) != RT_OK)
				return RT_ERR;
			have_plain = true;
		} else if (t == STUN_ATTR_ERROR_CODE && !have_error && out->type == STUN_BINDING_ERROR) {
			if (parse_error_code(v, alen, out, err) != RT_OK)
				return RT_ERR;
			have_error = true;
		}
		pos += 4 + padded;
	}

	if (out->type == STUN_BINDING_ERROR) {
		if (!have_error) {
			rt_err_set(err, "STUN error response without ERROR-CODE");
			return RT_ERR;
		}
		return RT_OK;
	}
	if (have_xor) {
		out->mapped_xor = true;
	} else if (have_plain) {
		out->mapped = plain;
	} else {
		rt_err_set(err, "STUN success response without a mapped address");
		return RT_ERR;
	}
	return RT_OK;
}

const char *stun_addr_format(const struct stun_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (!len)
		return buf;
	if (!inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->addr, ip, sizeof ip))
		snprintf(ip, sizeof ip, "?");
	if (a->family == 6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}
