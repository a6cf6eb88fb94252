/*
 * log.h: one line per event, text or JSON, on stderr or LOG_FILE.
 * Every process calls log_setup() once, and log_set_role() after fork.
 * Signal handlers never log.
 */
#ifndef RT_LOG_H
#define RT_LOG_H

#include "rtftd.h"
#include <stdarg.h>
#include <stdatomic.h>

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

/* How client addresses appear in the logs (log_client_address). */
enum log_addr_mode {
	LOG_ADDR_FULL = 0, /* as they are */
	LOG_ADDR_TRUNCATED, /* IPv4 /24, IPv6 /48, no port: 203.0.113.0/24 */
	LOG_ADDR_HASHED, /* a keyed hash of the address, no port: h:<16 hex> */
};

/* The key of LOG_ADDR_HASHED: random, drawn anew at the start of each UTC
 * day and at each start of rtftd, held in memory only (one MAP_SHARED
 * copy, so every process hashes alike). Written by the master only, read
 * by anyone under the seqlock seq (odd while it is written). */
struct log_addr_key {
	_Atomic uint32_t seq;
	int64_t day; /* days since the epoch (UTC) the key is for */
	unsigned char key[32];
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

/* Client addresses: the mode (every process, from its config), and the
 * key the hashes use. log_addr_key_init: the master, once, on the shared
 * copy before any fork (and log_set_addr_key(k) then, which children
 * inherit); log_addr_key_rotate: the master, often (cheap when the day
 * has not changed). Without log_set_addr_key a process keeps a key of its
 * own (tests, rtftd -t). */
void log_set_addr_mode(enum log_addr_mode mode);
enum log_addr_mode log_get_addr_mode(void);
void log_addr_key_init(struct log_addr_key *k);
void log_addr_key_rotate(struct log_addr_key *k);
void log_set_addr_key(struct log_addr_key *k);
/* addr ("1.2.3.4", "1.2.3.4:5678", "::1", "[::1]:5678") as the mode
 * wants it, into out (cap bytes, NUL-terminated when cap > 0); like
 * snprintf, the length the whole text needs. An address that cannot be
 * parsed is written as it is in full mode and as "(unknown)" otherwise, so
 * nothing identifying slips through. The one place client addresses are
 * formatted for the logs. */
size_t log_format_addr(const char *addr, char *out, size_t cap);
/* The same into one of a few per-thread buffers, for a log call's
 * arguments: valid until the same thread's fourth call after it. */
const char *log_addr(const char *addr);
/* A user name as a pseudonym for the logs, "u:<16 hex>": a keyed hash
 * under the same daily key, so one day's lines of one user can be linked
 * and the name not read. In the same kind of buffers as log_addr(). */
const char *log_pseudonym(const char *name);

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
