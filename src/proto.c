/*
 * proto.c: the RTFT v1 signaling messages. A client's message is checked
 * by a recursive-descent scanner that reads each byte once, keeps no tree
 * and allocates nothing: it records where the members the server cares
 * about are, and the few short strings among them are decoded afterwards.
 * This file walks the members and judges them; the JSON values under them
 * (strings, numbers, skipped values, the 262144 numbers of a FILE_CHUNK's
 * data array) are read by proto_json.c.
 * Owns: the walk of the message object and its "file" object (so the keys
 * and places of members are known), what each message type must hold,
 * the forwarded form of a relayed message (JSON slices, and the binary
 * header), which is cut from the spans the scan recorded.
 * It also holds the name rule (proto_name_check) and the trimming of a
 * requested name, so there is one of each.
 * Must not: allocate, log, do I/O, know who is online, or write the server's own
 * messages (proto_format.c).
 */
#include "autoconf.h"
#include "proto.h"
#include "proto_json.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>

/* What a value is, told by its first byte. */
enum vkind {
	VK_NONE = 0, /* the member is absent */
	VK_OBJECT,
	VK_ARRAY,
	VK_STRING,
	VK_NUMBER,
	VK_TRUE,
	VK_FALSE,
	VK_NULL,
};

/* A member the server looks at: its last occurrence, and how many. */
struct field {
	enum vkind kind;
	uint32_t count;
	const unsigned char *val; /* a string's bytes between the quotes, else the value's text */
	size_t len;
};

/* Top-level keys. */
enum {
	K_TYPE,
	K_USERNAME,
	K_RECIPIENT,
	K_SENDER,
	K_OFFER,
	K_ANSWER,
	K_CANDIDATE,
	K_FILE,
	K_FILE_NAME, /* "fileName" of FILE_COMPLETE */
	K_TRANSFER_MODE,
	K_BINARY_RELAY, /* "binaryRelay" of CAPABILITIES */
	K_TRANSFER, /* "transfer" of CAPABILITIES */
	K_ICE_SERVERS, /* "iceServers" of CAPABILITIES */
	K_USER, /* "user" of PEER_INFO */
	K_ID, /* "id" of TRANSFER */
	K_ACTION, /* "action" of TRANSFER */
	K_TOP_COUNT,
};

/* Keys of the "file" object. */
enum {
	F_NAME,
	F_SIZE,
	F_TYPE,
	F_OFFSET,
	F_DATA,
	F_COUNT,
};

struct key {
	const char *name;
	size_t len;
};

/* clang-format off */
#define KEY(s) {s, sizeof(s) - 1}
/* clang-format on */

static const struct key top_keys[K_TOP_COUNT] = {
	[K_TYPE] = KEY("type"),
	[K_USERNAME] = KEY("username"),
	[K_RECIPIENT] = KEY("recipient"),
	[K_SENDER] = KEY("sender"),
	[K_OFFER] = KEY("offer"),
	[K_ANSWER] = KEY("answer"),
	[K_CANDIDATE] = KEY("candidate"),
	[K_FILE] = KEY("file"),
	[K_FILE_NAME] = KEY("fileName"),
	[K_TRANSFER_MODE] = KEY("transferMode"),
	[K_BINARY_RELAY] = KEY("binaryRelay"),
	[K_TRANSFER] = KEY("transfer"),
	[K_ICE_SERVERS] = KEY("iceServers"),
	[K_USER] = KEY("user"),
	[K_ID] = KEY("id"),
	[K_ACTION] = KEY("action"),
};

/* clang-format off */
static const struct key file_keys[F_COUNT] = {
	[F_NAME] = KEY("name"), [F_SIZE] = KEY("size"), [F_TYPE] = KEY("type"),
	[F_OFFSET] = KEY("offset"), [F_DATA] = KEY("data"),
};
/* clang-format on */

/* Longest key above, so a longer decoded key is none of them. */
#define KEY_MAX 12

static const char *const type_names[] = {
	[PROTO_NONE] = "",
	[PROTO_SET_USERNAME] = "SET_USERNAME",
	[PROTO_GET_USERS] = "GET_USERS",
	[PROTO_PING] = "PING",
	[PROTO_WEBRTC_OFFER] = "WEBRTC_OFFER",
	[PROTO_WEBRTC_ANSWER] = "WEBRTC_ANSWER",
	[PROTO_WEBRTC_ICE_CANDIDATE] = "WEBRTC_ICE_CANDIDATE",
	[PROTO_FILE_METADATA] = "FILE_METADATA",
	[PROTO_FILE_CHUNK] = "FILE_CHUNK",
	[PROTO_FILE_COMPLETE] = "FILE_COMPLETE",
	[PROTO_CAPABILITIES] = "CAPABILITIES",
	[PROTO_TRANSFER] = "TRANSFER",
	[PROTO_PEER_INFO] = "PEER_INFO",
	[PROTO_GET_ICE_SERVERS] = "GET_ICE_SERVERS",
};
_Static_assert(RT_ARRAY_LEN(type_names) == PROTO_TYPE_COUNT, "a name for every type");

/* Scanner state: the cursor, and what was recorded on the way. */
struct scan {
	struct proto_json j;
	bool is_object;
	const unsigned char *open, *close; /* the top-level braces */
	uint32_t members;
	struct field top[K_TOP_COUNT];
	/* The last top-level "file" object. */
	struct field file[F_COUNT];
	/* The last "data" array of that object. */
	struct proto_json_bytes data;
	/* The members cut from a forwarded message ("recipient" and every
	 * "sender"), in order: where each key starts and its value ends, the
	 * commas on either side of it, if any, and whether a member that
	 * stays comes before it. */
	struct cut_at {
		const unsigned char *key, *end, *comma_before, *comma_after;
		bool kept_before;
	} cuts[PROTO_CUTS_MAX];
	uint32_t ncuts;
	bool too_many_cuts; /* more "sender" members than PROTO_SENDER_MAX */
	bool name_markup; /* some file name holds a PROTO_MARKUP_CHARS character */
};

static enum vkind kind_of(unsigned char c)
{
	switch (c) {
	case '{':
		return VK_OBJECT;
	case '[':
		return VK_ARRAY;
	case '"':
		return VK_STRING;
	case 't':
		return VK_TRUE;
	case 'f':
		return VK_FALSE;
	case 'n':
		return VK_NULL;
	default:
		return VK_NUMBER;
	}
}

/* The key at the cursor (on its '"'): its index in keys, or -1 for any
 * other key. Keys are compared decoded, so "\u0074ype" is "type", as a
 * browser reads it. Returns -2 on a syntax error. */
static int scan_key(struct scan *s, const struct key *keys, int nkeys)
{
	unsigned char buf[KEY_MAX + 1];
	struct proto_json_dec d = { buf, KEY_MAX + 1, 0 };

	if (!proto_json_string(&s->j, &d))
		return -2;
	if (d.len > KEY_MAX)
		return -1;
	for (int i = 0; i < nkeys; i++)
		if (keys[i].len == d.len && memcmp(keys[i].name, buf, d.len) == 0)
			return i;
	return -1;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A JSON string value [v, vend) (with its quotes, already checked by the
 * lexer) holds, decoded, one of PROTO_MARKUP_CHARS: spelt as itself, as
 * \" or as a \u escape. All of it is read, however long. */
static bool string_has_markup(const unsigned char *v, const unsigned char *vend)
{
	if (vend - v < 2 || *v != '"')
		return false;
	for (const unsigned char *p = v + 1, *end = vend - 1; p < end; p++) {
		unsigned cp = *p;
		if (cp == '\\' && p + 1 < end) {
			p++;
			cp = *p == 'u' ? 0 : *p;
			if (*p == 'u' && end - p > 4) {
				for (int i = 1; i <= 4; i++)
					cp = cp << 4 | (unsigned)hex_digit(p[i]);
				p += 4;
			} else if (*p != '"') {
				continue; /* \\ \/ \b \f \n \r \t: none of them */
			}
		}
		if (cp < 0x80 && cp != 0 && strchr(PROTO_MARKUP_CHARS, (int)cp))
			return true;
	}
	return false;
}

/* Records the value [v, vend) as the last occurrence of a member. */
static void note(struct field *f, const unsigned char *v, const unsigned char *vend)
{
	f->kind = kind_of(*v);
	f->count++;
	if (f->kind == VK_STRING) {
		f->val = v + 1;
		f->len = (size_t)(vend - v) - 2;
	} else {
		f->val = v;
		f->len = (size_t)(vend - v);
	}
}

/* Steps from a member's value to the next key, or over the closing
 * character. Returns 1 after a comma, 0 after the close, -1 on error;
 * *comma is set to the comma. */
static int next_member(struct scan *s, unsigned char close, const unsigned char **comma)
{
	struct proto_json *j = &s->j;

	proto_json_ws(j);
	if (proto_json_peek(j) == ',') {
		*comma = j->p;
		j->p++;
		proto_json_ws(j);
		return 1;
	}
	if (proto_json_peek(j) != close) {
		proto_json_syntax(j);
		return -1;
	}
	j->p++;
	return 0;
}

/* A top-level "file" object: its members replace those of an earlier one. */
static bool scan_file(struct scan *s)
{
	struct proto_json *j = &s->j;
	const unsigned char *comma;

	memset(s->file, 0, sizeof s->file);
	memset(&s->data, 0, sizeof s->data);
	if (!proto_json_enter(j))
		return false;
	proto_json_ws(j);
	if (proto_json_peek(j) == '}') {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (proto_json_peek(j) != '"')
			return proto_json_syntax(j);
		int k = scan_key(s, file_keys, F_COUNT);
		if (k == -2)
			return false;
		proto_json_ws(j);
		if (proto_json_peek(j) != ':')
			return proto_json_syntax(j);
		j->p++;
		proto_json_ws(j);
		const unsigned char *v = j->p;
		bool ok = k == F_DATA && proto_json_peek(j) == '[' ? proto_json_bytes(j, &s->data)
								   : proto_json_skip_value(j);
		if (!ok)
			return false;
		if (k >= 0)
			note(&s->file[k], v, j->p);
		if (k == F_NAME && string_has_markup(v, j->p))
			s->name_markup = true;
		int r = next_member(s, '}', &comma);
		if (r < 0)
			return false;
		if (r == 0)
			break;
	}
	j->depth--;
	return true;
}

/* The whole message: one value and nothing but white space around it. */
static bool scan_message(struct scan *s)
{
	struct proto_json *j = &s->j;
	const unsigned char *comma = NULL;
	bool cut_last = false; /* the member just scanned is one to cut */
	bool kept = false; /* a member that stays was scanned */

	proto_json_ws(j);
	if (proto_json_peek(j) != '{') {
		if (!proto_json_skip_value(j))
			return false;
		goto tail;
	}
	s->is_object = true;
	s->open = j->p;
	if (!proto_json_enter(j))
		return false;
	proto_json_ws(j);
	if (proto_json_peek(j) == '}') {
		s->close = j->p;
		j->p++;
		j->depth--;
		goto tail;
	}
	for (;;) {
		if (proto_json_peek(j) != '"')
			return proto_json_syntax(j);
		const unsigned char *key = j->p;
		int k = scan_key(s, top_keys, K_TOP_COUNT);
		if (k == -2)
			return false;
		proto_json_ws(j);
		if (proto_json_peek(j) != ':')
			return proto_json_syntax(j);
		j->p++;
		proto_json_ws(j);
		const unsigned char *v = j->p;
		bool ok = k == K_FILE && proto_json_peek(j) == '{' ? scan_file(s) : proto_json_skip_value(j);
		if (!ok)
			return false;
		s->members++;
		if (k >= 0)
			note(&s->top[k], v, j->p);
		if (k == K_FILE_NAME && string_has_markup(v, j->p))
			s->name_markup = true;
		cut_last = false;
		if (k == K_RECIPIENT || k == K_SENDER) {
			if (s->ncuts < PROTO_CUTS_MAX) {
				s->cuts[s->ncuts++] = (struct cut_at){ key, j->p, comma, NULL, kept };
				cut_last = true;
			} else {
				s->too_many_cuts = true;
			}
		} else {
			kept = true;
		}
		int r = next_member(s, '}', &comma);
		if (r < 0)
			return false;
		if (r == 0) {
			s->close = j->p - 1;
			break;
		}
		if (cut_last)
			s->cuts[s->ncuts - 1].comma_after = comma;
	}
	j->depth--;
tail:
	proto_json_ws(j);
	if (j->p != j->end)
		return proto_json_syntax(j);
	return true;
}

static int fail_msg(struct rt_err *err, const char *fmt, ...) RT_PRINTF(2, 3);
static int fail_msg(struct rt_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return RT_ERR;
}

/* Decodes the string of f (which the scanner checked) into out, a buffer
 * of cap + 1 bytes, cut at a character boundary if longer. Returns the
 * bytes kept; *full gets the whole decoded length. */
static size_t decode_field(const struct field *f, char *out, size_t cap, size_t *full)
{
	struct proto_json s;
	struct proto_json_dec d = { (unsigned char *)out, cap, 0 };

	memset(&s, 0, sizeof s);
	/* The scanner starts on the opening quote, the byte before the
	 * recorded text, which it does not read. */
	s.p = f->val - 1;
	s.end = f->val + f->len + 1;
	(void)proto_json_string(&s, &d);
	*full = d.len;
	return proto_json_dec_finish(&d);
}

/* decode_field() into one of m's strings: its length and whether it was cut. */
static void decode_into(const struct field *f, char *out, size_t cap, uint32_t *len, bool *cut)
{
	size_t full;

	(void)decode_field(f, out, cap, &full);
	*len = full > UINT32_MAX ? UINT32_MAX : (uint32_t)full;
	*cut = full > cap;
}

static struct proto_span span_of(const struct scan *s, const unsigned char *from, const unsigned char *to)
{
	struct proto_span sp = { (uint32_t)(from - s->j.base), (uint32_t)(to - from) };
	return sp;
}

/* A member to cut with one adjacent comma, so that what stays is valid
 * JSON whichever members are cut: the comma before it when a member that
 * stays comes before it, else the comma after it (if any). Two cuts never
 * take the same comma: a comma between two cut members goes with the
 * first when nothing before it stays, else with the second. */
static struct proto_span member_cut(const struct scan *s, const struct cut_at *c)
{
	if (c->kept_before)
		return span_of(s, c->comma_before, c->end);
	if (c->comma_after)
		return span_of(s, c->key, c->comma_after + 1);
	return span_of(s, c->key, c->end);
}

static bool field_is_string(const struct field *f, const char *want)
{
	size_t n = strlen(want);
	/* Compared decoded: "web\u0072tc" is "webrtc" to a browser. */
	char buf[16];
	size_t full;
	if (f->kind != VK_STRING || n >= sizeof buf)
		return false;
	(void)decode_field(f, buf, sizeof buf - 1, &full);
	return full == n && memcmp(buf, want, n) == 0;
}

static bool field_uint(const struct field *f, uint64_t *out)
{
	return f->kind == VK_NUMBER && proto_json_uint(f->val, f->len, out);
}

/* The error for an unknown type, quoting at most PROTO_TYPE_QUOTE_MAX
 * bytes of it, escaped. */
static int unknown_type(const struct field *f, struct rt_err *err)
{
	char name[PROTO_TYPE_QUOTE_MAX + 1];
	char quoted[PROTO_TYPE_QUOTE_MAX + 1];
	size_t full, kept = decode_field(f, name, PROTO_TYPE_QUOTE_MAX, &full);
	bool cut = full > kept;

	if ((size_t)proto_escape_bytes(name, kept, quoted, sizeof quoted) >= sizeof quoted)
		cut = true;
	return fail_msg(err, "unknown message type \"%s%s\"", quoted, cut ? "..." : "");
}

static enum proto_type type_lookup(const struct field *f)
{
	char buf[24];
	size_t full, len = decode_field(f, buf, sizeof buf - 1, &full);

	if (full != len)
		return PROTO_NONE;
	for (size_t t = 1; t < RT_ARRAY_LEN(type_names); t++)
		if (strlen(type_names[t]) == len && memcmp(type_names[t], buf, len) == 0)
			return (enum proto_type)t;
	return PROTO_NONE;
}

/* Copies what the scan found into m, for whatever type the message has. */
static void fill(const struct scan *s, struct proto_msg *m)
{
	const struct field *top = s->top, *file = s->file;

	m->is_json = true;
	m->object = span_of(s, s->open, s->close + 1);
	m->members = s->members;
	m->has_sender = top[K_SENDER].count > 0;
	m->has_recipient = top[K_RECIPIENT].count > 0;
	if (top[K_TYPE].kind == VK_STRING)
		m->type = type_lookup(&top[K_TYPE]);
	if (top[K_USERNAME].kind == VK_STRING) {
		decode_into(&top[K_USERNAME], m->username, PROTO_NAME_MAX, &m->username_len, &m->username_too_long);
		m->username_raw = span_of(s, top[K_USERNAME].val, top[K_USERNAME].val + top[K_USERNAME].len);
	}
	m->file_name_markup = s->name_markup;
	m->ncuts = s->ncuts;
	for (uint32_t i = 0; i < s->ncuts; i++)
		m->cuts[i] = member_cut(s, &s->cuts[i]);
	if (m->has_recipient) {
		if (top[K_RECIPIENT].kind == VK_STRING) {
			decode_into(&top[K_RECIPIENT], m->recipient, PROTO_NAME_MAX, &m->recipient_len,
				    &m->recipient_too_long);
		}
	}
	if (m->type == PROTO_FILE_COMPLETE) {
		if (top[K_FILE_NAME].kind == VK_STRING) {
			decode_into(&top[K_FILE_NAME], m->file_name, PROTO_FILE_NAME_MAX, &m->file_name_len,
				    &m->file_name_truncated);
		}
	} else if (top[K_FILE].kind == VK_OBJECT) {
		if (file[F_NAME].kind == VK_STRING) {
			decode_into(&file[F_NAME], m->file_name, PROTO_FILE_NAME_MAX, &m->file_name_len,
				    &m->file_name_truncated);
		}
		if (file[F_TYPE].kind == VK_STRING) {
			m->has_file_type = true;
			decode_into(&file[F_TYPE], m->file_type, PROTO_MIME_MAX, &m->file_type_len,
				    &m->file_type_truncated);
		}
		m->has_file_size = field_uint(&file[F_SIZE], &m->file_size);
		(void)field_uint(&file[F_OFFSET], &m->file_offset);
		if (file[F_DATA].kind == VK_ARRAY) {
			m->data_len = s->data.n;
			m->data = span_of(s, file[F_DATA].val, file[F_DATA].val + file[F_DATA].len);
		}
	}
	m->binary_relay = top[K_BINARY_RELAY].kind == VK_TRUE;
	m->ice_servers = top[K_ICE_SERVERS].kind == VK_TRUE;
	uint64_t tv;
	if (field_uint(&top[K_TRANSFER], &tv))
		m->transfer_version = tv > 1000 ? 1000 : (uint32_t)tv;
	if (top[K_USER].kind == VK_STRING)
		decode_into(&top[K_USER], m->user, PROTO_NAME_MAX, &m->user_len, &m->user_too_long);
	if (top[K_TRANSFER_MODE].count > 0) {
		m->has_transfer_mode = true;
		if (field_is_string(&top[K_TRANSFER_MODE], "webrtc"))
			m->transfer_mode = PROTO_MODE_WEBRTC;
		else if (field_is_string(&top[K_TRANSFER_MODE], "websocket"))
			m->transfer_mode = PROTO_MODE_WEBSOCKET;
	}
}

/* The members of a "file" object that FILE_METADATA and FILE_CHUNK share. */
static int check_file(const struct scan *s, struct rt_err *err)
{
	uint64_t v;

	if (s->top[K_FILE].kind != VK_OBJECT)
		return fail_msg(err, "\"file\" must be an object");
	if (s->file[F_NAME].kind != VK_STRING)
		return fail_msg(err, "\"file.name\" must be a string");
	if (s->file[F_SIZE].kind != VK_NONE && !field_uint(&s->file[F_SIZE], &v))
		return fail_msg(err, "\"file.size\" must be a non-negative integer");
	return RT_OK;
}

/* A string of 1..max plain bytes: [A-Za-z0-9_-] for an id, [a-z_] for
 * an action (no escapes: a backslash fails either). */
static bool token_ok(const struct field *f, size_t max, bool id)
{
	if (f->kind != VK_STRING || f->count != 1 || f->len == 0 || f->len > max)
		return false;
	for (size_t i = 0; i < f->len; i++) {
		unsigned char c = f->val[i];
		bool okc = id ? (isalnum(c) || c == '_' || c == '-') : ((c >= 'a' && c <= 'z') || c == '_');
		if (!okc)
			return false;
	}
	return true;
}

/* What each relayed type must hold beyond its recipient. */
static int check_relay(const struct scan *s, const struct proto_msg *m, struct rt_err *err)
{
	const struct field *top = s->top, *file = s->file;
	uint64_t v;

	/* A client's "sender" is cut and the server's put in its place, as
	 * the old server did; past a few, the message is not a client's. */
	if (s->too_many_cuts)
		return fail_msg(err, "\"sender\" more than %d times", PROTO_SENDER_MAX);
	if (top[K_RECIPIENT].count > 1)
		return fail_msg(err, "duplicate \"recipient\"");
	if (top[K_RECIPIENT].kind != VK_STRING)
		return fail_msg(err, "\"recipient\" must be a string");
	switch (m->type) {
	case PROTO_WEBRTC_OFFER:
		if (top[K_OFFER].kind != VK_OBJECT)
			return fail_msg(err, "\"offer\" must be an object");
		return RT_OK;
	case PROTO_WEBRTC_ANSWER:
		if (top[K_ANSWER].kind != VK_OBJECT)
			return fail_msg(err, "\"answer\" must be an object");
		return RT_OK;
	case PROTO_WEBRTC_ICE_CANDIDATE:
		/* null is how a browser says the candidates are complete. */
		if (top[K_CANDIDATE].kind != VK_OBJECT && top[K_CANDIDATE].kind != VK_NULL)
			return fail_msg(err, "\"candidate\" must be an object or null");
		return RT_OK;
	case PROTO_FILE_METADATA:
		if (check_file(s, err) != RT_OK)
			return RT_ERR;
		if (file[F_SIZE].kind == VK_NONE)
			return fail_msg(err, "\"file.size\" must be a non-negative integer");
		if (file[F_TYPE].kind != VK_NONE && file[F_TYPE].kind != VK_STRING)
			return fail_msg(err, "\"file.type\" must be a string");
		if (m->has_transfer_mode && m->transfer_mode == PROTO_MODE_ABSENT)
			return fail_msg(err, "\"transferMode\" must be \"webrtc\" or \"websocket\"");
		return RT_OK;
	case PROTO_FILE_CHUNK:
		if (check_file(s, err) != RT_OK)
			return RT_ERR;
		if (!field_uint(&file[F_OFFSET], &v))
			return fail_msg(err, "\"file.offset\" must be a non-negative integer");
		if (file[F_DATA].kind != VK_ARRAY)
			return fail_msg(err, "\"file.data\" must be an array of integers 0..255");
		if (s->data.bad)
			return fail_msg(err, "\"file.data\" element %u is not an integer 0..255",
					(unsigned)s->data.bad_at);
		return RT_OK;
	case PROTO_FILE_COMPLETE:
		if (top[K_FILE_NAME].kind != VK_STRING)
			return fail_msg(err, "\"fileName\" must be a string");
		return RT_OK;
	case PROTO_TRANSFER:
		if (!token_ok(&top[K_ID], PROTO_ID_MAX, true))
			return fail_msg(err, "\"id\" must be a string of 1 to %d letters, digits, _ and -",
					PROTO_ID_MAX);
		if (!token_ok(&top[K_ACTION], PROTO_ACTION_MAX, false))
			return fail_msg(err, "\"action\" must be a string of 1 to %d lower-case letters and _",
					PROTO_ACTION_MAX);
		return RT_OK;
	default:
		return RT_OK;
	}
}

int proto_parse(const char *buf, size_t len, struct proto_msg *m, struct rt_err *err)
{
	struct scan s;
	uint64_t tv;

	memset(m, 0, sizeof *m);
	/* Spans are 32-bit; the caller's size limit is far below this. */
	if (len >= UINT32_MAX)
		return fail_msg(err, "message too large");
	if (len == 0)
		buf = ""; /* no arithmetic on a NULL buf */
	memset(&s, 0, sizeof s);
	s.j.base = s.j.p = (const unsigned char *)buf;
	s.j.end = s.j.base + len;
	if (!scan_message(&s)) {
		if (s.j.fail == PROTO_JSON_DEPTH)
			return fail_msg(err, "message nested deeper than %d levels", PROTO_MAX_DEPTH);
		return fail_msg(err, "%s", PROTO_INVALID_FORMAT);
	}
	if (!s.is_object)
		return fail_msg(err, "message must be a JSON object");
	fill(&s, m);
	if (s.top[K_TYPE].count > 1)
		return fail_msg(err, "duplicate \"type\"");
	if (s.top[K_TYPE].kind != VK_STRING)
		return fail_msg(err, "message has no \"type\" string");
	if (m->type == PROTO_NONE)
		return unknown_type(&s.top[K_TYPE], err);
	if (m->type == PROTO_SET_USERNAME && s.top[K_USERNAME].kind != VK_STRING)
		return fail_msg(err, "\"username\" must be a string");
	if (m->type == PROTO_CAPABILITIES && s.top[K_BINARY_RELAY].kind != VK_NONE &&
	    s.top[K_BINARY_RELAY].kind != VK_TRUE && s.top[K_BINARY_RELAY].kind != VK_FALSE)
		return fail_msg(err, "\"binaryRelay\" must be true or false");
	if (m->type == PROTO_CAPABILITIES && s.top[K_TRANSFER].kind != VK_NONE && !field_uint(&s.top[K_TRANSFER], &tv))
		return fail_msg(err, "\"transfer\" must be a non-negative integer");
	if (m->type == PROTO_CAPABILITIES && s.top[K_ICE_SERVERS].kind != VK_NONE &&
	    s.top[K_ICE_SERVERS].kind != VK_TRUE && s.top[K_ICE_SERVERS].kind != VK_FALSE)
		return fail_msg(err, "\"iceServers\" must be true or false");
	if (m->type == PROTO_PEER_INFO && s.top[K_USER].kind != VK_STRING)
		return fail_msg(err, "\"user\" must be a string");
	if (proto_is_relay(m->type))
		return check_relay(&s, m, err);
	return RT_OK;
}

bool proto_is_relay(enum proto_type type)
{
	return (type >= PROTO_WEBRTC_OFFER && type <= PROTO_FILE_COMPLETE) || type == PROTO_TRANSFER;
}

const char *proto_type_name(enum proto_type type)
{
	if ((size_t)type >= RT_ARRAY_LEN(type_names))
		return "";
	return type_names[type];
}

/* ---- the name rule ---- */

#define NAME_MIN 3
#define NAME_MAX_LEN 32
static const char name_short[] = "Username must be at least 3 characters";
static const char name_long[] = "Username must be at most 32 characters";
static const char name_chars[] = "Username may contain only letters, digits, _, - and .";

static bool name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       ch == '-' || ch == '.';
}

const char *proto_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n < NAME_MIN)
		return name_short;
	if (n > NAME_MAX_LEN)
		return name_long;
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)name[i]))
			return name_chars;
	return NULL;
}

bool proto_name_ok(const char *name, size_t decoded_len, bool cut)
{
	return !cut && strlen(name) == decoded_len && !proto_name_check(name);
}

/* White space around a name is trimmed whatever its length: a name too long
 * to decode whole is judged from its raw text, which is the value when it
 * has no escapes (\t \n \r around it are the only escapes trimmed). */
static const char *username_from_raw(const char *raw, size_t len, char out[PROTO_NAME_MAX + 1])
{
	for (;;) {
		if (len > 0 && *raw == ' ')
			raw++, len--;
		else if (len > 1 && raw[0] == '\\' && strchr("tnr", raw[1]))
			raw += 2, len -= 2;
		else
			break;
	}
	for (;;) {
		if (len > 0 && raw[len - 1] == ' ')
			len--;
		else if (len > 1 && raw[len - 2] == '\\' && strchr("tnr", raw[len - 1]) &&
			 (len < 3 || raw[len - 3] != '\\'))
			len -= 2;
		else
			break;
	}
	if (len > NAME_MAX_LEN || memchr(raw, '\\', len))
		return name_long;
	memcpy(out, raw, len);
	out[len] = '\0';
	return NULL;
}

const char *proto_username(const char *buf, const struct proto_msg *m, char out[PROTO_NAME_MAX + 1])
{
	const char *why = NULL;
	if (m->username_too_long)
		why = username_from_raw(buf + m->username_raw.off, m->username_raw.len, out);
	else if (strlen(m->username) != m->username_len)
		why = name_chars; /* a \u0000 inside */
	else
		str_trim(memcpy(out, m->username, m->username_len + 1));
	return why ? why : proto_name_check(out);
}

static void add_slice(struct proto_slice *out, size_t *n, const char *p, size_t len)
{
	if (len == 0)
		return;
	out[*n].p = p;
	out[*n].len = len;
	(*n)++;
}

#define LIT(s) s, sizeof(s) - 1

size_t proto_relay_slices(const char *buf, const struct proto_msg *m, const char *sender_json,
			  struct proto_slice out[PROTO_RELAY_SLICES])
{
	size_t n = 0;
	uint32_t inner = m->object.off + 1;
	uint32_t inner_end = m->object.off + m->object.len - 1;
	bool add_mode = m->type == PROTO_FILE_METADATA && !m->has_transfer_mode;
	bool others = m->members > m->ncuts;

	if (!m->is_json || m->ncuts > PROTO_CUTS_MAX)
		return 0;
	add_slice(out, &n, LIT("{\"sender\":\""));
	add_slice(out, &n, sender_json, strlen(sender_json));
	if (others || add_mode)
		add_slice(out, &n, LIT("\","));
	else
		add_slice(out, &n, LIT("\""));
	/* The client's members: its text between the braces, less the cuts
	 * (in order, disjoint). */
	uint32_t at = inner;
	for (uint32_t i = 0; i < m->ncuts; i++) {
		add_slice(out, &n, buf + at, m->cuts[i].off - at);
		at = m->cuts[i].off + m->cuts[i].len;
	}
	add_slice(out, &n, buf + at, inner_end - at);
	if (add_mode && others)
		add_slice(out, &n, LIT(",\"transferMode\":\"websocket\"}"));
	else if (add_mode)
		add_slice(out, &n, LIT("\"transferMode\":\"websocket\"}"));
	else
		add_slice(out, &n, LIT("}"));
	return n;
}

int proto_binary_parse(const uint8_t *p, size_t len, struct proto_binary *b, struct rt_err *err)
{
	memset(b, 0, sizeof *b);
	if (len < 2 || p[0] != PROTO_BIN_CHUNK)
		return fail_msg(err, "binary message: unknown kind (the first byte must be 1)");
	size_t n = p[1];
	if (n < 1 || n > 32)
		return fail_msg(err, "binary message: the name length must be 1 to 32");
	size_t hdr = 2 + n + PROTO_BIN_TID + 8;
	if (len < hdr)
		return fail_msg(err, "binary message: shorter than its header (%zu bytes)", hdr);
	memcpy(b->name, p + 2, n);
	b->name[n] = '\0';
	memcpy(b->tid, p + 2 + n, PROTO_BIN_TID);
	uint64_t off = 0;
	for (int i = 0; i < 8; i++)
		off = off << 8 | p[2 + n + PROTO_BIN_TID + i];
	b->offset = off;
	b->data_off = hdr;
	b->data_len = len - hdr;
	return RT_OK;
}

size_t proto_binary_header(uint8_t *out, const char *name, const uint8_t tid[PROTO_BIN_TID], uint64_t offset)
{
	size_t n = strlen(name);
	if (n > 32)
		n = 32;
	out[0] = PROTO_BIN_CHUNK;
	out[1] = (uint8_t)n;
	memcpy(out + 2, name, n);
	memcpy(out + 2 + n, tid, PROTO_BIN_TID);
	for (int i = 0; i < 8; i++)
		out[2 + n + PROTO_BIN_TID + i] = (uint8_t)(offset >> (8 * (7 - i)));
	return 2 + n + PROTO_BIN_TID + 8;
}
