/*
 * test_migrate.c: db.c, db_sqlite.c and migrate.c against SQLite files in a
 * fresh temporary directory; db_open's error text for PostgreSQL URLs
 * (nothing listens on port 1, so no server is needed).
 */
#include "autoconf.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/rtftd-test-migrate.XXXXXX";

/* ---- helpers ---- */

static struct db *open_file(const char *name)
{
	struct rt_err err = { { 0 } };
	char *url = xasprintf("sqlite://%s/%s", tmpdir, name);
	struct db *db = db_open(url, NULL, &err);
	if (!db) {
		printf("# db_open(%s): %s\n", url, err.msg);
		fflush(stdout); /* a child leaves with _exit() */
	}
	free(url);
	return db;
}

/* Collects rows as "v|v;v|v;" with NULL spelled NULL. */
struct rows {
	char text[2048];
	int n;
};

static int rows_cb(void *arg, int ncols, const char *const *vals)
{
	struct rows *r = arg;
	size_t len = strlen(r->text);
	for (int i = 0; i < ncols; i++) {
		len += (size_t)snprintf(r->text + len, sizeof r->text - len, "%s%s", i ? "|" : "",
					vals[i] ? vals[i] : "NULL");
		if (len >= sizeof r->text)
			return RT_ERR;
	}
	snprintf(r->text + len, sizeof r->text - len, ";");
	r->n++;
	return RT_OK;
}

/* The rows of sql as text, or "ERROR: ..." */
static const char *query_text(struct db *db, const char *sql, int nparams, const char *const *params)
{
	static struct rows r;
	struct rt_err err;
	memset(&r, 0, sizeof r);
	if (db_query(db, sql, nparams, params, rows_cb, &r, &err) != RT_OK)
		snprintf(r.text, sizeof r.text, "ERROR: %s", err.msg);
	return r.text;
}

static bool table_exists(struct db *db, const char *name)
{
	const char *params[] = { name };
	return strcmp(query_text(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1", 1,
				 params),
		      "") != 0;
}

static bool contains(const char *hay, const char *needle)
{
	bool found = strstr(hay, needle) != NULL;
	if (!found)
		printf("#   \"%s\" not in \"%s\"\n", needle, hay);
	return found;
}

static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char *sub = xasprintf("%s/%s", path, e->d_name);
			rm_rf(sub);
			free(sub);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0, n;
	char *buf = xmalloc(cap);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* ---- cases ---- */

static void test_checksum(void)
{
	char sum[65];
	migrate_checksum("", sum);
	is_str(sum, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "checksum of \"\"");
	migrate_checksum("abc", sum);
	is_str(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "checksum of \"abc\"");
}

/* The compiled-in list is what migrations/ holds, byte for byte. */
static void test_embedded(void)
{
	const char *srcdir = getenv("RT_SRCDIR");
	int seen = 0;
	for (size_t i = 0; i < rt_migrations_count; i++) {
		const struct migration *m = &rt_migrations[i];
		char *path = xasprintf("%s/migrations/%s/%s", srcdir && *srcdir ? srcdir : ".", m->backend, m->name);
		char *text = read_file(path);
		ok(text && strcmp(text, m->sql) == 0, "embedded %s/%s equals the file", m->backend, m->name);
		if (!text)
			printf("#   cannot read %s (set RT_SRCDIR to the source tree)\n", path);
		if (m->version == 1 && strcmp(m->name, "0001_init.sql") == 0)
			seen++;
		free(text);
		free(path);
	}
	is_int(seen, 2, "both backends have 0001_init.sql as version 1");
	for (size_t i = 1; i < rt_migrations_count; i++) {
		int order = strcmp(rt_migrations[i - 1].backend, rt_migrations[i].backend);
		ok(order < 0 || (order == 0 && rt_migrations[i - 1].version < rt_migrations[i].version),
		   "embedded list sorted at %zu", i);
	}
}

static void test_open(void)
{
	struct rt_err err = { { 0 } };
	struct db *db = open_file("sub/open.db");
	ok(db != NULL, "db_open creates a missing parent directory");
	char *dir = xasprintf("%s/sub", tmpdir);
	struct stat st;
	ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0750, "the directory has mode 0750");
	free(dir);
	char *file = xasprintf("%s/sub/open.db", tmpdir);
	ok(stat(file, &st) == 0 && (st.st_mode & 0777) == 0640, "a new database file has mode 0640");
	free(file);
	if (!db)
		return;
	is_str(db_backend(db), "sqlite", "backend name");
	is_str(query_text(db, "PRAGMA journal_mode", 0, NULL), "wal;", "journal_mode is WAL");
	is_str(query_text(db, "PRAGMA foreign_keys", 0, NULL), "1;", "foreign_keys is on");
	is_str(query_text(db, "PRAGMA synchronous", 0, NULL), "1;", "synchronous is NORMAL");
	is_str(query_text(db, "PRAGMA busy_timeout", 0, NULL), "5000;", "busy_timeout defaults to 5000");
	ok(db_ping(db, &err) == RT_OK, "db_ping");
	ok(db_exec(db, "CREATE TABLE w (x)", &err) == RT_OK, "a first write");
	char *wal = xasprintf("%s/sub/open.db-wal", tmpdir);
	ok(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0640, "the -wal file has mode 0640 too");
	free(wal);
	db_close(db);

	struct db_opts opts = { .busy_timeout_ms = 1234 };
	char *url = xasprintf("sqlite://%s/sub/open.db", tmpdir);
	db = db_open(url, &opts, &err);
	free(url);
	ok(db && strcmp(query_text(db, "PRAGMA busy_timeout", 0, NULL), "1234;") == 0, "busy_timeout from opts");
	db_close(db);

	url = xasprintf("sqlite://%s/no/such/x.db", tmpdir);
	db = db_open(url, NULL, &err);
	free(url);
	ok(db == NULL && contains(err.msg, "cannot create database directory") && contains(err.msg, "no/such"),
	   "a missing grandparent directory is a clear error");

	db = db_open("sqlite://", NULL, &err);
	ok(db == NULL && contains(err.msg, "no file name"), "sqlite:// without a path");

	db = db_open("mysql://u:s3cr3tpw@h/db", NULL, &err);
	ok(db == NULL && contains(err.msg, "unsupported database URL") && !strstr(err.msg, "s3cr3tpw"),
	   "an unknown scheme is refused without showing the password");
}

/* Nothing listens on 127.0.0.1:1: libpq fails at once, and its text must
 * not carry the password, wherever the URL put it. */
static void test_pg_redaction(void)
{
	static const struct {
		const char *url;
		const char *secret;
	} cases[] = {
		{ "postgres://rt:s3cr3tpw@127.0.0.1:1/rt", "s3cr3tpw" },
		{ "postgresql://rt@127.0.0.1:1/rt?password=hunter22xyz&connect_timeout=2", "hunter22xyz" },
		{ "postgres://rt:ab%zzsecret@127.0.0.1:1/rt", "zzsecret" },
	};
	for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++) {
		struct rt_err err = { { 0 } };
		struct db *db = db_open(cases[i].url, NULL, &err);
		ok(db == NULL && contains(err.msg, "cannot open database") && !strstr(err.msg, cases[i].secret),
		   "postgres open error %zu hides the password", i);
		if (strstr(err.msg, cases[i].secret))
			printf("#   leaked in: %s\n", err.msg);
		db_close(db);
	}
}

static int stop_cb(void *arg, int ncols RT_UNUSED, const char *const *vals RT_UNUSED)
{
	(*(int *)arg)++;
	return RT_ERR;
}

static void test_query(void)
{
	struct rt_err err;
	struct db *db = open_file("query.db");
	if (!ok(db != NULL, "open query.db"))
		return;
	const char *p3[] = { "a", NULL, "3" };
	is_str(query_text(db, "SELECT $1, $2, $3", 3, p3), "a|NULL|3;", "text and NULL parameters");
	is_str(query_text(db, "SELECT $2 || $1, $2", 2, p3), "NULL|NULL;", "a NULL parameter stays NULL");
	const char *p2[] = { "x", "y" };
	is_str(query_text(db, "SELECT $2 || $1, $2", 2, p2), "yx|y;", "parameters by number, one used twice");
	ok(contains(query_text(db, "SELECT $1", 2, p2), "$2 is not used"), "an unused parameter is an error");
	ok(contains(query_text(db, "SELECT $1, $2", 1, p2), "2 parameters but 1"), "a missing parameter is an error");
	ok(contains(query_text(db, "SELECT ?", 0, NULL), "write them $1"), "? placeholders are refused");
	ok(contains(query_text(db, "SELECT 1; SELECT 2", 0, NULL), "one statement"), "one statement only");
	is_str(query_text(db, "SELECT 1; -- done", 0, NULL), "1;", "a trailing comment is fine");
	ok(contains(query_text(db, "SELEKT 1", 0, NULL), "ERROR: "), "a syntax error is reported");

	ok(db_exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');"
		       "INSERT INTO t VALUES (2, NULL)",
		   &err) == RT_OK,
	   "db_exec runs several statements");
	is_str(query_text(db, "SELECT k, v FROM t ORDER BY k", 0, NULL), "1|one;2|NULL;", "rows and a NULL column");
	const char *pk[] = { "2" };
	is_str(query_text(db, "SELECT k FROM t WHERE k = $1", 1, pk), "2;", "a text parameter matches an integer");

	int calls = 0;
	ok(db_query(db, "SELECT k FROM t", 0, NULL, stop_cb, &calls, &err) == RT_ERR && calls == 1,
	   "a callback returning RT_ERR stops the query");

	/* transactions */
	ok(db_begin(db, &err) == RT_OK && db_exec(db, "INSERT INTO t VALUES (3, 'three')", &err) == RT_OK,
	   "insert inside a transaction");
	db_rollback(db);
	is_str(query_text(db, "SELECT count(*) FROM t", 0, NULL), "2;", "rollback drops it");
	ok(db_begin(db, &err) == RT_OK && db_exec(db, "INSERT INTO t VALUES (3, 'three')", &err) == RT_OK &&
		   db_commit(db, &err) == RT_OK,
	   "commit");
	is_str(query_text(db, "SELECT count(*) FROM t", 0, NULL), "3;", "commit keeps it");
	db_close(db);
}

static void test_stats(void)
{
	struct rt_err err;
	struct db *db = open_file("stats.db");
	if (!ok(db != NULL, "open stats.db"))
		return;
	const struct db_stats *st = db_get_stats(db);
	is_int(st->queries, 0, "a fresh handle counted nothing");
	for (int i = 0; i < 5; i++)
		(void)!db_query(db, "SELECT 1", 0, NULL, NULL, NULL, &err);
	(void)!db_exec(db, "CREATE TABLE s (x)", &err);
	(void)!db_query(db, "SELECT nope FROM nowhere", 0, NULL, NULL, NULL, &err);
	int calls = 0;
	(void)!db_query(db, "SELECT 1", 0, NULL, stop_cb, &calls, &err);
	(void)!db_ping(db, &err);
	is_int(st->queries, 9, "every statement is counted");
	is_int(st->errors, 1, "only the failing one is an error (a callback stop is not)");
	uint64_t total = 0;
	for (int i = 0; i < DB_HIST_BUCKETS; i++)
		total += st->hist[i];
	is_int(total, st->queries, "the histogram holds every statement");
	ok(st->sum_seconds > 0 && st->sum_seconds < 10, "sum_seconds is plausible (%g)", st->sum_seconds);
	ok(db_hist_bounds[0] == 0.0005 && db_hist_bounds[DB_HIST_BUCKETS - 2] == 1, "histogram bounds");
	db_close(db);
}

/* ---- migrations from lists ---- */

static const struct migration base_list[] = {
	{ "postgres", 1, "0001_pg.sql", "this is not sqlite and never runs here" },
	{ "sqlite", 2, "0002_b.sql", "CREATE TABLE b (x);\nINSERT INTO b VALUES ('it''s \\ fine');\n" },
	{ "sqlite", 1, "0001_a.sql", "CREATE TABLE a (x);" },
};

/* schema_migrations and the schema as text, to show a run changed nothing */
static char *snapshot(struct db *db)
{
	char *a = xstrdup(query_text(db, "SELECT * FROM schema_migrations ORDER BY version", 0, NULL));
	char *b = xstrdup(query_text(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name", 0, NULL));
	char *s = xasprintf("%s\n%s", a, b);
	free(a);
	free(b);
	return s;
}

static void test_run_twice(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("twice.db");
	if (!ok(db != NULL, "open twice.db"))
		return;
	int rc = migrate_run_list(db, base_list, RT_ARRAY_LEN(base_list), &res, &err);
	ok(rc == RT_OK, "fresh database: migrate_run_list succeeds%s%s", rc ? ": " : "", rc ? err.msg : "");
	is_int(res.applied, 2, "both sqlite migrations applied (the postgres one ignored)");
	is_int(res.from_version, 0, "from version 0");
	is_int(res.to_version, 2, "to version 2");
	is_int(res.latest, 2, "latest 2");
	ok(table_exists(db, "a") && table_exists(db, "b"), "their tables exist");
	is_str(query_text(db, "SELECT x FROM b", 0, NULL), "it's \\ fine;", "their data is there");
	char sum[65];
	migrate_checksum(base_list[2].sql, sum);
	const char *p[] = { sum };
	is_str(query_text(db, "SELECT version, name FROM schema_migrations WHERE checksum = $1", 1, p),
	       "1|0001_a.sql;", "version, name and checksum recorded");
	ok(strlen(query_text(db, "SELECT applied_at FROM schema_migrations WHERE version = 1", 0, NULL)) >= 20,
	   "applied_at recorded");

	char *before = snapshot(db);
	rc = migrate_run_list(db, base_list, RT_ARRAY_LEN(base_list), &res, &err);
	ok(rc == RT_OK && res.applied == 0 && res.from_version == 2 && res.to_version == 2,
	   "second run applies nothing");
	char *after = snapshot(db);
	is_str(after, before, "second run changes nothing");
	free(before);
	free(after);
	db_close(db);
}

static void test_edited(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("edited.db");
	if (!ok(db != NULL, "open edited.db"))
		return;
	ok(migrate_run_list(db, base_list, RT_ARRAY_LEN(base_list), &res, &err) == RT_OK, "set up");
	const struct migration edited[] = {
		{ "sqlite", 1, "0001_a.sql", "CREATE TABLE a (x, y);" },
		{ "sqlite", 2, "0002_b.sql", base_list[1].sql },
		{ "sqlite", 3, "0003_c.sql", "CREATE TABLE c (x);" },
	};
	int rc = migrate_run_list(db, edited, RT_ARRAY_LEN(edited), &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "migration 0001_a.sql was edited after it was applied") &&
		   contains(err.msg, "version 1"),
	   "an edited migration is refused, naming file and version");
	ok(!table_exists(db, "c") && res.applied == 0, "and nothing else is applied");
	db_close(db);
}

static void test_newer(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("newer.db");
	if (!ok(db != NULL, "open newer.db"))
		return;
	ok(migrate_run_list(db, base_list, RT_ARRAY_LEN(base_list), &res, &err) == RT_OK, "set up");
	int rc = migrate_run_list(db, &base_list[2], 1, &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "database schema version 2 is newer than this rtftd (latest 1)"),
	   "a database newer than the binary is refused");
	is_int(res.from_version, 2, "from_version reports the database's version");
	is_int(res.latest, 1, "latest reports the binary's");

	/* a recorded version below the latest that the binary lacks */
	const struct migration gap[] = {
		{ "sqlite", 1, "0001_a.sql", base_list[2].sql },
		{ "sqlite", 3, "0003_c.sql", "CREATE TABLE c (x);" },
	};
	rc = migrate_run_list(db, gap, RT_ARRAY_LEN(gap), &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "0002_b.sql (version 2), which this rtftd does not have"),
	   "a recorded migration the binary lacks is refused");
	ok(!table_exists(db, "c"), "and nothing is applied");
	db_close(db);
}

static void test_out_of_order(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("order.db");
	if (!ok(db != NULL, "open order.db"))
		return;
	const struct migration first[] = {
		{ "sqlite", 1, "0001_a.sql", "CREATE TABLE a (x);" },
		{ "sqlite", 3, "0003_c.sql", "CREATE TABLE c (x);" },
	};
	ok(migrate_run_list(db, first, RT_ARRAY_LEN(first), &res, &err) == RT_OK, "set up 1 and 3");
	const struct migration later[] = {
		first[0],
		{ "sqlite", 2, "0002_b.sql", "CREATE TABLE b (x);" },
		first[1],
	};
	int rc = migrate_run_list(db, later, RT_ARRAY_LEN(later), &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "0002_b.sql (version 2) was never applied"),
	   "a new migration numbered below the schema is refused");
	ok(!table_exists(db, "b"), "and not applied");

	const struct migration dup[] = {
		first[0],
		{ "sqlite", 1, "0001_z.sql", "CREATE TABLE z (x);" },
	};
	rc = migrate_run_list(db, dup, RT_ARRAY_LEN(dup), &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "both have version 1"), "two migrations with one version");
	db_close(db);
}

static void test_failing(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("failing.db");
	if (!ok(db != NULL, "open failing.db"))
		return;
	const struct migration bad[] = {
		{ "sqlite", 1, "0001_a.sql", "CREATE TABLE a (x);" },
		{ "sqlite", 2, "0002_bad.sql", "CREATE TABLE half (x);\nINSERT INTO nosuch VALUES (1);\n" },
		{ "sqlite", 3, "0003_c.sql", "CREATE TABLE c (x);" },
	};
	int rc = migrate_run_list(db, bad, RT_ARRAY_LEN(bad), &res, &err);
	ok(rc == RT_ERR && contains(err.msg, "migration 0002_bad.sql (version 2) failed and was rolled back") &&
		   contains(err.msg, "nosuch"),
	   "a failing migration is reported with file, version and cause");
	is_int(res.applied, 1, "the one before it was applied");
	is_int(res.to_version, 1, "to_version stops before it");
	ok(table_exists(db, "a"), "the earlier migration stays");
	ok(!table_exists(db, "half"), "the failing migration's table was rolled back");
	ok(!table_exists(db, "c"), "later migrations did not run");
	is_str(query_text(db, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL), "1;",
	       "only version 1 is recorded");
	ok(db_begin(db, &err) == RT_OK, "no transaction was left open");
	db_rollback(db);

	const struct migration fixed[] = {
		bad[0],
		{ "sqlite", 2, "0002_bad.sql", "CREATE TABLE half (x);\n" },
		bad[2],
	};
	rc = migrate_run_list(db, fixed, RT_ARRAY_LEN(fixed), &res, &err);
	ok(rc == RT_OK && res.applied == 2 && res.from_version == 1 && res.to_version == 3,
	   "once fixed, the rest applies");
	db_close(db);
}

/* Several processes migrate one file at once: each migration is applied
 * exactly once and every process succeeds. */
static void test_concurrent(void)
{
	enum { NPROC = 4 };
	static const struct migration list[] = {
		{ "sqlite", 1, "0001_a.sql", "CREATE TABLE a (x);" },
		{ "sqlite", 2, "0002_b.sql", "CREATE TABLE b (x);" },
		{ "sqlite", 3, "0003_c.sql", "CREATE TABLE c (x);" },
	};
	pid_t pids[NPROC];
	int gate[2];
	if (!ok(pipe(gate) == 0, "pipe for the start gate"))
		return;
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct rt_err err = { { 0 } };
			char c;
			/* start together: wait until the parent closes the gate */
			close(gate[1]);
			(void)!read(gate[0], &c, 1);
			struct migrate_result res;
			struct db *db = open_file("concurrent.db");
			int rc = db ? migrate_run_list(db, list, RT_ARRAY_LEN(list), &res, &err) : RT_ERR;
			if (rc != RT_OK)
				fprintf(stderr, "child %d: %s\n", i, err.msg);
			db_close(db);
			_exit(rc == RT_OK ? 0 : 1);
		}
	}
	close(gate[0]);
	close(gate[1]);
	int good = 0;
	for (int i = 0; i < NPROC; i++) {
		int status;
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			good++;
	}
	is_int(good, NPROC, "concurrent migrators all succeed");
	struct db *db = open_file("concurrent.db");
	if (db)
		is_str(query_text(db, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL), "1;2;3;",
		       "each version recorded once");
	db_close(db);
}

/* ---- the compiled-in schema ---- */

static void test_compiled(void)
{
	struct rt_err err = { { 0 } };
	struct migrate_result res;
	struct db *db = open_file("real.db");
	if (!ok(db != NULL, "open real.db"))
		return;
	ok(migrate_check(db, &res, &err) == RT_ERR && contains(err.msg, "never migrated"),
	   "migrate_check refuses a never-migrated database");
	ok(!table_exists(db, "schema_migrations"), "migrate_check wrote nothing");

	int rc = migrate_run(db, &res, &err);
	ok(rc == RT_OK, "migrate_run on a fresh database%s%s", rc ? ": " : "", rc ? err.msg : "");
	ok(res.applied >= 1 && res.to_version == res.latest, "applied %d, now at the latest (%d)", res.applied,
	   res.latest);
	ok(table_exists(db, "transfers") && table_exists(db, "presence") && table_exists(db, "nodes"),
	   "transfers, presence and nodes exist");
	ok(migrate_check(db, &res, &err) == RT_OK, "migrate_check accepts it after migrate_run");

	const char *row[] = { "t-1", "alice", "bob", NULL, "1024", "webrtc", "offered", "1700000000000" };
	static const char ins[] = "INSERT INTO transfers (transfer_uid, sender, recipient, file_name, file_size, "
				  "mode, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
	ok(db_query(db, ins, 8, row, NULL, NULL, &err) == RT_OK, "a transfer without a file name");
	is_str(query_text(db, "SELECT file_name, bytes_relayed, file_size + 1 FROM transfers", 0, NULL),
	       "NULL|0|1025;", "NULL name, default bytes_relayed, integer size");
	row[0] = "t-2";
	row[5] = "carrier-pigeon";
	ok(db_query(db, ins, 8, row, NULL, NULL, &err) == RT_ERR && contains(err.msg, "CHECK"),
	   "mode is checked");
	row[5] = "websocket";
	row[0] = "t-1";
	ok(db_query(db, ins, 8, row, NULL, NULL, &err) == RT_ERR && contains(err.msg, "UNIQUE"),
	   "transfer_uid is unique");

	(void)!db_exec(db, "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", &err);
	ok(migrate_check(db, &res, &err) == RT_ERR && contains(err.msg, "0001_init.sql was edited"),
	   "migrate_check refuses an edited migration");
	db_close(db);
}

int main(void)
{
	umask(022);
	struct rt_err err;
	/* step lines go to stderr, away from the TAP stream */
	if (log_setup(LOG_LVL_INFO, LOG_FMT_TEXT, NULL, &err) != RT_OK)
		return 1;
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_checksum();
	test_embedded();
	test_open();
	test_pg_redaction();
	test_query();
	test_stats();
	test_run_twice();
	test_edited();
	test_newer();
	test_out_of_order();
	test_failing();
	test_concurrent();
	test_compiled();
	rm_rf(tmpdir);
	return done_testing();
}
