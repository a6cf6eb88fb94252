/* Unit tests for ratelimit.c: windows, max, Retry-After and eviction. */
#include "autoconf.h"
#include "ratelimit.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static bool hit(struct rl_table *t, const char *key, int64_t now_ms, int window_ms, int max, int *retry)
{
	return rl_hit(t, key, strlen(key), now_ms, window_ms, max, retry);
}

static void test_window(void)
{
	struct rl_table t;
	rl_init(&t, 64);
	int retry = -1;
	ok(hit(&t, "a", 1000, 10000, 3, &retry), "first request passes");
	ok(hit(&t, "a", 1001, 10000, 3, &retry), "second request passes");
	ok(hit(&t, "a", 1002, 10000, 3, &retry), "third request (the max) passes");
	ok(!hit(&t, "a", 1003, 10000, 3, &retry), "fourth request in the window is refused");
	is_int(retry, 10, "Retry-After is the rest of the window, rounded up (9997 ms: 10 s)");
	ok(!hit(&t, "a", 8500, 10000, 3, &retry), "still refused late in the window");
	is_int(retry, 3, "Retry-After 2500 ms left: 3 s");
	ok(!hit(&t, "a", 10999, 10000, 3, &retry), "refused 1 ms before the window ends");
	is_int(retry, 1, "Retry-After is at least 1 s");
	ok(hit(&t, "a", 11000, 10000, 3, &retry), "a new window starts exactly window_ms after the first request");
	ok(hit(&t, "a", 11001, 10000, 3, &retry) && hit(&t, "a", 11002, 10000, 3, &retry),
	   "the new window counts from zero");
	ok(!hit(&t, "a", 11003, 10000, 3, &retry), "and ends at max again");
	ok(hit(&t, "b", 11004, 10000, 3, &retry), "another key has a window of its own");
	ok(hit(&t, "", 11005, 10000, 3, &retry), "the empty key (address unknown) is a key like any other");
	ok(!hit(&t, "a", 11006, 10000, 3, &retry), "the other keys did not reset the first");
	rl_fini(&t);
}

static void test_max(void)
{
	struct rl_table t;
	rl_init(&t, 64);
	int retry = 0;
	ok(hit(&t, "k", 0, 1000, 1, &retry), "max 1: one request passes");
	ok(!hit(&t, "k", 999, 1000, 1, &retry), "max 1: the second is refused");
	ok(!hit(&t, "z", 5, 1000, 0, &retry), "max 0 refuses every request");
	is_int(retry, 1, "max 0: Retry-After is the whole window");
	/* the limit is read per call, so a reload applies to open windows */
	ok(hit(&t, "k", 999, 1000, 2, &retry), "a higher max lets the same window go on");
	rl_fini(&t);
}

static void test_size(void)
{
	struct rl_table t;
	rl_init(&t, 1);
	is_int(t.n, RL_WAYS, "a table is at least RL_WAYS entries");
	rl_fini(&t);
	ok(t.e == NULL && t.n == 0, "rl_fini empties the table");
	rl_init(&t, 5);
	is_int(t.n, 8, "sizes round up to a power of two");
	rl_fini(&t);
}

/* With RL_WAYS entries the table is one set: every key competes for it,
 * whatever the seed. */
static void test_eviction(void)
{
	struct rl_table t;
	rl_init(&t, RL_WAYS);
	int retry;
	const char *keys[RL_WAYS + 1] = { "k1", "k2", "k3", "k4", "k5" };
	_Static_assert(RL_WAYS == 4, "the test names RL_WAYS + 1 keys");
	for (int i = 0; i < RL_WAYS - 1; i++)
		ok(hit(&t, keys[i], 1000 + i, 60000, 1, &retry), "%s takes an entry", keys[i]);
	ok(hit(&t, keys[3], 1003, 60000, 1, &retry), "k4 takes the last free entry");
	ok(!hit(&t, keys[0], 1004, 60000, 1, &retry), "a free entry went first: k1 is still remembered");
	ok(hit(&t, keys[4], 1005, 60000, 1, &retry), "full: k5 is let in");
	ok(hit(&t, keys[0], 1006, 60000, 1, &retry), "by forgetting the oldest window: k1 is new again");
	/* k1 came back in the place of the next oldest, k2 */
	ok(hit(&t, keys[1], 1007, 60000, 1, &retry), "k1 took the next oldest place: k2 is new again");
	ok(!hit(&t, keys[3], 1008, 60000, 1, &retry), "the younger windows are kept (k4)");
	ok(!hit(&t, keys[4], 1009, 60000, 1, &retry), "and (k5)");

	/* an expired window goes before an older live one */
	struct rl_table u;
	rl_init(&u, RL_WAYS);
	ok(hit(&u, "old", 0, 1000, 1, &retry), "old opens a window at 0");
	for (int i = 1; i < RL_WAYS; i++)
		ok(hit(&u, keys[i], 900 + i, 1000, 1, &retry), "%s opens a window at %d", keys[i], 900 + i);
	ok(hit(&u, "new", 1500, 1000, 1, &retry), "new takes old's expired entry");
	ok(!hit(&u, keys[1], 1501, 1000, 1, &retry) && !hit(&u, keys[2], 1502, 1000, 1, &retry) &&
		   !hit(&u, keys[3], 1503, 1000, 1, &retry),
	   "the live windows are all kept");
	rl_fini(&u);
	rl_fini(&t);
}

/* Many keys in a big table: each is counted on its own. The seed is fixed
 * so that no set of RL_WAYS overflows by chance (a random one would, now
 * and then, which is by design). */
static void test_many(void)
{
	struct rl_table t;
	rl_init(&t, 4096);
	t.seed = 1;
	int retry, passed = 0, refused = 0;
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 300; i++) {
			char key[16];
			snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
			if (hit(&t, key, 100 + round, 60000, 2, &retry))
				passed++;
			else
				refused++;
		}
	is_int(passed, 600, "300 keys under max 2: 600 requests pass");
	is_int(refused, 300, "and the third round is refused");
	rl_fini(&t);
}

int main(void)
{
	test_window();
	test_max();
	test_size();
	test_eviction();
	test_many();
	return done_testing();
}
