/*
 * presence.h: the directory of registered names for one machine, shared by
 * every worker: name -> (worker slot, worker generation, connection id).
 * It is what makes a name unique across all worker processes.
 *
 * The table lives in its own MAP_SHARED|MAP_ANONYMOUS region, separate from
 * shm.c's, created once by the master before any fork and inherited by every
 * child. One process-shared robust mutex guards it; a holder killed with
 * SIGKILL, even in the middle of a change, is repaired by the next process
 * that takes the lock (see presence.c). The change counter and the count can
 * be read without the lock.
 *
 * Names are compared byte for byte (case-sensitive, as the old server did)
 * and are 1 to PRESENCE_NAME_MAX bytes; which bytes are allowed is the
 * protocol's business (proto_name_check() in proto.c: [A-Za-z0-9_.-], 3 to
 * 32), not this module's. Leaf module: never logs, never allocates, returns
 * codes.
 */
#ifndef RT_PRESENCE_H
#define RT_PRESENCE_H

#include "rtftd.h"

#define PRESENCE_NAME_MAX 32
#define PRESENCE_DEFAULT_CAPACITY 131072
#define PRESENCE_MAX_CAPACITY (1u << 22)

/* Results of presence_claim besides RT_OK and RT_ERR. */
#define PRESENCE_TAKEN (-3) /* another connection holds the name */
#define PRESENCE_FULL (-4) /* no room for one more name */

/* One name as presence_snapshot returns it: NUL-terminated, and the bytes
 * after the NUL are zero, so entries compare with memcmp too. */
struct presence_name {
	char name[PRESENCE_NAME_MAX + 1];
};

/*
 * Master, once, before any fork. Maps a table for capacity names (0 means
 * PRESENCE_DEFAULT_CAPACITY, at most PRESENCE_MAX_CAPACITY; 73 bytes a
 * name of address space, 9.6 MB at the default, touched only as names
 * arrive) and sets the
 * module's process-wide pointer, which children inherit. RT_ERR (err filled)
 * if the capacity is out of range, a table already exists in this process,
 * or mmap or the mutex set-up fails. Every other function returns RT_ERR
 * (or 0) until this has succeeded.
 */
int presence_create(size_t capacity, struct rt_err *err) RT_MUSTCHECK;

/* Unmaps this process's view of the table (tests; the master at exit). Other
 * processes keep theirs. No other presence_* call may run concurrently. */
void presence_destroy(void);

/*
 * Worker. Claims name for the connection (slot, gen, conn_id), atomically
 * against every other process:
 *   RT_OK           the name was free and is now this connection's, or this
 *                   connection already held it (repeated SET_USERNAME; the
 *                   version does not move then);
 *   PRESENCE_TAKEN  another connection (any other slot, generation or
 *                   connection id) holds it; nothing changed;
 *   PRESENCE_FULL   the table is full; nothing changed;
 *   RT_ERR          empty or over-long name, slot outside 0..RT_MAX_SLOTS-1,
 *                   no table, or the lock could not be had.
 * Rename: prev is the name this connection held until now, or NULL. On
 * RT_OK, prev (if different from name and still held by this very
 * connection) is released in the same critical section, so other workers
 * never see both names or neither, and the version moves once. On any other
 * result the connection keeps prev. A prev held by someone else is left
 * alone. A rename never fails for lack of room: the old name's place is
 * reused. The caller keeps ownership of both strings.
 */
int presence_claim(const char *name, int slot, uint32_t gen, uint64_t conn_id, const char *prev) RT_MUSTCHECK;
/* The same, with the holder's capabilities (PRESENCE_CAP_*) set in the same
 * critical section, so no other worker sees the name without them. */
int presence_claim_caps(const char *name, int slot, uint32_t gen, uint64_t conn_id, const char *prev,
			uint32_t caps) RT_MUSTCHECK;

/*
 * Worker, when a connection closes or drops its name. Releases name only if
 * it is still held by exactly (slot, gen, conn_id): RT_OK if released,
 * RT_ERR if it was not (free, held by another connection, bad argument or no
 * table); nothing changes then.
 */
int presence_release(const char *name, int slot, uint32_t gen, uint64_t conn_id);

/*
 * Master, after it has reaped a dead worker and before it starts another in
 * the same slot (conn_id values are only unique within one process, and this
 * releases by slot alone). Releases every name held by the slot, in one lock
 * hold, and returns how many (0 or more), or RT_ERR (bad slot, no table, lock
 * failure). The version moves once if anything was released.
 */
int presence_release_slot(int slot);

/*
 * Any process. RT_OK and the holder of name in *slot, *gen, *conn_id (each
 * may be NULL), or RT_ERR if the name is not held (or bad argument).
 */
int presence_lookup(const char *name, int *slot, uint32_t *gen, uint64_t *conn_id) RT_MUSTCHECK;
/* The same, with the holder's capabilities (PRESENCE_CAP_*, below) in
 * *caps (may be NULL; 0 when the name is not held), in the same lock hold. */
int presence_lookup_caps(const char *name, int *slot, uint32_t *gen, uint64_t *conn_id, uint32_t *caps) RT_MUSTCHECK;

/*
 * Capabilities of a holder's client (bits of PRESENCE_CAP_*), so that any
 * worker can tell a new client from an old one (PEER_INFO). A claim starts
 * with none unless presence_claim_caps() gives them. presence_set_caps:
 * worker, for a name held by exactly (slot, gen, conn_id); RT_OK, or RT_ERR
 * when not held so (nothing changes; the version never moves). Read them
 * with presence_lookup_caps().
 */
#define PRESENCE_CAP_BINARY 0x1u /* binary relay chunks */
#define PRESENCE_CAP_TRANSFER 0x2u /* TRANSFER messages, version 1 */
int presence_set_caps(const char *name, int slot, uint32_t gen, uint64_t conn_id, uint32_t caps);

/*
 * Any process, without the lock (one atomic load). Moves on every change to
 * the set of names or to who holds one, and after a repair. Starts at 1, so
 * a worker can keep 0 as "never sent". Workers poll it (about every 50 ms)
 * and send USER_LIST only when it moved since their last snapshot.
 */
uint64_t presence_version(void);

/* Any process, without the lock: names held now; 0 without a table. */
size_t presence_count(void);

/* Any process: the capacity given at creation; 0 without a table. */
size_t presence_capacity(void);

/* Any process, without the lock: how many times a lock holder was found dead
 * and the table repaired (rtftd_presence_repairs_total). */
uint64_t presence_repairs(void);

/*
 * Any process. Copies every name into out (caller-owned, max entries) under
 * one short lock hold (one memcpy of the name array), then sorts them by
 * name (bytewise) after unlocking, in place, without allocating.
 *   RT_OK     *count names in out, sorted; *version (may be NULL) is the
 *             version they correspond to;
 *   RT_AGAIN  out is too small: *count is the number of names held, nothing
 *             was copied; grow out and call again (max 0, out NULL asks for
 *             the count alone);
 *   RT_ERR    no table or lock failure.
 * A worker can size out once with presence_capacity() entries (33 bytes
 * each; pages are touched only as far as names go) and reuse it. Pages of
 * out are faulted in before the lock is taken.
 */
int presence_snapshot(struct presence_name *out, size_t max, size_t *count, uint64_t *version) RT_MUSTCHECK;

/*
 * Tests and debugging. Takes the lock and verifies every invariant (count in
 * range, names well formed and unique, index and names agree both ways, no
 * interrupted change left over). RT_OK, or RT_ERR with the first problem in
 * err. Cost is linear in the capacity: not for the request path.
 */
int presence_check(struct rt_err *err) RT_MUSTCHECK;

/*
 * Tests only; NULL in the daemon (one predictable branch per step). When
 * set, presence.c calls it at each step of a change, with the lock held, so
 * a test can SIGKILL the process exactly there, or time the lock hold.
 * Process-private: a child's hook does not affect its parent.
 */
enum presence_step {
	PRESENCE_STEP_LOCKED, /* lock taken (and any repair done) */
	PRESENCE_STEP_INSERT_WRITTEN, /* new name written past the end, not yet counted */
	PRESENCE_STEP_INSERT_COUNTED, /* counted, not yet in the index */
	PRESENCE_STEP_DELETE_LOGGED, /* removal recorded in the log, nothing else done */
	PRESENCE_STEP_DELETE_UNINDEXED, /* removed from the index */
	PRESENCE_STEP_DELETE_HALF_MOVED, /* last entry's name copied into the hole, not its holder */
	PRESENCE_STEP_DELETE_MOVED, /* last entry moved into the hole, count not yet lowered */
	PRESENCE_STEP_SLOT_ONE_DONE, /* release_slot: one name of the slot released */
	PRESENCE_STEP_UNLOCK, /* about to unlock */
};
extern void (*presence_step_hook)(enum presence_step step);

#endif
