/*
 * transfers.c: the transfer record writer of a worker (see transfers.h).
 * Owns: the event queue (a mutex and a condition variable shared with one
 * writer thread), the thread's database handle, batching; on the loop side
 * the books of open transfers.
 * Must not: block the event loop (the loop holds the mutex only to append),
 * or store file names unless store_file_names is set (the caller passes
 * NULL then).
 */
#include "autoconf.h"
#include "transfers.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 65536 /* events waiting; beyond it they are counted as dropped */
#define BATCH_MS 250
/* Retention: records started more than retention_days ago are deleted by
 * the writer thread, PURGE_BATCH rows per transaction, at most
 * PURGE_ROUND_BATCHES batches before the queued events get their turn;
 * a round runs soon after start (staggered by slot), after a reload that
 * changes retention_days, and every PURGE_EVERY_MS. */
#define PURGE_BATCH 500
#define PURGE_BATCH_TEXT "500" /* for the SQL */
#define PURGE_ROUND_BATCHES 100
#define PURGE_FIRST_MS 1000
#define PURGE_EVERY_MS (3600 * 1000)

struct tevent {
	bool open;
	char uid[40];
	char sender[33], recipient[33];
	char *file_name; /* owned */
	char file_type[128];
	char mode[16];
	uint64_t size, bytes;
	int status;
	char reason[96];
	int64_t at_ms; /* wall clock */
	struct tevent *next;
};

uint64_t transfers_written, transfers_dropped, transfers_db_errors;

static struct {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct tevent *head, *tail;
	size_t queued;
	char *url;
	char sslmode[16];
	int slot;
	int retention_days; /* under lock; 0: keep every record */
	int64_t purge_due_ms; /* under lock; monotonic, 0: none due */
} T = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void push(struct tevent *e)
{
	pthread_mutex_lock(&T.lock);
	if (!T.running || T.queued >= QUEUE_MAX) {
		pthread_mutex_unlock(&T.lock);
		__atomic_add_fetch(&transfers_dropped, 1, __ATOMIC_RELAXED);
		free(e->file_name);
		free(e);
		return;
	}
	if (T.tail)
		T.tail->next = e;
	else
		T.head = e;
	T.tail = e;
	T.queued++;
	pthread_mutex_unlock(&T.lock);
}

void transfers_open(const char *uid, const char *sender, const char *recipient, const char *file_name, uint64_t size,
		    const char *file_type, const char *mode)
{
	struct tevent *e = xcalloc(1, sizeof *e);
	e->open = true;
	snprintf(e->uid, sizeof e->uid, "%s", uid);
	snprintf(e->sender, sizeof e->sender, "%s", sender);
	snprintf(e->recipient, sizeof e->recipient, "%s", recipient);
	e->file_name = file_name ? xstrdup(file_name) : NULL;
	snprintf(e->file_type, sizeof e->file_type, "%s", file_type ? file_type : "");
	snprintf(e->mode, sizeof e->mode, "%s", mode);
	e->size = size;
	e->at_ms = time_wall_ms();
	push(e);
}

void transfers_close(const char *uid, enum transfer_status status, uint64_t bytes, const char *reason)
{
	struct tevent *e = xcalloc(1, sizeof *e);
	snprintf(e->uid, sizeof e->uid, "%s", uid);
	e->status = status;
	e->bytes = bytes;
	snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
	e->at_ms = time_wall_ms();
	push(e);
}

/* ---- the loop side: books of open transfers ---- */

#define BOOK_SIZE 16

struct book_entry {
	bool used;
	char uid[33];
	char recipient[33]; /* a valid name */
	uint64_t name_hash; /* of the file name: matched by FILE_CHUNK and FILE_COMPLETE */
	bool relayed; /* websocket mode: the bytes go through us */
	uint64_t bytes;
};

struct transfer_book {
	struct book_entry e[BOOK_SIZE];
};

static struct book_entry *book_find(struct transfer_book *b, const char *recipient, uint64_t file_hash)
{
	for (int i = 0; b && i < BOOK_SIZE; i++) {
		struct book_entry *x = &b->e[i];
		if (x->used && x->name_hash == file_hash && strcmp(x->recipient, recipient) == 0)
			return x;
	}
	return NULL;
}

static void book_end(struct book_entry *x, enum transfer_status st, const char *reason)
{
	rt_stats.transfers[x->relayed ? 1 : 0][st]++;
	transfers_close(x->uid, st, x->bytes, reason);
	x->used = false;
}

static void book_open(struct transfer_book **book, const char *sender, const struct proto_msg *m, bool store_name)
{
	uint64_t fh = rt_hash64_str(RT_HASH64_INIT, m->file_name);
	struct book_entry *x = book_find(*book, m->recipient, fh);
	if (x)
		book_end(x, TRANSFER_FAILED, "offered again");
	if (!*book)
		*book = xcalloc(1, sizeof **book);
	for (int i = 0; i < BOOK_SIZE && !x; i++)
		if (!(*book)->e[i].used)
			x = &(*book)->e[i];
	if (!x) {
		/* the oldest slot goes: a client offering this many files at
		 * once is not waiting for all of them */
		x = &(*book)->e[0];
		book_end(x, TRANSFER_FAILED, "too many transfers at once");
	}
	memset(x, 0, sizeof *x);
	x->used = true;
	rand_hex(x->uid, sizeof x->uid, 16);
	snprintf(x->recipient, sizeof x->recipient, "%.32s", m->recipient);
	x->name_hash = fh;
	x->relayed = m->transfer_mode != PROTO_MODE_WEBRTC;
	rt_stats.transfers_started[x->relayed ? 1 : 0]++;
	transfers_open(x->uid, sender, m->recipient, store_name ? m->file_name : NULL, m->file_size,
		       m->has_file_type ? m->file_type : NULL, x->relayed ? "websocket" : "webrtc");
}

void transfers_note(struct transfer_book **book, const char *sender, const struct proto_msg *m, bool store_name)
{
	if (m->type == PROTO_FILE_METADATA) {
		book_open(book, sender, m, store_name);
		return;
	}
	if (m->type != PROTO_FILE_CHUNK && m->type != PROTO_FILE_COMPLETE)
		return;
	struct book_entry *x = book_find(*book, m->recipient, rt_hash64_str(RT_HASH64_INIT, m->file_name));
	if (!x)
		return;
	if (m->type == PROTO_FILE_CHUNK)
		x->bytes += m->data_len;
	else
		book_end(x, TRANSFER_COMPLETED, NULL);
}

void transfers_fail_to(struct transfer_book *book, const char *recipient, const char *reason)
{
	for (int i = 0; book && i < BOOK_SIZE; i++)
		if (book->e[i].used && book->e[i].relayed && strcmp(book->e[i].recipient, recipient) == 0)
			book_end(&book->e[i], TRANSFER_FAILED, reason);
}

void transfers_sender_gone(struct transfer_book *book)
{
	for (int i = 0; book && i < BOOK_SIZE; i++)
		if (book->e[i].used)
			/* a relayed transfer cut off is a failure; for a peer to
			 * peer one the server never learns the outcome: it stays
			 * active with the time the sender left */
			book_end(&book->e[i], book->e[i].relayed ? TRANSFER_FAILED : TRANSFER_ACTIVE,
				 "sender disconnected");
	free(book);
}

static const char *status_name(int s)
{
	return s == TRANSFER_COMPLETED ? "completed" : s == TRANSFER_FAILED ? "failed" : "active";
}

static int write_one(struct db *db, bool pg, const struct tevent *e, struct rt_err *err)
{
	char at[32], size[32], bytes[32], worker[16];
	snprintf(at, sizeof at, "%lld", (long long)e->at_ms);
	snprintf(size, sizeof size, "%llu", (unsigned long long)e->size);
	snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)e->bytes);
	snprintf(worker, sizeof worker, "%d", T.slot);
	if (e->open) {
		const char *p[] = { e->uid,       e->sender, e->recipient,
				    e->file_name, size,      e->file_type[0] ? e->file_type : NULL,
				    e->mode,      worker,    at };
		const char *sql =
			pg ? "INSERT INTO transfers (transfer_uid, sender, recipient, file_name, file_size, file_type, mode, "
			     "status, worker, started_at) VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, 'active', "
			     "$8::integer, to_timestamp($9::bigint / 1000.0)) ON CONFLICT (transfer_uid) DO NOTHING"
			   : "INSERT OR IGNORE INTO transfers (transfer_uid, sender, recipient, file_name, file_size, "
			     "file_type, mode, status, worker, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', "
			     "$8, $9)";
		return db_query(db, sql, 9, p, NULL, NULL, err);
	}
	const char *p[] = { e->uid, status_name(e->status), bytes, at, e->reason[0] ? e->reason : NULL };
	const char *sql =
		pg ? "UPDATE transfers SET status = $2, bytes_relayed = $3::bigint, ended_at = "
		     "to_timestamp($4::bigint / 1000.0), failure_reason = $5 WHERE transfer_uid = $1"
		   : "UPDATE transfers SET status = $2, bytes_relayed = $3, ended_at = $4, failure_reason = $5 "
		     "WHERE transfer_uid = $1";
	return db_query(db, sql, 5, p, NULL, NULL, err);
}

static void free_list(struct tevent *e)
{
	while (e) {
		struct tevent *n = e->next;
		free(e->file_name);
		free(e);
		e = n;
	}
}

static int count_row(void *arg, int ncols, const char *const *vals)
{
	(void)ncols;
	(void)vals;
	(*(long long *)arg)++;
	return RT_OK;
}

/* One batch: the oldest records started before cutoff_ms (wall clock),
 * at most PURGE_BATCH, in one transaction. The number deleted, or -1. */
static long long purge_batch(struct db *db, int64_t cutoff_ms, struct rt_err *err)
{
	bool pg = strcmp(db_backend(db), "postgres") == 0;
	char cutoff[24];
	snprintf(cutoff, sizeof cutoff, "%lld", (long long)cutoff_ms);
	const char *p[] = { cutoff };
	/* clang-format off */
	const char *sql = pg
		? "DELETE FROM transfers WHERE id IN (SELECT id FROM transfers WHERE started_at < "
		  "to_timestamp($1::bigint / 1000.0) ORDER BY started_at LIMIT " PURGE_BATCH_TEXT ") RETURNING id"
		: "DELETE FROM transfers WHERE id IN (SELECT id FROM transfers WHERE started_at < CAST($1 AS INTEGER) "
		  "ORDER BY started_at LIMIT " PURGE_BATCH_TEXT ") RETURNING id";
	/* clang-format on */
	long long n = 0;
	if (db_begin(db, err) != RT_OK)
		return -1;
	if (db_query(db, sql, 1, p, count_row, &n, err) != RT_OK || db_commit(db, err) != RT_OK) {
		db_rollback(db);
		return -1;
	}
	return n;
}

/* A purge round if one is due: true when it stopped with rows left. */
static bool purge_round(struct db **db, const struct db_opts *opts)
{
	pthread_mutex_lock(&T.lock);
	int days = T.retention_days;
	bool due = days > 0 && T.purge_due_ms && time_mono_ms() >= T.purge_due_ms;
	if (due)
		T.purge_due_ms = time_mono_ms() + PURGE_EVERY_MS;
	pthread_mutex_unlock(&T.lock);
	if (!due)
		return false;
	struct rt_err err = { "" };
	if (!*db)
		*db = db_open(T.url, opts, &err);
	if (!*db) {
		log_warn("transfer records: cannot purge those older than %d days: %s", days, err.msg);
		return false;
	}
	int64_t cutoff = time_wall_ms() - (int64_t)days * 86400 * 1000;
	long long total = 0, n = PURGE_BATCH;
	for (int i = 0; i < PURGE_ROUND_BATCHES && n == PURGE_BATCH; i++) {
		n = purge_batch(*db, cutoff, &err);
		if (n < 0) {
			__atomic_add_fetch(&transfers_db_errors, 1, __ATOMIC_RELAXED);
			log_warn("transfer records: purging those older than %d days failed: %s", days, err.msg);
			break;
		}
		total += n;
	}
	if (total > 0)
		log_info("transfer records: purged %lld started more than %d days ago", total, days);
	if (n != PURGE_BATCH)
		return false;
	pthread_mutex_lock(&T.lock);
	T.purge_due_ms = time_mono_ms(); /* more to do, after the events waiting */
	pthread_mutex_unlock(&T.lock);
	return true;
}

/* One batch of events, in one transaction. */
static void write_batch(struct db **db, const struct db_opts *opts, struct tevent *batch, size_t n)
{
	struct rt_err err = { "" };
	if (!*db)
		*db = db_open(T.url, opts, &err);
	bool ok = *db && db_begin(*db, &err) == RT_OK;
	for (struct tevent *e = batch; ok && e; e = e->next)
		ok = write_one(*db, strcmp(db_backend(*db), "postgres") == 0, e, &err) == RT_OK;
	if (ok)
		ok = db_commit(*db, &err) == RT_OK;
	if (ok) {
		__atomic_add_fetch(&transfers_written, n, __ATOMIC_RELAXED);
	} else {
		if (*db)
			db_rollback(*db);
		__atomic_add_fetch(&transfers_db_errors, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&transfers_dropped, n, __ATOMIC_RELAXED);
		log_warn("transfer records: %zu events not written: %s", n, err.msg);
	}
}

static void *writer_main(void *arg)
{
	struct db_opts opts = { .connect_timeout_s = 5, .sslmode = T.sslmode, .application_name = "rtftd-worker" };
	struct db *db = NULL;
	bool stopping = false, more_purge = false;
	while (!stopping) {
		pthread_mutex_lock(&T.lock);
		if (!T.stop && !T.head && !more_purge) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += BATCH_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&T.cond, &T.lock, &until);
		}
		stopping = T.stop;
		struct tevent *batch = T.head;
		T.head = T.tail = NULL;
		size_t n = T.queued;
		T.queued = 0;
		pthread_mutex_unlock(&T.lock);
		if (batch) {
			write_batch(&db, &opts, batch, n);
			free_list(batch);
		}
		/* the events first, then a round of the purge, if due */
		more_purge = !stopping && purge_round(&db, &opts);
	}
	if (db)
		db_close(db);
	(void)arg;
	return NULL;
}

int transfers_setup(const struct config *cfg, int slot, struct rt_err *err)
{
	T.url = xstrdup(cfg->database_url);
	snprintf(T.sslmode, sizeof T.sslmode, "%s", config_db_sslmode(cfg->db_ssl));
	T.slot = slot;
	T.stop = false;
	T.retention_days = cfg->retention_days;
	T.purge_due_ms = time_mono_ms() + PURGE_FIRST_MS + 250 * (slot % 16); /* workers do not all start at once */
	if (pthread_create(&T.thread, NULL, writer_main, NULL) != 0) {
		rt_err_set(err, "pthread_create(transfer writer) failed");
		return RT_ERR;
	}
	T.running = true;
	return RT_OK;
}

void transfers_apply(const struct config *cfg)
{
	pthread_mutex_lock(&T.lock);
	if (cfg->retention_days != T.retention_days) {
		T.retention_days = cfg->retention_days;
		T.purge_due_ms = time_mono_ms(); /* a new limit: purge by it now */
		pthread_cond_signal(&T.cond);
	}
	pthread_mutex_unlock(&T.lock);
}

void transfers_shutdown(void)
{
	if (!T.running)
		return;
	pthread_mutex_lock(&T.lock);
	T.stop = true;
	pthread_cond_signal(&T.cond);
	pthread_mutex_unlock(&T.lock);
	pthread_join(T.thread, NULL);
	T.running = false;
	free(T.url);
	T.url = NULL;
}
