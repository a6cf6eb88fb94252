/*
 * migrate.c: brings a database's schema up to the migrations compiled into
 * this binary, and checks (read-only) that it is there.
 * Owns: the schema_migrations table (its DDL lives here, not in
 * migrations/), the order of steps, the checks that stop start-up (edited,
 * unknown or newer migrations) and their messages.
 * Must not: apply anything before every recorded migration has been
 * checked, apply a migration outside its own transaction, or write during
 * migrate_check.
 */
#include "autoconf.h"
#include "migrate.h"
#include "log.h"
#include "util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char create_sqlite[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
				    "version INTEGER PRIMARY KEY, "
				    "name TEXT NOT NULL, "
				    "checksum TEXT NOT NULL, "
				    "applied_at TEXT NOT NULL)";
static const char create_pg[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
				"version integer PRIMARY KEY, "
				"name text NOT NULL, "
				"checksum text NOT NULL, "
				"applied_at timestamptz NOT NULL DEFAULT now())";
/* SQLite has no timestamp type: applied_at is RFC 3339 UTC text there. */
static const char insert_sqlite[] = "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
				    "VALUES ($1, $2, $3, $4)";
static const char insert_pg[] = "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
				"VALUES ($1, $2, $3, now())";
static const char exists_sqlite[] = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
				    "'schema_migrations'";
static const char exists_pg[] = "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL";
static const char select_all[] = "SELECT version, name, checksum FROM schema_migrations ORDER BY version";
static const char select_one[] = "SELECT version, name, checksum FROM schema_migrations WHERE version = $1";

void migrate_checksum(const char *sql, char out[65])
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	/* Idempotent and thread-safe; SHA-256 itself needs no initialised
	 * state, so a failure here (no entropy source) cannot matter. */
	(void)!sodium_init();
	crypto_hash_sha256(hash, (const unsigned char *)sql, strlen(sql));
	sodium_bin2hex(out, 65, hash, sizeof hash);
}

static bool is_pg(struct db *db)
{
	return strcmp(db_backend(db), "postgres") == 0;
}

/* ---- what the database has recorded ---- */

struct applied {
	int version;
	char *name;
	char *checksum;
};

struct applied_set {
	struct applied *v;
	size_t n;
	bool bad_row;
};

static void applied_set_fini(struct applied_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].name);
		free(set->v[i].checksum);
	}
	free(set->v);
	memset(set, 0, sizeof *set);
}

static int applied_row_cb(void *arg, int ncols, const char *const *vals)
{
	struct applied_set *set = arg;
	long long version;
	if (ncols != 3 || !vals[0] || !vals[1] || !vals[2] || str_to_ll(vals[0], &version) != RT_OK || version <= 0 ||
	    version > 999999) {
		set->bad_row = true;
		return RT_ERR;
	}
	set->v = xrealloc(set->v, (set->n + 1) * sizeof *set->v);
	set->v[set->n].version = (int)version;
	set->v[set->n].name = xstrdup(vals[1]);
	set->v[set->n].checksum = xstrdup(vals[2]);
	set->n++;
	return RT_OK;
}

/* Runs select_all or select_one (version > 0) into set. */
static int read_applied(struct db *db, int version, struct applied_set *set, struct rt_err *err)
{
	struct rt_err cause;
	char vbuf[16];
	const char *params[1] = { vbuf };
	snprintf(vbuf, sizeof vbuf, "%d", version);
	int rc = version > 0 ? db_query(db, select_one, 1, params, applied_row_cb, set, &cause)
			     : db_query(db, select_all, 0, NULL, applied_row_cb, set, &cause);
	if (rc == RT_OK)
		return RT_OK;
	if (set->bad_row)
		rt_err_set(err, "schema_migrations holds a row this rtftd cannot read (version not a positive "
				"integer, or a NULL column)");
	else
		rt_err_set(err, "cannot read schema_migrations: %s", cause.msg);
	return RT_ERR;
}

static int max_applied(const struct applied_set *set)
{
	int max = 0;
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].version > max)
			max = set->v[i].version;
	return max;
}

static const struct applied *find_applied(const struct applied_set *set, int version)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].version == version)
			return &set->v[i];
	return NULL;
}

/* ---- what this binary knows ---- */

static int cmp_version(const void *a, const void *b)
{
	const struct migration *ma = *(const struct migration *const *)a;
	const struct migration *mb = *(const struct migration *const *)b;
	return (ma->version > mb->version) - (ma->version < mb->version);
}

/* The entries of list for backend, sorted by version. Caller frees *out. */
static int select_known(const struct migration *list, size_t n, const char *backend, const struct migration ***out,
			size_t *nout, struct rt_err *err)
{
	const struct migration **known = xcalloc(n ? n : 1, sizeof *known);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct migration *m = &list[i];
		if (!m->backend || strcmp(m->backend, backend) != 0)
			continue;
		if (m->version <= 0 || !m->name || !m->sql) {
			rt_err_set(err, "compiled-in migration %s for %s is malformed (version %d)",
				   m->name ? m->name : "(unnamed)", backend, m->version);
			goto fail;
		}
		known[k++] = m;
	}
	qsort(known, k, sizeof *known, cmp_version);
	for (size_t i = 1; i < k; i++)
		if (known[i]->version == known[i - 1]->version) {
			rt_err_set(err, "migrations %s and %s both have version %d", known[i - 1]->name, known[i]->name,
				   known[i]->version);
			goto fail;
		}
	*out = known;
	*nout = k;
	return RT_OK;
fail:
	free(known);
	return RT_ERR;
}

static bool is_known(const struct migration *const *known, size_t nknown, int version)
{
	for (size_t i = 0; i < nknown; i++)
		if (known[i]->version == version)
			return true;
	return false;
}

static void edited_err(struct rt_err *err, const struct migration *m, const struct applied *a, const char *sum)
{
	rt_err_set(err,
		   "migration %s was edited after it was applied (version %d: checksum %.12s... recorded%s%s, "
		   "%.12s... in this rtftd); restore the file and put changes in a new migration",
		   m->name, m->version, a->checksum, strcmp(a->name, m->name) != 0 ? " as " : "",
		   strcmp(a->name, m->name) != 0 ? a->name : "", sum);
}

/* Everything that must hold before anything is applied: nothing newer than
 * this binary, nothing recorded that it does not know, no recorded
 * migration edited since, no pending one numbered below the schema. */
static int verify(const struct migration *const *known, size_t nknown, const struct applied_set *set, int latest,
		  struct rt_err *err)
{
	int current = max_applied(set);
	if (current > latest) {
		rt_err_set(err, "database schema version %d is newer than this rtftd (latest %d)", current, latest);
		return RT_ERR;
	}
	for (size_t i = 0; i < set->n; i++)
		if (!is_known(known, nknown, set->v[i].version)) {
			rt_err_set(err, "database records migration %s (version %d), which this rtftd does not have",
				   set->v[i].name, set->v[i].version);
			return RT_ERR;
		}
	for (size_t i = 0; i < nknown; i++) {
		const struct applied *a = find_applied(set, known[i]->version);
		char sum[65];
		migrate_checksum(known[i]->sql, sum);
		if (a && strcmp(a->checksum, sum) != 0) {
			edited_err(err, known[i], a, sum);
			return RT_ERR;
		}
		if (!a && known[i]->version < current) {
			rt_err_set(err,
				   "migration %s (version %d) was never applied, but the database is already "
				   "at version %d: give new migrations numbers above the latest",
				   known[i]->name, known[i]->version, current);
			return RT_ERR;
		}
	}
	return RT_OK;
}

/* ---- applying ---- */

/* One migration, its schema_migrations row and nothing else in one
 * transaction. *skipped: another process applied it since we looked (the
 * re-check runs inside the transaction, under SQLite's write lock). */
static int apply_one(struct db *db, const struct migration *m, bool *skipped, struct rt_err *err)
{
	struct rt_err cause;
	struct applied_set now = { 0 };
	char sum[65], vbuf[16], when[40];
	int64_t start = time_mono_us();

	*skipped = false;
	migrate_checksum(m->sql, sum);
	snprintf(vbuf, sizeof vbuf, "%d", m->version);
	if (db_begin(db, &cause) != RT_OK) {
		rt_err_set(err, "migration %s (version %d): cannot start its transaction: %s", m->name, m->version,
			   cause.msg);
		return RT_ERR;
	}
	if (read_applied(db, m->version, &now, err) != RT_OK)
		goto fail;
	if (now.n > 0) {
		if (strcmp(now.v[0].checksum, sum) != 0) {
			edited_err(err, m, &now.v[0], sum);
			goto fail;
		}
		db_rollback(db);
		applied_set_fini(&now);
		*skipped = true;
		return RT_OK;
	}
	if (db_exec(db, m->sql, &cause) != RT_OK) {
		rt_err_set(err, "migration %s (version %d) failed and was rolled back: %s", m->name, m->version,
			   cause.msg);
		goto fail;
	}
	time_format_rfc3339(when, sizeof when, time_wall_ms());
	const char *params[4] = { vbuf, m->name, sum, when };
	int rc = is_pg(db) ? db_query(db, insert_pg, 3, params, NULL, NULL, &cause)
			   : db_query(db, insert_sqlite, 4, params, NULL, NULL, &cause);
	if (rc != RT_OK) {
		rt_err_set(err, "migration %s (version %d): recording it in schema_migrations failed, rolled back: %s",
			   m->name, m->version, cause.msg);
		goto fail;
	}
	if (db_commit(db, &cause) != RT_OK) {
		rt_err_set(err, "migration %s (version %d): COMMIT failed, rolled back: %s", m->name, m->version,
			   cause.msg);
		goto fail;
	}
	applied_set_fini(&now);
	log_info("migration %s applied (%s, %.1f ms)", m->name, db_backend(db),
		 (double)(time_mono_us() - start) / 1000.0);
	return RT_OK;
fail:
	db_rollback(db);
	applied_set_fini(&now);
	return RT_ERR;
}

int migrate_run_list(struct db *db, const struct migration *list, size_t n, struct migrate_result *res,
		     struct rt_err *err)
{
	struct migrate_result r = { 0 };
	const struct migration **known = NULL;
	size_t nknown = 0;
	struct applied_set set = { 0 };
	struct rt_err cause;
	bool locked = false;
	int rc = RT_ERR;

	if (select_known(list, n, db_backend(db), &known, &nknown, err) != RT_OK)
		goto out;
	r.latest = nknown ? known[nknown - 1]->version : 0;
	if (db_lock_migrations(db, &cause) != RT_OK) {
		rt_err_set(err, "cannot take the migration lock: %s", cause.msg);
		goto out;
	}
	locked = true;
	if (db_exec(db, is_pg(db) ? create_pg : create_sqlite, &cause) != RT_OK) {
		rt_err_set(err, "cannot create schema_migrations: %s", cause.msg);
		goto out;
	}
	if (read_applied(db, 0, &set, err) != RT_OK)
		goto out;
	r.from_version = r.to_version = max_applied(&set);
	if (verify(known, nknown, &set, r.latest, err) != RT_OK)
		goto out;
	for (size_t i = 0; i < nknown; i++) {
		bool skipped;
		if (find_applied(&set, known[i]->version))
			continue;
		if (apply_one(db, known[i], &skipped, err) != RT_OK)
			goto out;
		r.to_version = known[i]->version;
		if (!skipped)
			r.applied++;
	}
	rc = RT_OK;
out:
	if (locked)
		db_unlock_migrations(db);
	applied_set_fini(&set);
	free(known);
	if (res)
		*res = r;
	return rc;
}

int migrate_run(struct db *db, struct migrate_result *res, struct rt_err *err)
{
	return migrate_run_list(db, rt_migrations, rt_migrations_count, res, err);
}

static int found_cb(void *arg, int ncols RT_UNUSED, const char *const *vals RT_UNUSED)
{
	*(bool *)arg = true;
	return RT_OK;
}

int migrate_check(struct db *db, struct migrate_result *res, struct rt_err *err)
{
	struct migrate_result r = { 0 };
	const struct migration **known = NULL;
	size_t nknown = 0;
	struct applied_set set = { 0 };
	struct rt_err cause;
	bool exists = false;
	int rc = RT_ERR;

	if (select_known(rt_migrations, rt_migrations_count, db_backend(db), &known, &nknown, err) != RT_OK)
		goto out;
	r.latest = nknown ? known[nknown - 1]->version : 0;
	if (db_query(db, is_pg(db) ? exists_pg : exists_sqlite, 0, NULL, found_cb, &exists, &cause) != RT_OK) {
		rt_err_set(err, "cannot look for schema_migrations: %s", cause.msg);
		goto out;
	}
	if (!exists) {
		if (nknown == 0) {
			rc = RT_OK;
			goto out;
		}
		rt_err_set(err, "database was never migrated (no schema_migrations table; latest version %d)",
			   r.latest);
		goto out;
	}
	if (read_applied(db, 0, &set, err) != RT_OK)
		goto out;
	r.from_version = r.to_version = max_applied(&set);
	if (verify(known, nknown, &set, r.latest, err) != RT_OK)
		goto out;
	for (size_t i = 0; i < nknown; i++)
		if (!find_applied(&set, known[i]->version)) {
			rt_err_set(err, "migration %s (version %d) is not applied yet (database at version %d)",
				   known[i]->name, known[i]->version, r.from_version);
			goto out;
		}
	rc = RT_OK;
out:
	applied_set_fini(&set);
	free(known);
	if (res)
		*res = r;
	return rc;
}
