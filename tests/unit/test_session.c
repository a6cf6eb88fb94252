/*
 * Unit tests for session.c, in-process: the WebSocket layer is stub_ws.c,
 * the directory and the delivery back end are the stubs below. A name can
 * be held "elsewhere" (another worker, another machine: the session must
 * not care), in which case the stub delivery keeps the message and the
 * test plays the far side's answer through session_sink.undelivered.
 * No presence table and no bus exist here: a session that reached for
 * them instead of the interfaces would fail these tests.
 */
#include "autoconf.h"
#include "config.h"
#include "deliver.h"
#include "directory.h"
#include "proto.h"
#include "session.h"
#include "stub_ws.h"
#include "tap.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stub directory ---- */

#define ELSEWHERE 0x10000u /* a holder conn at or above this is on no connection of ours */

struct entry {
	char name[DIR_NAME_MAX + 1];
	uint64_t conn;
	uint32_t caps;
};
static struct entry dir_tab[64];
static uint64_t dir_version = 1;

static struct entry *dir_find(const char *name)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(dir_tab); i++)
		if (dir_tab[i].name[0] && strcmp(dir_tab[i].name, name) == 0)
			return &dir_tab[i];
	return NULL;
}

static int d_claim(const char *name, uint64_t conn, const char *prev, uint32_t caps)
{
	struct entry *e = dir_find(name);
	if (e && e->conn != conn)
		return DIR_TAKEN;
	if (!e)
		for (size_t i = 0; i < RT_ARRAY_LEN(dir_tab) && !e; i++)
			if (!dir_tab[i].name[0])
				e = &dir_tab[i];
	if (!e)
		return DIR_FULL;
	struct entry *old = prev ? dir_find(prev) : NULL;
	if (old && old != e && old->conn == conn)
		old->name[0] = '\0';
	snprintf(e->name, sizeof e->name, "%s", name);
	e->conn = conn;
	e->caps = caps;
	dir_version++;
	return RT_OK;
}

static int d_release(const char *name, uint64_t conn)
{
	struct entry *e = dir_find(name);
	if (!e || e->conn != conn)
		return RT_ERR;
	e->name[0] = '\0';
	dir_version++;
	return RT_OK;
}

static int d_set_caps(const char *name, uint64_t conn, uint32_t caps)
{
	struct entry *e = dir_find(name);
	if (!e || e->conn != conn)
		return RT_ERR;
	e->caps = caps;
	return RT_OK;
}

static int d_lookup(const char *name, struct dir_holder *h)
{
	struct entry *e = dir_find(name);
	if (!e)
		return RT_ERR;
	if (h) {
		memset(h, 0, sizeof *h);
		h->conn = e->conn;
		h->caps = e->caps;
	}
	return RT_OK;
}

static uint64_t d_version(void)
{
	return dir_version;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct dir_name *)a)->name, ((const struct dir_name *)b)->name);
}

static int d_list(struct dir_name *out, size_t max, size_t *count, uint64_t *version)
{
	size_t n = 0;
	for (size_t i = 0; i < RT_ARRAY_LEN(dir_tab); i++)
		n += dir_tab[i].name[0] != '\0';
	*count = n;
	if (n > max)
		return RT_AGAIN;
	n = 0;
	for (size_t i = 0; i < RT_ARRAY_LEN(dir_tab); i++)
		if (dir_tab[i].name[0]) {
			memset(&out[n], 0, sizeof out[n]);
			strcpy(out[n++].name, dir_tab[i].name);
		}
	qsort(out, n, sizeof *out, by_name);
	if (version)
		*version = dir_version;
	return RT_OK;
}

static const struct directory stub_dir = { d_claim, d_release, d_set_caps, d_lookup, d_version, d_list };

/* A holder elsewhere, as another worker or machine would add it. */
static void hold_elsewhere(const char *name, uint64_t conn, uint32_t caps)
{
	ok(d_claim(name, ELSEWHERE + conn, NULL, caps) == RT_OK, "%s is held elsewhere", name);
}

/* ---- the stub delivery ---- */

static char far_msg[4096]; /* the last message that went elsewhere */
static uint64_t far_sender;
static int far_count;

static enum deliver_result dl_send(uint64_t sender, const char *name, enum deliver_kind kind, uint32_t need_caps,
				   const struct iovec *iov, int iovcnt)
{
	struct dir_holder h;
	if (d_lookup(name, &h) != RT_OK)
		return DELIVER_GONE;
	if ((h.caps & need_caps) != need_caps)
		return DELIVER_UNSUPPORTED;
	if (h.conn < ELSEWHERE)
		return session_sink.take(h.conn, name, kind, iov, iovcnt);
	size_t at = 0;
	for (int i = 0; i < iovcnt && at + iov[i].iov_len < sizeof far_msg; i++) {
		memcpy(far_msg + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	far_msg[at] = '\0';
	far_sender = sender;
	far_count++;
	return DELIVERED;
}

static const struct deliver stub_dl = { dl_send };

/* ---- helpers ---- */

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static struct ws_conn *login(uint64_t id, const char *name)
{
	struct ws_conn *c = stub_ws_open(id);
	char msg[128];
	snprintf(msg, sizeof msg, "{\"type\":\"SET_USERNAME\",\"username\":\"%s\"}", name);
	stub_ws_text(c, msg);
	return c;
}

static void relay_to(struct ws_conn *c, const char *to)
{
	char msg[256];
	snprintf(msg, sizeof msg, "{\"type\":\"WEBRTC_OFFER\",\"recipient\":\"%s\",\"offer\":{\"sdp\":\"x\"}}", to);
	stub_ws_text(c, msg);
}

static size_t binary_chunk(uint8_t *out, const char *to, const char *data)
{
	size_t n = strlen(to), at = 0;
	out[at++] = PROTO_BIN_CHUNK;
	out[at++] = (uint8_t)n;
	memcpy(out + at, to, n);
	at += n;
	memset(out + at, 7, PROTO_BIN_TID + 8); /* transfer id, offset */
	at += PROTO_BIN_TID + 8;
	memcpy(out + at, data, strlen(data));
	return at + strlen(data);
}

/* ---- tests ---- */

static void test_names(void)
{
	struct ws_conn *a = login(1, "alice");
	ok(has(stub_ws_last(a), "\"type\":\"USERNAME_SET\"") && has(stub_ws_last(a), "\"alice\""),
	   "SET_USERNAME is answered with USERNAME_SET");
	ok(dir_find("alice") && dir_find("alice")->conn == 1, "the name is claimed in the directory for the connection");
	struct ws_conn *b = login(2, "alice");
	ok(has(stub_ws_last(b), "USERNAME_ERROR") && has(stub_ws_last(b), "already taken"),
	   "a held name is refused with USERNAME_ERROR");
	stub_ws_text(b, "{\"type\":\"SET_USERNAME\",\"username\":\"  bob \"}");
	ok(has(stub_ws_last(b), "USERNAME_SET") && dir_find("bob"), "white space around a name is trimmed");
	stub_ws_text(b, "{\"type\":\"SET_USERNAME\",\"username\":\"bobby\"}");
	ok(dir_find("bobby") && !dir_find("bob"), "a rename gives up the old name in the same claim");
	stub_ws_clear(a);
	relay_to(a, "bob");
	ok(has(stub_ws_last(a), "bob is not online"), "the old name of a renamed user is not online");
	stub_ws_gone(b);
	ok(!dir_find("bobby"), "a closed connection's name is released");
	stub_ws_gone(a);
}

static void test_relay(void)
{
	struct ws_conn *a = login(1, "alice"), *b = login(2, "bob");
	stub_ws_clear(a);
	stub_ws_clear(b);
	relay_to(a, "bob");
	const char *got = stub_ws_last(b);
	ok(has(got, "\"sender\":\"alice\"") && has(got, "\"offer\":{\"sdp\":\"x\"}") && !has(got, "recipient"),
	   "a relay reaches a holder on this worker with the sender stamped and the recipient cut");
	ok(a->n == 0, "the sender hears nothing when it was delivered");

	relay_to(a, "carol");
	ok(has(stub_ws_last(a), "carol is not online"), "nobody holding the name: not online");
	int before = a->n;
	relay_to(a, "carol");
	ok(a->n == before, "the same notice is not repeated within its interval");

	b->slow = true;
	relay_to(a, "bob");
	ok(has(stub_ws_last(a), "bob is not keeping up"), "a slow holder: the sender hears it");
	b->slow = false;

	struct ws_conn *anon = stub_ws_open(3);
	relay_to(anon, "bob");
	ok(has(stub_ws_last(anon), "Set a username before sending messages"), "an unregistered sender is told");
	relay_to(a, "x y");
	ok(has(stub_ws_last(a), "x y is not online"), "an invalid recipient name is not online");
	stub_ws_gone(anon);
	stub_ws_gone(b);
	stub_ws_gone(a);
}

static void test_elsewhere(void)
{
	struct ws_conn *a = login(1, "alice");
	hold_elsewhere("dave", 7, 0);
	stub_ws_clear(a);
	int n0 = far_count;
	relay_to(a, "dave");
	ok(far_count == n0 + 1 && far_sender == 1 && has(far_msg, "\"sender\":\"alice\""),
	   "a holder elsewhere gets the message through the delivery interface");
	ok(a->n == 0, "nothing is said to the sender while the far side has not answered");
	session_sink.undelivered(1, "dave", DELIVER_TEXT, DELIVER_GONE);
	ok(has(stub_ws_last(a), "dave is not online"), "a bounce from the far side: not online");
	session_sink.undelivered(1, "dave", DELIVER_TEXT, DELIVER_SLOW);
	ok(has(stub_ws_last(a), "dave is not keeping up"), "a slow reader far away: not keeping up");
	session_sink.undelivered(1, "dave", DELIVER_BINARY, DELIVER_UNSUPPORTED);
	ok(has(stub_ws_last(a), "does not accept binary relay"), "binary refused far away: the sender hears why");
	int n = a->n;
	session_sink.undelivered(99, "dave", DELIVER_TEXT, DELIVER_GONE);
	ok(a->n == n, "an answer for a sender that left goes nowhere");
	d_release("dave", ELSEWHERE + 7);
	stub_ws_gone(a);
}

static void test_capabilities(void)
{
	struct ws_conn *a = login(1, "alice"), *b = login(2, "bob");
	stub_ws_text(a, "{\"type\":\"CAPABILITIES\",\"transfer\":1}");
	ok(has(stub_ws_last(a), "\"type\":\"CAPABILITIES\""), "CAPABILITIES is answered");
	stub_ws_clear(a);
	stub_ws_text(a, "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"t1\",\"action\":\"offer\"}");
	ok(has(stub_ws_last(a), "bob does not understand TRANSFER messages"),
	   "TRANSFER to an old client is refused with a reason");
	stub_ws_text(b, "{\"type\":\"CAPABILITIES\",\"transfer\":1}");
	ok(dir_find("bob")->caps & DIR_CAP_TRANSFER, "capabilities reach the directory");
	stub_ws_clear(b);
	stub_ws_text(a, "{\"type\":\"TRANSFER\",\"recipient\":\"bob\",\"id\":\"t1\",\"action\":\"offer\"}");
	ok(has(stub_ws_last(b), "\"type\":\"TRANSFER\""), "TRANSFER reaches a client that announced it");

	stub_ws_text(a, "{\"type\":\"PEER_INFO\",\"user\":\"bob\"}");
	ok(has(stub_ws_last(a), "PEER_INFO") && has(stub_ws_last(a), "\"online\":true"),
	   "PEER_INFO says a holder is online");
	stub_ws_text(a, "{\"type\":\"PEER_INFO\",\"user\":\"nobody\"}");
	ok(has(stub_ws_last(a), "\"online\":false"), "PEER_INFO says an absent name is not");

	uint8_t chunk[128];
	size_t len = binary_chunk(chunk, "bob", "DATA");
	stub_ws_clear(a);
	stub_ws_binary(a, chunk, len);
	ok(has(stub_ws_last(a), "bob does not accept binary relay"), "binary to a client that did not ask: refused");
	stub_ws_text(b, "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true,\"transfer\":1}");
	stub_ws_clear(b);
	stub_ws_binary(a, chunk, len);
	ok(b->n == 1 && b->msgs[0].binary && b->msgs[0].len == 2 + 5 + PROTO_BIN_TID + 8 + 4 &&
		   memcmp(b->msgs[0].p + 2, "alice", 5) == 0 && memcmp(b->msgs[0].p + b->msgs[0].len - 4, "DATA", 4) == 0,
	   "binary to a client that asked: the header names the sender, the data is as sent");
	stub_ws_gone(b);
	stub_ws_gone(a);
}

/* A file name with markup goes only to clients that announced
 * themselves (DIR_CAP_ANNOUNCED), here or elsewhere; the sender hears it
 * once per recipient and interval. */
static void test_file_names(void)
{
	static const char meta[] =
		"{\"type\":\"FILE_METADATA\",\"recipient\":\"%s\",\"file\":{\"name\":\"%s\",\"size\":3}}";
	struct ws_conn *a = login(1, "alice"), *b = login(2, "bob");
	char msg[256];
	stub_ws_clear(a);
	stub_ws_clear(b);
	snprintf(msg, sizeof msg, meta, "bob", "<img src=x onerror=alert(1)>");
	stub_ws_text(a, msg);
	ok(b->n == 0, "a file name with markup does not reach an old client");
	ok(has(stub_ws_last(a), "bob uses an older client that would run markup in this file name"),
	   "the sender is told why");
	int n = a->n;
	stub_ws_text(a, "{\"type\":\"FILE_CHUNK\",\"recipient\":\"bob\",\"file\":{\"name\":\"<img src=x "
			"onerror=alert(1)>\",\"offset\":0,\"data\":[1,2,3]}}");
	stub_ws_text(a, "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"<img src=x onerror=alert(1)>\"}");
	ok(b->n == 0 && a->n == n, "nor do its chunks and completion, and the notice is not repeated");
	snprintf(msg, sizeof msg, meta, "bob", "a.txt");
	stub_ws_text(a, msg);
	ok(b->n == 1 && has(stub_ws_last(b), "\"name\":\"a.txt\""), "a plain name reaches the old client");

	stub_ws_text(b, "{\"type\":\"CAPABILITIES\"}");
	ok(dir_find("bob")->caps & DIR_CAP_ANNOUNCED, "CAPABILITIES, even empty, marks a new client");
	stub_ws_clear(b);
	snprintf(msg, sizeof msg, meta, "bob", "Tom & Jerry <3>.mp4");
	stub_ws_text(a, msg);
	ok(b->n == 1 && has(stub_ws_last(b), "\"name\":\"Tom & Jerry <3>.mp4\""), "a new client gets the name as it is");

	hold_elsewhere("olga", 8, 0);
	hold_elsewhere("nina", 9, DIR_CAP_ANNOUNCED);
	int f0 = far_count;
	stub_ws_clear(a);
	snprintf(msg, sizeof msg, meta, "olga", "x\\u003cy");
	stub_ws_text(a, msg);
	ok(far_count == f0 && has(stub_ws_last(a), "olga uses an older client"),
	   "an old client elsewhere is refused from the directory's capabilities");
	snprintf(msg, sizeof msg, meta, "nina", "x\\u003cy");
	stub_ws_text(a, msg);
	ok(far_count == f0 + 1 && has(far_msg, "x\\u003cy"), "a new client elsewhere gets it");
	d_release("olga", ELSEWHERE + 8);
	d_release("nina", ELSEWHERE + 9);

	/* an old client's own sender is replaced by the server's */
	stub_ws_clear(b);
	stub_ws_text(a, "{\"sender\":\"mallory\",\"type\":\"FILE_COMPLETE\",\"recipient\":\"bob\",\"fileName\":\"a\","
			"\"sender\":\"bob\"}");
	is_str(stub_ws_last(b), "{\"sender\":\"alice\",\"type\":\"FILE_COMPLETE\",\"fileName\":\"a\"}",
	       "a client's senders are cut and the server's stamped");
	stub_ws_gone(b);
	stub_ws_gone(a);
}

static void test_lists(struct event_base *base)
{
	struct ws_conn *a = login(1, "alice"), *b = login(2, "bob");
	stub_ws_clear(a);
	stub_ws_clear(b);
	event_base_loop(base, EVLOOP_ONCE); /* one tick */
	ok(has(stub_ws_last(a), "USER_LIST") && has(stub_ws_last(a), "\"bob\"") && !has(stub_ws_last(a), "\"alice\""),
	   "a round sends each user a list of the others");
	ok(has(stub_ws_last(b), "USER_LIST") && has(stub_ws_last(b), "\"alice\""), "... to every registered user");
	stub_ws_clear(a);
	event_base_loop(base, EVLOOP_ONCE);
	ok(a->n == 0, "no round when nothing changed");
	stub_ws_gone(b);
	event_base_loop(base, EVLOOP_ONCE);
	ok(has(stub_ws_last(a), "USER_LIST") && !has(stub_ws_last(a), "\"bob\""), "a leave reaches the others' lists");
	stub_ws_gone(a);
}

/* tests/data/usernames.tsv: a JSON string literal, a TAB, the verdict; the
 * web page's tests read the same table. */
static void test_name_table(void)
{
	const char *top = getenv("RT_SRCDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/data/usernames.tsv", top ? top : ".");
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "the name table %s opens", path))
		return;
	char line[512];
	int cases = 0;
	uint64_t id = 100;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *tab = strrchr(line, '\t');
		if (line[0] == '#' || line[0] == '\0' || !tab)
			continue;
		*tab = '\0';
		const char *want = tab + 1;
		struct ws_conn *c = stub_ws_open(id++);
		char msg[600];
		snprintf(msg, sizeof msg, "{\"type\":\"SET_USERNAME\",\"username\":%s}", line);
		stub_ws_text(c, msg);
		const char *got = stub_ws_last(c);
		const char *verdict = has(got, "USERNAME_SET")		? "ok"
				      : has(got, "at least 3 characters") ? "short"
				      : has(got, "at most 32 characters") ? "long"
				      : has(got, "may contain only")	  ? "chars"
									  : got;
		ok(strcmp(verdict, want) == 0, "name %s: %s (want %s)", line, verdict, want);
		stub_ws_gone(c);
		cases++;
	}
	fclose(f);
	ok(cases >= 20, "the name table has cases (%d)", cases);
}

int main(void)
{
	struct rt_err err;
	struct config *cfg = config_parse_text("", &err);
	if (!ok(cfg != NULL, "default configuration"))
		return done_testing();
	struct event_base *base = event_base_new();
	ws_setup(base, &session_ws_handlers, 0, 1);
	session_setup(base, cfg, &stub_dir, &stub_dl);
	test_names();
	test_relay();
	test_elsewhere();
	test_capabilities();
	test_file_names();
	test_lists(base);
	test_name_table();
	session_apply(cfg);
	config_free(cfg);
	event_base_free(base);
	return done_testing();
}
