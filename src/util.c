/*
 * util.c: allocation wrappers (abort on failure: a daemon that cannot get a
 * few bytes cannot do anything useful, and checking every call site hides
 * real errors), string, time and fd helpers, and the process title.
 * Leaf: includes nothing from the daemon, never logs except the final words
 * before an abort.
 */
#include "autoconf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static RT_NORETURN void oom(size_t n)
{
	char msg[96];
	int len = snprintf(msg, sizeof msg, "rtftd: out of memory allocating %zu bytes\n", n);
	if (len > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)len);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
	if (!p)
		oom(nmemb * n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void strbuf_init(struct strbuf *b)
{
	b->cap = 256;
	b->len = 0;
	b->p = xmalloc(b->cap);
	b->p[0] = '\0';
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	if ((size_t)n >= b->cap - b->len) {
		while ((size_t)n >= b->cap - b->len)
			b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *strbuf_take(struct strbuf *b)
{
	char *p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void str_replace(char **dst, const char *src)
{
	char *copy = src ? xstrdup(src) : NULL;
	free(*dst);
	*dst = copy;
}

char *str_trim(char *s)
{
	size_t len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	size_t start = 0;
	while (s[start] && isspace((unsigned char)s[start]))
		start++;
	if (start)
		memmove(s, s + start, len - start + 1);
	return s;
}

bool str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int str_to_ll(const char *s, long long *out)
{
	if (!s || !*s)
		return RT_ERR;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return RT_ERR;
	/* strtoll accepts leading white space; a config value must not. */
	if (isspace((unsigned char)s[0]))
		return RT_ERR;
	*out = v;
	return RT_OK;
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ms(void)
{
	return clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t time_mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t time_wall_ms(void)
{
	return clock_us(CLOCK_REALTIME) / 1000;
}

void time_format_rfc3339(char *buf, size_t len, int64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

uint64_t rt_hash64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

void rand_hex(char *buf, size_t len, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	if (nbytes > sizeof raw)
		nbytes = sizeof raw;
	if (len < 2 * nbytes + 1)
		nbytes = len ? (len - 1) / 2 : 0;
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* the kernel's CSPRNG is gone: nothing sane to do */
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	if (len)
		buf[2 * nbytes] = '\0';
}

int fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return RT_ERR;
	return RT_OK;
}

int fd_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return RT_ERR;
	return RT_OK;
}

bool utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* ASCII runs, 8 bytes at a time */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		else
			return false;
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
		    (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
			return false;
		i += n;
	}
	return true;
}

/* Process titles: the kernel shows argv[0..argc) as /proc/PID/cmdline. The
 * environment strings usually follow argv in the same block, so move them
 * away and use the whole span for the title. */
static char *title_base;
static size_t title_cap;

void proctitle_init(int argc, char **argv)
{
	extern char **environ;
	if (argc <= 0 || !argv || !argv[0])
		return;
	char *base = argv[0];
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	size_t nenv = 0;
	while (environ && environ[nenv])
		nenv++;
	char **newenv = xcalloc(nenv + 1, sizeof(char *));
	for (size_t i = 0; i < nenv; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		newenv[i] = xstrdup(environ[i]);
	}
	environ = newenv;
	/* main still parses argv after this: give it copies of the strings,
	 * kept here too so they stay reachable whatever main does with argv */
	static char **copies;
	copies = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		argv[i] = copies[i] = xstrdup(argv[i]);
	title_base = base;
	title_cap = (size_t)(end - base);
}

void proctitle_set(const char *fmt, ...)
{
	char title[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(title, sizeof title, fmt, ap);
	va_end(ap);
	/* 15 characters is all the kernel keeps in comm; prefer the tail that
	 * tells processes apart ("worker 3") over the common "rtftd: ". */
	const char *comm = str_has_prefix(title, "rtftd: ") ? title + 7 : title;
	char name[16] = "rtftd-";
	size_t used = strlen(name);
	size_t clen = strlen(comm);
	if (clen > sizeof name - 1 - used)
		clen = sizeof name - 1 - used;
	memcpy(name + used, comm, clen);
	name[used + clen] = '\0';
	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (title_base && title_cap > 1) {
		size_t n = strlen(title);
		if (n >= title_cap)
			n = title_cap - 1;
		memcpy(title_base, title, n);
		memset(title_base + n, 0, title_cap - n);
	}
}

void rt_err_set(struct rt_err *err, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

void rt_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "rtftd: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}
