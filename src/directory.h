/*
 * directory.h: who holds which name, as the protocol layer sees it: claim,
 * release, look up, list and watch. The session code (session.c) and the
 * delivery code (deliver.c) reach the directory only through a
 * struct directory, so where the names live is the back end's business:
 *   directory_shm   this machine's shared-memory table (presence.c);
 *                   every worker of the machine sees the same names.
 * A directory for several machines (PostgreSQL) is another back end with
 * the same contract; the session code does not change for it.
 *
 * A holder is this worker's connection id (ws_id()); the back end knows
 * which worker and generation it is running in (bound once after fork).
 * Worker only. Names are 1 to DIR_NAME_MAX bytes and compared byte for
 * byte; which names are valid is the protocol's rule (proto_name_check()),
 * checked before any call here.
 */
#ifndef RT_DIRECTORY_H
#define RT_DIRECTORY_H

#include "rtftd.h"

#define DIR_NAME_MAX 32

/* Results of claim besides RT_OK and RT_ERR. */
#define DIR_TAKEN (-3) /* another connection holds the name */
#define DIR_FULL (-4) /* no room for one more name */

/* Capabilities of a holder's client, readable from any worker. */
#define DIR_CAP_BINARY 0x1u /* accepts binary relay chunks */
#define DIR_CAP_TRANSFER 0x2u /* understands TRANSFER messages, version 1 */
#define DIR_CAP_ANNOUNCED 0x4u /* sent CAPABILITIES: a new client, which shows file names as text */

/* Where a name's holder is. caps is for anyone; the rest means something
 * only to the delivery back end that goes with the directory. */
struct dir_holder {
	uint32_t caps;
	int slot; /* worker slot on this machine */
	uint32_t gen; /* its generation */
	uint64_t conn; /* connection id within that worker */
};

/* One name of a listing: NUL-terminated, the bytes after the NUL zero. */
struct dir_name {
	char name[DIR_NAME_MAX + 1];
};

struct directory {
	/* conn claims name with caps, and gives up prev (NULL: none) in the
	 * same step, so nobody sees both names or neither. RT_OK (also when
	 * conn held it already), DIR_TAKEN, DIR_FULL, or RT_ERR; on anything
	 * but RT_OK conn keeps prev. */
	int (*claim)(const char *name, uint64_t conn, const char *prev, uint32_t caps);
	/* Releases name if conn holds it: RT_OK, else RT_ERR (nothing changes). */
	int (*release)(const char *name, uint64_t conn);
	/* New caps for a name conn holds: RT_OK, else RT_ERR. */
	int (*set_caps)(const char *name, uint64_t conn, uint32_t caps);
	/* RT_OK and the holder in *h (may be NULL), or RT_ERR: not held. */
	int (*lookup)(const char *name, struct dir_holder *h);
	/* Watching: a number that moves whenever the set of names or a
	 * holder changes (never 0). Cheap enough to poll every 50 ms. */
	uint64_t (*version)(void);
	/* Every name, sorted bytewise, into out (max entries): RT_OK with
	 * *count names and the *version (may be NULL) they correspond to;
	 * RT_AGAIN when out is too small (*count is how many there are, grow
	 * and call again); RT_ERR on failure. */
	int (*list)(struct dir_name *out, size_t max, size_t *count, uint64_t *version);
};

/* The back end over presence.c. directory_shm_bind: the worker, once
 * after fork, before any other call. */
extern const struct directory directory_shm;
void directory_shm_bind(int slot, uint32_t generation);

#endif
