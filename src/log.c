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

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
			append_json_str(line, cap, &pos, "client", ctx->client);
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
				append(line, cap, &pos, " client=%s", ctx->client);
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
