/*
 * migrate.h: applies the numbered SQL files of migrations/<backend>/ (compiled
 * into the binary) in order, each in its own transaction, and records version,
 * name, checksum (SHA-256 of the SQL text) and time in schema_migrations.
 * Runs in the master before it binds, and for --migrate-only.
 */
#ifndef RT_MIGRATE_H
#define RT_MIGRATE_H

#include "db.h"

struct migration {
	const char *backend; /* "sqlite" or "postgres" */
	int version;
	const char *name; /* file name, e.g. "0001_init.sql" */
	const char *sql;
};

/* Generated from migrations/ by build-aux/embed-migrations.sh. */
extern const struct migration rt_migrations[];
extern const size_t rt_migrations_count;

struct migrate_result {
	int from_version; /* highest recorded version before the run (0: none) */
	int to_version; /* after the run */
	int applied; /* how many were applied now */
	int latest; /* highest version this binary knows */
};

/* Applies pending migrations from list (n entries, any backend; only those
 * of db's backend are used). Fails with a clear message, changing nothing
 * further, when: a recorded checksum differs from the binary's ("migration
 * 0001_init.sql was edited after it was applied"), the database records a
 * version this binary does not know ("database schema version 7 is newer
 * than this rtftd (latest 3)"), or a statement fails (that migration's
 * transaction is rolled back). Logs each applied step at info. */
int migrate_run_list(struct db *db, const struct migration *list, size_t n, struct migrate_result *res,
		     struct rt_err *err) RT_MUSTCHECK;
/* migrate_run_list over the compiled-in migrations. */
int migrate_run(struct db *db, struct migrate_result *res, struct rt_err *err) RT_MUSTCHECK;

/* Read-only check used by readiness: RT_OK when every compiled-in migration
 * is recorded with the right checksum. */
int migrate_check(struct db *db, struct migrate_result *res, struct rt_err *err) RT_MUSTCHECK;

/* SHA-256 of sql as 64 hex characters into out[65]. */
void migrate_checksum(const char *sql, char out[65]);

#endif
