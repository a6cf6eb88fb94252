/*
 * rbuf.h: reference-counted buffers for big messages, so a relayed file
 * chunk is read from the sender's socket once and written to the
 * recipient's (or to another worker's bus link) from the same memory,
 * without a copy in between.
 *
 * ws.c and bus.c read a big incoming frame (RBUF_MIN bytes or more) into
 * an rbuf of its own and, while its message is being handled, make it the
 * current one (rbuf_enter / rbuf_leave). Output that adds bytes with
 * rbuf_add() then takes a reference to them instead of copying them when
 * they lie inside the current rbuf; anything else is copied as before, so
 * callers in between (session.c, deliver.c) need not know. The memory is
 * released when the last output buffer holding it has been written.
 *
 * Buffers come from mmap (pages untouched are not resident) and go back to
 * a small per-process pool, so a stream of chunks reuses the same pages
 * instead of faulting in fresh ones for every message. Worker only; not
 * thread-safe (the event loop's thread).
 */
#ifndef RT_RBUF_H
#define RT_RBUF_H

#include "rtftd.h"

struct evbuffer;

#define RBUF_MIN (64 * 1024) /* frames from this size on are read into an rbuf */
#define RBUF_POOL_BYTES (16u * 1024 * 1024) /* free buffers kept for reuse, per process */

struct rbuf {
	uint32_t refs;
	size_t len; /* bytes the owner asked for */
	size_t cap; /* bytes mapped for data */
	uint8_t *data;
	struct rbuf *next_free;
};

/* A buffer of len bytes (len >= 1) with one reference, or NULL when memory
 * cannot be had. */
struct rbuf *rbuf_new(size_t len);
void rbuf_ref(struct rbuf *b);
/* Drops one reference; the last returns the buffer (to the pool). NULL is
 * a no-op. */
void rbuf_unref(struct rbuf *b);

/* The message now being handled lives in b (until rbuf_leave). */
void rbuf_enter(struct rbuf *b);
void rbuf_leave(void);

/* Appends len bytes at p to out: by reference when they lie inside the
 * current rbuf and are worth it, else copied. RT_OK or RT_ERR (libevent
 * out of memory). */
int rbuf_add(struct evbuffer *out, const void *p, size_t len);

/* Counters (tests, stats): buffers mapped now, free in the pool, bytes
 * added by reference rather than copied. */
extern uint64_t rbuf_mapped, rbuf_pooled, rbuf_ref_bytes;

#endif
