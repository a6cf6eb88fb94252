/*
 * ratelimit.h: fixed-window request limits per key (a client address),
 * in a table of fixed size owned by one process. A key seen for the first
 * time takes a free or expired entry among a few candidates, else the one
 * whose window started first: under a flood of distinct addresses the
 * table forgets the oldest instead of growing. Pure: no I/O, no clock of
 * its own (callers pass now_ms), no locks (one worker's event loop).
 */
#ifndef RT_RATELIMIT_H
#define RT_RATELIMIT_H

#include "rtftd.h"

#define RL_WAYS 4

struct rl_entry {
	uint64_t key_hash; /* 0 = free */
	int64_t window_start_ms;
	uint32_t count;
};

/* Not "struct rlimit": that is POSIX setrlimit(2)'s, used in master.c. */
struct rl_table {
	struct rl_entry *e;
	size_t n; /* a power of two */
	uint64_t seed;
};

/* n entries (rounded up to a power of two, at least RL_WAYS). */
void rl_init(struct rl_table *rl, size_t n);
void rl_fini(struct rl_table *rl);

/* One request by key at now_ms under "max per window_ms". True when it
 * may go ahead (and is counted); false when over the limit, with
 * *retry_after_s the whole seconds until the window ends (at least 1). */
bool rl_hit(struct rl_table *rl, const void *key, size_t keylen, int64_t now_ms, int window_ms, int max,
	    int *retry_after_s);

#endif
