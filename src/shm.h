/*
 * shm.h: one MAP_SHARED region created by the master before any fork.
 * It carries state every process reads and few write: the slot table
 * (master writes pid/generation/state, each worker writes its heartbeat),
 * the database health and STUN/TURN reachability (written by the metrics
 * child's checker threads), migration status (master), and counters the
 * master owns (worker restarts).
 * All fields are atomics; no locks are needed for these single-writer fields.
 * The name directory has a region of its own (presence.h); rate limiters
 * are per worker and live in no shared region.
 */
#ifndef RT_SHM_H
#define RT_SHM_H

#include "rtftd.h"
#include "log.h"
#include <stdatomic.h>
#include <sys/types.h>

enum shm_slot_state {
	SLOT_EMPTY = 0,
	SLOT_STARTING, /* forked, not yet ready */
	SLOT_READY, /* serving */
	SLOT_DRAINING, /* old generation: not accepting, finishing connections */
};

struct shm_slot {
	_Atomic int pid;
	_Atomic uint32_t generation; /* listener generation the worker serves */
	_Atomic int state; /* enum shm_slot_state, written by the master */
	_Atomic int64_t heartbeat_ms; /* CLOCK_MONOTONIC ms, written by the worker */
	_Atomic int64_t started_ms;
	_Atomic int index; /* "worker N" */
};

#define SHM_DB_ERROR_LEN 200
#define SHM_ICE_REASON_LEN 240

/* STUN/TURN reachability (icecheck.c), read by /readyz. */
struct shm_ice {
	int servers; /* distinct entries of stun_servers and turn_servers; 0: none */
	int checked; /* of which are checked (not stuns:/turns:) */
	int answering; /* of which answered the last round */
	int interval_ms; /* ice_check_interval_ms; 0: checks are off */
	int64_t checked_ms; /* monotonic end of the last round; 0: none yet */
	char reason[SHM_ICE_REASON_LEN]; /* why none answers, or "" */
};

struct shm {
	uint32_t magic;
	_Atomic uint32_t generation; /* current worker generation */
	_Atomic int workers_wanted; /* WORKERS of the current generation */
	_Atomic int shutting_down;
	_Atomic uint64_t worker_restarts; /* unexpected worker deaths replaced */
	_Atomic int metrics_pid;
	_Atomic int metrics_ready;
	_Atomic int master_pid;

	/* database health: written by the metrics child's checker thread */
	_Atomic int db_state; /* 0 unknown, 1 ok, 2 failing */
	_Atomic int64_t db_checked_ms; /* monotonic */
	_Atomic double db_ping_seconds;
	_Atomic uint32_t db_error_seq; /* odd while db_error is being written */
	char db_error[SHM_DB_ERROR_LEN];

	/* STUN/TURN reachability: written by the metrics child's ICE checker
	 * thread, whole, under ice_seq (odd while it is being written) */
	_Atomic uint32_t ice_seq;
	struct shm_ice ice;

	/* migrations: written by the master */
	_Atomic int migrations_ok;
	_Atomic int migrations_version;
	_Atomic int migrations_latest;

	/* the key of hashed client addresses in the logs (log.h): written by
	 * the master at start and each UTC midnight, memory only */
	struct log_addr_key addr_key;

	struct shm_slot slots[RT_MAX_SLOTS];
};

/* Master, before any fork. Aborts start-up (RT_ERR) if mmap fails. */
struct shm *shm_create(struct rt_err *err) RT_MUSTCHECK;
extern struct shm *rt_shm; /* set by shm_create, inherited by children */

/* Count of slots of the current generation in SLOT_READY. */
int shm_ready_workers(const struct shm *s);

/* db_error with a seqlock so readers never see a torn message. */
void shm_set_db_error(struct shm *s, const char *msg);
void shm_get_db_error(struct shm *s, char *buf, size_t len);

/* The ICE summary, with the same kind of seqlock. One writer: the metrics
 * child's checker thread. shm_get_ice() returns false (and zeroes *out)
 * when no consistent copy could be read, which only a writer stopped half
 * way (killed) causes. */
void shm_set_ice(struct shm *s, const struct shm_ice *v);
bool shm_get_ice(struct shm *s, struct shm_ice *out);

#endif
