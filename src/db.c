/*
 * db.c: the backend-neutral half of db.h. Picks the backend from the URL,
 * times every statement into the handle's struct db_stats, and keeps
 * passwords out of error messages.
 * Owns: db_hist_bounds, the statement counters, the error text of db_open,
 * what a database URL looks like (db_url_*).
 * Must not: know any backend's types or SQL dialect (beyond "SELECT 1",
 * "COMMIT" and "ROLLBACK", which both speak), log, or keep global state.
 */
#include "autoconf.h"
#include "db.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* seconds; exported as the le="..." labels of the metrics histogram */
const double db_hist_bounds[DB_HIST_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
};

static void stats_observe(struct db_stats *st, double seconds, bool failed)
{
	size_t i = 0;
	while (i < RT_ARRAY_LEN(db_hist_bounds) && seconds > db_hist_bounds[i])
		i++;
	st->queries++;
	if (failed)
		st->errors++;
	st->hist[i]++;
	st->sum_seconds += seconds;
}

static double seconds_since(int64_t start_us)
{
	return (double)(time_mono_us() - start_us) / 1e6;
}

/*
 * Secrets a database URL may carry: the password of user:password@ and the
 * value of a password= query parameter. Each is replaced by "***" wherever
 * it appears in msg, because a driver may quote a piece of the URL back in
 * its error text (libpq does for a malformed %-escape, for one).
 */
static void scrub_span(char *msg, size_t cap, const char *secret, size_t len)
{
	if (len == 0)
		return;
	size_t mlen = strlen(msg);
	size_t pos = 0;
	while (pos + len <= mlen) {
		if (memcmp(msg + pos, secret, len) != 0) {
			pos++;
			continue;
		}
		if (pos + 3 >= cap) {
			msg[pos] = '\0';
			return;
		}
		size_t tail = mlen - pos - len;
		if (pos + 3 + tail >= cap)
			tail = cap - 1 - pos - 3;
		memmove(msg + pos + 3, msg + pos + len, tail);
		memcpy(msg + pos, "***", 3);
		mlen = pos + 3 + tail;
		msg[mlen] = '\0';
		pos += 3;
	}
}

static void scrub_secrets(char *msg, size_t cap, const char *url)
{
	const char *auth = strstr(url, "://");
	if (!auth)
		return;
	auth += 3;
	size_t authlen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', authlen);
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon)
			scrub_span(msg, cap, colon + 1, (size_t)(at - colon - 1));
	}
	const char *q = strchr(url, '?');
	while (q) {
		q++;
		if (str_has_prefix(q, "password="))
			scrub_span(msg, cap, q + 9, strcspn(q + 9, "&#"));
		q = strchr(q, '&');
	}
}

/* ---- database URLs ---- */

const char *db_url_sqlite_path(const char *url)
{
	if (!url || !str_has_prefix(url, "sqlite://"))
		return NULL;
	return url + strlen("sqlite://");
}

bool db_url_is_postgres(const char *url)
{
	return url && (str_has_prefix(url, "postgres://") || str_has_prefix(url, "postgresql://"));
}

/* Replaces the value of every "password=" query parameter with ***. */
static char *redact_query(char *url)
{
	char *q = strchr(url, '?');
	if (!q)
		return url;
	size_t cap = strlen(url) + 1;
	char *out = xmalloc(cap + 64);
	size_t o = (size_t)(q - url);
	memcpy(out, url, o);
	const char *p = q;
	while (*p) {
		char sep = *p; /* '?' or '&' */
		const char *end = strchr(p + 1, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 9 && str_has_prefix(p + 1, "password=")) {
			o += (size_t)sprintf(out + o, "%cpassword=***", sep);
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
	free(url);
	return out;
}

char *db_url_redact(const char *url)
{
	if (!url)
		return xstrdup("");
	const char *scheme = strstr(url, "://");
	if (!scheme)
		return redact_query(xstrdup(url));
	const char *auth = scheme + 3;
	const char *at = strchr(auth, '@');
	const char *slash = strchr(auth, '/');
	if (!at || (slash && slash < at))
		return redact_query(xstrdup(url));
	const char *colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon)
		return redact_query(xstrdup(url));
	return redact_query(xasprintf("%.*s:***%s", (int)(colon - url), url, at));
}

/* db_url_redact, then scrub_secrets over the result as a second net. Room
 * for "***" standing in for secrets shorter than itself. */
static char *redact_url(const char *url)
{
	char *red = db_url_redact(url);
	size_t cap = 3 * strlen(red) + 1;
	red = xrealloc(red, cap);
	scrub_secrets(red, cap, url);
	return red;
}

struct db *db_open(const char *url, const struct db_opts *opts, struct rt_err *err)
{
	const struct db_ops *ops;
	if (db_url_sqlite_path(url)) {
		ops = &db_sqlite_ops;
	} else if (db_url_is_postgres(url)) {
		ops = &db_pg_ops;
	} else {
		char *red = redact_url(url ? url : "");
		rt_err_set(err,
			   "unsupported database URL \"%s\": expected sqlite:///path/to/file.db or "
			   "postgres://user@host/dbname",
			   red);
		free(red);
		return NULL;
	}

	struct db_opts o = { 0 };
	if (opts)
		o = *opts;
	if (o.busy_timeout_ms <= 0)
		o.busy_timeout_ms = 5000;
	if (o.connect_timeout_s <= 0)
		o.connect_timeout_s = 5;
	/* application_name and sslmode stay NULL when not given: the backend
	 * then lets the URL decide before falling back to its default. */

	struct rt_err cause = { { 0 } };
	struct db *db = ops->open(url, &o, &cause);
	if (!db) {
		scrub_secrets(cause.msg, sizeof cause.msg, url);
		char *red = redact_url(url);
		rt_err_set(err, "cannot open database %s: %s", red, cause.msg);
		free(red);
		return NULL;
	}
	db->ops = ops;
	memset(&db->stats, 0, sizeof db->stats);
	return db;
}

void db_close(struct db *db)
{
	if (db)
		db->ops->close(db);
}

const char *db_backend(const struct db *db)
{
	return db->ops->name;
}

const struct db_stats *db_get_stats(const struct db *db)
{
	return &db->stats;
}

int db_exec(struct db *db, const char *sql, struct rt_err *err)
{
	int64_t start = time_mono_us();
	int rc = db->ops->exec(db, sql, err);
	stats_observe(&db->stats, seconds_since(start), rc != RT_OK);
	return rc;
}

/* Tells a stop requested by the caller's callback (not a database error)
 * from a failing statement, so only the latter counts in errors. */
struct row_relay {
	db_row_cb cb;
	void *arg;
	bool stopped;
};

static int row_relay_cb(void *arg, int ncols, const char *const *vals)
{
	struct row_relay *r = arg;
	if (r->cb(r->arg, ncols, vals) != RT_OK) {
		r->stopped = true;
		return RT_ERR;
	}
	return RT_OK;
}

int db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_row_cb cb, void *arg,
	     struct rt_err *err)
{
	if (nparams < 0 || (nparams > 0 && !params)) {
		rt_err_set(err, "db_query: bad parameter list (%d parameters)", nparams);
		return RT_ERR;
	}
	struct row_relay relay = { cb, arg, false };
	int64_t start = time_mono_us();
	int rc = db->ops->query(db, sql, nparams, params, cb ? row_relay_cb : NULL, cb ? &relay : NULL, err);
	stats_observe(&db->stats, seconds_since(start), rc != RT_OK && !relay.stopped);
	return rc;
}

int db_begin(struct db *db, struct rt_err *err)
{
	int64_t start = time_mono_us();
	int rc = db->ops->begin(db, err);
	stats_observe(&db->stats, seconds_since(start), rc != RT_OK);
	return rc;
}

int db_commit(struct db *db, struct rt_err *err)
{
	return db_exec(db, "COMMIT", err);
}

void db_rollback(struct db *db)
{
	struct rt_err ignored;
	/* Nothing useful to do when this fails: the transaction is gone either
	 * way (SQLite rolls back on close, PostgreSQL when the session ends). */
	(void)!db_exec(db, "ROLLBACK", &ignored);
}

int db_ping(struct db *db, struct rt_err *err)
{
	return db_query(db, "SELECT 1", 0, NULL, NULL, NULL, err);
}

int db_lock_migrations(struct db *db, struct rt_err *err)
{
	return db->ops->lock_migrations(db, err);
}

void db_unlock_migrations(struct db *db)
{
	db->ops->unlock_migrations(db);
}
