/*
 * directory.c: the directory back end over this machine's shared-memory
 * name table (presence.c).
 * Owns: the worker's (slot, generation), which presence.c wants with every
 * change; the mapping of presence's results and capability bits to the
 * directory's.
 * Must not: judge names (the protocol did) or keep names of its own.
 */
#include "autoconf.h"
#include "directory.h"
#include "presence.h"

_Static_assert(DIR_NAME_MAX == PRESENCE_NAME_MAX, "one name length");
_Static_assert(sizeof(struct dir_name) == sizeof(struct presence_name), "listing entries are presence's");
_Static_assert(DIR_TAKEN == PRESENCE_TAKEN && DIR_FULL == PRESENCE_FULL, "claim results are presence's");
_Static_assert(DIR_CAP_BINARY == PRESENCE_CAP_BINARY && DIR_CAP_TRANSFER == PRESENCE_CAP_TRANSFER,
	       "capability bits are presence's");

static struct {
	int slot;
	uint32_t gen;
} D;

void directory_shm_bind(int slot, uint32_t generation)
{
	D.slot = slot;
	D.gen = generation;
}

static int shm_claim(const char *name, uint64_t conn, const char *prev, uint32_t caps)
{
	return presence_claim_caps(name, D.slot, D.gen, conn, prev, caps);
}

static int shm_release(const char *name, uint64_t conn)
{
	return presence_release(name, D.slot, D.gen, conn);
}

static int shm_set_caps(const char *name, uint64_t conn, uint32_t caps)
{
	return presence_set_caps(name, D.slot, D.gen, conn, caps);
}

static int shm_lookup(const char *name, struct dir_holder *h)
{
	struct dir_holder tmp;
	if (!h)
		h = &tmp;
	return presence_lookup_caps(name, &h->slot, &h->gen, &h->conn, &h->caps);
}

static int shm_list(struct dir_name *out, size_t max, size_t *count, uint64_t *version)
{
	return presence_snapshot((struct presence_name *)out, max, count, version);
}

const struct directory directory_shm = {
	.claim = shm_claim,
	.release = shm_release,
	.set_caps = shm_set_caps,
	.lookup = shm_lookup,
	.version = presence_version,
	.list = shm_list,
};
