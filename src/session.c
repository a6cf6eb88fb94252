/*
 * session.c: the RTFT v1 protocol on a worker, one session per WebSocket
 * (session.h; the messages are in docs/protocol.md).
 * Owns: struct user, the dispatch of client messages, the answers the
 * server gives itself, the notices that tell a sender why a message went
 * nowhere, ICE_SERVERS pushes and their renewal, the register timeout, and
 * the tick that walks the sessions.
 * Must not: call the name table or the bus (only the directory and the
 * delivery interfaces), know where a recipient is, build a json-c tree for
 * relayed messages (proto.c scans them and the client's bytes are
 * forwarded), touch the database per message, or drop a relayed message
 * without telling its sender.
 */
#include "autoconf.h"
#include "session.h"
#include "config.h"
#include "deliver.h"
#include "directory.h"
#include "edge.h"
#include "ice.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "transfers.h"
#include "userlist.h"
#include "util.h"
#include "ws.h"
#include "jwt.h"
#include "wsauth.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 50 /* coalescing window for USER_LIST */
#define NOTICE_EVERY_MS 5000 /* one "not online" per sender and recipient in this time */
#define NOTICES 8

struct notice {
	uint64_t name_hash; /* of the whole name, which may be longer than a valid one */
	int64_t at_ms;
};

struct user {
	struct ws_conn *c;
	char name[DIR_NAME_MAX + 1]; /* "" until registered */
	int64_t opened_ms;
	struct notice notices[NOTICES];
	struct transfer_book *book; /* files this user is sending */
	bool announced; /* sent CAPABILITIES: not an old client */
	bool binary_ok; /* said CAPABILITIES {binaryRelay: true} */
	uint8_t transfer_version; /* CAPABILITIES {transfer: N} */
	bool ice_ok; /* CAPABILITIES {iceServers: true}: ICE_SERVERS is pushed */
	int64_t ice_due_ms; /* when its credentials want renewing (0: never) */
	int64_t ice_window_ms; /* GET_ICE_SERVERS: start of the current window */
	uint32_t ice_asked; /* ICE_SERVERS the client caused in it */
	uint32_t ice_gen; /* S.ice_gen of the last ICE_SERVERS sent */
	uint64_t list_hash; /* userlist_hash() of the last list this user was sent */
};

static struct {
	const struct directory *dir;
	const struct deliver *dl;
	struct event *tick_ev;
	int register_timeout_ms;
	int64_t registered; /* users of this worker with a name */
	int64_t last_walk_ms; /* last walk for the register timeout */
	uint64_t max_message;
	uint64_t max_outbound;
	bool store_file_names;
	bool log_names; /* user names in info lines (log_user_names) */
	struct ice_config ice;
	int rate_window_ms, rate_max;
	int64_t ice_users; /* registered users with ice_ok: the renewal walk runs only with some */
	int64_t last_ice_walk_ms;
	uint32_t ice_gen; /* moves when a reload changes what ICE_SERVERS holds */
	bool ice_changed; /* ... and the users have not been walked since */
	uint64_t ice_hash; /* of the settings behind S.ice */
} S;

_Static_assert(PROTO_TYPE_COUNT + 1 == STATS_MSG_TYPES, "a stats slot per message type and one for binary");
_Static_assert(PROTO_RELAY_SLICES <= DELIVER_PIECES_MAX, "a relayed message fits the delivery interface");

const struct ice_config *session_ice(void)
{
	return &S.ice;
}

int64_t session_registered(void)
{
	return S.registered;
}

/* The context of a session's log lines: its upgrade's request id, trace
 * id and client address (edge.h), and the name it holds. */
static const struct log_ctx *user_ctx(const struct user *u, struct log_ctx *ctx)
{
	edge_log_ctx(ws_info(u->c), ctx);
	/* names are personal data: as they are only when configured */
	ctx->user_id = !u->name[0] ? NULL : S.log_names ? u->name : log_pseudonym(u->name);
	return ctx;
}

/* ---- answers and notices ---- */

/* After queuing a reply of ours (rc from ws_send_*). */
static int replied(struct user *u, int rc)
{
	rt_stats.replies_out++;
	if (rc == RT_AGAIN)
		/* our own reply does not fit: this client is not reading */
		ws_close(u->c, 1008, "outbound limit reached: the client is not reading");
	return rc;
}

static void send_text(struct user *u, const char *msg, size_t len)
{
	replied(u, ws_send_text(u->c, msg, len));
}

/* An ERROR; about: the other user it concerns, or NULL. Clients that
 * announced the transfer or ICE extensions get the reason as a code too
 * (docs/protocol.md), old clients the v1 form. */
static void send_error_about(struct user *u, enum proto_error why, const char *message, const char *about)
{
	rt_stats.errors[why]++;
	char out[1024];
	size_t n = u->transfer_version || u->ice_ok
			   ? proto_format_error_ext(out, sizeof out, message, proto_error_code(why), about)
			   : proto_format_error(out, sizeof out, message);
	if (n < sizeof out)
		send_text(u, out, n);
}

static void send_error(struct user *u, enum proto_error why, const char *message)
{
	send_error_about(u, why, message, NULL);
}

/* One notice per recipient and reason every few seconds, so a flood of
 * chunks or candidates to someone absent gives one alert, not hundreds. */
static bool notice_due(struct user *u, const char *name, enum proto_error why)
{
	int64_t now = time_mono_ms();
	uint64_t h = (rt_hash64_str(RT_HASH64_INIT, name) | 1) ^ ((uint64_t)why << 56); /* never 0, the empty entry */
	struct notice *oldest = &u->notices[0];
	for (int i = 0; i < NOTICES; i++) {
		struct notice *n = &u->notices[i];
		if (n->name_hash == h) {
			if (now - n->at_ms < NOTICE_EVERY_MS)
				return false;
			n->at_ms = now;
			return true;
		}
		if (n->at_ms < oldest->at_ms)
			oldest = n;
	}
	oldest->name_hash = h;
	oldest->at_ms = now;
	return true;
}

/* The sender hears why a message to name went nowhere: "<name><what>",
 * once per recipient and reason every NOTICE_EVERY_MS. */
static void tell(struct user *u, const char *name, enum proto_error why, const char *what)
{
	if (!notice_due(u, name, why))
		return;
	char msg[PROTO_NAME_MAX + 128]; /* the ERROR builder escapes it */
	snprintf(msg, sizeof msg, "%s%s", name, what);
	send_error_about(u, why, msg, name);
}

static void tell_not_online(struct user *u, const char *name)
{
	transfers_fail_to(u->book, name, "recipient not online");
	tell(u, name, ERR_NOT_ONLINE, " is not online");
}

/* A message of kind to name was not delivered, for why. */
static void tell_undelivered(struct user *u, const char *name, enum deliver_kind kind, enum deliver_result why)
{
	switch (why) {
	case DELIVERED:
		break;
	case DELIVER_SLOW:
		tell(u, name, ERR_SLOW_RECIPIENT,
		     " is not keeping up: a message to them was not delivered, send it again later");
		break;
	case DELIVER_GONE:
		tell_not_online(u, name);
		break;
	case DELIVER_UNSUPPORTED:
		if (kind == DELIVER_BINARY)
			tell(u, name, ERR_NO_BINARY,
			     " does not accept binary relay: send the file as FILE_CHUNK messages");
		else /* only TRANSFER needs a capability: an old client would not know it */
			tell(u, name, ERR_NO_TRANSFER, " does not understand TRANSFER messages");
		break;
	}
}

/* ---- ICE servers (docs/protocol.md) ---- */

static uint32_t caps_of(const struct user *u)
{
	return (u->binary_ok ? DIR_CAP_BINARY : 0) | (u->transfer_version >= 1 ? DIR_CAP_TRANSFER : 0) |
	       (u->announced ? DIR_CAP_ANNOUNCED : 0);
}

/* ICE_SERVERS with credentials for this user's name; the next one is due
 * when four fifths of their lifetime have passed. */
static void send_ice(struct user *u)
{
	time_t expires = 0;
	time_t now = time(NULL);
	char anon[17];
	if (!u->name[0])
		rand_hex(anon, sizeof anon, 8); /* not registered: a user part of its own */
	char *js = ice_json(&S.ice, u->name[0] ? u->name : anon, now, true, &expires);
	send_text(u, js, strlen(js));
	free(js);
	u->ice_due_ms = expires ? time_mono_ms() + (int64_t)(expires - now) * 800 : 0;
	u->ice_gen = S.ice_gen;
}

/* One ICE_SERVERS the client caused (GET_ICE_SERVERS, a claim, asking in
 * CAPABILITIES), at most rate_max per window: true when it may have it.
 * Over the limit an explicit request gets an ERROR; the others go without
 * (the client keeps the credentials it has). */
static bool ice_take(struct user *u, bool explicit)
{
	int64_t now = time_mono_ms();
	if (now - u->ice_window_ms >= S.rate_window_ms) {
		u->ice_window_ms = now;
		u->ice_asked = 0;
	}
	if (u->ice_asked < (uint32_t)S.rate_max) {
		u->ice_asked++;
		return true;
	}
	if (explicit) {
		char msg[128];
		int64_t left = (u->ice_window_ms + S.rate_window_ms - now + 999) / 1000;
		snprintf(msg, sizeof msg, "Too many requests for ICE servers, try again in %lld s",
			 (long long)(left < 1 ? 1 : left));
		send_error(u, ERR_RATE_LIMITED, msg);
	} else {
		rt_stats.errors[ERR_RATE_LIMITED]++;
	}
	return false;
}

/* ---- the answers of the server itself ---- */

static void send_username_error(struct user *u, enum proto_error why, const char *message)
{
	rt_stats.errors[why]++;
	char out[512];
	size_t n = proto_format_username_error(out, sizeof out, message);
	send_text(u, out, n);
}

static void on_set_username(struct user *u, const struct proto_msg *m, const char *buf)
{
	char name[PROTO_NAME_MAX + 1];
	const char *why = proto_username(buf, m, name);
	if (why) {
		send_username_error(u, ERR_USERNAME_INVALID, why);
		return;
	}
	/* jwt_name_claim: the token names the one name this session may hold */
	const char *allowed = wsauth_name(ws_auth(u->c));
	if (allowed && strcmp(allowed, name) != 0) {
		char msg[JWT_NAME_MAX + 64];
		snprintf(msg, sizeof msg, "Your sign-in token allows only the name \"%s\"", allowed);
		send_username_error(u, ERR_USERNAME_INVALID, msg);
		return;
	}
	int rc = S.dir->claim(name, ws_id(u->c), u->name[0] ? u->name : NULL, caps_of(u));
	if (rc != RT_OK) {
		send_username_error(u, ERR_USERNAME_TAKEN,
				    rc == DIR_TAKEN  ? "Username already taken"
				    : rc == DIR_FULL ? "The server is full, try again later"
						     : "Username could not be registered");
		return;
	}
	if (!u->name[0]) {
		S.registered++;
		if (u->ice_ok)
			S.ice_users++;
	}
	bool renamed = strcmp(u->name, name) != 0;
	if (renamed && log_enabled(LOG_LVL_DEBUG)) {
		struct log_ctx ctx;
		(void)user_ctx(u, &ctx);
		ctx.user_id = name; /* the new name */
		log_msg(LOG_LVL_DEBUG, &ctx, "websocket %llu registered as %s", (unsigned long long)ws_id(u->c), name);
	}
	memcpy(u->name, name, strlen(name) + 1); /* valid: at most 32 bytes */
	userlist_refresh(false);
	size_t n;
	const char *set = userlist_username_set(u->name, &n);
	if (set)
		send_text(u, set, n);
	/* protocol v1: every registered user, the new one too, gets a
	 * USER_LIST after a join (the next round); others' lists change only
	 * when this name is among the first ones (userlist_refresh compares) */
	u->list_hash = 0;
	userlist_mark_behind();
	/* credentials carry the name: new ones on a first claim or a rename
	 * (counted like GET_ICE_SERVERS, so claims cannot mint without end) */
	if (u->ice_ok && renamed && ice_take(u, false))
		send_ice(u);
}

static void send_user_list(struct user *u)
{
	size_t n;
	const char *list = userlist_text(u->name, &n);
	if (!list)
		return;
	send_text(u, list, n);
	u->list_hash = userlist_hash();
}

static void on_capabilities(struct user *u, const struct proto_msg *m)
{
	u->announced = true;
	u->binary_ok = m->binary_relay;
	u->transfer_version = m->transfer_version >= 1 ? 1 : 0;
	bool ice_was = u->ice_ok;
	if (u->name[0] && ice_was != m->ice_servers)
		S.ice_users += m->ice_servers ? 1 : -1;
	u->ice_ok = m->ice_servers;
	if (u->name[0])
		(void)S.dir->set_caps(u->name, ws_id(u->c), caps_of(u));
	char out[160];
	size_t n = proto_format_capabilities(out, sizeof out, true, S.max_message,
					     m->transfer_version > 0 || m->ice_servers, S.max_outbound);
	send_text(u, out, n);
	if (u->name[0] && u->ice_ok && !ice_was && ice_take(u, false))
		send_ice(u); /* registered before asking: it is due now */
}

static void on_peer_info(struct user *u, const struct proto_msg *m)
{
	struct dir_holder h = { 0 };
	bool online = proto_name_ok(m->user, m->user_len, m->user_too_long) && S.dir->lookup(m->user, &h) == RT_OK;
	char out[512];
	size_t n = proto_format_peer_info(out, sizeof out, m->user, online, (h.caps & DIR_CAP_TRANSFER) ? 1 : 0,
					  (h.caps & DIR_CAP_BINARY) != 0);
	if (n < sizeof out)
		send_text(u, out, n);
}

/* ---- relaying ---- */

static bool registered_or_told(struct user *u)
{
	if (u->name[0])
		return true;
	send_error(u, ERR_NOT_REGISTERED, "Set a username before sending messages");
	return false;
}

static void relay(struct user *u, const char *buf, const struct proto_msg *m)
{
	if (!registered_or_told(u))
		return;
	if (!proto_name_ok(m->recipient, m->recipient_len, m->recipient_too_long)) {
		tell_not_online(u, m->recipient);
		return;
	}
	struct proto_slice sl[PROTO_RELAY_SLICES];
	size_t ns = proto_relay_slices(buf, m, u->name, sl);
	struct iovec iov[PROTO_RELAY_SLICES];
	size_t len = 0;
	for (size_t i = 0; i < ns; i++) {
		iov[i].iov_base = (void *)sl[i].p;
		iov[i].iov_len = sl[i].len;
		len += sl[i].len;
	}
	/* TRANSFER is for new clients only: an old one would not know it */
	uint32_t need = m->type == PROTO_TRANSFER ? DIR_CAP_TRANSFER : 0;
	/* a file name with markup reaches only clients that show it as text:
	 * an old one would run it (docs/protocol.md) */
	bool unsafe_name = m->file_name_markup && (m->type == PROTO_FILE_METADATA || m->type == PROTO_FILE_CHUNK ||
						   m->type == PROTO_FILE_COMPLETE);
	if (unsafe_name)
		need |= DIR_CAP_ANNOUNCED;
	enum deliver_result r = S.dl->send(ws_id(u->c), m->recipient, DELIVER_TEXT, need, iov, (int)ns);
	if (r == DELIVER_UNSUPPORTED && unsafe_name) {
		tell(u, m->recipient, ERR_UNSAFE_FILE_NAME,
		     " uses an older client that would run markup in this file name: rename the file without any "
		     "of < > & \" ' ` and send it again");
		return;
	}
	if (r != DELIVERED) {
		tell_undelivered(u, m->recipient, DELIVER_TEXT, r);
		return;
	}
	/* counted where it is sent; a worker holding the recipient may still
	 * bounce it, which its sender then hears about */
	rt_stats.msgs_out[m->type]++;
	rt_stats.relayed_bytes += len;
	transfers_note(&u->book, u->name, m, S.store_file_names);
}

/* The binary relay extension: the header is rewritten with the sender's
 * name and the data forwarded as it came, without JSON. */
static void on_binary(struct ws_conn *c, const uint8_t *msg, size_t len)
{
	struct user *u = ws_user(c);
	rt_stats.msgs_in[STATS_MSG_TYPES - 1]++;
	struct proto_binary b;
	struct rt_err err;
	if (proto_binary_parse(msg, len, &b, &err) != RT_OK) {
		send_error(u, ERR_BINARY, err.msg);
		return;
	}
	if (!registered_or_told(u))
		return;
	if (proto_name_check(b.name)) {
		tell_not_online(u, b.name);
		return;
	}
	uint8_t hdr[PROTO_BIN_HEADER_MAX];
	size_t hl = proto_binary_header(hdr, u->name, b.tid, b.offset);
	struct iovec piece[2] = { { hdr, hl }, { (void *)(msg + b.data_off), b.data_len } };
	enum deliver_result r = S.dl->send(ws_id(c), b.name, DELIVER_BINARY, 0, piece, 2);
	if (r != DELIVERED) {
		tell_undelivered(u, b.name, DELIVER_BINARY, r);
		return;
	}
	rt_stats.msgs_out[STATS_MSG_TYPES - 1]++;
	rt_stats.relayed_bytes += hl + b.data_len;
}

/* ---- what the delivery back end calls ---- */

static enum deliver_result sink_take(uint64_t conn, const char *name, enum deliver_kind kind, const struct iovec *iov,
				     int iovcnt)
{
	struct ws_conn *c = ws_find(conn);
	struct user *to = c ? ws_user(c) : NULL;
	if (!to || strcmp(to->name, name) != 0)
		return DELIVER_GONE; /* left, or renamed since the look-up */
	if (kind == DELIVER_BINARY && !to->binary_ok)
		return DELIVER_UNSUPPORTED;
	int rc = kind == DELIVER_BINARY ? ws_send_binaryv(c, iov, iovcnt) : ws_send_textv(c, iov, iovcnt);
	return rc == RT_OK ? DELIVERED : rc == RT_AGAIN ? DELIVER_SLOW : DELIVER_GONE; /* RT_ERR: it is leaving */
}

static void sink_undelivered(uint64_t sender, const char *name, enum deliver_kind kind, enum deliver_result why)
{
	struct ws_conn *c = ws_find(sender);
	struct user *u = c ? ws_user(c) : NULL;
	if (u) /* else the sender left too */
		tell_undelivered(u, name, kind, why);
}

const struct deliver_sink session_sink = { .take = sink_take, .undelivered = sink_undelivered };

/* ---- ws handlers ---- */

static void on_open(struct ws_conn *c)
{
	struct user *u = xcalloc(1, sizeof *u);
	u->c = c;
	u->opened_ms = time_mono_ms();
	ws_set_user(c, u);
	rt_stats.ws_accepted++;
	struct log_ctx ctx;
	log_msg(LOG_LVL_INFO, user_ctx(u, &ctx), "websocket %llu from %s opened", (unsigned long long)ws_id(c),
		log_addr(ws_peer(c)));
}

static void on_text(struct ws_conn *c, const char *msg, size_t len)
{
	struct user *u = ws_user(c);
	struct proto_msg m;
	struct rt_err err;
	if (proto_parse(msg, len, &m, &err) != RT_OK) {
		rt_stats.msgs_in[0]++;
		send_error(u, m.is_json ? ERR_BAD_MESSAGE : ERR_INVALID_FORMAT, err.msg);
		return;
	}
	if ((unsigned)m.type < STATS_MSG_TYPES)
		rt_stats.msgs_in[m.type]++;
	switch (m.type) {
	case PROTO_SET_USERNAME:
		on_set_username(u, &m, msg);
		break;
	case PROTO_GET_USERS:
		userlist_refresh(true);
		send_user_list(u);
		break;
	case PROTO_PING: {
		char out[32];
		size_t n = proto_format_pong(out, sizeof out);
		send_text(u, out, n);
		break;
	}
	case PROTO_CAPABILITIES:
		on_capabilities(u, &m);
		break;
	case PROTO_PEER_INFO:
		on_peer_info(u, &m);
		break;
	case PROTO_GET_ICE_SERVERS:
		if (ice_take(u, true))
			send_ice(u);
		break;
	default:
		if (proto_is_relay(m.type))
			relay(u, msg, &m);
		break;
	}
}

static void on_close(struct ws_conn *c, uint16_t code)
{
	struct user *u = ws_user(c);
	if (!u)
		return;
	rt_stats.closes[stats_close_index(code)]++;
	transfers_sender_gone(u->book);
	if (u->name[0]) {
		(void)S.dir->release(u->name, ws_id(c));
		S.registered--;
		if (u->ice_ok)
			S.ice_users--;
	}
	/* names are personal data: at info only when configured, at debug always */
	bool named = u->name[0] && (S.log_names || log_enabled(LOG_LVL_DEBUG));
	struct log_ctx ctx;
	log_msg(LOG_LVL_INFO, user_ctx(u, &ctx), "websocket %llu from %s%s%s closed with %u after %lld ms",
		(unsigned long long)ws_id(c), log_addr(ws_peer(c)), named ? " as " : "", named ? u->name : "", code,
		(long long)(time_mono_ms() - u->opened_ms));
	ws_set_user(c, NULL);
	free(u);
}

const struct ws_handlers session_ws_handlers = { on_open, on_text, on_binary, on_close };

/* ---- the tick: lists, register timeout, ICE renewal ---- */

struct tick_ctx {
	int64_t now;
	bool lists; /* a round: send a list to every user whose list is old */
	bool timeouts;
	bool ice; /* renew ICE credentials that are due */
	size_t bytes; /* of the lists sent */
};

static void round_one(struct user *u, struct tick_ctx *t)
{
	if (u->list_hash == userlist_hash())
		return;
	struct ws_shared *shared;
	size_t n;
	const char *text = userlist_round_text(u->name, &shared, &n);
	if (shared) {
		if (replied(u, ws_send_shared(u->c, shared)) == RT_OK)
			t->bytes += n;
	} else if (text) {
		send_text(u, text, n);
		t->bytes += n;
	} else {
		return;
	}
	u->list_hash = userlist_hash();
}

static void tick_one(struct ws_conn *c, void *arg)
{
	struct tick_ctx *t = arg;
	struct user *u = ws_user(c);
	if (!u)
		return;
	if (!u->name[0]) {
		if (t->timeouts && t->now - u->opened_ms > S.register_timeout_ms)
			ws_close(c, 1008, "no SET_USERNAME in time");
		return;
	}
	/* renewal before expiry, or servers changed by a reload: the server's
	 * own doing, not counted against the client */
	if (t->ice && u->ice_ok && ((u->ice_due_ms && t->now >= u->ice_due_ms) || u->ice_gen != S.ice_gen))
		send_ice(u);
	if (t->lists)
		round_one(u, t);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tick_ctx t = { .now = time_mono_ms() };
	t.lists = userlist_round_begin(t.now);
	/* with nothing to send, the register timeout is checked a few times
	 * per timeout only: walking every connection 20 times a second would
	 * cost an idle worker with many connections real CPU */
	int64_t every = S.register_timeout_ms / 8;
	if (every > 1000)
		every = 1000;
	t.timeouts = S.registered < ws_count() && t.now - S.last_walk_ms >= every;
	/* credentials are renewed within a second of being due */
	t.ice = S.ice_users > 0 && (ice_mints(&S.ice) || S.ice_changed) && t.now - S.last_ice_walk_ms >= 1000;
	if (t.ice) {
		S.last_ice_walk_ms = t.now;
		S.ice_changed = false;
	}
	if (!t.lists && !t.timeouts && !t.ice)
		return;
	if (t.timeouts)
		S.last_walk_ms = t.now;
	ws_foreach(tick_one, &t);
	if (t.lists)
		userlist_round_end(t.now, t.bytes);
}

/* ---- setup ---- */

static uint64_t ice_settings_hash(const struct config *cfg)
{
	char num[48];
	snprintf(num, sizeof num, "|%d|%d", cfg->turn_ttl, cfg->p2p_timeout_ms);
	const char *parts[] = { cfg->stun_servers,         "|", cfg->turn_servers, "|",
				cfg->ice_transport_policy, "|", cfg->turn_secret,  num };
	uint64_t h = RT_HASH64_INIT;
	for (size_t i = 0; i < RT_ARRAY_LEN(parts); i++)
		h = rt_hash64_str(h, parts[i]);
	return h;
}

static void apply_ice(const struct config *cfg)
{
	struct ice_config ic;
	struct rt_err err;
	if (ice_config_init(&ic, cfg->stun_servers, cfg->turn_servers, cfg->ice_transport_policy, cfg->turn_secret,
			    cfg->turn_ttl, cfg->p2p_timeout_ms, &err) != RT_OK) {
		/* the master validated it; a failure here keeps the old one */
		log_error("ICE servers: %s (keeping the previous ones)", err.msg);
		return;
	}
	ice_config_fini(&S.ice);
	S.ice = ic;
	uint64_t h = ice_settings_hash(cfg);
	if (S.ice_hash && h != S.ice_hash) {
		/* open pages get the new servers within a second */
		S.ice_gen++;
		S.ice_changed = true;
	}
	S.ice_hash = h;
}

void session_apply(const struct config *cfg)
{
	S.store_file_names = cfg->store_file_names;
	S.log_names = cfg->log_names;
	S.max_message = (uint64_t)cfg->max_message_bytes;
	S.max_outbound = (uint64_t)cfg->max_outbound_bytes;
	S.register_timeout_ms = cfg->register_timeout_ms;
	S.rate_window_ms = cfg->rate_limit_window_ms;
	S.rate_max = cfg->rate_limit_max;
	userlist_apply(cfg->user_list_max);
	apply_ice(cfg);
}

void session_setup(struct event_base *base, const struct config *cfg, const struct directory *dir,
		   const struct deliver *dl)
{
	S.dir = dir;
	S.dl = dl;
	userlist_setup(dir);
	session_apply(cfg);
	S.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, TICK_MS * 1000 };
	event_add(S.tick_ev, &tv);
}
