/*
 * userlist.c: coalesced user lists (userlist.h).
 * Owns: the worker's sorted copy of the directory's names, the hash of the
 * names that decide every list, the pacing of snapshots and of rounds, the
 * buffer the list texts are built in.
 * Must not: send anything or know about users (session.c does both).
 */
#include "autoconf.h"
#include "userlist.h"
#include "directory.h"
#include "proto.h"
#include "util.h"
#include "ws.h"

#include <string.h>

/* A round of lists costs the worker about this many bytes per ms at most:
 * the next round waits until the last one is paid for. 10,000 users with
 * lists of 1,000 names are 150 MB a round, one round every 0.6 s. */
#define LIST_BYTES_PER_MS (256 * 1024)
#define LIST_ROUND_MAX_MS 5000

static struct {
	const struct directory *dir;
	int max_list;
	uint64_t version; /* directory version of the snapshot in U.names */
	size_t count; /* names in U.names */
	uint64_t top_hash; /* of the names that decide every list (see top_of) */
	int64_t snap_next_us; /* no snapshot before then, unless forced (see userlist_refresh) */
	bool behind; /* some user may hold a list older than top_hash */
	int64_t next_round_ms; /* lists go out again from then on */
	struct dir_name *snap;
	size_t snap_cap;
	const char **names;
	char *buf; /* the texts */
	size_t buf_cap;
	struct ws_shared *common; /* this round's list for users outside the first names */
	size_t common_len;
} U;

void userlist_setup(const struct directory *dir)
{
	U.dir = dir;
}

void userlist_apply(int max_list)
{
	if (U.max_list == max_list)
		return;
	U.max_list = max_list;
	U.version = UINT64_MAX; /* lists are rebuilt with the new length */
	U.snap_next_us = 0;
}

/* Every name, sorted, into U.names (U.count of them). */
static void take_snapshot(void)
{
	size_t count = 0;
	uint64_t v = 0;
	for (;;) {
		int rc = U.dir->list(U.snap, U.snap_cap, &count, &v);
		if (rc == RT_OK)
			break;
		if (rc == RT_ERR) {
			count = 0;
			break;
		}
		U.snap_cap = count + 1024;
		U.snap = xrealloc(U.snap, U.snap_cap * sizeof *U.snap);
		U.names = xrealloc(U.names, U.snap_cap * sizeof *U.names);
	}
	for (size_t i = 0; i < count; i++)
		U.names[i] = U.snap[i].name;
	U.count = count;
	U.version = v;
}

/* How many of the sorted names decide what any user is sent: a list holds
 * the first max names other than the user's own, so the first max + 1
 * decide them all. A name joining or leaving after those changes nobody's
 * list. */
static size_t top_of(void)
{
	return U.count < (size_t)U.max_list + 1 ? U.count : (size_t)U.max_list + 1;
}

static uint64_t hash_top(void)
{
	uint64_t h = RT_HASH64_INIT ^ (uint64_t)U.max_list;
	size_t k = top_of();
	for (size_t i = 0; i < k; i++)
		h = rt_hash64(h, U.names[i], strlen(U.names[i]) + 1); /* the NUL separates names */
	return h | 1;
}

static bool names_current(void)
{
	return U.snap && U.dir->version() == U.version;
}

/* Each snapshot copies and sorts every name (about 10 ms for 50,000), so
 * in a storm of joins they are rationed by their cost: after one that took
 * t, the next comes 9 t later at the earliest (snapshots take at most a
 * tenth of the worker's time; with few names, that is no limit at all). A
 * USERNAME_SET built from an older one is followed by a USER_LIST in the
 * next round. */
void userlist_refresh(bool force)
{
	if (names_current())
		return;
	int64_t t0 = time_mono_us();
	if (U.snap && !force && t0 < U.snap_next_us) {
		U.behind = true; /* the next tick looks again */
		return;
	}
	take_snapshot();
	int64_t t1 = time_mono_us();
	U.snap_next_us = t1 + 9 * (t1 - t0);
	uint64_t h = hash_top();
	if (h != U.top_hash) {
		U.top_hash = h;
		U.behind = true;
	}
}

uint64_t userlist_hash(void)
{
	return U.top_hash;
}

void userlist_mark_behind(void)
{
	U.behind = true;
}

static char *text_buf(void)
{
	size_t need = (size_t)U.max_list * (DIR_NAME_MAX * 6 + 3) + 512;
	if (need > U.buf_cap) {
		U.buf_cap = need;
		U.buf = xrealloc(U.buf, U.buf_cap);
	}
	return U.buf;
}

const char *userlist_text(const char *name, size_t *len)
{
	char *out = text_buf();
	size_t n = proto_format_user_list(out, U.buf_cap, U.names, U.count, name, (size_t)U.max_list);
	if (n >= U.buf_cap)
		return NULL;
	*len = n;
	return out;
}

const char *userlist_username_set(const char *name, size_t *len)
{
	char *out = text_buf();
	size_t n = proto_format_username_set(out, U.buf_cap, name, U.names, U.count, name, (size_t)U.max_list);
	if (n >= U.buf_cap)
		return NULL;
	*len = n;
	return out;
}

bool userlist_round_begin(int64_t now_ms)
{
	if (now_ms < U.next_round_ms)
		return false;
	/* a round goes out with the current names only, and takes a snapshot
	 * no more often than they are rationed: otherwise the next tick tries
	 * again */
	if (!names_current()) {
		if (time_mono_us() < U.snap_next_us)
			return false;
		userlist_refresh(true);
	}
	return U.behind;
}

const char *userlist_round_text(const char *name, struct ws_shared **shared, size_t *len)
{
	*shared = NULL;
	size_t k = top_of();
	if (k == 0 || U.count <= k || strcmp(name, U.names[k - 1]) <= 0)
		return userlist_text(name, len); /* among the first names: a list without it */
	/* the same list as everyone else's outside the first names, built once
	 * and referenced by each connection */
	if (!U.common) {
		char *out = text_buf();
		size_t n = proto_format_user_list(out, U.buf_cap, U.names, U.count, NULL, (size_t)U.max_list);
		if (n >= U.buf_cap)
			return NULL;
		U.common = ws_shared_new(out, n);
		U.common_len = n;
	}
	*shared = U.common;
	*len = U.common_len;
	return NULL;
}

void userlist_round_end(int64_t now_ms, size_t bytes)
{
	U.behind = false;
	int64_t wait = (int64_t)(bytes / LIST_BYTES_PER_MS);
	U.next_round_ms = now_ms + (wait > LIST_ROUND_MAX_MS ? LIST_ROUND_MAX_MS : wait);
	ws_shared_release(U.common);
	U.common = NULL;
}
