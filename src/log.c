/*
 * log.c: levels, sinks (stderr or LOG_FILE), role/pid prefix, JSON or text
 * lines, journald priority prefixes, reopen on SIGUSR1.
 * Each line is formatted into one buffer and written with a single write()
 * so lines from several processes never interleave mid-line.
 * Must not: allocate on the logging path, or be called from signal handlers.
 */
#include "autoconf.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
	enum log_level level;
	enum log_format format;
	int fd;
	char *file;
	bool journal; /* stderr is connected to journald */
	char role[32];
	int slot;
} L = { .level = LOG_LVL_INFO, .format = LOG_FMT_TEXT, .fd = STDERR_FILENO, .role = "rtftd", .slot = -1 };

/* Client addresses in the logs. */
static struct {
	enum log_addr_mode mode;
	struct log_addr_key *key; /* the shared one, or own */
	struct log_addr_key own;
} A = { .mode = LOG_ADDR_FULL };

static const char *level_names[] = { "error", "warn", "info", "debug", "trace" };
/* syslog priorities for the journald "<N>" prefix */
static const int level_prio[] = { 3, 4, 6, 7, 7 };

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < RT_ARRAY_LEN(level_names); i++)
		if (str_ieq(s, level_names[i])) {
			*out = (enum log_level)i;
			return RT_OK;
		}
	if (str_ieq(s, "warning")) {
		*out = LOG_LVL_WARN;
		return RT_OK;
	}
	return RT_ERR;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (str_ieq(s, "text")) {
		*out = LOG_FMT_TEXT;
		return RT_OK;
	}
	if (str_ieq(s, "json")) {
		*out = LOG_FMT_JSON;
		return RT_OK;
	}
	return RT_ERR;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < RT_ARRAY_LEN(level_names) ? level_names[lvl] : "?";
}

static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	if (!js || !*js)
		return false;
	unsigned long long dev = 0, ino = 0;
	if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	struct stat st;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static int open_log_file(const char *path, struct rt_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		rt_err_set(err, "open(%s) failed: %s", path, strerror(errno));
	return fd;
}

int log_setup(enum log_level lvl, enum log_format fmt, const char *file, struct rt_err *err)
{
	int fd = STDERR_FILENO;
	if (file && *file) {
		fd = open_log_file(file, err);
		if (fd < 0)
			return RT_ERR;
	}
	if (L.fd != STDERR_FILENO)
		close(L.fd);
	L.fd = fd;
	str_replace(&L.file, file && *file ? file : NULL);
	L.level = lvl;
	L.format = fmt;
	L.journal = !L.file && stderr_is_journal();
	return RT_OK;
}

void log_set_level(enum log_level lvl)
{
	L.level = lvl;
}

enum log_level log_get_level(void)
{
	return L.level;
}

void log_set_role(const char *role, int slot)
{
	snprintf(L.role, sizeof L.role, "%s", role);
	L.slot = slot;
}

int log_reopen(struct rt_err *err)
{
	if (!L.file)
		return RT_OK;
	int fd = open_log_file(L.file, err);
	if (fd < 0)
		return RT_ERR;
	if (L.fd != STDERR_FILENO)
		close(L.fd);
	L.fd = fd;
	return RT_OK;
}

int log_fd(void)
{
	return L.fd;
}

/* ---- client addresses ---- */

void log_set_addr_mode(enum log_addr_mode mode)
{
	A.mode = mode;
}

enum log_addr_mode log_get_addr_mode(void)
{
	return A.mode;
}

static int64_t utc_day(void)
{
	return (int64_t)(time(NULL) / 86400);
}

/* The writer's side of the seqlock: only the master writes a shared key,
 * and a process its own. */
static void key_write(struct log_addr_key *k, int64_t day)
{
	uint32_t s = atomic_load_explicit(&k->seq, memory_order_relaxed);
	atomic_store_explicit(&k->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	randombytes_buf(k->key, sizeof k->key);
	k->day = day;
	atomic_store_explicit(&k->seq, s + 2, memory_order_release);
}

void log_addr_key_init(struct log_addr_key *k)
{
	(void)!sodium_init();
	key_write(k, utc_day());
}

void log_addr_key_rotate(struct log_addr_key *k)
{
	int64_t day = utc_day();
	if (k->day != day)
		key_write(k, day); /* yesterday's key is gone: its hashes cannot be linked to today's */
}

void log_set_addr_key(struct log_addr_key *k)
{
	A.key = k;
}

/* A consistent copy of the current key; false when none could be read
 * (only a writer stopped half way does that). */
static bool key_read(unsigned char out[32])
{
	struct log_addr_key *k = A.key;
	if (!k) {
		/* no shared key: this process's own, rotated here */
		k = &A.own;
		if (atomic_load(&k->seq) == 0)
			log_addr_key_init(k);
		else
			log_addr_key_rotate(k);
	}
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = atomic_load_explicit(&k->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		memcpy(out, k->key, 32);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&k->seq, memory_order_relaxed) == s1)
			return true;
	}
	return false;
}

/* addr's IP into ip (4 or 16 bytes: *family AF_INET or AF_INET6; an
 * IPv4-mapped IPv6 address is IPv4); false when it is none. */
static bool parse_ip(const char *addr, unsigned char ip[16], int *family)
{
	char host[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(addr);
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || (size_t)(close - addr - 1) >= sizeof host)
			return false;
		snprintf(host, sizeof host, "%.*s", (int)(close - addr - 1), addr + 1);
	} else if (n < sizeof host) {
		memcpy(host, addr, n + 1);
		/* "a.b.c.d:port": the port goes; a bare IPv6 address keeps its colons */
		char *colon = strchr(host, ':');
		if (colon && colon == strrchr(host, ':'))
			*colon = '\0';
	} else {
		return false;
	}
	char *pct = strchr(host, '%'); /* a zone: fe80::1%eth0 */
	if (pct)
		*pct = '\0';
	if (inet_pton(AF_INET, host, ip) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, ip) != 1)
		return false;
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (memcmp(ip, mapped, 12) == 0) {
		memmove(ip, ip + 12, 4);
		*family = AF_INET;
	} else {
		*family = AF_INET6;
	}
	return true;
}

size_t log_format_addr(const char *addr, char *out, size_t cap)
{
	unsigned char ip[16];
	int family;
	char buf[64];
	if (!addr)
		addr = "";
	if (A.mode == LOG_ADDR_FULL)
		return (size_t)snprintf(out, cap, "%s", addr);
	if (!parse_ip(addr, ip, &family))
		return (size_t)snprintf(out, cap, "(unknown)");
	if (A.mode == LOG_ADDR_TRUNCATED) {
		if (family == AF_INET) {
			ip[3] = 0;
			inet_ntop(AF_INET, ip, buf, sizeof buf);
			return (size_t)snprintf(out, cap, "%s/24", buf);
		}
		memset(ip + 6, 0, 10);
		inet_ntop(AF_INET6, ip, buf, sizeof buf);
		return (size_t)snprintf(out, cap, "%s/48", buf);
	}
	unsigned char key[32], h[crypto_generichash_BYTES_MIN];
	if (!key_read(key))
		return (size_t)snprintf(out, cap, "(unknown)");
	crypto_generichash(h, sizeof h, ip, family == AF_INET ? 4 : 16, key, sizeof key);
	sodium_memzero(key, sizeof key);
	char hex[17];
	sodium_bin2hex(hex, sizeof hex, h, 8);
	return (size_t)snprintf(out, cap, "h:%s", hex);
}

const char *log_addr(const char *addr)
{
	static _Thread_local char bufs[4][64];
	static _Thread_local unsigned next;
	char *b = bufs[next++ % 4];
	(void)log_format_addr(addr, b, sizeof bufs[0]);
	return b;
}

const char *log_pseudonym(const char *name)
{
	static _Thread_local char bufs[4][24];
	static _Thread_local unsigned next;
	char *b = bufs[next++ % 4];
	unsigned char key[32], h[crypto_generichash_BYTES_MIN];
	if (!name || !key_read(key)) {
		snprintf(b, sizeof bufs[0], "(unknown)");
		return b;
	}
	/* the same key as the addresses', under another label, so a name's
	 * pseudonym never equals an address's hash */
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, sizeof key, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)"name:", 5);
	crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
	crypto_generichash_final(&st, h, sizeof h);
	sodium_memzero(key, sizeof key);
	char hex[17];
	sodium_bin2hex(hex, sizeof hex, h, 8);
	snprintf(b, sizeof bufs[0], "u:%s", hex);
	return b;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= L.level;
}

static void append(char *buf, size_t cap, size_t *pos, const char *fmt, ...) RT_PRINTF(4, 5);
static void append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
	if (*pos >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n < cap - *pos ? (size_t)n : cap - *pos - 1;
}

/* proto_escape_string() of s at *pos, which then moves past what fit. */
static void append_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
	if (*pos >= cap)
		return;
	size_t room = cap - *pos;
	size_t n = (size_t)proto_escape_string(s, buf + *pos, room);
	*pos += n < room ? n : strlen(buf + *pos);
}

static void append_json_str(char *buf, size_t cap, size_t *pos, const char *key, const char *val)
{
	if (!val)
		return;
	append(buf, cap, pos, ",\"%s\":\"", key);
	append_escaped(buf, cap, pos, val);
	append(buf, cap, pos, "\"");
}

void log_vmsg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, va_list ap)
{
	if (lvl > L.level)
		return;
	int saved_errno = errno;
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	char line[4096];
	size_t pos = 0;
	const size_t cap = sizeof line - 1; /* room for the newline */
	char ts[40];
	time_format_rfc3339(ts, sizeof ts, time_wall_ms());
	char who[48];
	/* a context's client address is logged the way log_client_address says */
	char client[64];
	if (ctx && ctx->client)
		(void)log_format_addr(ctx->client, client, sizeof client);
	if (L.slot >= 0)
		snprintf(who, sizeof who, "%s/%d", L.role, L.slot);
	else
		snprintf(who, sizeof who, "%s", L.role);

	if (L.format == LOG_FMT_JSON) {
		append(line, cap, &pos, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, log_level_name(lvl));
		append_escaped(line, cap, &pos, msg);
		append(line, cap, &pos, "\",\"pid\":%d,\"role\":\"%s\"", (int)getpid(), L.role);
		if (L.slot >= 0)
			append(line, cap, &pos, ",\"worker\":%d", L.slot);
		if (ctx) {
			append_json_str(line, cap, &pos, "request_id", ctx->request_id);
			append_json_str(line, cap, &pos, "trace_id", ctx->trace_id);
			append_json_str(line, cap, &pos, "client", ctx->client ? client : NULL);
			append_json_str(line, cap, &pos, "user_id", ctx->user_id);
			append_json_str(line, cap, &pos, "method", ctx->method);
			append_json_str(line, cap, &pos, "path", ctx->path);
			if (ctx->status)
				append(line, cap, &pos, ",\"status\":%d", ctx->status);
			if (ctx->latency_ms >= 0)
				append(line, cap, &pos, ",\"latency_ms\":%.3f", ctx->latency_ms);
		}
		if (pos >= cap - 2)
			pos = cap - 2; /* truncated: still close the object */
		append(line, cap + 1, &pos, "}");
	} else {
		if (L.journal)
			append(line, cap, &pos, "<%d>%s[%d] %s: %s", level_prio[lvl], who, (int)getpid(),
			       log_level_name(lvl), msg);
		else
			append(line, cap, &pos, "%s %s[%d] %s: %s", ts, who, (int)getpid(), log_level_name(lvl), msg);
		if (ctx) {
			if (ctx->method)
				append(line, cap, &pos, " method=%s", ctx->method);
			if (ctx->path) {
				/* the path is client input: keep the line one line */
				append(line, cap, &pos, " path=\"");
				append_escaped(line, cap, &pos, ctx->path);
				append(line, cap, &pos, "\"");
			}
			if (ctx->status)
				append(line, cap, &pos, " status=%d", ctx->status);
			if (ctx->latency_ms >= 0)
				append(line, cap, &pos, " latency_ms=%.3f", ctx->latency_ms);
			if (ctx->request_id) {
				append(line, cap, &pos, " request_id=");
				append_escaped(line, cap, &pos, ctx->request_id);
			}
			if (ctx->trace_id)
				append(line, cap, &pos, " trace_id=%s", ctx->trace_id);
			if (ctx->client)
				append(line, cap, &pos, " client=%s", client);
			if (ctx->user_id) {
				append(line, cap, &pos, " user_id=\"");
				append_escaped(line, cap, &pos, ctx->user_id);
				append(line, cap, &pos, "\"");
			}
		}
	}
	rt_assert(pos <= cap); /* the newline always fits */
	line[pos++] = '\n';
	const char *p = line;
	size_t left = pos;
	while (left > 0) {
		ssize_t n = write(L.fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* nowhere left to complain */
		}
		p += n;
		left -= (size_t)n;
	}
	errno = saved_errno;
}

void log_msg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, ctx, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(RT_EXIT_FAILURE);
}
