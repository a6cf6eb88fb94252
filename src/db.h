/*
 * db.h: the database driver interface. One vtable, one file per backend
 * (db_sqlite.c, db_pg.c). Handles are opened after fork and never cross
 * one. These calls block: use them in the master (migrations), in the
 * metrics child's checker thread, and for short statements only.
 */
#ifndef RT_DB_H
#define RT_DB_H

#include "rtftd.h"

/* Upper bounds (seconds) of the query-duration histogram buckets; the last
 * bucket is +Inf. Shared with the metrics exposition. */
#define DB_HIST_BUCKETS 12
extern const double db_hist_bounds[DB_HIST_BUCKETS - 1];

struct db_stats {
	uint64_t queries;
	uint64_t errors;
	uint64_t hist[DB_HIST_BUCKETS]; /* non-cumulative counts */
	double sum_seconds;
};

struct db_opts {
	int busy_timeout_ms; /* SQLite busy_timeout; 0: 5000 */
	int connect_timeout_s; /* PostgreSQL connect_timeout; 0: 5 */
	const char *sslmode; /* PostgreSQL sslmode, or NULL for the URL's/default */
	const char *application_name; /* NULL: "rtftd" */
};

struct db;

/* One row of a result: ncols text values (NULL for SQL NULL). Return RT_OK
 * to continue, RT_ERR to stop (db_query then returns RT_ERR). */
typedef int (*db_row_cb)(void *arg, int ncols, const char *const *vals);

/* Database URLs; pure, any process. The path after sqlite:// (sqlite:///x
 * gives "/x"), or NULL when url is not an sqlite URL (or NULL). */
const char *db_url_sqlite_path(const char *url);
/* postgres:// or postgresql:// */
bool db_url_is_postgres(const char *url);
/* url with the password of user:password@ and of every password= query
 * parameter replaced by "***", for messages; "" for NULL. Caller frees. */
char *db_url_redact(const char *url);

/* Opens sqlite:///path or postgres://... Returns NULL with err filled; the
 * message never contains a password. Caller frees with db_close(). */
struct db *db_open(const char *url, const struct db_opts *opts, struct rt_err *err) RT_MUSTCHECK;
void db_close(struct db *db);
/* "sqlite" or "postgres" */
const char *db_backend(const struct db *db);

/* Runs one or more statements without parameters or results. */
int db_exec(struct db *db, const char *sql, struct rt_err *err) RT_MUSTCHECK;
/* Runs one statement with text parameters written $1, $2, ... in both
 * backends; calls cb for each row (cb may be NULL). */
int db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_row_cb cb, void *arg,
	     struct rt_err *err) RT_MUSTCHECK;

/* Write transaction: SQLite BEGIN IMMEDIATE, PostgreSQL BEGIN. */
int db_begin(struct db *db, struct rt_err *err) RT_MUSTCHECK;
int db_commit(struct db *db, struct rt_err *err) RT_MUSTCHECK;
void db_rollback(struct db *db);

/* Cheap round trip (SELECT 1); on failure a PostgreSQL handle tries to
 * reconnect on the next call. Returns RT_OK or RT_ERR. */
int db_ping(struct db *db, struct rt_err *err) RT_MUSTCHECK;

/* Cross-process lock around migrations: PostgreSQL advisory lock; SQLite
 * relies on BEGIN IMMEDIATE per migration. */
int db_lock_migrations(struct db *db, struct rt_err *err) RT_MUSTCHECK;
void db_unlock_migrations(struct db *db);

/* Counters of this handle's statements (for /metrics). */
const struct db_stats *db_get_stats(const struct db *db);

/* Backend vtable, implemented by db_sqlite.c and db_pg.c. */
struct db_ops {
	const char *name;
	struct db *(*open)(const char *url, const struct db_opts *opts, struct rt_err *err);
	void (*close)(struct db *db);
	int (*exec)(struct db *db, const char *sql, struct rt_err *err);
	int (*query)(struct db *db, const char *sql, int nparams, const char *const *params, db_row_cb cb, void *arg,
		     struct rt_err *err);
	int (*begin)(struct db *db, struct rt_err *err);
	int (*lock_migrations)(struct db *db, struct rt_err *err);
	void (*unlock_migrations)(struct db *db);
};

/* Every backend's struct starts with this header. */
struct db {
	const struct db_ops *ops;
	struct db_stats stats;
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

#endif
