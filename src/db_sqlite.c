/*
 * db_sqlite.c: the SQLite backend of db.h (the embedded default store).
 * Owns: opening the file (creating its directory), the connection PRAGMAs,
 * and binding $1, $2, ... parameters by name so callers write one SQL text
 * for both backends.
 * Must not: be used across fork() (open after it), hold a statement
 * prepared between calls, or time statements (db.c does).
 */
#include "autoconf.h"
#include "db.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct db_sqlite {
	struct db base; /* first: struct db * and struct db_sqlite * convert */
	sqlite3 *h;
	char *path;
};

static struct db_sqlite *to_sqlite(struct db *db)
{
	return (struct db_sqlite *)db;
}

/* Creates the database's directory (one level, mode 0750) when it is
 * missing, so a fresh install only needs its parent (/var/lib) to exist. */
static int ensure_parent_dir(const char *path, struct rt_err *err)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return RT_OK; /* the current directory, or the root */
	char *dir = xstrndup(path, (size_t)(slash - path));
	struct stat st;
	int rc = RT_OK;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			rt_err_set(err, "%s exists and is not a directory", dir);
			rc = RT_ERR;
		}
	} else if (errno != ENOENT) {
		rt_err_set(err, "stat(%s) failed: %s", dir, strerror(errno));
		rc = RT_ERR;
	} else if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		rt_err_set(err, "cannot create database directory %s: %s", dir, strerror(errno));
		rc = RT_ERR;
	}
	free(dir);
	return rc;
}

static void set_sqlite_err(struct rt_err *err, sqlite3 *h)
{
	rt_err_set(err, "%s", sqlite3_errmsg(h));
}

/* journal_mode answers with a row naming the mode it ended up in. */
static int journal_mode_cb(void *arg, int ncols, char **vals, char **names RT_UNUSED)
{
	char *mode = arg;
	if (ncols > 0 && vals[0])
		snprintf(mode, 16, "%s", vals[0]);
	return 0;
}

/* Switching a new file to WAL takes an exclusive lock, and SQLite returns
 * SQLITE_BUSY at once, without its busy handler, when another process
 * holds the file (seen with several processes opening a fresh database
 * together). Retry for up to busy_timeout ourselves. */
static int set_wal(struct db_sqlite *s, int timeout_ms, char mode[16], char **msg)
{
	int64_t deadline = time_mono_ms() + timeout_ms;
	for (;;) {
		int rc = sqlite3_exec(s->h, "PRAGMA journal_mode=WAL", journal_mode_cb, mode, msg);
		if (rc != SQLITE_BUSY || time_mono_ms() >= deadline)
			return rc;
		sqlite3_free(*msg);
		*msg = NULL;
		struct timespec pause = { 0, 5 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static int apply_pragmas(struct db_sqlite *s, const struct db_opts *opts, struct rt_err *err)
{
	char *msg = NULL;
	char mode[16] = "";
	if (sqlite3_busy_timeout(s->h, opts->busy_timeout_ms) != SQLITE_OK)
		goto fail;
	if (set_wal(s, opts->busy_timeout_ms, mode, &msg) != SQLITE_OK)
		goto fail;
	if (strcmp(mode, "wal") != 0 && strcmp(s->path, ":memory:") != 0)
		log_warn("sqlite database %s stays in journal_mode %s (WAL not possible there): concurrent "
			 "writers will wait longer",
			 s->path, mode[0] ? mode : "unknown");
	if (sqlite3_exec(s->h, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return RT_OK;
fail:
	rt_err_set(err, "setting up the connection failed: %s", msg ? msg : sqlite3_errmsg(s->h));
	sqlite3_free(msg);
	return RT_ERR;
}

static void sqlite_close(struct db *db)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_close_v2(s->h);
	free(s->path);
	free(s);
}

static struct db *sqlite_open(const char *url, const struct db_opts *opts, struct rt_err *err)
{
	const char *path = db_url_sqlite_path(url);
	if (!path || !*path) {
		rt_err_set(err, "no file name after sqlite://");
		return NULL;
	}
	if (ensure_parent_dir(path, err) != RT_OK)
		return NULL;

	struct stat st;
	bool is_new = strcmp(path, ":memory:") != 0 && stat(path, &st) != 0 && errno == ENOENT;
	struct db_sqlite *s = xcalloc(1, sizeof *s);
	s->base.ops = &db_sqlite_ops;
	s->path = xstrdup(path);
	int rc = sqlite3_open_v2(path, &s->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		int sys = s->h ? sqlite3_system_errno(s->h) : 0;
		if (sys)
			rt_err_set(err, "sqlite3_open(%s) failed: %s (%s)", path,
				   s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc), strerror(sys));
		else
			rt_err_set(err, "sqlite3_open(%s) failed: %s", path,
				   s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
		goto fail;
	}
	/* The file may hold personal data (file names). SQLite creates it
	 * 0644 and gives the -wal and -shm files the same mode as the main
	 * file, so narrowing it once here covers all three. */
	if (is_new && chmod(path, 0640) != 0) {
		rt_err_set(err, "chmod(%s, 0640) failed: %s", path, strerror(errno));
		goto fail;
	}
	if (apply_pragmas(s, opts, err) != RT_OK)
		goto fail;
	return &s->base;
fail:
	sqlite_close(&s->base);
	return NULL;
}

static int sqlite_exec(struct db *db, const char *sql, struct rt_err *err)
{
	struct db_sqlite *s = to_sqlite(db);
	char *msg = NULL;
	if (sqlite3_exec(s->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		rt_err_set(err, "%s", msg ? msg : sqlite3_errmsg(s->h));
		sqlite3_free(msg);
		return RT_ERR;
	}
	return RT_OK;
}

/* Binds params[k-1] to $k. Both directions are checked, as PostgreSQL
 * does: a value the statement never uses, and a parameter with no value
 * (SQLite would quietly read NULL), are errors. */
static int bind_params(sqlite3_stmt *st, int nparams, const char *const *params, struct rt_err *err)
{
	for (int k = 1; k <= nparams; k++) {
		char name[16];
		snprintf(name, sizeof name, "$%d", k);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0) {
			rt_err_set(err, "parameter %s is not used by the statement (%d given)", name, nparams);
			return RT_ERR;
		}
		int rc = params[k - 1] ? sqlite3_bind_text(st, idx, params[k - 1], -1, SQLITE_STATIC)
				       : sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK) {
			rt_err_set(err, "binding %s failed: %s", name, sqlite3_errstr(rc));
			return RT_ERR;
		}
	}
	/* Every distinct $k took one index above; anything more is a
	 * parameter without a value, or one written ? or :name. */
	if (sqlite3_bind_parameter_count(st) != nparams) {
		rt_err_set(err, "the statement has %d parameters but %d were given (write them $1, $2, ...)",
			   sqlite3_bind_parameter_count(st), nparams);
		return RT_ERR;
	}
	return RT_OK;
}

/* db_query takes one statement: a second one would be silently ignored by
 * sqlite3_prepare_v2 and refused by PostgreSQL. */
static bool has_more_statements(sqlite3 *h, const char *tail)
{
	sqlite3_stmt *extra = NULL;
	int rc = sqlite3_prepare_v2(h, tail, -1, &extra, NULL);
	bool more = rc != SQLITE_OK || extra != NULL;
	sqlite3_finalize(extra);
	return more;
}

static int sqlite_query(struct db *db, const char *sql, int nparams, const char *const *params, db_row_cb cb, void *arg,
			struct rt_err *err)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = NULL;
	const char **vals = NULL;
	const char *tail = NULL;

	if (sqlite3_prepare_v2(s->h, sql, -1, &st, &tail) != SQLITE_OK) {
		set_sqlite_err(err, s->h);
		goto fail;
	}
	if (!st) {
		rt_err_set(err, "empty statement");
		goto fail;
	}
	if (tail && *tail && has_more_statements(s->h, tail)) {
		rt_err_set(err, "db_query takes one statement, found more after the first");
		goto fail;
	}
	if (bind_params(st, nparams, params, err) != RT_OK)
		goto fail;

	int ncols = sqlite3_column_count(st);
	vals = xcalloc((size_t)(ncols > 0 ? ncols : 1), sizeof *vals);
	for (;;) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			set_sqlite_err(err, s->h);
			goto fail;
		}
		if (!cb)
			continue;
		for (int i = 0; i < ncols; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i); /* NULL for SQL NULL */
		if (cb(arg, ncols, vals) != RT_OK) {
			rt_err_set(err, "query stopped by its row callback");
			goto fail;
		}
	}
	free(vals);
	sqlite3_finalize(st);
	return RT_OK;
fail:
	free(vals);
	sqlite3_finalize(st);
	return RT_ERR;
}

/* IMMEDIATE takes the write lock now: a deferred BEGIN that reads and then
 * writes fails with SQLITE_BUSY (busy_timeout cannot help it) when another
 * process wrote in between. */
static int sqlite_begin(struct db *db, struct rt_err *err)
{
	return sqlite_exec(db, "BEGIN IMMEDIATE", err);
}

/* Each migration runs under BEGIN IMMEDIATE, which already serialises
 * writers; migrate.c re-checks the version inside that transaction. */
static int sqlite_lock_migrations(struct db *db RT_UNUSED, struct rt_err *err RT_UNUSED)
{
	return RT_OK;
}

static void sqlite_unlock_migrations(struct db *db RT_UNUSED)
{
}

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.exec = sqlite_exec,
	.query = sqlite_query,
	.begin = sqlite_begin,
	.lock_migrations = sqlite_lock_migrations,
	.unlock_migrations = sqlite_unlock_migrations,
};
