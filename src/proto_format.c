/*
 * proto_format.c: the JSON text the server writes: string escaping and the
 * server's own messages of protocol v1 and its extensions.
 * Owns: JSON string escaping (the daemon's only escaper: logs and REST
 * replies use it too), the field order and spelling of the server's
 * messages, the wire names of the error codes.
 * Must not: allocate, log, do I/O, or read client messages (proto.c does).
 */
#include "autoconf.h"
#include "proto.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define LIT(s) s, sizeof(s) - 1

/* A text written into a caller's buffer, snprintf-style. */
struct wbuf {
	char *out;
	size_t cap;
	size_t len; /* bytes the whole text needs */
	size_t written; /* bytes in out: a prefix that stopped at a piece that did not fit */
};

/* Length of the valid UTF-8 sequence that starts s (n bytes readable),
 * or 0 if none does (RFC 3629: no overlong forms, no surrogates). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* A piece goes into the buffer whole or not at all, and once one did not
 * fit nothing more does: what is written is always a prefix of the text
 * that ends between pieces. */
static void w_put(struct wbuf *w, const char *s, size_t n)
{
	if (w->written == w->len && w->cap > 0 && n < w->cap - w->written) {
		memcpy(w->out + w->written, s, n);
		w->written += n;
	}
	w->len += n;
}

static void w_str(struct wbuf *w, const char *s)
{
	w_put(w, s, strlen(s));
}

/* One piece per character, so a cut never falls inside an escape or a
 * UTF-8 sequence. */
static void w_escaped(struct wbuf *w, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		char esc[6];
		size_t k;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			w_put(w, esc, 2);
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
			w_put(w, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			w_put(w, esc, 6);
			i++;
		} else if ((k = utf8_seq(s + i, n - i)) > 0) {
			w_put(w, (const char *)s + i, k);
			i += k;
		} else {
			w_put(w, LIT("\\ufffd"));
			i++;
		}
	}
}

static size_t w_finish(struct wbuf *w)
{
	if (w->cap > 0)
		w->out[w->written] = '\0';
	return w->len;
}

int proto_escape_bytes(const char *in, size_t n, char *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_escaped(&w, (const unsigned char *)in, n);
	size_t len = w_finish(&w);
	return len > INT_MAX ? INT_MAX : (int)len;
}

int proto_escape_string(const char *in, char *out, size_t cap)
{
	return proto_escape_bytes(in, in ? strlen(in) : 0, out, cap);
}

static void w_quoted(struct wbuf *w, const char *s)
{
	w_put(w, LIT("\""));
	w_escaped(w, (const unsigned char *)s, strlen(s));
	w_put(w, LIT("\""));
}

static void w_names(struct wbuf *w, const char *const *names, size_t n, const char *exclude, size_t max)
{
	size_t count = 0;

	w_put(w, LIT("["));
	for (size_t i = 0; i < n && count < max; i++) {
		if (!names[i] || (exclude && strcmp(names[i], exclude) == 0))
			continue;
		if (count++)
			w_put(w, LIT(","));
		w_quoted(w, names[i]);
	}
	w_put(w, LIT("]"));
}

size_t proto_format_username_set(char *out, size_t cap, const char *username, const char *const *names, size_t n,
				 const char *exclude, size_t max)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_str(&w, "{\"type\":\"USERNAME_SET\",\"username\":");
	w_quoted(&w, username);
	w_str(&w, ",\"availableUsers\":");
	w_names(&w, names, n, exclude, max);
	w_str(&w, "}");
	return w_finish(&w);
}

size_t proto_format_user_list(char *out, size_t cap, const char *const *names, size_t n, const char *exclude,
			      size_t max)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_str(&w, "{\"type\":\"USER_LIST\",\"users\":");
	w_names(&w, names, n, exclude, max);
	w_str(&w, "}");
	return w_finish(&w);
}

/* {"type":"<type>","message":"<message>"} */
static size_t format_message(char *out, size_t cap, const char *type, const char *message)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_str(&w, "{\"type\":\"");
	w_str(&w, type);
	w_str(&w, "\",\"message\":");
	w_quoted(&w, message);
	w_str(&w, "}");
	return w_finish(&w);
}

size_t proto_format_username_error(char *out, size_t cap, const char *message)
{
	return format_message(out, cap, "USERNAME_ERROR", message);
}

size_t proto_format_error(char *out, size_t cap, const char *message)
{
	return format_message(out, cap, "ERROR", message);
}

/* clang-format off */
static const char *const error_codes[] = {
	[ERR_INVALID_FORMAT] = "invalid_format",
	[ERR_BAD_MESSAGE] = "bad_message",
	[ERR_NOT_REGISTERED] = "not_registered",
	[ERR_NOT_ONLINE] = "not_online",
	[ERR_SLOW_RECIPIENT] = "slow_recipient",
	[ERR_BINARY] = "binary",
	[ERR_USERNAME_INVALID] = "username_invalid",
	[ERR_USERNAME_TAKEN] = "username_taken",
	[ERR_NO_BINARY] = "no_binary_relay",
	[ERR_NO_TRANSFER] = "no_transfer",
	[ERR_RATE_LIMITED] = "rate_limited",
	[ERR_UNSAFE_FILE_NAME] = "unsafe_file_name",
};
/* clang-format on */
_Static_assert(RT_ARRAY_LEN(error_codes) == ERR_COUNT, "a wire name for every error code");

const char *proto_error_code(enum proto_error e)
{
	return (unsigned)e < ERR_COUNT ? error_codes[e] : "?";
}

size_t proto_format_error_ext(char *out, size_t cap, const char *message, const char *code, const char *user)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_str(&w, "{\"type\":\"ERROR\",\"message\":");
	w_quoted(&w, message);
	w_str(&w, ",\"code\":");
	w_quoted(&w, code);
	if (user) {
		w_str(&w, ",\"user\":");
		w_quoted(&w, user);
	}
	w_str(&w, "}");
	return w_finish(&w);
}

size_t proto_format_pong(char *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, 0 };

	w_str(&w, "{\"type\":\"PONG\"}");
	return w_finish(&w);
}

size_t proto_format_capabilities(char *out, size_t cap, bool binary_relay, uint64_t max_message, bool extended,
				 uint64_t max_outbound)
{
	int n;
	if (extended)
		n = snprintf(out, cap,
			     "{\"type\":\"CAPABILITIES\",\"binaryRelay\":%s,\"maxMessageBytes\":%llu,"
			     "\"maxOutboundBytes\":%llu,\"transfer\":1,\"iceServers\":true}",
			     binary_relay ? "true" : "false", (unsigned long long)max_message,
			     (unsigned long long)max_outbound);
	else
		n = snprintf(out, cap, "{\"type\":\"CAPABILITIES\",\"binaryRelay\":%s,\"maxMessageBytes\":%llu}",
			     binary_relay ? "true" : "false", (unsigned long long)max_message);
	return n < 0 ? 0 : (size_t)n;
}

size_t proto_format_peer_info(char *out, size_t cap, const char *user, bool online, unsigned transfer,
			      bool binary_relay)
{
	struct wbuf w = { out, cap, 0, 0 };
	w_str(&w, "{\"type\":\"PEER_INFO\",\"user\":");
	w_quoted(&w, user);
	char tail[96];
	int n = snprintf(tail, sizeof tail, ",\"online\":%s,\"transfer\":%u,\"binaryRelay\":%s}",
			 online ? "true" : "false", transfer, binary_relay ? "true" : "false");
	w_put(&w, tail, n < 0 ? 0 : (size_t)n);
	return w_finish(&w);
}
