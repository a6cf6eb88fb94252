/*
 * util.h: allocation wrappers that abort on failure, string and time helpers.
 * Leaf module: callable from any process; never logs (except the abort
 * message on allocation failure) and never exits otherwise.
 */
#ifndef RT_UTIL_H
#define RT_UTIL_H

#include "rtftd.h"
#include <stdarg.h>
#include <string.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd formatted string; caller frees. */
char *xasprintf(const char *fmt, ...) RT_PRINTF(1, 2);

/* A growing malloc'd string: strbuf_init, any number of strbuf_printf,
 * then strbuf_take hands the NUL-terminated text to the caller. */
struct strbuf {
	char *p;
	size_t len, cap;
};
void strbuf_init(struct strbuf *b);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) RT_PRINTF(2, 3);
char *strbuf_take(struct strbuf *b);

/* Replace *dst with a copy of src (NULL allowed), freeing the old value. */
void str_replace(char **dst, const char *src);

/* Trim ASCII white space from both ends in place; returns s. */
char *str_trim(char *s);

/* Case-insensitive ASCII comparisons. */
bool str_ieq(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);

/* Strict integer parse of the whole string (no trailing garbage, no empty
 * string, no overflow). Returns RT_OK or RT_ERR. */
int str_to_ll(const char *s, long long *out) RT_MUSTCHECK;

/* Monotonic and wall-clock time in milliseconds and microseconds. */
int64_t time_mono_ms(void);
int64_t time_mono_us(void);
int64_t time_wall_ms(void);

/* Writes an RFC 3339 UTC timestamp with milliseconds into buf (>= 32 bytes). */
void time_format_rfc3339(char *buf, size_t len, int64_t wall_ms);

/* A fast 64-bit hash (FNV-1a) for tables and change detection, never for
 * anything an attacker could aim at without a seed: start from
 * RT_HASH64_INIT (or RT_HASH64_INIT ^ seed) and feed any number of pieces,
 * h = rt_hash64(h, p, n). */
#define RT_HASH64_INIT 0xcbf29ce484222325ULL
uint64_t rt_hash64(uint64_t h, const void *p, size_t n);
static inline uint64_t rt_hash64_str(uint64_t h, const char *s)
{
	return rt_hash64(h, s, strlen(s));
}

/* Random hex string of 2*nbytes characters into buf (len >= 2*nbytes+1). */
void rand_hex(char *buf, size_t len, size_t nbytes);

/* Set O_NONBLOCK / FD_CLOEXEC. Return RT_OK or RT_ERR with errno set. */
int fd_set_nonblock(int fd) RT_MUSTCHECK;
int fd_set_cloexec(int fd) RT_MUSTCHECK;

/* Valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). Used on
 * every WebSocket text message (1007 when false). */
bool utf8_valid(const uint8_t *p, size_t len);

/* Process title support: call proctitle_init(argc, argv) once at start in
 * main, then proctitle_set("rtftd: worker %d", n) in each child. */
void proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) RT_PRINTF(1, 2);

#endif
