/*
 * shm.c: creation of the shared region and its few helpers.
 * Must not: hold pointers into process-private memory inside the region.
 */
#include "autoconf.h"
#include "shm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct shm *rt_shm;

struct shm *shm_create(struct rt_err *err)
{
	void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rt_err_set(err, "mmap(%zu bytes, MAP_SHARED) failed: %s", sizeof(struct shm), strerror(errno));
		return NULL;
	}
	memset(p, 0, sizeof(struct shm));
	rt_shm = p;
	rt_shm->magic = 0x52544654; /* "RTFT" */
	return rt_shm;
}

int shm_ready_workers(const struct shm *s)
{
	uint32_t gen = atomic_load(&s->generation);
	int n = 0;
	for (int i = 0; i < RT_MAX_SLOTS; i++)
		if (atomic_load(&s->slots[i].state) == SLOT_READY && atomic_load(&s->slots[i].generation) == gen)
			n++;
	return n;
}

void shm_set_db_error(struct shm *s, const char *msg)
{
	/* odd while writing; a writer killed half way left it odd, so the
	 * next one starts from odd whatever it finds, and ends even */
	uint32_t odd = atomic_load(&s->db_error_seq) | 1u;
	atomic_store(&s->db_error_seq, odd);
	snprintf(s->db_error, sizeof s->db_error, "%s", msg ? msg : "");
	atomic_store(&s->db_error_seq, odd + 1);
}

void shm_get_db_error(struct shm *s, char *buf, size_t len)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t a = atomic_load(&s->db_error_seq);
		if (a & 1)
			continue;
		snprintf(buf, len, "%.*s", (int)sizeof s->db_error - 1, s->db_error);
		if (atomic_load(&s->db_error_seq) == a)
			return;
	}
	snprintf(buf, len, "(unavailable)");
}

void shm_set_ice(struct shm *s, const struct shm_ice *v)
{
	/* odd whatever a writer killed half way left (see shm_set_db_error) */
	uint32_t odd = atomic_load_explicit(&s->ice_seq, memory_order_relaxed) | 1u;
	atomic_store_explicit(&s->ice_seq, odd, memory_order_relaxed);
	atomic_thread_fence(memory_order_release); /* odd before any byte changes */
	memcpy(&s->ice, v, sizeof *v);
	s->ice.reason[sizeof s->ice.reason - 1] = '\0';
	atomic_store_explicit(&s->ice_seq, odd + 1, memory_order_release);
}

bool shm_get_ice(struct shm *s, struct shm_ice *out)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t a = atomic_load_explicit(&s->ice_seq, memory_order_acquire);
		if (a & 1)
			continue;
		memcpy(out, &s->ice, sizeof *out);
		atomic_thread_fence(memory_order_acquire); /* the copy before the second look */
		if (atomic_load_explicit(&s->ice_seq, memory_order_relaxed) == a) {
			out->reason[sizeof out->reason - 1] = '\0';
			return true;
		}
	}
	memset(out, 0, sizeof *out);
	return false;
}
