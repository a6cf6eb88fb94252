/*
 * room.c: the RTFT v1 protocol (see rtft-protocol-v1.md and docs/protocol.md)
 * on a worker.
 * Owns: struct user (one per WebSocket), name rules, the per-message
 * decisions (reply, forward locally, forward through the bus, or tell the
 * sender why not), coalesced USER_LIST updates, the register timeout.
 * Must not: build a json-c tree for relayed messages (proto.c scans them
 * and the client's bytes are forwarded), touch the database per message, or
 * drop a relayed message without telling its sender.
 */
#include "autoconf.h"
#include "room.h"
#include "bus.h"
#include "config.h"
#include "http.h"
#include "ice.h"
#include "log.h"
#include "presence.h"
#include "proto.h"
#include "stats.h"
#include "transfers.h"
#include "util.h"
#include "ws.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_TICK_MS 50 /* coalescing window for USER_LIST */
#define NOTICE_EVERY_MS 5000 /* one "not online" per sender and recipient in this time */
#define NOTICES 8

struct notice {
	uint64_t name_hash; /* of the whole name, which may be longer than a valid one */
	int64_t at_ms;
};

/* A file this user is sending, from FILE_METADATA to FILE_COMPLETE. */
#define USER_TRANSFERS 16
struct xfer {
	bool used;
	char uid[33];
	char recipient[PRESENCE_NAME_MAX + 1];
	uint64_t name_hash; /* of the file name: matched by FILE_CHUNK and FILE_COMPLETE */
	bool relayed; /* websocket mode: the bytes go through us */
	uint64_t bytes;
};

struct user {
	struct ws_conn *c;
	char name[PRESENCE_NAME_MAX + 1]; /* "" until registered */
	int64_t opened_ms;
	struct notice notices[NOTICES];
	struct xfer *xfers; /* USER_TRANSFERS, allocated by the first FILE_METADATA */
	bool binary_ok; /* said CAPABILITIES {binaryRelay: true} */
	uint8_t transfer_version; /* CAPABILITIES {transfer: N} */
	bool ice_ok; /* CAPABILITIES {iceServers: true}: ICE_SERVERS is pushed */
	int64_t ice_due_ms; /* when its credentials want renewing (0: never) */
	int64_t ice_window_ms; /* GET_ICE_SERVERS: start of the current window */
	uint32_t ice_asked; /* ICE_SERVERS the client caused in it */
	uint32_t ice_gen; /* R.ice_gen of the last ICE_SERVERS sent */
	uint64_t list_hash; /* R.top_hash of the last list this user was sent */
};

static struct {
	struct event_base *base;
	int slot;
	uint32_t gen;
	int max_list;
	int register_timeout_ms;
	uint64_t list_version; /* presence version of the snapshot in R.names */
	size_t count; /* names in R.names */
	uint64_t top_hash; /* of the names that decide every list (see top_of) */
	int64_t snap_next_us; /* no snapshot before then, unless forced (see refresh_names) */
	bool users_behind; /* some user may hold a list older than top_hash */
	int64_t next_round_ms; /* lists go out again from then on */
	struct presence_name *snap;
	size_t snap_cap;
	const char **names;
	char *buf; /* scratch for outgoing messages */
	size_t buf_cap;
	struct event *tick_ev;
	int64_t registered; /* users of this worker with a name */
	int64_t last_walk_ms; /* last walk over every connection */
	uint64_t max_message;
	uint64_t max_outbound;
	bool store_file_names;
	struct ice_config ice;
	int rate_window_ms, rate_max;
	int64_t ice_users; /* registered users with ice_ok: the renewal walk runs only with some */
	int64_t last_ice_walk_ms;
	uint32_t ice_gen; /* moves when a reload changes what ICE_SERVERS holds */
	bool ice_changed; /* ... and the users have not been walked since */
	uint64_t ice_hash; /* of the settings behind R.ice */
} R;

_Static_assert(PROTO_TYPE_COUNT + 1 == STATS_MSG_TYPES, "a stats slot per message type and one for binary");

const struct ice_config *room_ice(void)
{
	return &R.ice;
}

/* ---- sending ---- */

static char *scratch(size_t need)
{
	if (need > R.buf_cap) {
		R.buf_cap = need + 4096;
		R.buf = xrealloc(R.buf, R.buf_cap);
	}
	return R.buf;
}

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
static void send_error_about(struct user *u, enum stats_error why, const char *message, const char *about)
{
	rt_stats.errors[why]++;
	char out[1024];
	size_t n = u->transfer_version || u->ice_ok
			   ? proto_format_error_ext(out, sizeof out, message, stats_error_name(why), about)
			   : proto_format_error(out, sizeof out, message);
	if (n < sizeof out)
		send_text(u, out, n);
}

static void send_error(struct user *u, enum stats_error why, const char *message)
{
	send_error_about(u, why, message, NULL);
}

/* One notice per recipient and reason every few seconds, so a flood of
 * chunks or candidates to someone absent gives one alert, not hundreds. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h | 1; /* never 0, the empty entry */
}

static bool notice_due(struct user *u, const char *name, enum stats_error why)
{
	int64_t now = time_mono_ms();
	uint64_t h = name_hash(name) ^ ((uint64_t)why << 56); /* per recipient and reason */
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

static void xfer_fail_to(struct user *u, const char *recipient, const char *reason);
static uint32_t caps_of(const struct user *u);
static void send_ice(struct user *u);
static bool ice_take(struct user *u, bool explicit);

/* The sender hears why a message to name went nowhere: "<name><what>",
 * once per recipient and reason every NOTICE_EVERY_MS. */
static void tell(struct user *u, const char *name, enum stats_error why, const char *what)
{
	if (!notice_due(u, name, why))
		return;
	char msg[PROTO_NAME_MAX + 128]; /* the ERROR builder escapes it */
	snprintf(msg, sizeof msg, "%s%s", name, what);
	send_error_about(u, why, msg, name);
}

static void tell_not_online(struct user *u, const char *name)
{
	xfer_fail_to(u, name, "recipient not online");
	tell(u, name, ERR_NOT_ONLINE, " is not online");
}

static void tell_slow(struct user *u, const char *name)
{
	tell(u, name, ERR_SLOW_RECIPIENT,
	     " is not keeping up: a message to them was not delivered, send it again later");
}

/* ---- transfer records ---- */

static struct xfer *xfer_find(struct user *u, const char *recipient, uint64_t file_hash)
{
	if (!u->xfers)
		return NULL;
	for (int i = 0; i < USER_TRANSFERS; i++) {
		struct xfer *x = &u->xfers[i];
		if (x->used && x->name_hash == file_hash && strcmp(x->recipient, recipient) == 0)
			return x;
	}
	return NULL;
}

static void xfer_end(struct xfer *x, enum transfer_status st, const char *reason)
{
	rt_stats.transfers[x->relayed ? 1 : 0][st]++;
	transfers_close(x->uid, st, x->bytes, reason);
	x->used = false;
}

/* FILE_METADATA was forwarded: a new record. */
static void xfer_start(struct user *u, const struct proto_msg *m)
{
	uint64_t fh = name_hash(m->file_name);
	struct xfer *x = xfer_find(u, m->recipient, fh);
	if (x)
		xfer_end(x, TRANSFER_FAILED, "offered again");
	if (!u->xfers)
		u->xfers = xcalloc(USER_TRANSFERS, sizeof *u->xfers); /* most users never send a file */
	for (int i = 0; i < USER_TRANSFERS && !x; i++)
		if (!u->xfers[i].used)
			x = &u->xfers[i];
	if (!x) {
		/* the oldest slot goes: a client offering this many files at
		 * once is not waiting for all of them */
		x = &u->xfers[0];
		xfer_end(x, TRANSFER_FAILED, "too many transfers at once");
	}
	memset(x, 0, sizeof *x);
	x->used = true;
	rand_hex(x->uid, sizeof x->uid, 16);
	snprintf(x->recipient, sizeof x->recipient, "%.*s", PRESENCE_NAME_MAX, m->recipient);
	x->name_hash = fh;
	x->relayed = m->transfer_mode != PROTO_MODE_WEBRTC;
	rt_stats.transfers_started[x->relayed ? 1 : 0]++;
	transfers_open(x->uid, u->name, m->recipient, R.store_file_names ? m->file_name : NULL, m->file_size,
		       m->has_file_type ? m->file_type : NULL, x->relayed ? "websocket" : "webrtc");
}

/* After a relayed message was accepted for delivery. */
static void xfer_note(struct user *u, const struct proto_msg *m)
{
	if (m->type == PROTO_FILE_METADATA) {
		xfer_start(u, m);
		return;
	}
	if (m->type != PROTO_FILE_CHUNK && m->type != PROTO_FILE_COMPLETE)
		return;
	struct xfer *x = xfer_find(u, m->recipient, name_hash(m->file_name));
	if (!x)
		return;
	if (m->type == PROTO_FILE_CHUNK)
		x->bytes += m->data_len;
	else
		xfer_end(x, TRANSFER_COMPLETED, NULL);
}

/* The recipient could not be reached: the transfers relayed to it failed
 * (a peer to peer one may go on over its data channel). */
static void xfer_fail_to(struct user *u, const char *recipient, const char *reason)
{
	if (!u->xfers)
		return;
	for (int i = 0; i < USER_TRANSFERS; i++)
		if (u->xfers[i].used && u->xfers[i].relayed && strcmp(u->xfers[i].recipient, recipient) == 0)
			xfer_end(&u->xfers[i], TRANSFER_FAILED, reason);
}

/* ---- names ---- */

static const char *name_problem(const char *name)
{
	size_t n = strlen(name);
	if (n < 3)
		return "Username must be at least 3 characters";
	if (n > 32)
		return "Username must be at most 32 characters";
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-' || ch == '.'))
			return "Username may contain only letters, digits, _, - and .";
	}
	return NULL;
}

/* Every name, sorted, into R.names (R.count of them). */
static void take_snapshot(void)
{
	size_t count = 0;
	uint64_t v = 0;
	for (;;) {
		int rc = presence_snapshot(R.snap, R.snap_cap, &count, &v);
		if (rc == RT_OK)
			break;
		if (rc == RT_ERR) {
			count = 0;
			break;
		}
		R.snap_cap = count + 1024;
		R.snap = xrealloc(R.snap, R.snap_cap * sizeof *R.snap);
		R.names = xrealloc(R.names, R.snap_cap * sizeof *R.names);
	}
	for (size_t i = 0; i < count; i++)
		R.names[i] = R.snap[i].name;
	R.count = count;
	R.list_version = v;
}

/* How many of the sorted names decide what any user is sent: a list holds
 * the first max names other than the user's own, so the first max + 1
 * decide them all. A name joining or leaving after those changes nobody's
 * list. */
static size_t top_of(void)
{
	return R.count < (size_t)R.max_list + 1 ? R.count : (size_t)R.max_list + 1;
}

static uint64_t hash_top(void)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)R.max_list; /* FNV-1a */
	size_t k = top_of();
	for (size_t i = 0; i < k; i++)
		for (const unsigned char *p = (const unsigned char *)R.names[i];; p++) {
			h = (h ^ *p) * 0x100000001b3ULL;
			if (!*p)
				break;
		}
	return h;
}

/* Brings R.names up to date with presence. Each snapshot copies and sorts
 * every name (about 10 ms for 50,000), so in a storm of joins they are
 * rationed by their cost: after one that took t, the next comes 9 t later
 * at the earliest (snapshots take at most a tenth of the worker's time;
 * with few names, that is no limit at all). A USERNAME_SET built from an
 * older one is followed by a USER_LIST in the next round. GET_USERS and
 * rounds (force) always get the current names. */
static bool names_current(void)
{
	return R.snap && presence_version() == R.list_version;
}

static void refresh_names(bool force)
{
	if (names_current())
		return;
	int64_t t0 = time_mono_us();
	if (R.snap && !force && t0 < R.snap_next_us) {
		R.users_behind = true; /* the tick looks again */
		return;
	}
	take_snapshot();
	int64_t t1 = time_mono_us();
	R.snap_next_us = t1 + 9 * (t1 - t0);
	uint64_t h = hash_top();
	if (h != R.top_hash) {
		R.top_hash = h;
		R.users_behind = true;
	}
}

static size_t list_cap(void)
{
	return (size_t)R.max_list * (PRESENCE_NAME_MAX * 6 + 3) + 128;
}

/* The user's list; returns the bytes queued. */
static size_t send_user_list(struct user *u)
{
	char *out = scratch(list_cap());
	size_t n = proto_format_user_list(out, R.buf_cap, R.names, R.count, u->name, (size_t)R.max_list);
	if (n >= R.buf_cap)
		return 0;
	send_text(u, out, n);
	u->list_hash = R.top_hash;
	return n;
}

static void on_set_username(struct user *u, const struct proto_msg *m, const char *buf)
{
	char name[PROTO_NAME_MAX + 1];
	snprintf(name, sizeof name, "%s", m->username);
	str_trim(name);
	const char *why = NULL;
	if (m->username_too_long) {
		/* white space around a name is trimmed whatever its length: look
		 * at the raw text, which is the value when it has no escapes */
		const char *raw = buf + m->username_raw.off;
		size_t len = m->username_raw.len;
		for (;;) { /* leading spaces, and \t \n \r as JSON escapes */
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
		if (len > 32 || memchr(raw, '\\', len))
			why = "Username must be at most 32 characters";
		else
			snprintf(name, sizeof name, "%.*s", (int)len, raw);
	} else if (strlen(m->username) != m->username_len) {
		why = "Username may contain only letters, digits, _, - and ."; /* a \u0000 inside */
	}
	if (!why)
		why = name_problem(name);
	if (why) {
		rt_stats.errors[ERR_USERNAME_INVALID]++;
		char out[512];
		size_t n = proto_format_username_error(out, sizeof out, why);
		send_text(u, out, n);
		return;
	}
	int rc = presence_claim_caps(name, R.slot, R.gen, ws_id(u->c), u->name[0] ? u->name : NULL, caps_of(u));
	if (rc == PRESENCE_TAKEN || rc == PRESENCE_FULL || rc == RT_ERR) {
		rt_stats.errors[ERR_USERNAME_TAKEN]++;
		char out[512];
		size_t n = proto_format_username_error(out, sizeof out,
						       rc == PRESENCE_TAKEN ? "Username already taken"
						       : rc == PRESENCE_FULL ? "The server is full, try again later"
									     : "Username could not be registered");
		send_text(u, out, n);
		return;
	}
	if (!u->name[0]) {
		R.registered++;
		if (u->ice_ok)
			R.ice_users++;
	}
	bool renamed = strcmp(u->name, name) != 0;
	if (renamed)
		log_debug("websocket %llu registered as %s", (unsigned long long)ws_id(u->c), name);
	memcpy(u->name, name, strlen(name) + 1); /* valid: at most 32 bytes */
	refresh_names(false);
	char *out = scratch(list_cap() + 256);
	size_t n = proto_format_username_set(out, R.buf_cap, u->name, R.names, R.count, u->name, (size_t)R.max_list);
	if (n < R.buf_cap)
		send_text(u, out, n);
	/* protocol v1: every registered user, the new one too, gets a
	 * USER_LIST after a join (the next round); others' lists change only
	 * when this name is among the first ones (refresh_names() compares) */
	u->list_hash = 0;
	R.users_behind = true;
	/* credentials carry the name: new ones on a first claim or a rename
	 * (counted like GET_ICE_SERVERS, so claims cannot mint without end) */
	if (u->ice_ok && renamed && ice_take(u, false))
		send_ice(u);
}

/* ---- ICE servers (docs/protocol.md) ---- */

static uint32_t caps_of(const struct user *u)
{
	return (u->binary_ok ? PRESENCE_CAP_BINARY : 0) | (u->transfer_version >= 1 ? PRESENCE_CAP_TRANSFER : 0);
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
	char *js = ice_json(&R.ice, u->name[0] ? u->name : anon, now, true, &expires);
	send_text(u, js, strlen(js));
	free(js);
	u->ice_due_ms = expires ? time_mono_ms() + (int64_t)(expires - now) * 800 : 0;
	u->ice_gen = R.ice_gen;
}

/* One ICE_SERVERS the client caused (GET_ICE_SERVERS, a claim, asking in
 * CAPABILITIES), at most rate_max per window: true when it may have it.
 * Over the limit an explicit request gets an ERROR; the others go without
 * (the client keeps the credentials it has). */
static bool ice_take(struct user *u, bool explicit)
{
	int64_t now = time_mono_ms();
	if (now - u->ice_window_ms >= R.rate_window_ms) {
		u->ice_window_ms = now;
		u->ice_asked = 0;
	}
	if (u->ice_asked >= (uint32_t)R.rate_max) {
		if (explicit) {
			char msg[128];
			int64_t left = (u->ice_window_ms + R.rate_window_ms - now + 999) / 1000;
			snprintf(msg, sizeof msg, "Too many requests for ICE servers, try again in %lld s",
				 (long long)(left < 1 ? 1 : left));
			send_error(u, ERR_RATE_LIMITED, msg);
		} else {
			rt_stats.errors[ERR_RATE_LIMITED]++;
		}
		return false;
	}
	u->ice_asked++;
	return true;
}

static void on_get_ice_servers(struct user *u)
{
	if (ice_take(u, true))
		send_ice(u);
}

static void on_peer_info(struct user *u, const struct proto_msg *m)
{
	uint32_t caps = 0;
	bool online = !m->user_too_long && strlen(m->user) == m->user_len && !name_problem(m->user) &&
		      presence_lookup_caps(m->user, NULL, NULL, NULL, &caps) == RT_OK;
	char out[512];
	size_t n = proto_format_peer_info(out, sizeof out, m->user, online, (caps & PRESENCE_CAP_TRANSFER) ? 1 : 0,
					  (caps & PRESENCE_CAP_BINARY) != 0);
	if (n < sizeof out)
		send_text(u, out, n);
}

static void tell_no_transfer(struct user *u, const char *name)
{
	tell(u, name, ERR_NO_TRANSFER, " does not understand TRANSFER messages");
}

/* ---- relaying ---- */

static void relay(struct user *u, const char *buf, const struct proto_msg *m)
{
	if (!u->name[0]) {
		send_error(u, ERR_NOT_REGISTERED, "Set a username before sending messages");
		return;
	}
	if (m->recipient_too_long || strlen(m->recipient) != m->recipient_len || name_problem(m->recipient)) {
		tell_not_online(u, m->recipient);
		return;
	}
	int slot;
	uint32_t gen;
	uint64_t conn;
	uint32_t caps;
	if (presence_lookup_caps(m->recipient, &slot, &gen, &conn, &caps) != RT_OK) {
		tell_not_online(u, m->recipient);
		return;
	}
	if (m->type == PROTO_TRANSFER && !(caps & PRESENCE_CAP_TRANSFER)) {
		/* new clients only: an old one would not know the message */
		tell_no_transfer(u, m->recipient);
		return;
	}
	struct proto_slice sl[PROTO_RELAY_SLICES];
	size_t ns = proto_relay_slices(buf, m, u->name, sl);
	if (slot == R.slot) {
		struct ws_conn *c = ws_find(conn);
		struct user *to = c ? ws_user(c) : NULL;
		if (!to || !to->name[0]) {
			tell_not_online(u, m->recipient);
			return;
		}
		struct iovec iov[PROTO_RELAY_SLICES];
		size_t len = 0;
		for (size_t i = 0; i < ns; i++) {
			iov[i].iov_base = (void *)sl[i].p;
			iov[i].iov_len = sl[i].len;
			len += sl[i].len;
		}
		int rc = ws_send_textv(c, iov, (int)ns);
		if (rc == RT_AGAIN)
			tell_slow(u, m->recipient);
		else if (rc != RT_OK)
			tell_not_online(u, m->recipient); /* the recipient is leaving */
		else {
			rt_stats.msgs_out[m->type]++;
			rt_stats.relayed_bytes += len;
			xfer_note(u, m);
		}
		return;
	}
	/* another worker: [name length][name][message] */
	uint8_t nl = (uint8_t)strlen(m->recipient);
	struct iovec iov[PROTO_RELAY_SLICES + 2];
	iov[0].iov_base = &nl;
	iov[0].iov_len = 1;
	iov[1].iov_base = (void *)m->recipient;
	iov[1].iov_len = nl;
	for (size_t i = 0; i < ns; i++) {
		iov[i + 2].iov_base = (void *)sl[i].p;
		iov[i + 2].iov_len = sl[i].len;
	}
	int rc = bus_send(slot, BUS_DELIVER, ws_id(u->c), conn, iov, (int)ns + 2);
	if (rc == RT_AGAIN) {
		tell_slow(u, m->recipient);
	} else if (rc != RT_OK) {
		tell_not_online(u, m->recipient);
	} else {
		/* counted where it is sent; the receiving worker may still
		 * bounce it, which its sender then hears about */
		rt_stats.msgs_out[m->type]++;
		for (size_t i = 0; i < ns; i++)
			rt_stats.relayed_bytes += sl[i].len;
		xfer_note(u, m);
	}
}

static void tell_no_binary(struct user *u, const char *name);

static void bus_cb(enum bus_kind kind, int src_slot, uint64_t src_conn, uint64_t dst_conn, const char *payload,
		   size_t len)
{
	struct ws_conn *c = ws_find(dst_conn);
	struct user *u = c ? ws_user(c) : NULL;
	if (kind == BUS_DELIVER || kind == BUS_DELIVER_BINARY) {
		if (len < 1 || (size_t)(uint8_t)payload[0] + 1 > len)
			return;
		size_t nl = (uint8_t)payload[0];
		char name[PRESENCE_NAME_MAX + 1];
		snprintf(name, sizeof name, "%.*s", (int)(nl < PRESENCE_NAME_MAX ? nl : PRESENCE_NAME_MAX), payload + 1);
		struct iovec iov = { name, strlen(name) };
		if (!u || !u->name[0]) {
			if (bus_send(src_slot, BUS_BOUNCE, dst_conn, src_conn, &iov, 1) != RT_OK)
				log_debug("bus: cannot bounce to worker %d", src_slot);
			return;
		}
		if (kind == BUS_DELIVER_BINARY && !u->binary_ok) {
			if (bus_send(src_slot, BUS_NO_BINARY, dst_conn, src_conn, &iov, 1) != RT_OK)
				log_debug("bus: cannot refuse binary to worker %d", src_slot);
			return;
		}
		int rc = kind == BUS_DELIVER ? ws_send_text(c, payload + 1 + nl, len - 1 - nl)
					     : ws_send_binary(c, (const uint8_t *)payload + 1 + nl, len - 1 - nl);
		if (rc == RT_AGAIN) {
			if (bus_send(src_slot, BUS_SLOW, dst_conn, src_conn, &iov, 1) != RT_OK)
				log_debug("bus: cannot report a slow reader to worker %d", src_slot);
		} else if (rc != RT_OK) {
			/* the recipient is leaving: its sender hears it is not online */
			if (bus_send(src_slot, BUS_BOUNCE, dst_conn, src_conn, &iov, 1) != RT_OK)
				log_debug("bus: cannot bounce to worker %d", src_slot);
		}
		return;
	}
	if (!u)
		return; /* the sender left too */
	char name[PRESENCE_NAME_MAX + 1];
	snprintf(name, sizeof name, "%.*s", (int)(len < PRESENCE_NAME_MAX ? len : PRESENCE_NAME_MAX), payload);
	if (kind == BUS_BOUNCE)
		tell_not_online(u, name);
	else if (kind == BUS_SLOW)
		tell_slow(u, name);
	else if (kind == BUS_NO_BINARY)
		tell_no_binary(u, name);
}

/* ---- ws handlers ---- */

static void on_open(struct ws_conn *c)
{
	struct user *u = xcalloc(1, sizeof *u);
	u->c = c;
	u->opened_ms = time_mono_ms();
	ws_set_user(c, u);
	rt_stats.ws_accepted++;
	log_info("websocket %llu from %s opened", (unsigned long long)ws_id(c), ws_peer(c));
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
		refresh_names(true);
		send_user_list(u);
		break;
	case PROTO_PING: {
		char out[32];
		size_t n = proto_format_pong(out, sizeof out);
		send_text(u, out, n);
		break;
	}
	case PROTO_CAPABILITIES: {
		u->binary_ok = m.binary_relay;
		u->transfer_version = m.transfer_version >= 1 ? 1 : 0;
		bool ice_was = u->ice_ok;
		if (u->name[0] && ice_was != m.ice_servers)
			R.ice_users += m.ice_servers ? 1 : -1;
		u->ice_ok = m.ice_servers;
		if (u->name[0])
			(void)presence_set_caps(u->name, R.slot, R.gen, ws_id(c), caps_of(u));
		char out[160];
		size_t n = proto_format_capabilities(out, sizeof out, true, R.max_message,
						     m.transfer_version > 0 || m.ice_servers, R.max_outbound);
		send_text(u, out, n);
		if (u->name[0] && u->ice_ok && !ice_was && ice_take(u, false))
			send_ice(u); /* registered before asking: it is due now */
		break;
	}
	case PROTO_PEER_INFO:
		on_peer_info(u, &m);
		break;
	case PROTO_GET_ICE_SERVERS:
		on_get_ice_servers(u);
		break;
	default:
		if (proto_is_relay(m.type))
			relay(u, msg, &m);
		break;
	}
}

static void tell_no_binary(struct user *u, const char *name)
{
	tell(u, name, ERR_NO_BINARY, " does not accept binary relay: send the file as FILE_CHUNK messages");
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
	if (!u->name[0]) {
		send_error(u, ERR_NOT_REGISTERED, "Set a username before sending messages");
		return;
	}
	int slot;
	uint32_t gen;
	uint64_t conn;
	if (name_problem(b.name) || presence_lookup(b.name, &slot, &gen, &conn) != RT_OK) {
		tell_not_online(u, b.name);
		return;
	}
	uint8_t hdr[PROTO_BIN_HEADER_MAX];
	size_t hl = proto_binary_header(hdr, u->name, b.tid, b.offset);
	if (slot == R.slot) {
		struct ws_conn *rc_conn = ws_find(conn);
		struct user *to = rc_conn ? ws_user(rc_conn) : NULL;
		if (!to || !to->name[0]) {
			tell_not_online(u, b.name);
			return;
		}
		if (!to->binary_ok) {
			tell_no_binary(u, b.name);
			return;
		}
		struct iovec piece[2] = { { hdr, hl }, { (void *)(msg + b.data_off), b.data_len } };
		int rc = ws_send_binaryv(rc_conn, piece, 2);
		if (rc == RT_AGAIN) {
			tell_slow(u, b.name);
		} else if (rc != RT_OK) {
			tell_not_online(u, b.name); /* the recipient is leaving */
		} else {
			rt_stats.msgs_out[STATS_MSG_TYPES - 1]++;
			rt_stats.relayed_bytes += hl + b.data_len;
		}
		return;
	}
	uint8_t nl = (uint8_t)strlen(b.name);
	struct iovec iov[4] = { { &nl, 1 }, { b.name, nl }, { hdr, hl }, { (void *)(msg + b.data_off), b.data_len } };
	int rc = bus_send(slot, BUS_DELIVER_BINARY, ws_id(u->c), conn, iov, 4);
	if (rc == RT_AGAIN) {
		tell_slow(u, b.name);
	} else if (rc != RT_OK) {
		tell_not_online(u, b.name);
	} else {
		rt_stats.msgs_out[STATS_MSG_TYPES - 1]++;
		rt_stats.relayed_bytes += hl + b.data_len;
	}
}

static void on_close(struct ws_conn *c, uint16_t code)
{
	struct user *u = ws_user(c);
	if (!u)
		return;
	rt_stats.closes[stats_close_index(code)]++;
	for (int i = 0; u->xfers && i < USER_TRANSFERS; i++)
		if (u->xfers[i].used) {
			/* a relayed transfer cut off is a failure; for a peer to peer
			 * one the server never learns the outcome: it stays active
			 * with the time the sender left */
			if (u->xfers[i].relayed)
				xfer_end(&u->xfers[i], TRANSFER_FAILED, "sender disconnected");
			else
				xfer_end(&u->xfers[i], TRANSFER_ACTIVE, "sender disconnected");
		}
	if (u->name[0]) {
		(void)presence_release(u->name, R.slot, R.gen, ws_id(c));
		R.registered--;
		if (u->ice_ok)
			R.ice_users--;
	}
	log_info("websocket %llu from %s%s%s closed with %u after %lld ms", (unsigned long long)ws_id(c), ws_peer(c),
		 u->name[0] ? " as " : "", u->name, code, (long long)(time_mono_ms() - u->opened_ms));
	ws_set_user(c, NULL);
	free(u->xfers);
	free(u);
}

static const struct ws_handlers handlers = { on_open, on_text, on_binary, on_close };

/* ---- coalesced lists, register timeout ---- */

/* A round of lists costs the worker about this many bytes per ms at most:
 * the next round waits until the last one is paid for. 10,000 users with
 * lists of 1,000 names are 150 MB a round, one round every 0.6 s. */
#define LIST_BYTES_PER_MS (256 * 1024)
#define LIST_ROUND_MAX_MS 5000

struct tick_ctx {
	int64_t now;
	bool lists; /* send a list to every user whose list_hash is old */
	bool timeouts;
	bool ice; /* renew ICE credentials that are due */
	struct ws_shared *common; /* the list of users outside the top names */
	size_t common_len;
	size_t bytes;
};

static void tick_one(struct ws_conn *c, void *arg)
{
	struct tick_ctx *t = arg;
	struct user *u = ws_user(c);
	if (!u)
		return;
	if (!u->name[0]) {
		if (t->timeouts && t->now - u->opened_ms > R.register_timeout_ms)
			ws_close(c, 1008, "no SET_USERNAME in time");
		return;
	}
	/* renewal before expiry, or servers changed by a reload: the server's
	 * own doing, not counted against the client */
	if (t->ice && u->ice_ok && ((u->ice_due_ms && t->now >= u->ice_due_ms) || u->ice_gen != R.ice_gen))
		send_ice(u);
	if (!t->lists || u->list_hash == R.top_hash)
		return;
	size_t k = top_of();
	if (k > 0 && R.count > k && strcmp(u->name, R.names[k - 1]) > 0) {
		/* not among the first names: the same list as everyone else's,
		 * built once and referenced by each connection */
		if (!t->common) {
			char *out = scratch(list_cap());
			size_t n = proto_format_user_list(out, R.buf_cap, R.names, R.count, NULL, (size_t)R.max_list);
			if (n >= R.buf_cap)
				return;
			t->common = ws_shared_new(out, n);
			t->common_len = n;
		}
		if (replied(u, ws_send_shared(c, t->common)) == RT_OK)
			t->bytes += t->common_len;
		u->list_hash = R.top_hash;
		return;
	}
	t->bytes += send_user_list(u);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tick_ctx t = { .now = time_mono_ms() };
	rt_stats.ws_open = ws_count();
	rt_stats.ws_registered = R.registered;
	rt_stats.bus_frames_in = bus_frames_in;
	rt_stats.bus_frames_out = bus_frames_out;
	rt_stats.transfer_records_written = __atomic_load_n(&transfers_written, __ATOMIC_RELAXED);
	rt_stats.transfer_records_dropped = __atomic_load_n(&transfers_dropped, __ATOMIC_RELAXED);
	if (t.now >= R.next_round_ms) {
		/* a round goes out with the current names only, and takes a
		 * snapshot no more often than they are rationed (see
		 * refresh_names): otherwise the next tick tries again */
		bool fresh = names_current();
		if (!fresh && time_mono_us() >= R.snap_next_us) {
			refresh_names(true);
			fresh = true;
		}
		t.lists = fresh && R.users_behind;
	}
	/* with nothing to send, the register timeout is checked a few times
	 * per timeout only: walking every connection 20 times a second would
	 * cost an idle worker with many connections real CPU */
	int64_t every = R.register_timeout_ms / 8;
	if (every > 1000)
		every = 1000;
	t.timeouts = R.registered < ws_count() && t.now - R.last_walk_ms >= every;
	/* credentials are renewed within a second of being due */
	t.ice = R.ice_users > 0 && (ice_mints(&R.ice) || R.ice_changed) && t.now - R.last_ice_walk_ms >= 1000;
	if (t.ice) {
		R.last_ice_walk_ms = t.now;
		R.ice_changed = false;
	}
	if (!t.lists && !t.timeouts && !t.ice)
		return;
	if (t.timeouts)
		R.last_walk_ms = t.now;
	ws_foreach(tick_one, &t);
	if (t.lists) {
		R.users_behind = false;
		int64_t wait = (int64_t)(t.bytes / LIST_BYTES_PER_MS);
		R.next_round_ms = t.now + (wait > LIST_ROUND_MAX_MS ? LIST_ROUND_MAX_MS : wait);
	}
	ws_shared_release(t.common);
}

/* ---- setup ---- */

int room_upgrade(evhtp_request_t *req, struct http_server *srv, const char **why)
{
	char accept[32];
	int status = ws_handshake_check(req, accept, why);
	if (status)
		return status;
	struct evbuffer *held = http_detach(req->conn);
	ws_accept(req, accept, held);
	if (held)
		evbuffer_free(held);
	return 101;
}

void room_apply(const struct config *cfg)
{
	R.store_file_names = cfg->store_file_names;
	R.max_message = (uint64_t)cfg->max_message_bytes;
	R.max_outbound = (uint64_t)cfg->max_outbound_bytes;
	if (R.max_list != cfg->user_list_max) {
		R.max_list = cfg->user_list_max;
		R.list_version = UINT64_MAX; /* lists are rebuilt with the new length */
		R.snap_next_us = 0;
	}
	R.register_timeout_ms = cfg->register_timeout_ms;
	R.rate_window_ms = cfg->rate_limit_window_ms;
	R.rate_max = cfg->rate_limit_max;
	struct ice_config ic;
	struct rt_err err;
	if (ice_config_init(&ic, cfg->stun_servers, cfg->turn_servers, cfg->ice_transport_policy, cfg->turn_secret,
			    cfg->turn_ttl, cfg->p2p_timeout_ms, &err) == RT_OK) {
		/* the master validated it; a failure here keeps the old one */
		ice_config_fini(&R.ice);
		R.ice = ic;
		char num[48];
		snprintf(num, sizeof num, "|%d|%d", cfg->turn_ttl, cfg->p2p_timeout_ms);
		const char *parts[] = { cfg->stun_servers, "|", cfg->turn_servers, "|", cfg->ice_transport_policy,
					"|", cfg->turn_secret, num };
		uint64_t h = 1469598103934665603ULL;
		for (size_t i = 0; i < RT_ARRAY_LEN(parts); i++)
			for (const char *q = parts[i]; *q; q++)
				h = (h ^ (uint8_t)*q) * 1099511628211ULL;
		if (R.ice_hash && h != R.ice_hash) {
			/* open pages get the new servers within a second */
			R.ice_gen++;
			R.ice_changed = true;
		}
		R.ice_hash = h;
	} else {
		log_error("ICE servers: %s (keeping the previous ones)", err.msg);
	}
	struct ws_limits lim = { .max_message = (uint64_t)cfg->max_message_bytes,
				 .max_outbound = (size_t)cfg->max_outbound_bytes,
				 .heartbeat_ms = cfg->heartbeat_interval_ms,
	};
	ws_apply_limits(&lim);
}

int room_setup(struct event_base *base, int slot, uint32_t generation, int master_pid, const struct config *cfg,
	       struct rt_err *err)
{
	R.base = base;
	R.slot = slot;
	R.gen = generation;
	ws_setup(base, &handlers, slot, generation);
	room_apply(cfg);
	if (bus_setup(base, slot, master_pid, bus_cb, err) != RT_OK)
		return RT_ERR;
	if (transfers_setup(cfg, slot, err) != RT_OK)
		return RT_ERR;
	R.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = { 0, LIST_TICK_MS * 1000 };
	event_add(R.tick_ev, &tv);
	return RT_OK;
}
