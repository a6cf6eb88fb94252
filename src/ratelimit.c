/*
 * ratelimit.c: see ratelimit.h.
 */
#include "autoconf.h"
#include "ratelimit.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void rl_init(struct rl_table *rl, size_t n)
{
	size_t sz = RL_WAYS;
	while (sz < n)
		sz <<= 1;
	rl->e = xcalloc(sz, sizeof *rl->e);
	rl->n = sz;
	char hex[17];
	rand_hex(hex, sizeof hex, 8);
	rl->seed = strtoull(hex, NULL, 16);
}

void rl_fini(struct rl_table *rl)
{
	free(rl->e);
	rl->e = NULL;
	rl->n = 0;
}

static uint64_t hash(const struct rl_table *rl, const void *key, size_t len)
{
	uint64_t h = rt_hash64(RT_HASH64_INIT ^ rl->seed, key, len);
	h ^= h >> 29; /* FNV-1a mixes its high bits best; fold them into the index bits */
	return h | 1; /* never 0, the free mark */
}

bool rl_hit(struct rl_table *rl, const void *key, size_t keylen, int64_t now_ms, int window_ms, int max,
	    int *retry_after_s)
{
	uint64_t h = hash(rl, key, keylen);
	size_t base = (size_t)(h >> 7) & (rl->n - 1) & ~(size_t)(RL_WAYS - 1);
	struct rl_entry *hit = NULL, *victim = &rl->e[base];
	for (size_t i = 0; i < RL_WAYS; i++) {
		struct rl_entry *e = &rl->e[base + i];
		if (e->key_hash == h) {
			hit = e;
			break;
		}
		/* free or expired first, else the oldest window */
		bool e_stale = e->key_hash == 0 || now_ms - e->window_start_ms >= window_ms;
		bool v_stale = victim->key_hash == 0 || now_ms - victim->window_start_ms >= window_ms;
		if ((e_stale && !v_stale) || (e_stale == v_stale && e->window_start_ms < victim->window_start_ms))
			victim = e;
	}
	if (!hit) {
		hit = victim;
		hit->key_hash = h;
		hit->window_start_ms = now_ms;
		hit->count = 0;
	} else if (now_ms - hit->window_start_ms >= window_ms) {
		hit->window_start_ms = now_ms;
		hit->count = 0;
	}
	if (hit->count >= (uint32_t)max) {
		int64_t left = hit->window_start_ms + window_ms - now_ms;
		int s = (int)((left + 999) / 1000);
		*retry_after_s = s < 1 ? 1 : s;
		return false;
	}
	hit->count++;
	return true;
}
