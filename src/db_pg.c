/*
 * db_pg.c: the PostgreSQL backend of db.h, on libpq's blocking API (it
 * serves the master's migrations and the metrics child's checker thread;
 * workers use the asynchronous API on their event loop elsewhere).
 * Owns: connection parameters, reconnecting a broken connection before the
 * next statement, the migration advisory lock.
 * Must not: be used across fork() (connect after it), reconnect in the
 * middle of a transaction (statements would silently run outside it), let
 * libpq print notices on stderr, or time statements (db.c does).
 */
#include "autoconf.h"
#include "db.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Key of pg_advisory_lock() around migrations: the bytes "rtftdmig"
 * (0x72746674646d6967). Fixed forever, so every rtftd version, on every
 * node, takes the same lock. */
#define PG_MIGRATION_LOCK_KEY "8247329467709352295"

struct db_pg {
	struct db base; /* first: struct db * and struct db_pg * convert */
	PGconn *conn;
	/* Last known: a transaction is open on the server. While it is, a lost
	 * connection is reported, never repaired, until the caller rolls back. */
	bool in_tx;
};

static struct db_pg *to_pg(struct db *db)
{
	return (struct db_pg *)db;
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."); our log lines must not. */
static void set_flat(struct rt_err *err, const char *prefix, const char *msg)
{
	char flat[sizeof err->msg];
	size_t n = 0;
	bool space = false;
	for (const char *p = msg ? msg : ""; *p && n + 1 < sizeof flat; p++) {
		if (isspace((unsigned char)*p)) {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < sizeof flat)
			flat[n++] = ' ';
		space = false;
		flat[n++] = *p;
	}
	flat[n] = '\0';
	rt_err_set(err, "%s%s", prefix, n ? flat : "unknown error");
}

static void set_pg_err(struct rt_err *err, struct db_pg *p, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!primary) {
		set_flat(err, "", PQerrorMessage(p->conn));
		return;
	}
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char buf[sizeof err->msg];
	snprintf(buf, sizeof buf, "%s%s%s%s%s (SQLSTATE %s)", primary, detail ? ": " : "", detail ? detail : "",
		 pos ? " at character " : "", pos ? pos : "", state ? state : "?");
	set_flat(err, "", buf);
}

static void notice_cb(void *arg RT_UNUSED, const char *message)
{
	/* "relation ... already exists, skipping" and the like: not worth
	 * more than debug, and never raw on stderr. */
	size_t len = strlen(message);
	while (len > 0 && message[len - 1] == '\n')
		len--;
	log_debug("postgres notice: %.*s", (int)len, message);
}

static void pg_close(struct db *db)
{
	struct db_pg *p = to_pg(db);
	PQfinish(p->conn);
	free(p);
}

static struct db *pg_open(const char *url, const struct db_opts *opts, struct rt_err *err)
{
	const char *keys[6];
	const char *vals[6];
	int n = 0;
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", opts->connect_timeout_s);

	/* With expand_dbname, parameters listed after "dbname" override the
	 * URL's and those before it are overridden by it: our default
	 * application_name yields to the URL, explicit settings do not. */
	if (!opts->application_name) {
		keys[n] = "application_name";
		vals[n++] = "rtftd";
	}
	keys[n] = "dbname";
	vals[n++] = url;
	keys[n] = "connect_timeout";
	vals[n++] = timeout;
	if (opts->application_name) {
		keys[n] = "application_name";
		vals[n++] = opts->application_name;
	}
	if (opts->sslmode) {
		keys[n] = "sslmode";
		vals[n++] = opts->sslmode;
	}
	keys[n] = NULL;
	vals[n] = NULL;

	struct db_pg *p = xcalloc(1, sizeof *p);
	p->base.ops = &db_pg_ops;
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (!p->conn) {
		rt_err_set(err, "PQconnectdbParams failed: out of memory");
		goto fail;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		set_flat(err, "", PQerrorMessage(p->conn));
		goto fail;
	}
	PQsetNoticeProcessor(p->conn, notice_cb, NULL);
	return &p->base;
fail:
	pg_close(&p->base);
	return NULL;
}

/* Makes a broken connection usable again, unless a transaction was open on
 * it: its statements are gone, and pretending otherwise would run the rest
 * of them outside any transaction. */
static int pg_ready(struct db_pg *p, struct rt_err *err)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		return RT_OK;
	if (p->in_tx) {
		rt_err_set(err, "connection to the server was lost inside a transaction");
		return RT_ERR;
	}
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK) {
		set_flat(err, "reconnecting failed: ", PQerrorMessage(p->conn));
		return RT_ERR;
	}
	return RT_OK;
}

static void track_tx(struct db_pg *p)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		p->in_tx = PQtransactionStatus(p->conn) != PQTRANS_IDLE;
}

/* sql begins with the SQL keyword kw (case-insensitive, whole word); rest
 * (may be NULL) receives what follows it, leading space skipped. */
static bool starts_with_kw(const char *sql, const char *kw, const char **rest)
{
	while (isspace((unsigned char)*sql))
		sql++;
	size_t len = strlen(kw);
	if (strncasecmp(sql, kw, len) != 0)
		return false;
	unsigned char next = (unsigned char)sql[len];
	if (isalnum(next) || next == '_')
		return false;
	sql += len;
	while (isspace((unsigned char)*sql))
		sql++;
	if (rest)
		*rest = sql;
	return true;
}

/* A whole-transaction ROLLBACK (not ROLLBACK TO a savepoint). */
static bool is_full_rollback(const char *sql)
{
	const char *rest;
	return starts_with_kw(sql, "ROLLBACK", &rest) && !starts_with_kw(rest, "TO", NULL);
}

static int pg_exec(struct db *db, const char *sql, struct rt_err *err)
{
	struct db_pg *p = to_pg(db);
	if (p->in_tx && PQstatus(p->conn) != CONNECTION_OK && is_full_rollback(sql)) {
		/* The server dropped the transaction with the connection. */
		p->in_tx = false;
		return RT_OK;
	}
	if (pg_ready(p, err) != RT_OK)
		return RT_ERR;
	PGresult *res = PQexec(p->conn, sql);
	ExecStatusType status = PQresultStatus(res);
	int rc = RT_OK;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
		set_pg_err(err, p, res);
		rc = RT_ERR;
	} else if ((starts_with_kw(sql, "COMMIT", NULL) || starts_with_kw(sql, "END", NULL)) &&
		   strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		/* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
		rt_err_set(err, "COMMIT was turned into ROLLBACK: a statement of the transaction had failed");
		rc = RT_ERR;
	}
	PQclear(res);
	track_tx(p);
	return rc;
}

static int pg_query(struct db *db, const char *sql, int nparams, const char *const *params, db_row_cb cb, void *arg,
		    struct rt_err *err)
{
	struct db_pg *p = to_pg(db);
	const char **vals = NULL;
	int rc = RT_ERR;
	if (pg_ready(p, err) != RT_OK)
		return RT_ERR;
	/* Text parameters of unspecified type: the server infers each type
	 * from the statement, as it would for a quoted literal. */
	PGresult *res = PQexecParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType status = PQresultStatus(res);
	if (status == PGRES_EMPTY_QUERY) {
		rt_err_set(err, "empty statement");
		goto out;
	}
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		set_pg_err(err, p, res);
		goto out;
	}
	int nrows = PQntuples(res);
	int ncols = PQnfields(res);
	vals = xcalloc((size_t)(ncols > 0 ? ncols : 1), sizeof *vals);
	for (int r = 0; cb && r < nrows; r++) {
		for (int c = 0; c < ncols; c++)
			vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		if (cb(arg, ncols, vals) != RT_OK) {
			rt_err_set(err, "query stopped by its row callback");
			goto out;
		}
	}
	rc = RT_OK;
out:
	free(vals);
	PQclear(res);
	track_tx(p);
	return rc;
}

static int pg_begin(struct db *db, struct rt_err *err)
{
	return pg_exec(db, "BEGIN", err);
}

/* Session-level lock: held until unlocked or the connection ends, so a
 * master that dies mid-migration never leaves it behind. Blocks while
 * another node migrates. */
static int pg_lock_migrations(struct db *db, struct rt_err *err)
{
	struct rt_err cause;
	if (pg_query(db, "SELECT pg_advisory_lock(" PG_MIGRATION_LOCK_KEY ")", 0, NULL, NULL, NULL, &cause) != RT_OK) {
		rt_err_set(err, "pg_advisory_lock(" PG_MIGRATION_LOCK_KEY ") failed: %s", cause.msg);
		return RT_ERR;
	}
	return RT_OK;
}

static void pg_unlock_migrations(struct db *db)
{
	struct rt_err ignored;
	/* On failure the connection is gone, and the lock with it. */
	(void)!pg_query(db, "SELECT pg_advisory_unlock(" PG_MIGRATION_LOCK_KEY ")", 0, NULL, NULL, NULL, &ignored);
}

const struct db_ops db_pg_ops = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.query = pg_query,
	.begin = pg_begin,
	.lock_migrations = pg_lock_migrations,
	.unlock_migrations = pg_unlock_migrations,
};
