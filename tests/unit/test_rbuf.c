/* Unit tests for rbuf.c: references instead of copies, and the pool. */
#include "autoconf.h"
#include "rbuf.h"
#include "tap.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	struct rbuf *b = rbuf_new(200 * 1024);
	if (!ok(b && b->len == 200 * 1024 && b->cap >= b->len && b->refs == 1, "a new buffer has one reference"))
		return done_testing();
	for (size_t i = 0; i < b->len; i++)
		b->data[i] = (uint8_t)(i * 7);
	uint64_t mapped = rbuf_mapped;

	struct evbuffer *out = evbuffer_new();
	ok(rbuf_add(out, b->data + 10, 100000) == RT_OK && rbuf_ref_bytes == 0 && b->refs == 1,
	   "outside rbuf_enter, bytes are copied");
	rbuf_enter(b);
	ok(rbuf_add(out, b->data + 100, 100) == RT_OK && rbuf_ref_bytes == 0, "a short piece is copied");
	ok(rbuf_add(out, b->data + 1000, 150000) == RT_OK && rbuf_ref_bytes == 150000 && b->refs == 2,
	   "a long piece of the current buffer is referenced");
	uint8_t other[8192];
	memset(other, 1, sizeof other);
	ok(rbuf_add(out, other, sizeof other) == RT_OK && rbuf_ref_bytes == 150000,
	   "a piece outside the current buffer is copied");
	ok(rbuf_add(out, b->data + b->len - 4096, 8192) == RT_OK && rbuf_ref_bytes == 150000 && b->refs == 2,
	   "a piece running past the buffer's end is copied, not referenced");
	rbuf_leave();
	rbuf_unref(b);
	ok(b->refs == 1 && rbuf_pooled == 0, "the owner's unref leaves the output's reference");

	size_t want = 100000 + 100 + 150000 + sizeof other + 8192;
	ok(evbuffer_get_length(out) == want, "the output holds every byte");
	uint8_t *flat = malloc(want);
	evbuffer_copyout(out, flat, want);
	ok(memcmp(flat + 100000 + 100, b->data + 1000, 150000) == 0, "the referenced bytes read back");
	free(flat);
	evbuffer_free(out);
	ok(rbuf_pooled == 1 && rbuf_mapped == mapped, "the last reference gone, the buffer is in the pool");

	struct rbuf *c = rbuf_new(190 * 1024);
	ok(c == b && c->refs == 1 && c->len == 190 * 1024 && rbuf_pooled == 0, "a buffer that fits is reused");
	rbuf_unref(c);
	struct rbuf *small = rbuf_new(64 * 1024);
	ok(small != b && rbuf_pooled == 1, "a buffer more than twice the size is not used for a small frame");
	rbuf_unref(small);

	/* the pool keeps at most RBUF_POOL_BYTES */
	struct rbuf *many[40];
	for (int i = 0; i < 40; i++)
		many[i] = rbuf_new(1024 * 1024);
	for (int i = 0; i < 40; i++)
		rbuf_unref(many[i]);
	ok(rbuf_pooled * 1024 * 1024 <= RBUF_POOL_BYTES + 1024 * 1024, "the pool stays within its bytes (%llu kept)",
	   (unsigned long long)rbuf_pooled);
	rbuf_unref(NULL);
	return done_testing();
}
