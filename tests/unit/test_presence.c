/*
 * Unit tests for presence.c: its hash, claim, re-claim, taken, rename, release,
 * release_slot, lookup, snapshot order, version, full; a random run against
 * a model; 8 processes racing for the same names; lock holders killed with
 * SIGKILL at every step of a change, and at random; lock hold times.
 */
#include "autoconf.h"
#include "presence.h"
#include "tap.h"

#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct rt_err err;

/* For calls whose result a case does not look at (set-up, doomed children). */
#define quietly(call) \
	do { \
		int rc_ = (call); \
		(void)rc_; \
	} while (0)

static void fresh(size_t capacity)
{
	presence_destroy();
	if (presence_create(capacity, &err) != RT_OK) {
		printf("Bail out! presence_create(%zu): %s\n", capacity, err.msg);
		exit(1);
	}
}

static bool table_ok(void)
{
	if (presence_check(&err) == RT_OK)
		return true;
	printf("#   presence_check: %s\n", err.msg);
	return false;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* MAP_SHARED scratch memory the test's children report through. */
static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("Bail out! mmap failed\n");
		exit(1);
	}
	return p;
}

static bool in_snapshot(const struct presence_name *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return true;
	return false;
}

static bool sorted_unique(const struct presence_name *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1].name, v[i].name) >= 0)
			return false;
	return true;
}

static struct presence_name snap[20000];

static void test_basics(void)
{
	int slot = -1;
	uint32_t gen = 0;
	uint64_t conn = 0, v0, v1;
	size_t n;

	fresh(1000);
	is_int(presence_capacity(), 1000, "capacity as given");
	is_int(presence_version(), 1, "version starts at 1");
	is_int(presence_count(), 0, "empty");

	v0 = presence_version();
	is_int(presence_claim("alice", 3, 7, 42, NULL), RT_OK, "claim a free name");
	ok(presence_version() > v0, "version moved on claim");
	is_int(presence_count(), 1, "one name");
	v1 = presence_version();
	is_int(presence_claim("alice", 3, 7, 42, NULL), RT_OK, "same connection re-claims (SET_USERNAME twice)");
	is_int(presence_version(), v1, "re-claim does not move the version");
	is_int(presence_claim("alice", 3, 7, 43, NULL), PRESENCE_TAKEN, "other connection, same worker: taken");
	is_int(presence_claim("alice", 4, 7, 42, NULL), PRESENCE_TAKEN, "same conn id, other slot: taken");
	is_int(presence_claim("alice", 3, 8, 42, NULL), PRESENCE_TAKEN, "same conn id, other generation: taken");
	is_int(presence_version(), v1, "refused claims do not move the version");

	ok(presence_lookup("alice", &slot, &gen, &conn) == RT_OK && slot == 3 && gen == 7 && conn == 42,
	   "lookup gives the holder");
	ok(presence_lookup("bob", NULL, NULL, NULL) == RT_ERR, "lookup of a free name fails");
	ok(presence_lookup("alice", NULL, NULL, NULL) == RT_OK, "lookup with NULL outputs");
	ok(presence_lookup("Alice", NULL, NULL, NULL) == RT_ERR, "names are case-sensitive");
	is_int(presence_claim("Alice", 5, 1, 1, NULL), RT_OK, "Alice is another name than alice");

	/* rename: bob -> carol, the old name goes in the same step */
	is_int(presence_claim("bob", 3, 7, 50, NULL), RT_OK, "bob claimed");
	v0 = presence_version();
	is_int(presence_claim("carol", 3, 7, 50, "bob"), RT_OK, "rename bob to carol");
	is_int(presence_version(), v0 + 1, "a rename moves the version once");
	ok(presence_lookup("bob", NULL, NULL, NULL) == RT_ERR, "old name released by the rename");
	ok(presence_lookup("carol", &slot, NULL, &conn) == RT_OK && slot == 3 && conn == 50, "new name held");
	is_int(presence_claim("alice", 3, 7, 50, "carol"), PRESENCE_TAKEN, "rename onto a taken name refused");
	ok(presence_lookup("carol", NULL, NULL, &conn) == RT_OK && conn == 50, "refused rename keeps the old name");
	is_int(presence_claim("carol", 3, 7, 50, "carol"), RT_OK, "prev equal to name is a plain re-claim");
	is_int(presence_claim("dave", 3, 7, 51, "alice"), RT_OK, "prev held by someone else ...");
	ok(presence_lookup("alice", NULL, NULL, &conn) == RT_OK && conn == 42, "... is left alone");
	is_int(presence_claim("erin", 3, 7, 51, "nobody"), RT_OK, "prev not held at all is ignored");
	ok(presence_lookup("dave", NULL, NULL, NULL) == RT_OK, "dave still held (prev was not dave)");
	is_int(presence_claim("dave", 3, 7, 51, "erin"), RT_OK, "re-claim with prev held drops prev");
	ok(presence_lookup("erin", NULL, NULL, NULL) == RT_ERR, "erin released");

	/* release */
	v0 = presence_version();
	is_int(presence_release("alice", 3, 7, 43), RT_ERR, "release by another connection refused");
	is_int(presence_release("alice", 3, 8, 42), RT_ERR, "release by another generation refused");
	is_int(presence_release("zed", 3, 7, 42), RT_ERR, "release of a free name refused");
	is_int(presence_version(), v0, "refused releases do not move the version");
	is_int(presence_release("alice", 3, 7, 42), RT_OK, "release by the holder");
	ok(presence_version() > v0, "version moved on release");
	ok(presence_lookup("alice", NULL, NULL, NULL) == RT_ERR, "alice is free again");
	is_int(presence_claim("alice", 9, 1, 1, NULL), RT_OK, "and can be claimed by anyone");

	/* argument checks */
	char long33[34], long32[33];
	memset(long33, 'x', 33);
	long33[33] = '\0';
	memset(long32, 'y', 32);
	long32[32] = '\0';
	is_int(presence_claim("", 1, 1, 1, NULL), RT_ERR, "empty name refused");
	is_int(presence_claim(NULL, 1, 1, 1, NULL), RT_ERR, "NULL name refused");
	is_int(presence_claim(long33, 1, 1, 1, NULL), RT_ERR, "33-byte name refused");
	is_int(presence_claim(long32, 6, 1, 1, NULL), RT_OK, "32-byte name accepted");
	is_int(presence_claim("s", -1, 1, 1, NULL), RT_ERR, "slot -1 refused");
	is_int(presence_claim("s", RT_MAX_SLOTS, 1, 1, NULL), RT_ERR, "slot RT_MAX_SLOTS refused");
	is_int(presence_claim("s", RT_MAX_SLOTS - 1, 1, 1, NULL), RT_OK, "last slot accepted");
	is_int(presence_release_slot(RT_MAX_SLOTS), RT_ERR, "release_slot of a bad slot refused");

	/* release_slot */
	is_int(presence_claim("w1a", 1, 1, 1, NULL), RT_OK, "slot 1 name a");
	is_int(presence_claim("w1b", 1, 1, 2, NULL), RT_OK, "slot 1 name b");
	is_int(presence_claim("w1c", 1, 1, 3, NULL), RT_OK, "slot 1 name c");
	is_int(presence_claim("w2a", 2, 1, 1, NULL), RT_OK, "slot 2 name a");
	size_t before = presence_count();
	v0 = presence_version();
	is_int(presence_release_slot(1), 3, "release_slot returns how many");
	is_int(presence_count(), before - 3, "count lowered by 3");
	is_int(presence_version(), v0 + 1, "release_slot moves the version once");
	ok(presence_lookup("w1b", NULL, NULL, NULL) == RT_ERR, "slot 1 names gone");
	ok(presence_lookup("w2a", NULL, NULL, NULL) == RT_OK, "slot 2 names stay");
	v0 = presence_version();
	is_int(presence_release_slot(1), 0, "release_slot of an empty slot: 0");
	is_int(presence_version(), v0, "and the version does not move");
	is_int(presence_claim("w1a", 1, 2, 1, NULL), RT_OK, "the next worker in the slot claims the name again");

	/* snapshot */
	uint64_t sv = 0;
	ok(presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, &sv) == RT_OK, "snapshot");
	is_int(n, presence_count(), "snapshot has every name");
	is_int(sv, presence_version(), "snapshot reports the version it matches");
	ok(sorted_unique(snap, n), "snapshot sorted by name, no duplicates");
	ok(n >= 2 && strcmp(snap[0].name, "Alice") == 0, "uppercase sorts first (bytewise)");
	ok(in_snapshot(snap, n, long32), "32-byte name in the snapshot");
	ok(presence_snapshot(snap, 2, &n, NULL) == RT_AGAIN && n == presence_count(),
	   "too small: RT_AGAIN and the count");
	ok(presence_snapshot(NULL, 0, &n, NULL) == RT_AGAIN && n == presence_count(), "count-only call");
	ok(table_ok(), "table consistent after the basics");

	/* full */
	fresh(8);
	char nm[16];
	for (int i = 0; i < 8; i++) {
		snprintf(nm, sizeof nm, "f%d", i);
		if (presence_claim(nm, 0, 1, (uint64_t)i, NULL) != RT_OK)
			break;
	}
	is_int(presence_count(), 8, "table filled to capacity");
	v0 = presence_version();
	is_int(presence_claim("f8", 0, 1, 100, NULL), PRESENCE_FULL, "one more: PRESENCE_FULL");
	is_int(presence_version(), v0, "full does not move the version");
	is_int(presence_claim("f0", 0, 1, 0, NULL), RT_OK, "re-claim works when full");
	is_int(presence_claim("f1", 0, 1, 100, NULL), PRESENCE_TAKEN, "taken beats full");
	is_int(presence_claim("g0", 0, 1, 0, "f0"), RT_OK, "a rename works when full");
	ok(presence_lookup("f0", NULL, NULL, NULL) == RT_ERR && presence_count() == 8, "rename reused the place");
	is_int(presence_release("f3", 0, 1, 3), RT_OK, "release one");
	is_int(presence_claim("f8", 0, 1, 100, NULL), RT_OK, "then there is room");
	ok(table_ok(), "table consistent when full");

	struct rt_err e2;
	ok(presence_create(16, &e2) == RT_ERR, "a second create in one process refused");
	presence_destroy();
	ok(presence_create(PRESENCE_MAX_CAPACITY + 1, &e2) == RT_ERR, "over the maximum capacity refused");
	is_int(presence_claim("x", 0, 1, 1, NULL), RT_ERR, "no table: claim fails");
	is_int(presence_version(), 0, "no table: version 0");
}

/* A random run against a simple model, with a small table so that probe
 * chains wrap and backward-shift deletion is exercised. */
#define M_NAMES 300
#define M_CONNS 60
#define M_CAP 200

static void test_model(void)
{
	int holder[M_NAMES], held[M_CONNS];
	char names[M_NAMES][16];
	int count = 0, mismatches = 0, checks_failed = 0;

	fresh(M_CAP);
	for (int i = 0; i < M_NAMES; i++) {
		holder[i] = -1;
		snprintf(names[i], sizeof names[i], "m%d", i * 7919);
	}
	for (int c = 0; c < M_CONNS; c++)
		held[c] = -1;

	for (int op = 0; op < 60000; op++) {
		int c = (int)(rng() % M_CONNS), x = (int)(rng() % M_NAMES), r = (int)(rng() % 100);
		int slot = c % 8;
		if (r < 55) {
			const char *prev = held[c] >= 0 ? names[held[c]] : NULL;
			int want;
			if (holder[x] == c)
				want = RT_OK;
			else if (holder[x] >= 0)
				want = PRESENCE_TAKEN;
			else if (held[c] < 0 && count >= M_CAP)
				want = PRESENCE_FULL;
			else
				want = RT_OK;
			int got = presence_claim(names[x], slot, 1, (uint64_t)c, prev);
			if (got != want) {
				if (mismatches++ < 5)
					printf("#   op %d claim %s by %d: got %d want %d\n", op, names[x], c, got,
					       want);
			}
			if (want == RT_OK && holder[x] != c) {
				if (held[c] >= 0) {
					holder[held[c]] = -1;
					count--;
				}
				holder[x] = c;
				held[c] = x;
				count++;
			}
		} else if (r < 90) {
			int want = holder[x] == c ? RT_OK : RT_ERR;
			if (presence_release(names[x], slot, 1, (uint64_t)c) != want)
				mismatches++;
			if (want == RT_OK) {
				holder[x] = -1;
				held[c] = -1;
				count--;
			}
		} else if (r < 92) {
			int want = 0;
			for (int k = 0; k < M_CONNS; k++) {
				if (k % 8 == slot && held[k] >= 0) {
					holder[held[k]] = -1;
					held[k] = -1;
					want++;
				}
			}
			count -= want;
			if (presence_release_slot(slot) != want)
				mismatches++;
		} else {
			int s = -1;
			uint64_t id = 0;
			int got = presence_lookup(names[x], &s, NULL, &id);
			if (holder[x] >= 0 ? (got != RT_OK || id != (uint64_t)holder[x] || s != holder[x] % 8)
					   : got != RT_ERR)
				mismatches++;
		}
		if ((size_t)count != presence_count())
			mismatches++;
		if (op % 2000 == 0 && presence_check(&err) != RT_OK) {
			if (checks_failed++ == 0)
				printf("#   op %d: %s\n", op, err.msg);
		}
	}
	is_int(mismatches, 0, "60000 random operations agree with the model");
	is_int(checks_failed, 0, "invariants hold throughout");
	size_t n;
	int missing = 0;
	ok(presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, NULL) == RT_OK && n == (size_t)count, "snapshot count");
	for (int i = 0; i < M_NAMES; i++)
		if ((holder[i] >= 0) != in_snapshot(snap, n, names[i]))
			missing++;
	is_int(missing, 0, "snapshot holds exactly the model's names");
	ok(sorted_unique(snap, n), "sorted");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(((const struct presence_name *)a)->name, ((const struct presence_name *)b)->name);
}

/* The in-place sort against qsort, on random names and on adversarial
 * orders (sorted, reversed, all equal prefixes). */
static void test_sort(void)
{
	static struct presence_name ref[10000];
	size_t n;
	const char alphabet[] = "ABCXYZabcxyz0189_.-";

	fresh(20000);
	for (int i = 0; i < 10000; i++) {
		char nm[PRESENCE_NAME_MAX + 1];
		size_t len = 1 + rng() % PRESENCE_NAME_MAX;
		for (size_t k = 0; k < len; k++)
			nm[k] = alphabet[rng() % (sizeof alphabet - 1)];
		nm[len] = '\0';
		quietly(presence_claim(nm, 0, 1, (uint64_t)i, NULL));
	}
	ok(presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, NULL) == RT_OK, "snapshot of random names");
	memcpy(ref, snap, n * sizeof *ref);
	qsort(ref, n, sizeof *ref, cmp_str);
	ok(n > 9000 && memcmp(ref, snap, n * sizeof *ref) == 0, "sorted exactly like qsort/strcmp (%zu names)", n);

	/* insertion order sorted, then reversed: the dense order follows it */
	for (int pass = 0; pass < 2; pass++) {
		fresh(20000);
		for (int i = 0; i < 10000; i++) {
			char nm[24];
			snprintf(nm, sizeof nm, "same_prefix_%06d", pass ? 9999 - i : i);
			quietly(presence_claim(nm, 0, 1, (uint64_t)i, NULL));
		}
		int64_t t0 = now_ns();
		ok(presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, NULL) == RT_OK && n == 10000 &&
		       sorted_unique(snap, n),
		   "%s insertion order sorts", pass ? "reversed" : "sorted");
		printf("# snapshot+sort of %s input: %lld us\n", pass ? "reversed" : "sorted",
		       (long long)(now_ns() - t0) / 1000);
	}
}

/* 8 processes claim the same 1,000 names in random orders. */
#define RACE_PROCS 8
#define RACE_NAMES 1000

struct race {
	_Atomic int go;
	_Atomic int wins[RACE_NAMES];
	_Atomic int winner[RACE_NAMES];
	_Atomic int errors;
};

static void race_child(struct race *r, int me)
{
	int order[RACE_NAMES];
	rng_state ^= (uint64_t)(me + 1) * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < RACE_NAMES; i++)
		order[i] = i;
	for (int i = RACE_NAMES - 1; i > 0; i--) {
		int j = (int)(rng() % (uint64_t)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	while (!atomic_load(&r->go))
		;
	for (int k = 0; k < RACE_NAMES; k++) {
		char nm[16];
		int i = order[k];
		snprintf(nm, sizeof nm, "race%04d", i);
		int rc = presence_claim(nm, me, 1, (uint64_t)(1000 + me), NULL);
		if (rc == RT_OK) {
			atomic_fetch_add(&r->wins[i], 1);
			atomic_store(&r->winner[i], me);
		} else if (rc != PRESENCE_TAKEN) {
			atomic_fetch_add(&r->errors, 1);
		}
	}
	_exit(0);
}

static void test_race(void)
{
	struct race *r = shared_alloc(sizeof *r);
	pid_t pids[RACE_PROCS];
	int clean = 0, once = 0, agree = 0;

	fresh(4096);
	for (int i = 0; i < RACE_PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			race_child(r, i);
	}
	atomic_store(&r->go, 1);
	for (int i = 0; i < RACE_PROCS; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			clean++;
	}
	is_int(clean, RACE_PROCS, "8 racing children exited cleanly");
	is_int(atomic_load(&r->errors), 0, "no claim failed other than TAKEN");
	for (int i = 0; i < RACE_NAMES; i++) {
		char nm[16];
		int slot = -1;
		uint64_t conn = 0;
		snprintf(nm, sizeof nm, "race%04d", i);
		if (atomic_load(&r->wins[i]) == 1)
			once++;
		if (presence_lookup(nm, &slot, NULL, &conn) == RT_OK && slot == atomic_load(&r->winner[i]) &&
		    conn == (uint64_t)(1000 + slot))
			agree++;
	}
	is_int(once, RACE_NAMES, "every name won exactly once");
	is_int(agree, RACE_NAMES, "the table names the winner each child saw");
	is_int(presence_count(), RACE_NAMES, "1000 names held");
	ok(table_ok(), "table consistent after the race");
	munmap(r, sizeof *r);
}

/* Kill a lock holder at each step of a change. */
static enum presence_step kill_at;
static int kill_after; /* passes of kill_at to let by first */

static void kill_hook(enum presence_step s)
{
	if (s == kill_at && kill_after-- == 0)
		kill(getpid(), SIGKILL);
}

enum crash_op { C_CLAIM, C_RENAME, C_RELEASE, C_RELEASE_SLOT };

struct crash_case {
	const char *what;
	enum crash_op op;
	enum presence_step at;
	int after;
	int want_new; /* "cnew" held afterwards */
	int want_c0; /* "c0" held afterwards */
};

static const struct crash_case crash_cases[] = {
	{ "claim, just locked", C_CLAIM, PRESENCE_STEP_LOCKED, 0, 0, 1 },
	{ "claim, entry written, not counted", C_CLAIM, PRESENCE_STEP_INSERT_WRITTEN, 0, 0, 1 },
	{ "claim, counted, not indexed", C_CLAIM, PRESENCE_STEP_INSERT_COUNTED, 0, 1, 1 },
	{ "claim, about to unlock", C_CLAIM, PRESENCE_STEP_UNLOCK, 0, 1, 1 },
	{ "release, logged", C_RELEASE, PRESENCE_STEP_DELETE_LOGGED, 0, 0, 0 },
	{ "release, unindexed", C_RELEASE, PRESENCE_STEP_DELETE_UNINDEXED, 0, 0, 0 },
	{ "release, half moved", C_RELEASE, PRESENCE_STEP_DELETE_HALF_MOVED, 0, 0, 0 },
	{ "release, moved, not uncounted", C_RELEASE, PRESENCE_STEP_DELETE_MOVED, 0, 0, 0 },
	{ "rename, old name half moved", C_RENAME, PRESENCE_STEP_DELETE_HALF_MOVED, 0, 0, 0 },
	{ "rename, old gone, new written", C_RENAME, PRESENCE_STEP_INSERT_WRITTEN, 0, 0, 0 },
	{ "rename, new counted", C_RENAME, PRESENCE_STEP_INSERT_COUNTED, 0, 1, 0 },
	{ "release_slot, after one name", C_RELEASE_SLOT, PRESENCE_STEP_SLOT_ONE_DONE, 0, 0, 0 },
	{ "release_slot, second removal logged", C_RELEASE_SLOT, PRESENCE_STEP_DELETE_LOGGED, 1, 0, 0 },
};

static void test_crash_case(const struct crash_case *cc)
{
	char nm[16];
	size_t n;

	fresh(64);
	for (int i = 0; i < 10; i++) {
		snprintf(nm, sizeof nm, "p%d", i);
		quietly(presence_claim(nm, 0, 1, (uint64_t)i, NULL));
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* the doomed worker, slot 1; c0 is not last, so its removal moves */
		for (int i = 0; i < 5; i++) {
			snprintf(nm, sizeof nm, "c%d", i);
			quietly(presence_claim(nm, 1, 1, (uint64_t)i, NULL));
		}
		kill_at = cc->at;
		kill_after = cc->after;
		presence_step_hook = kill_hook;
		switch (cc->op) {
		case C_CLAIM:
			quietly(presence_claim("cnew", 1, 1, 99, NULL));
			break;
		case C_RENAME:
			quietly(presence_claim("cnew", 1, 1, 0, "c0"));
			break;
		case C_RELEASE:
			(void)presence_release("c0", 1, 1, 0);
			break;
		case C_RELEASE_SLOT:
			(void)presence_release_slot(1);
			break;
		}
		_exit(0); /* the hook did not fire: the parent fails the case */
	}
	int st = 0;
	waitpid(pid, &st, 0);
	uint64_t repairs = presence_repairs(), v = presence_version();
	bool died = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	bool consistent = table_ok();
	bool repaired = presence_repairs() == repairs + 1 && presence_version() > v;
	bool new_ok = (presence_lookup("cnew", NULL, NULL, NULL) == RT_OK) == cc->want_new;
	bool c0_ok = (presence_lookup("c0", NULL, NULL, NULL) == RT_OK) == cc->want_c0;
	bool others = true;
	for (int i = 0; i < 10; i++) {
		snprintf(nm, sizeof nm, "p%d", i);
		others = others && presence_lookup(nm, NULL, NULL, NULL) == RT_OK;
	}
	bool claims = presence_claim("after", 0, 1, 100, NULL) == RT_OK;
	bool snaps = presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, NULL) == RT_OK && sorted_unique(snap, n) &&
		     n == presence_count() && in_snapshot(snap, n, "after");
	(void)presence_release_slot(1); /* what the master does on reaping */
	bool only_slot0 = presence_count() == 11 && table_ok();
	ok(died && consistent && repaired && new_ok && c0_ok && others && claims && snaps && only_slot0,
	   "killed holding the lock at \"%s\": recovered", cc->what);
	if (!(died && consistent && repaired && new_ok && c0_ok && others && claims && snaps && only_slot0))
		printf("#   died %d consistent %d repaired %d new %d c0 %d others %d claims %d snaps %d slot0 %d\n",
		       died, consistent, repaired, new_ok, c0_ok, others, claims, snaps, only_slot0);
}

/* A repairer killed during its repair leaves the mutex owner-dead again,
 * and the next holder finishes both. Slot 0 and slot 1 names alternate, so
 * removing slot 1's moves entries (the step the second holder dies at). */
static void test_crash_in_repair(void)
{
	int st = 0;

	fresh(64);
	quietly(presence_claim("keep", 0, 1, 1, NULL));
	pid_t pid = fork();
	if (pid == 0) {
		char nm[16];
		for (int i = 0; i < 3; i++) {
			snprintf(nm, sizeof nm, "c%d", i);
			quietly(presence_claim(nm, 1, 1, (uint64_t)i, NULL));
			snprintf(nm, sizeof nm, "k%d", i);
			quietly(presence_claim(nm, 0, 1, (uint64_t)(10 + i), NULL));
		}
		kill_at = PRESENCE_STEP_SLOT_ONE_DONE;
		presence_step_hook = kill_hook;
		(void)presence_release_slot(1);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st), "first holder died in release_slot");
	pid = fork();
	if (pid == 0) {
		kill_at = PRESENCE_STEP_DELETE_HALF_MOVED;
		presence_step_hook = kill_hook;
		quietly(presence_lookup("keep", NULL, NULL, NULL)); /* repairs, dies inside */
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st), "second holder died moving an entry inside the repair");
	uint64_t repairs = presence_repairs();
	ok(table_ok(), "third holder repairs the repair");
	is_int(presence_repairs(), repairs + 1, "one more repair counted");
	int left = 0;
	left += presence_lookup("keep", NULL, NULL, NULL) == RT_OK;
	left += presence_lookup("k0", NULL, NULL, NULL) == RT_OK;
	left += presence_lookup("k1", NULL, NULL, NULL) == RT_OK;
	left += presence_lookup("k2", NULL, NULL, NULL) == RT_OK;
	ok(left == 4 && presence_count() == 4, "slot 1 fully released, slot 0 untouched");
}

/* Workers killed at random moments while hammering the table. */
#define CHAOS_PROCS 4

static void chaos_child(int slot, uint32_t gen)
{
	int held[8];
	char nm[16];
	for (int i = 0; i < 8; i++)
		held[i] = -1;
	rng_state ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	for (;;) {
		int c = (int)(rng() % 8), x = (int)(rng() % 64), r = (int)(rng() % 10);
		snprintf(nm, sizeof nm, "z%d", x);
		if (r < 5) {
			char prev[16];
			if (held[c] >= 0)
				snprintf(prev, sizeof prev, "z%d", held[c]);
			if (presence_claim(nm, slot, gen, (uint64_t)c, held[c] >= 0 ? prev : NULL) == RT_OK)
				held[c] = x;
		} else if (r < 8) {
			if (held[c] >= 0) {
				snprintf(nm, sizeof nm, "z%d", held[c]);
				if (presence_release(nm, slot, gen, (uint64_t)c) == RT_OK)
					held[c] = -1;
			}
		} else {
			size_t n;
			quietly(presence_snapshot(snap, 64, &n, NULL));
		}
	}
}

static void test_chaos(void)
{
	pid_t pids[CHAOS_PROCS];
	uint32_t gen = 1;
	int bad = 0, slot_err = 0;

	fresh(256);
	quietly(presence_claim("master_side", 0, 1, 1, NULL));
	uint64_t repairs0 = presence_repairs();
	for (int i = 0; i < CHAOS_PROCS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			chaos_child(10 + i, gen);
	}
	for (int round = 0; round < 300; round++) {
		struct timespec ts = { 0, (long)(100000 + rng() % 900000) };
		nanosleep(&ts, NULL);
		int i = (int)(rng() % CHAOS_PROCS);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		if (presence_release_slot(10 + i) < 0)
			slot_err++;
		if (presence_check(&err) != RT_OK && bad++ == 0)
			printf("#   round %d: %s\n", round, err.msg);
		gen++;
		pids[i] = fork();
		if (pids[i] == 0)
			chaos_child(10 + i, gen);
	}
	for (int i = 0; i < CHAOS_PROCS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
		if (presence_release_slot(10 + i) < 0)
			slot_err++;
	}
	is_int(bad, 0, "300 random SIGKILLs of busy workers: invariants hold after each");
	is_int(slot_err, 0, "release_slot never failed");
	ok(table_ok() && presence_count() == 1 && presence_lookup("master_side", NULL, NULL, NULL) == RT_OK,
	   "after releasing every dead slot only the untouched name is left");
	printf("# chaos: %llu of 300 kills landed while holding the lock (repaired)\n",
	       (unsigned long long)(presence_repairs() - repairs0));
}

/* Lock hold times, measured from inside the lock through the step hook. */
static int64_t hold_start, hold_total, hold_max;
static long hold_count;

static void time_hook(enum presence_step s)
{
	if (s == PRESENCE_STEP_LOCKED) {
		hold_start = now_ns();
	} else if (s == PRESENCE_STEP_UNLOCK) {
		int64_t d = now_ns() - hold_start;
		hold_total += d;
		hold_count++;
		if (d > hold_max)
			hold_max = d;
	}
}

static void hold_reset(void)
{
	hold_total = hold_max = 0;
	hold_count = 0;
}

static void test_timing(void)
{
	char nm[24];
	size_t n;
	int fails = 0;

	fresh(0);
	is_int(presence_capacity(), PRESENCE_DEFAULT_CAPACITY, "default capacity");
	for (int i = 0; i < 10000; i++) {
		snprintf(nm, sizeof nm, "user_%05d", (int)(rng() % 100000));
		if (presence_claim(nm, i % 64, 1, (uint64_t)i, NULL) == PRESENCE_TAKEN)
			i--;
	}
	is_int(presence_count(), 10000, "10000 names held");

	/* Whole-call cost (hash + lock + work + unlock), no hook. */
	int64_t t0 = now_ns();
	for (int i = 0; i < 10000; i++) {
		snprintf(nm, sizeof nm, "extra_%05d", i);
		if (presence_claim(nm, 1, 1, 1000000 + (uint64_t)i, NULL) != RT_OK)
			fails++;
		if (presence_release(nm, 1, 1, 1000000 + (uint64_t)i) != RT_OK)
			fails++;
	}
	int64_t pair_ns = (now_ns() - t0) / 10000;

	presence_step_hook = time_hook;
	hold_reset();
	for (int i = 0; i < 10000; i++) {
		snprintf(nm, sizeof nm, "extra_%05d", i);
		if (presence_claim(nm, 1, 1, 2000000 + (uint64_t)i, NULL) != RT_OK)
			fails++;
	}
	int64_t claim_avg = hold_total / hold_count, claim_max = hold_max;
	hold_reset();
	for (int i = 0; i < 10000; i++) {
		snprintf(nm, sizeof nm, "extra_%05d", i);
		if (presence_release(nm, 1, 1, 2000000 + (uint64_t)i) != RT_OK)
			fails++;
	}
	int64_t rel_avg = hold_total / hold_count, rel_max = hold_max;
	hold_reset();
	int64_t empty_lookup_t0 = now_ns();
	for (int i = 0; i < 10000; i++)
		quietly(presence_lookup("user_00000", NULL, NULL, NULL));
	int64_t lookup_call = (now_ns() - empty_lookup_t0) / 10000;
	int64_t lookup_avg = hold_total / hold_count;
	is_int(fails, 0, "timed claims and releases succeeded");

	hold_reset();
	int64_t snap_call = 0;
	for (int k = 0; k < 50; k++) {
		int64_t s0 = now_ns();
		if (presence_snapshot(snap, RT_ARRAY_LEN(snap), &n, NULL) != RT_OK || n != 10000)
			fails++;
		snap_call += now_ns() - s0;
	}
	int64_t snap_avg = hold_total / hold_count, snap_max = hold_max;
	snap_call /= 50;
	ok(fails == 0 && sorted_unique(snap, n), "timed snapshots of 10000 names sorted");

	/* the same table, 10000 names of one slot released in one hold */
	for (int i = 0; i < 10000; i++) {
		snprintf(nm, sizeof nm, "slot5_%05d", i);
		quietly(presence_claim(nm, 5 + 64, 1, (uint64_t)i, NULL));
	}
	hold_reset();
	is_int(presence_release_slot(5 + 64), 10000, "release_slot of 10000 names");
	int64_t rslot = hold_max;
	presence_step_hook = NULL;
	ok(table_ok(), "table consistent after the timings");

	printf("# lock hold at 10000 names (step hook, includes one clock read ~20 ns):\n");
	printf("# claim: %lld ns avg, %lld ns max; release: %lld ns avg, %lld ns max; lookup: %lld ns avg\n",
	       (long long)claim_avg, (long long)claim_max, (long long)rel_avg, (long long)rel_max,
	       (long long)lookup_avg);
	printf("# snapshot of 10000: %lld us avg hold, %lld us max; whole call with the sort after unlock: %lld us\n",
	       (long long)snap_avg / 1000, (long long)snap_max / 1000, (long long)snap_call / 1000);
	printf("# release_slot of 10000: %lld us hold\n", (long long)rslot / 1000);
	printf("# whole calls, no hook: claim+release pair %lld ns, lookup %lld ns\n", (long long)pair_ns,
	       (long long)lookup_call);
}

/* Capabilities travel with the name: set at the claim, kept by a re-claim
 * that gives them again, moved with a rename, read with the holder, and
 * kept in place when another entry moves into a hole. */
static void test_caps(void)
{
	uint32_t caps = 99;
	int slot = -1;
	fresh(64);
	is_int(presence_claim_caps("newc", 1, 1, 10, NULL, PRESENCE_CAP_TRANSFER), RT_OK, "claim with caps");
	is_int(presence_claim("oldc", 1, 1, 11, NULL), RT_OK, "plain claim");
	ok(presence_lookup_caps("newc", &slot, NULL, NULL, &caps) == RT_OK && slot == 1 &&
		   caps == PRESENCE_CAP_TRANSFER,
	   "caps read with the holder");
	ok(presence_lookup_caps("oldc", NULL, NULL, NULL, &caps) == RT_OK && caps == 0, "a plain claim has none");
	caps = 99;
	ok(presence_lookup_caps("nobody", NULL, NULL, NULL, &caps) == RT_ERR && caps == 0, "free name: none");
	is_int(presence_set_caps("oldc", 1, 1, 12, PRESENCE_CAP_BINARY), RT_ERR, "set by another connection refused");
	is_int(presence_set_caps("oldc", 1, 1, 11, PRESENCE_CAP_BINARY), RT_OK, "set by the holder");
	ok(presence_lookup_caps("oldc", NULL, NULL, NULL, &caps) == RT_OK && caps == PRESENCE_CAP_BINARY, "set");
	is_int(presence_claim_caps("newc", 1, 1, 10, NULL, 0), RT_OK, "re-claim giving none");
	ok(presence_lookup_caps("newc", NULL, NULL, NULL, &caps) == RT_OK && caps == 0, "re-claim replaced them");
	is_int(presence_claim_caps("renamed", 1, 1, 11, "oldc", PRESENCE_CAP_BINARY | PRESENCE_CAP_TRANSFER), RT_OK,
	       "rename with caps");
	ok(presence_lookup_caps("renamed", NULL, NULL, NULL, &caps) == RT_OK &&
		   caps == (PRESENCE_CAP_BINARY | PRESENCE_CAP_TRANSFER),
	   "the new name has them");
	/* releasing the first entry moves the last one into its place */
	is_int(presence_claim_caps("last", 2, 1, 20, NULL, PRESENCE_CAP_TRANSFER), RT_OK, "a third name");
	is_int(presence_release("newc", 1, 1, 10), RT_OK, "release the first");
	ok(presence_lookup_caps("last", &slot, NULL, NULL, &caps) == RT_OK && slot == 2 &&
		   caps == PRESENCE_CAP_TRANSFER,
	   "a moved entry keeps its caps");
	ok(presence_check(&err) == RT_OK, "table consistent");
}

/* presence.c hashes names with crypto_shorthash because it is SipHash-2-4;
 * the known answer from the SipHash paper (Appendix A) pins that down. */
static void test_hash(void)
{
	unsigned char key[crypto_shorthash_KEYBYTES], msg[15], out[crypto_shorthash_BYTES];
	static const unsigned char want[8] = { 0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1 };
	_Static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8, "SipHash sizes");
	ok(sodium_init() >= 0, "sodium_init (before any libsodium call, as presence_create does)");
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	ok(crypto_shorthash(out, msg, sizeof msg, key) == 0 && memcmp(out, want, sizeof want) == 0,
	   "crypto_shorthash is SipHash-2-4 (paper vector a129ca6149be45e5)");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_hash();
	test_basics();
	test_caps();
	test_model();
	test_sort();
	test_race();
	for (size_t i = 0; i < RT_ARRAY_LEN(crash_cases); i++)
		test_crash_case(&crash_cases[i]);
	test_crash_in_repair();
	test_chaos();
	test_timing();
	presence_destroy();
	return done_testing();
}
