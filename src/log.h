/*
 * log.h: one line per event, text or JSON, on stderr or LOG_FILE.
 * Every process calls log_setup() once, and log_set_role() after fork.
 * Signal handlers never log.
 */
#ifndef RT_LOG_H
#define RT_LOG_H

#include "rtftd.h"
#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG, LOG_LVL_TRACE };
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

/* Optional request context attached to one line (JSON fields request_id,
 * trace_id, client, user_id, method, path, status, latency_ms; text:
 * appended key=value). client is the client address (edge.h), user_id the
 * name a WebSocket session holds. */
struct log_ctx {
	const char *request_id;
	const char *trace_id;
	const char *client;
	const char *user_id;
	const char *path;
	const char *method;
	int status; /* 0: absent */
	double latency_ms; /* < 0: absent */
};

/* Parse "error|warn|info|debug|trace" / "text|json"; RT_ERR when unknown. */
int log_level_parse(const char *s, enum log_level *out) RT_MUSTCHECK;
int log_format_parse(const char *s, enum log_format *out) RT_MUSTCHECK;
const char *log_level_name(enum log_level lvl);

/* Configure sinks. file == NULL or "" logs to stderr. Returns RT_ERR with
 * err filled when the file cannot be opened (the previous sink is kept). */
int log_setup(enum log_level lvl, enum log_format fmt, const char *file, struct rt_err *err);
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* "master", "metrics", "worker" (+ slot >= 0). */
void log_set_role(const char *role, int slot);
/* Reopen LOG_FILE (SIGUSR1). RT_ERR keeps the old fd. */
int log_reopen(struct rt_err *err);
/* The current log fd, so the master can pass it on. */
int log_fd(void);

bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, ...) RT_PRINTF(3, 4);
void log_vmsg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt, va_list ap);
RT_NORETURN void log_fatal(const char *fmt, ...) RT_PRINTF(1, 2);

#define log_error(...) log_msg(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_enabled(LOG_LVL_DEBUG)) \
			log_msg(LOG_LVL_DEBUG, NULL, __VA_ARGS__); \
	} while (0)
#define log_trace(...) \
	do { \
		if (log_enabled(LOG_LVL_TRACE)) \
			log_msg(LOG_LVL_TRACE, NULL, __VA_ARGS__); \
	} while (0)

#endif
