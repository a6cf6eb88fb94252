/*
 * proto.h: the RTFT v1 signaling messages (as rtftd serves them: docs/protocol.md).
 * proto_parse() checks a client's text message in one pass over its bytes,
 * without building a tree or allocating, and says what the server needs:
 * the type, the names, the file fields, and where the "recipient" member
 * sits, so that a relayed message (a FILE_CHUNK is about 1 MB) can be
 * forwarded as the client's own bytes with a few cuts and additions
 * (proto_relay_slices()); all this is proto.c, over the JSON lexer in
 * proto_json.c (internal to the module). proto_format.c holds the
 * JSON string escaper (proto_escape_*(), for every JSON text the daemon
 * writes) and the proto_format_*() functions, which write the messages the
 * server itself sends.
 * Pure (leaf): no I/O, no logging, no allocation; callable from any process.
 */
#ifndef RT_PROTO_H
#define RT_PROTO_H

#include "rtftd.h"

/* Deepest nesting of objects and arrays accepted; the message itself is
 * level 1, so "file" is 2 and its "data" array 3. */
#define PROTO_MAX_DEPTH 32
/* Bytes kept of a decoded username or recipient: far more than a valid
 * name, so a longer one is certainly not a name the server holds. */
#define PROTO_NAME_MAX 128
/* Bytes kept of a decoded file name and MIME type. */
#define PROTO_FILE_NAME_MAX 255
#define PROTO_MIME_MAX 127
/* Largest size or offset accepted: 2^53 - 1, the last integer a
 * JavaScript peer holds exactly. */
#define PROTO_INT_MAX ((UINT64_C(1) << 53) - 1)
/* The characters that make a file name unsafe to show to an old client,
 * which puts it into its page with innerHTML: '<' and '>' (tags), '&'
 * (character references), '"', '\'' and '`' (the end of an attribute
 * value). Without them a text cannot leave the text or quoted attribute
 * it is put in. */
#define PROTO_MARKUP_CHARS "<>&\"'`"
/* Bytes of an unknown type name quoted back in the error message. */
#define PROTO_TYPE_QUOTE_MAX 64
/* The text the old server answered unparsable input with; clients know it. */
#define PROTO_INVALID_FORMAT "Invalid message format"
/* Top-level "sender" members a relayed message may carry (each is cut):
 * a client sets at most one; more than this is refused. */
#define PROTO_SENDER_MAX 8
/* Members cut from a relayed message: its "recipient" and its senders. */
#define PROTO_CUTS_MAX (PROTO_SENDER_MAX + 1)
/* Most slices proto_relay_slices() gives. */
#define PROTO_RELAY_SLICES (PROTO_CUTS_MAX + 5)

enum proto_type {
	PROTO_NONE = 0, /* not parsed, or no known type */
	PROTO_SET_USERNAME,
	PROTO_GET_USERS,
	PROTO_PING,
	/* The relayed types, from here to PROTO_FILE_COMPLETE. */
	PROTO_WEBRTC_OFFER,
	PROTO_WEBRTC_ANSWER,
	PROTO_WEBRTC_ICE_CANDIDATE,
	PROTO_FILE_METADATA,
	PROTO_FILE_CHUNK,
	PROTO_FILE_COMPLETE,
	/* Extension (docs/protocol.md): a client says what it understands. */
	PROTO_CAPABILITIES,
	/* Extensions for new clients (docs/protocol.md): relayed like the
	 * types above, but only to clients that announced "transfer". */
	PROTO_TRANSFER,
	PROTO_PEER_INFO,
	PROTO_GET_ICE_SERVERS,
	PROTO_TYPE_COUNT,
};

/* Why a client got an ERROR or USERNAME_ERROR. proto_error_code() is the
 * "code" of an ERROR to a new client (docs/protocol.md) and the reason
 * label of rtftd_client_errors_total: renaming one changes the protocol.
 * The ERR_ prefix is the one the callers have always used. */
enum proto_error {
	ERR_INVALID_FORMAT = 0, /* not JSON */
	ERR_BAD_MESSAGE, /* JSON, but a field is wrong */
	ERR_NOT_REGISTERED,
	ERR_NOT_ONLINE,
	ERR_SLOW_RECIPIENT,
	ERR_BINARY,
	ERR_USERNAME_INVALID, /* sent as USERNAME_ERROR, which has no code */
	ERR_USERNAME_TAKEN, /* likewise */
	ERR_NO_BINARY, /* binary relay to a client that did not ask for it */
	ERR_NO_TRANSFER, /* TRANSFER to a client that did not announce it */
	ERR_RATE_LIMITED, /* GET_ICE_SERVERS too often */
	ERR_UNSAFE_FILE_NAME, /* a file name with markup, to an old client */
	ERR_COUNT
};

/* TRANSFER: "id" is 1..PROTO_ID_MAX of [A-Za-z0-9_-], "action" 1..32 of [a-z_]. */
#define PROTO_ID_MAX 64
#define PROTO_ACTION_MAX 32

enum proto_mode {
	PROTO_MODE_ABSENT = 0, /* FILE_METADATA without "transferMode" */
	PROTO_MODE_WEBRTC,
	PROTO_MODE_WEBSOCKET,
};

/* Bytes [off, off + len) of the buffer given to proto_parse(). */
struct proto_span {
	uint32_t off, len;
};

/* A piece of a forwarded message: either inside the caller's buffer or a
 * static literal of this module. */
struct proto_slice {
	const char *p;
	size_t len;
};

/* What proto_parse() found. Strings are JSON-decoded, NUL-terminated and
 * cut at a UTF-8 character boundary when longer than their buffer; the
 * matching *_len holds the full decoded length, so a value with a NUL
 * inside (from "\u0000") shows as strlen() != *_len. Where a key occurs
 * more than once, the last occurrence is the one described (as a browser
 * reads it), except for "type" and, in a relayed message, "recipient",
 * which proto_parse() refuses twice. */
struct proto_msg {
	enum proto_type type;
	/* The bytes were one well-formed JSON object (whatever the verdict):
	 * then object, members, has_sender and has_recipient are set and the
	 * other fields as far as present. */
	bool is_json;
	struct proto_span object; /* from the top-level '{' to its '}' */
	uint32_t members; /* top-level members, duplicates counted */
	bool has_sender; /* a top-level "sender" member is present */
	bool has_recipient; /* a top-level "recipient" member is present */

	/* SET_USERNAME: "username" (the caller trims and checks it). */
	char username[PROTO_NAME_MAX + 1];
	uint32_t username_len;
	bool username_too_long; /* username_len > PROTO_NAME_MAX */
	struct proto_span username_raw; /* the JSON text between the quotes */

	/* Relayed types: "recipient", and the members to cut when
	 * forwarding (the "recipient" and every top-level "sender"), in order
	 * and disjoint: `"key": value` with one adjacent comma each, so the
	 * object stays valid JSON without them. */
	char recipient[PROTO_NAME_MAX + 1];
	uint32_t recipient_len;
	bool recipient_too_long;
	struct proto_span cuts[PROTO_CUTS_MAX];
	uint32_t ncuts;

	/* FILE_METADATA and FILE_CHUNK: "file.name"; FILE_COMPLETE: "fileName". */
	char file_name[PROTO_FILE_NAME_MAX + 1];
	uint32_t file_name_len;
	bool file_name_truncated;
	/* Some top-level "fileName", or "name" of some top-level "file"
	 * object (every occurrence, whole, decoded), holds a character of
	 * PROTO_MARKUP_CHARS: an old client would run it as markup
	 * (docs/protocol.md, "File names and old clients"). */
	bool file_name_markup;
	/* FILE_METADATA: "file.type" (optional) and "transferMode". */
	char file_type[PROTO_MIME_MAX + 1];
	uint32_t file_type_len;
	bool has_file_type;
	bool file_type_truncated;
	bool has_transfer_mode;
	enum proto_mode transfer_mode;
	/* FILE_METADATA: "file.size"; FILE_CHUNK: "file.size" (optional) and
	 * "file.offset", and "file.data": data_len elements, the array's text
	 * from '[' to ']' in data. */
	bool has_file_size;
	uint64_t file_size;
	uint64_t file_offset;
	uint32_t data_len;
	struct proto_span data;

	/* CAPABILITIES: "binaryRelay": true, "transfer": <version>,
	 * "iceServers": true. */
	bool binary_relay;
	uint32_t transfer_version;
	bool ice_servers;

	/* PEER_INFO: "user" (as "recipient" is kept). */
	char user[PROTO_NAME_MAX + 1];
	uint32_t user_len;
	bool user_too_long;
};

/* The binary relay extension (docs/protocol.md): one binary WebSocket
 * message per chunk, forwarded without JSON. Layout, client to server:
 *   [0]      PROTO_BIN_CHUNK
 *   [1]      n, the length of the name (1..32)
 *   [2..]    n bytes: the recipient's name
 *   16 bytes the transfer id (opaque to the server)
 *   8 bytes  offset of the data in the file, big-endian
 *   the rest the data
 * Server to recipient: the same, with the sender's name. */
#define PROTO_BIN_CHUNK 0x01
#define PROTO_BIN_TID 16
#define PROTO_BIN_HEADER_MAX (2 + 32 + PROTO_BIN_TID + 8)

struct proto_binary {
	char name[33];
	uint8_t tid[PROTO_BIN_TID];
	uint64_t offset;
	size_t data_off; /* where the data starts in the message */
	size_t data_len;
};

/* Parses a binary message's header. RT_OK, or RT_ERR with a client-facing
 * err->msg. The name's characters are not checked here. */
int proto_binary_parse(const uint8_t *p, size_t len, struct proto_binary *b, struct rt_err *err) RT_MUSTCHECK;
/* Writes the forwarded header (with name = the sender) into out
 * (PROTO_BIN_HEADER_MAX bytes); returns its length. name: 1..32 bytes. */
size_t proto_binary_header(uint8_t *out, const char *name, const uint8_t tid[PROTO_BIN_TID], uint64_t offset);

/* Parses one client message of len bytes (not NUL-terminated; already
 * known to be valid UTF-8, which is not checked again). buf must stay
 * unchanged while the spans in m are used.
 * Returns RT_OK, or RT_ERR with err->msg set to a text meant for the
 * client's ERROR message, in this order of checks:
 *   not JSON (RFC 8259)          PROTO_INVALID_FORMAT
 *   nested deeper than the limit "message nested deeper than 32 levels"
 *   not an object                "message must be a JSON object"
 *   "type" twice                 "duplicate \"type\""
 *   no string "type"             "message has no \"type\" string"
 *   unknown type                 "unknown message type \"<escaped, cut>\""
 * then the fields of the type, each error naming the field and what it
 * must be. Caller: the worker, per WebSocket text message. m may be
 * looked at after RT_ERR (see is_json) but never acted upon. */
int proto_parse(const char *buf, size_t len, struct proto_msg *m, struct rt_err *err) RT_MUSTCHECK;

/* True for the types the server forwards to m->recipient. */
bool proto_is_relay(enum proto_type type);
/* The wire name of a type ("FILE_CHUNK"); "" for PROTO_NONE. */
const char *proto_type_name(enum proto_type type);

/* The name rule (docs/protocol.md, "Names"), the one place it is written:
 * NULL when name (NUL-terminated, already trimmed) is a valid user name,
 * else the text USERNAME_ERROR carries ("Username must be at least 3
 * characters", "... at most 32 ...", "... only letters, digits, _, - and .").
 * The web page's copy (www/js/util.js) is held to the same table,
 * tests/data/usernames.tsv. */
const char *proto_name_check(const char *name);
/* A usable name for a message's name field (recipient, user, a binary
 * header's name): the decoded value was not cut, has no NUL inside and
 * passes the name rule. */
bool proto_name_ok(const char *name, size_t decoded_len, bool cut);
/* The name a SET_USERNAME asks for, trimmed of white space around it, into
 * out; NULL when it may be claimed, else the USERNAME_ERROR text. buf is
 * the message m was parsed from (a name too long to be decoded whole is
 * judged from its raw JSON text). */
const char *proto_username(const char *buf, const struct proto_msg *m, char out[PROTO_NAME_MAX + 1]);

/* The forwarded form of a relayed message that proto_parse() accepted:
 *   {"sender":"<sender_json>",<the client's members without the recipient
 *   and sender members>[,"transferMode":"websocket"]}
 * The transferMode member is added to a FILE_METADATA that had none; the
 * client's members keep their bytes and order. The text is the
 * concatenation of out[0 .. n) in order, for n the return value
 * (1 <= n <= PROTO_RELAY_SLICES; no slice is empty). Slices point into buf,
 * into sender_json and into static literals, so the caller can hand each
 * to evbuffer_add() while those stay alive, with no copy of the message.
 * sender_json: the sender's name as JSON string content, i.e. passed
 * through proto_escape_string() (names the server allows need no escape,
 * so such a name can be given as it is). */
size_t proto_relay_slices(const char *buf, const struct proto_msg *m, const char *sender_json,
			  struct proto_slice out[PROTO_RELAY_SLICES]);

/* ---- proto_format.c ---- */

/* Writes in (NUL-terminated) as JSON string content, without the quotes,
 * into out (cap bytes, NUL-terminated when cap > 0): '"', '\\' and control
 * characters escaped, valid UTF-8 kept, each byte of invalid UTF-8
 * replaced with \ufffd. Returns the length the whole text needs without
 * the NUL, like snprintf: a return >= cap means out holds only a prefix,
 * cut between characters, never inside an escape or a UTF-8 sequence.
 * out never holds a raw NUL before its end, so strlen(out) is the length
 * of what was written. in may be NULL, written as "". */
int proto_escape_string(const char *in, char *out, size_t cap);
/* The same for the n bytes at in, which may hold NULs (written \u0000). */
int proto_escape_bytes(const char *in, size_t n, char *out, size_t cap);

/* The server's messages, written into out (cap bytes, NUL-terminated when
 * cap > 0). Each returns the length the whole message needs without the
 * NUL, like snprintf; a return >= cap means out holds a cut, useless text
 * and the call must be repeated with a larger buffer. Field order and
 * names are those of protocol v1, "type" first. Lists take names[0 .. n)
 * (NULL entries skipped), leave out the one equal to exclude (may be
 * NULL), and stop after max names. */
size_t proto_format_username_set(char *out, size_t cap, const char *username, const char *const *names, size_t n,
				 const char *exclude, size_t max);
size_t proto_format_username_error(char *out, size_t cap, const char *message);
size_t proto_format_user_list(char *out, size_t cap, const char *const *names, size_t n, const char *exclude,
			      size_t max);
size_t proto_format_error(char *out, size_t cap, const char *message);
/* The wire name of an error code ("not_online"), plain ASCII; "?" out of
 * range. */
const char *proto_error_code(enum proto_error e);
/* For new clients: {"type":"ERROR","message":...,"code":"<code>"[,"user":"<user>"]};
 * code is proto_error_code() of the reason, user (may be NULL) the other
 * user the error is about, escaped. */
size_t proto_format_error_ext(char *out, size_t cap, const char *message, const char *code, const char *user);
size_t proto_format_pong(char *out, size_t cap);
/* {"type":"CAPABILITIES","binaryRelay":<b>,"maxMessageBytes":<max>
 *  [,"maxOutboundBytes":<out>,"transfer":1,"iceServers":true]}
 * (the last three with extended, for clients that announced transfer or
 * iceServers). */
size_t proto_format_capabilities(char *out, size_t cap, bool binary_relay, uint64_t max_message, bool extended,
				 uint64_t max_outbound);
/* {"type":"PEER_INFO","user":"<user>","online":<b>,"transfer":<v>,"binaryRelay":<b>}; user is
 * escaped. */
size_t proto_format_peer_info(char *out, size_t cap, const char *user, bool online, unsigned transfer,
			      bool binary_relay);

#endif
