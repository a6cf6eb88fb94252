/*
 * rbuf.c: reference-counted big-message buffers and their pool (rbuf.h).
 * Owns: the pool of free buffers, the current buffer.
 * Must not: copy what could be referenced, or keep more than
 * RBUF_POOL_BYTES of free buffers.
 */
#include "autoconf.h"
#include "rbuf.h"
#include "util.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Pieces shorter than this are copied: a reference costs a chain of its own. */
#define RBUF_REF_MIN 4096

uint64_t rbuf_mapped, rbuf_pooled, rbuf_ref_bytes;

static struct {
	struct rbuf *free; /* the pool, any sizes */
	size_t free_bytes;
	struct rbuf *current;
	size_t page;
} P;

static void unmap(struct rbuf *b)
{
	munmap(b->data, b->cap);
	free(b);
	rbuf_mapped--;
}

struct rbuf *rbuf_new(size_t len)
{
	/* the smallest free buffer that fits and is not more than twice the
	 * size, so a pool of 2 MiB buffers does not serve 64 KiB frames */
	struct rbuf **best = NULL;
	for (struct rbuf **pp = &P.free; *pp; pp = &(*pp)->next_free)
		if ((*pp)->cap >= len && (*pp)->cap / 2 <= len && (!best || (*pp)->cap < (*best)->cap))
			best = pp;
	if (best) {
		struct rbuf *b = *best;
		*best = b->next_free;
		P.free_bytes -= b->cap;
		rbuf_pooled--;
		b->refs = 1;
		b->len = len;
		b->next_free = NULL;
		return b;
	}
	if (!P.page)
		P.page = (size_t)sysconf(_SC_PAGESIZE);
	size_t cap = (len + P.page - 1) / P.page * P.page;
	void *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	struct rbuf *b = calloc(1, sizeof *b);
	if (!b) {
		munmap(mem, cap);
		return NULL;
	}
	b->refs = 1;
	b->len = len;
	b->cap = cap;
	b->data = mem;
	rbuf_mapped++;
	return b;
}

void rbuf_ref(struct rbuf *b)
{
	b->refs++;
}

void rbuf_unref(struct rbuf *b)
{
	if (!b)
		return;
	rt_assert(b->refs > 0);
	if (--b->refs > 0)
		return;
	if (P.free_bytes + b->cap > RBUF_POOL_BYTES) {
		unmap(b);
		return;
	}
	b->next_free = P.free;
	P.free = b;
	P.free_bytes += b->cap;
	rbuf_pooled++;
}

void rbuf_enter(struct rbuf *b)
{
	P.current = b;
}

void rbuf_leave(void)
{
	P.current = NULL;
}

static void release_ref(const void *data, size_t len, void *arg)
{
	(void)data, (void)len;
	rbuf_unref(arg);
}

int rbuf_add(struct evbuffer *out, const void *p, size_t len)
{
	struct rbuf *b = P.current;
	const uint8_t *q = p;
	if (b && len >= RBUF_REF_MIN && q >= b->data && len <= b->len && q - b->data <= (ptrdiff_t)(b->len - len)) {
		rbuf_ref(b);
		if (evbuffer_add_reference(out, p, len, release_ref, b) == 0) {
			rbuf_ref_bytes += len;
			return RT_OK;
		}
		rbuf_unref(b);
	}
	return evbuffer_add(out, p, len) == 0 ? RT_OK : RT_ERR;
}
