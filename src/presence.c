/*
 * presence.c: the machine-wide name directory in its own shared region.
 * Owns: the region's layout, its robust mutex, the hash index over the
 * names, and the repair of a table whose lock holder died.
 * Must not: log, allocate, or call anything that may block while the lock is
 * held; keep pointers inside the region (only this process's view holds
 * them); or decide which names are acceptable (proto_name_check() in
 * proto.c does).
 *
 * Layout: a header, then three arrays sized at creation.
 *   names[capacity]  dense: entries 0..n-1 are the names held, zero-padded;
 *   meta[capacity]   the holder of names[i] (slot, generation, conn_id) and
 *                    the name's hash;
 *   buckets[nb]      open addressing with linear probing, nb a power of two
 *                    at least twice the capacity (load <= 1/2): entry index
 *                    + 1 (0 = empty) and the low 32 bits of the hash.
 * Removal moves the last entry into the hole (so names stay dense and a
 * snapshot is one memcpy) and deletes from the index by backward shift (no
 * tombstones, probe lengths do not creep up under churn). The hash is
 * SipHash-2-4 (libsodium's crypto_shorthash) with a key drawn at creation:
 * names are chosen by clients, and colliding names must not turn each
 * claim into a scan under the lock.
 *
 * Surviving a dead lock holder. The dense arrays and n are the truth; the
 * index can always be rebuilt from them. Every change is ordered so that a
 * process killed between any two instructions leaves the arrays in a state
 * the next holder can finish:
 *   insert: write names[n] and meta[n], then n = n + 1 (the commit), then
 *           index it. Killed before the commit: the half-written entry lies
 *           past n and is ignored. After: it is in, the index is rebuilt.
 *   remove: first log (index, n) and set op = OP_REMOVE, then unindex, move
 *           the last entry into the hole, n = n - 1, op = OP_NONE. The log
 *           makes this redoable: if op is set and n still equals the logged
 *           n, the repair copies the last entry over the hole again (it is
 *           still intact, since n was not lowered) and lowers n; if n was
 *           already lowered, the move was complete.
 *   release_slot: sets op_slot before its first removal and clears it after
 *           its last; the repair finishes the job.
 * pthread_mutex_lock returning EOWNERDEAD runs repair_locked: redo the
 * logged removal, finish a release_slot, drop anything malformed or
 * duplicated (defensive; the steps above cannot produce it), rebuild the
 * index, bump the version, then pthread_mutex_consistent. The repair is
 * itself made of these steps, so a repairer killed in turn leaves the mutex
 * owner-dead again and the next holder repeats it. A rename killed half-way
 * may leave the dying worker holding both names or neither; both belong to
 * its slot, which the master releases when it reaps it.
 * The compiler must not move stores across a step boundary: STEP() is a
 * signal fence, the right tool for "this thread may stop here"; a SIGKILL
 * stops the CPU between instructions, and stores already made reach the
 * next holder through the robust futex's atomic hand-over.
 */
#include "autoconf.h"
#include "presence.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Atomics shared between processes must not fall back to libatomic's
 * process-private locks. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "presence needs lock-free 64-bit atomics");

#define PRESENCE_MAGIC 0x50524553u /* "PRES" */
#define NAME_SIZE (PRESENCE_NAME_MAX + 1)
#define NO_BUCKET SIZE_MAX

enum { OP_NONE = 0, OP_REMOVE = 1 };

struct meta {
	uint64_t conn_id;
	uint32_t gen;
	uint32_t hash; /* low 32 bits of the name's SipHash */
	int32_t slot;
	uint32_t caps; /* what the holder's client understands (presence_set_caps) */
};

struct bucket {
	uint32_t idx1; /* entry index + 1; 0 = empty */
	uint32_t hash;
};

struct header {
	uint32_t magic;
	uint32_t capacity;
	uint32_t nbuckets; /* power of two */
	/* the hash key, drawn once by the master before any fork: every process
	 * mapping the table must hash a name the same way */
	unsigned char key[crypto_shorthash_KEYBYTES];
	pthread_mutex_t lock;
	_Atomic uint64_t version;
	_Atomic uint64_t repairs;
	_Atomic uint32_t n; /* names held; written under the lock only */
	/* log of the removal in progress (see the top of the file) */
	uint32_t op;
	uint32_t op_index;
	uint32_t op_n;
	int32_t op_slot; /* release_slot in progress, or -1 */
};

/* This process's view; copied into children by fork. */
struct view {
	struct header *h;
	struct presence_name *names;
	struct meta *meta;
	struct bucket *buckets;
	size_t mask;
	size_t map_len;
};

static struct view tab;

void (*presence_step_hook)(enum presence_step step);

#define STEP() atomic_signal_fence(memory_order_seq_cst)

static inline void step(enum presence_step s)
{
	if (presence_step_hook)
		presence_step_hook(s);
}

/* ---- the name hash ---- */

/* libsodium's crypto_shorthash is SipHash-2-4: a keyed hash, so clients
 * cannot choose names that collide. No allocation, no lock, no state: fine
 * under the table's lock and in every process that maps the table. */
static uint32_t name_hash(const unsigned char key[crypto_shorthash_KEYBYTES], const char *name, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	crypto_shorthash(out, (const unsigned char *)name, len, key);
	uint32_t h = 0;
	for (int i = 3; i >= 0; i--)
		h = (h << 8) | out[i]; /* the low 32 bits of the little-endian 64-bit hash */
	return h;
}

/* ---- keys ---- */

/* A name as the table stores it: zero-padded, with its hash. Built before
 * the lock is taken, so hashing is not part of the hold time. */
struct key {
	struct presence_name k;
	uint32_t hash;
};

static int key_make(struct key *key, const char *name)
{
	if (!name || !tab.h)
		return RT_ERR;
	size_t len = strnlen(name, NAME_SIZE);
	if (len == 0 || len > PRESENCE_NAME_MAX)
		return RT_ERR;
	memset(&key->k, 0, sizeof key->k);
	memcpy(key->k.name, name, len);
	key->hash = name_hash(tab.h->key, name, len);
	return RT_OK;
}

static bool slot_ok(int slot)
{
	return slot >= 0 && slot < RT_MAX_SLOTS;
}

/* ---- the index (lock held) ---- */

static size_t find_locked(const struct presence_name *k, uint32_t hash)
{
	size_t b = hash & tab.mask;
	for (size_t probes = 0; probes <= tab.mask; probes++, b = (b + 1) & tab.mask) {
		uint32_t idx1 = tab.buckets[b].idx1;
		if (idx1 == 0)
			return NO_BUCKET;
		if (tab.buckets[b].hash == hash && memcmp(tab.names[idx1 - 1].name, k->name, NAME_SIZE) == 0)
			return b;
	}
	return NO_BUCKET;
}

/* The bucket that points at entry idx (which has the given hash). */
static size_t bucket_of_locked(uint32_t idx, uint32_t hash)
{
	size_t b = hash & tab.mask;
	for (size_t probes = 0; probes <= tab.mask; probes++, b = (b + 1) & tab.mask) {
		uint32_t idx1 = tab.buckets[b].idx1;
		if (idx1 == 0)
			return NO_BUCKET;
		if (idx1 == idx + 1)
			return b;
	}
	return NO_BUCKET;
}

static void index_add_locked(uint32_t idx, uint32_t hash)
{
	size_t b = hash & tab.mask;
	rt_assert(atomic_load_explicit(&tab.h->n, memory_order_relaxed) <= (tab.mask + 1) / 2);
	while (tab.buckets[b].idx1 != 0) /* load <= 1/2: there is an empty one */
		b = (b + 1) & tab.mask;
	tab.buckets[b].hash = hash;
	tab.buckets[b].idx1 = idx + 1;
}

/* Backward-shift deletion: walk the cluster after the hole and pull back
 * every entry whose home bucket does not lie between the hole and itself. */
static void index_remove_locked(size_t hole)
{
	size_t j = hole;
	for (;;) {
		j = (j + 1) & tab.mask;
		if (tab.buckets[j].idx1 == 0)
			break;
		size_t home = tab.buckets[j].hash & tab.mask;
		if (((j - home) & tab.mask) >= ((j - hole) & tab.mask)) {
			tab.buckets[hole] = tab.buckets[j];
			hole = j;
		}
	}
	tab.buckets[hole].idx1 = 0;
	tab.buckets[hole].hash = 0;
}

/* ---- changes to the dense arrays (lock held; see the top of the file) ---- */

static uint32_t count_locked(void)
{
	return atomic_load_explicit(&tab.h->n, memory_order_relaxed);
}

static void set_count_locked(uint32_t n)
{
	STEP();
	atomic_store_explicit(&tab.h->n, n, memory_order_release);
	STEP();
}

static uint32_t insert_locked(const struct key *key, int slot, uint32_t gen, uint64_t conn_id, uint32_t caps)
{
	uint32_t n = count_locked();
	rt_assert(n < tab.h->capacity && slot_ok(slot)); /* the caller checked for PRESENCE_FULL */
	rt_assert(tab.h->op == OP_NONE);
	tab.names[n] = key->k;
	tab.meta[n] = (struct meta){ .conn_id = conn_id, .gen = gen, .hash = key->hash, .slot = slot, .caps = caps };
	step(PRESENCE_STEP_INSERT_WRITTEN);
	set_count_locked(n + 1); /* the commit */
	step(PRESENCE_STEP_INSERT_COUNTED);
	index_add_locked(n, key->hash);
	return n;
}

/* Removes entry idx. b is its bucket, or NO_BUCKET when the index is not
 * being kept (the repair rebuilds it afterwards). */
static void remove_locked(uint32_t idx, size_t b)
{
	struct header *h = tab.h;
	uint32_t n = count_locked();
	uint32_t last = n - 1;

	rt_assert(idx < n);
	rt_assert(h->op == OP_NONE); /* the log holds one removal at a time */
	rt_assert(b == NO_BUCKET || tab.buckets[b].idx1 == idx + 1);
	h->op_index = idx;
	h->op_n = n;
	STEP();
	h->op = OP_REMOVE;
	STEP();
	step(PRESENCE_STEP_DELETE_LOGGED);
	if (b != NO_BUCKET) {
		index_remove_locked(b);
		if (idx != last) {
			size_t lb = bucket_of_locked(last, tab.meta[last].hash);
			if (lb != NO_BUCKET)
				tab.buckets[lb].idx1 = idx + 1;
		}
		step(PRESENCE_STEP_DELETE_UNINDEXED);
	}
	if (idx != last) {
		tab.names[idx] = tab.names[last];
		STEP();
		step(PRESENCE_STEP_DELETE_HALF_MOVED);
		tab.meta[idx] = tab.meta[last];
	}
	step(PRESENCE_STEP_DELETE_MOVED);
	set_count_locked(last);
	h->op = OP_NONE;
	STEP();
}

static void bump_version_locked(void)
{
	atomic_fetch_add_explicit(&tab.h->version, 1, memory_order_release);
}

/* ---- repair after a dead holder ---- */

static bool entry_ok_locked(uint32_t i)
{
	const char *s = tab.names[i].name;
	size_t len = strnlen(s, NAME_SIZE);
	if (len == 0 || len > PRESENCE_NAME_MAX || !slot_ok(tab.meta[i].slot))
		return false;
	for (size_t j = len; j < NAME_SIZE; j++)
		if (s[j] != '\0')
			return false;
	return true;
}

static void rebuild_index_locked(void)
{
	memset(tab.buckets, 0, (tab.mask + 1) * sizeof *tab.buckets);
	STEP();
	uint32_t i = 0;
	while (i < count_locked()) {
		if (entry_ok_locked(i)) {
			const struct presence_name *k = &tab.names[i];
			uint32_t hash = name_hash(tab.h->key, k->name, strlen(k->name));
			if (find_locked(k, hash) == NO_BUCKET) {
				tab.meta[i].hash = hash;
				index_add_locked(i, hash);
				i++;
				continue;
			}
		}
		remove_locked(i, NO_BUCKET); /* malformed or duplicate; recheck i */
	}
}

static void repair_locked(void)
{
	struct header *h = tab.h;

	if (count_locked() > h->capacity) /* only a stray write could do this */
		set_count_locked(h->capacity);
	if (h->op == OP_REMOVE) {
		uint32_t n = count_locked();
		if (n == h->op_n && n > 0 && h->op_index < n) {
			uint32_t last = n - 1;
			if (h->op_index != last) {
				tab.names[h->op_index] = tab.names[last];
				tab.meta[h->op_index] = tab.meta[last];
			}
			set_count_locked(last);
		}
		h->op = OP_NONE;
		STEP();
	}
	if (h->op_slot >= 0) {
		for (uint32_t i = count_locked(); i-- > 0;)
			if (tab.meta[i].slot == h->op_slot)
				remove_locked(i, NO_BUCKET);
	}
	rebuild_index_locked();
	h->op_slot = -1;
	STEP();
	bump_version_locked();
	atomic_fetch_add_explicit(&h->repairs, 1, memory_order_relaxed);
}

/* ---- locking ---- */

static int lock_table(void)
{
	int rc = pthread_mutex_lock(&tab.h->lock);
	if (rc == EOWNERDEAD) {
		repair_locked();
		rc = pthread_mutex_consistent(&tab.h->lock);
		if (rc != 0) {
			/* Cannot happen for a robust mutex in this state; unlocking
			 * leaves it ENOTRECOVERABLE: every call fails, none hangs. */
			pthread_mutex_unlock(&tab.h->lock);
			return RT_ERR;
		}
	}
	if (rc != 0)
		return RT_ERR; /* ENOTRECOVERABLE or a corrupted mutex */
	step(PRESENCE_STEP_LOCKED);
	return RT_OK;
}

static void unlock_table(void)
{
	/* every change is complete (or repaired) whenever the lock is free */
	rt_assert(tab.h->op == OP_NONE && tab.h->op_slot == -1);
	rt_assert(count_locked() <= tab.h->capacity);
	step(PRESENCE_STEP_UNLOCK);
	pthread_mutex_unlock(&tab.h->lock);
}

/* ---- set-up ---- */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int presence_create(size_t capacity, struct rt_err *err)
{
	pthread_mutexattr_t attr;
	bool attr_init = false;
	void *p = MAP_FAILED;
	size_t len = 0;
	int rc;

	if (tab.h) {
		rt_err_set(err, "presence table already created in this process");
		return RT_ERR;
	}
	/* idempotent; randombytes_buf wants it first */
	if (sodium_init() < 0) {
		rt_err_set(err, "sodium_init() failed");
		return RT_ERR;
	}
	if (capacity == 0)
		capacity = PRESENCE_DEFAULT_CAPACITY;
	if (capacity > PRESENCE_MAX_CAPACITY) {
		rt_err_set(err, "presence capacity %zu is over the maximum %u", capacity, PRESENCE_MAX_CAPACITY);
		return RT_ERR;
	}
	size_t nb = 2;
	while (nb < 2 * capacity)
		nb *= 2;

	size_t off_names = align_up(sizeof(struct header), 64);
	size_t off_meta = align_up(off_names + capacity * sizeof(struct presence_name), 64);
	size_t off_buckets = align_up(off_meta + capacity * sizeof(struct meta), 64);
	len = off_buckets + nb * sizeof(struct bucket);

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rt_err_set(err, "mmap(%zu bytes, MAP_SHARED) for the presence table failed: %s", len, strerror(errno));
		goto fail;
	}
	/* The mapping is zero-filled: all buckets empty, n = 0, op = OP_NONE. */
	struct header *h = p;
	h->magic = PRESENCE_MAGIC;
	h->capacity = (uint32_t)capacity;
	h->nbuckets = (uint32_t)nb;
	h->op_slot = -1;
	atomic_store(&h->version, 1);
	randombytes_buf(h->key, sizeof h->key);

	if ((rc = pthread_mutexattr_init(&attr)) != 0) {
		rt_err_set(err, "pthread_mutexattr_init failed: %s", strerror(rc));
		goto fail;
	}
	attr_init = true;
	if ((rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) != 0 ||
	    (rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) != 0) {
		rt_err_set(err, "process-shared robust mutex attributes failed: %s", strerror(rc));
		goto fail;
	}
	if ((rc = pthread_mutex_init(&h->lock, &attr)) != 0) {
		rt_err_set(err, "pthread_mutex_init (presence) failed: %s", strerror(rc));
		goto fail;
	}
	pthread_mutexattr_destroy(&attr);

	tab.h = h;
	tab.names = (struct presence_name *)((char *)p + off_names);
	tab.meta = (struct meta *)((char *)p + off_meta);
	tab.buckets = (struct bucket *)((char *)p + off_buckets);
	tab.mask = nb - 1;
	tab.map_len = len;
	return RT_OK;

fail:
	if (attr_init)
		pthread_mutexattr_destroy(&attr);
	if (p != MAP_FAILED)
		munmap(p, len);
	return RT_ERR;
}

void presence_destroy(void)
{
	if (!tab.h)
		return;
	munmap(tab.h, tab.map_len);
	memset(&tab, 0, sizeof tab);
}

/* ---- the operations ---- */

static bool held_by(uint32_t idx, int slot, uint32_t gen, uint64_t conn_id)
{
	const struct meta *m = &tab.meta[idx];
	return m->slot == slot && m->gen == gen && m->conn_id == conn_id;
}

int presence_claim(const char *name, int slot, uint32_t gen, uint64_t conn_id, const char *prev)
{
	return presence_claim_caps(name, slot, gen, conn_id, prev, 0);
}

int presence_claim_caps(const char *name, int slot, uint32_t gen, uint64_t conn_id, const char *prev, uint32_t caps)
{
	struct key key, pkey;
	bool has_prev = false;
	int rc;

	if (key_make(&key, name) != RT_OK || !slot_ok(slot))
		return RT_ERR;
	if (prev && key_make(&pkey, prev) == RT_OK && memcmp(&pkey.k, &key.k, sizeof key.k) != 0)
		has_prev = true;
	if (lock_table() != RT_OK)
		return RT_ERR;

	size_t pb = NO_BUCKET;
	if (has_prev) {
		pb = find_locked(&pkey.k, pkey.hash);
		if (pb != NO_BUCKET && !held_by(tab.buckets[pb].idx1 - 1, slot, gen, conn_id))
			pb = NO_BUCKET; /* someone else's now: leave it */
	}
	size_t b = find_locked(&key.k, key.hash);
	if (b != NO_BUCKET) {
		if (!held_by(tab.buckets[b].idx1 - 1, slot, gen, conn_id)) {
			rc = PRESENCE_TAKEN;
			goto out;
		}
		rc = RT_OK; /* already ours: only drop prev, if any */
		tab.meta[tab.buckets[b].idx1 - 1].caps = caps;
		if (pb != NO_BUCKET) {
			remove_locked(tab.buckets[pb].idx1 - 1, pb);
			bump_version_locked();
		}
		goto out;
	}
	/* Free. Drop prev first, so a rename reuses its place when full. A
	 * holder killed between the two steps is this connection's worker,
	 * whose slot the master releases. */
	rt_assert(pb == NO_BUCKET || held_by(tab.buckets[pb].idx1 - 1, slot, gen, conn_id));
	if (pb != NO_BUCKET)
		remove_locked(tab.buckets[pb].idx1 - 1, pb);
	else if (count_locked() >= tab.h->capacity) {
		rc = PRESENCE_FULL;
		goto out;
	}
	insert_locked(&key, slot, gen, conn_id, caps);
	bump_version_locked();
	rc = RT_OK;
out:
	unlock_table();
	return rc;
}

int presence_release(const char *name, int slot, uint32_t gen, uint64_t conn_id)
{
	struct key key;
	int rc = RT_ERR;

	if (key_make(&key, name) != RT_OK || !slot_ok(slot))
		return RT_ERR;
	if (lock_table() != RT_OK)
		return RT_ERR;
	size_t b = find_locked(&key.k, key.hash);
	if (b != NO_BUCKET && held_by(tab.buckets[b].idx1 - 1, slot, gen, conn_id)) {
		remove_locked(tab.buckets[b].idx1 - 1, b);
		bump_version_locked();
		rc = RT_OK;
	}
	unlock_table();
	return rc;
}

int presence_release_slot(int slot)
{
	int released = 0;

	if (!tab.h || !slot_ok(slot))
		return RT_ERR;
	if (lock_table() != RT_OK)
		return RT_ERR;
	tab.h->op_slot = slot;
	STEP();
	/* Downwards: the entry moved into a hole comes from the end, which has
	 * been looked at already. */
	for (uint32_t i = count_locked(); i-- > 0;) {
		if (tab.meta[i].slot != slot)
			continue;
		size_t b = bucket_of_locked(i, tab.meta[i].hash);
		remove_locked(i, b);
		if (b == NO_BUCKET) /* index lost this entry: cannot happen; rebuild */
			rebuild_index_locked();
		released++;
		step(PRESENCE_STEP_SLOT_ONE_DONE);
	}
	tab.h->op_slot = -1;
	STEP();
	if (released > 0)
		bump_version_locked();
	unlock_table();
	return released;
}

int presence_set_caps(const char *name, int slot, uint32_t gen, uint64_t conn_id, uint32_t caps)
{
	struct key key;
	int rc = RT_ERR;

	if (key_make(&key, name) != RT_OK || !slot_ok(slot))
		return RT_ERR;
	if (lock_table() != RT_OK)
		return RT_ERR;
	size_t b = find_locked(&key.k, key.hash);
	if (b != NO_BUCKET && held_by(tab.buckets[b].idx1 - 1, slot, gen, conn_id)) {
		tab.meta[tab.buckets[b].idx1 - 1].caps = caps;
		rc = RT_OK;
	}
	unlock_table();
	return rc;
}

int presence_lookup(const char *name, int *slot, uint32_t *gen, uint64_t *conn_id)
{
	return presence_lookup_caps(name, slot, gen, conn_id, NULL);
}

int presence_lookup_caps(const char *name, int *slot, uint32_t *gen, uint64_t *conn_id, uint32_t *caps)
{
	struct key key;
	int rc = RT_ERR;

	if (caps)
		*caps = 0;
	if (key_make(&key, name) != RT_OK)
		return RT_ERR;
	if (lock_table() != RT_OK)
		return RT_ERR;
	size_t b = find_locked(&key.k, key.hash);
	if (b != NO_BUCKET) {
		struct meta m = tab.meta[tab.buckets[b].idx1 - 1];
		if (slot)
			*slot = m.slot;
		if (gen)
			*gen = m.gen;
		if (conn_id)
			*conn_id = m.conn_id;
		if (caps)
			*caps = m.caps;
		rc = RT_OK;
	}
	unlock_table();
	return rc;
}

uint64_t presence_version(void)
{
	return tab.h ? atomic_load_explicit(&tab.h->version, memory_order_acquire) : 0;
}

size_t presence_count(void)
{
	return tab.h ? atomic_load_explicit(&tab.h->n, memory_order_relaxed) : 0;
}

size_t presence_capacity(void)
{
	return tab.h ? tab.h->capacity : 0;
}

uint64_t presence_repairs(void)
{
	return tab.h ? atomic_load_explicit(&tab.h->repairs, memory_order_relaxed) : 0;
}

/* ---- snapshot and its sort ---- */

/* Introsort on fixed-size names, in place, no allocation: quicksort with a
 * median of three, insertion sort for short runs, and heapsort once the
 * depth shows a bad pivot sequence (clients choose names and their order,
 * so a quadratic case must not be reachable). */

/* Bytewise, like strcmp: the zero padding makes a fixed-size compare agree
 * with it, and byte 32 is always the NUL, so four big-endian words decide. */
static inline int name_cmp(const struct presence_name *a, const struct presence_name *b)
{
	for (size_t off = 0; off < PRESENCE_NAME_MAX; off += 8) {
		uint64_t x, y;
		memcpy(&x, a->name + off, sizeof x);
		memcpy(&y, b->name + off, sizeof y);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
#endif
			return x < y ? -1 : 1;
		}
	}
	return 0;
}

static inline void name_swap(struct presence_name *a, struct presence_name *b)
{
	struct presence_name t = *a;
	*a = *b;
	*b = t;
}

static void insertion_sort(struct presence_name *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct presence_name x = v[i];
		size_t j = i;
		while (j > 0 && name_cmp(&v[j - 1], &x) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

static void sift_down(struct presence_name *v, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && name_cmp(&v[child], &v[child + 1]) < 0)
			child++;
		if (name_cmp(&v[root], &v[child]) >= 0)
			return;
		name_swap(&v[root], &v[child]);
		root = child;
	}
}

static void heap_sort(struct presence_name *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t end = n; end-- > 1;) {
		name_swap(&v[0], &v[end]);
		sift_down(v, 0, end);
	}
}

static void intro_sort(struct presence_name *v, size_t n, int depth)
{
	while (n > 16) {
		if (depth-- == 0) {
			heap_sort(v, n);
			return;
		}
		size_t mid = n / 2;
		if (name_cmp(&v[mid], &v[0]) < 0)
			name_swap(&v[mid], &v[0]);
		if (name_cmp(&v[n - 1], &v[0]) < 0)
			name_swap(&v[n - 1], &v[0]);
		if (name_cmp(&v[n - 1], &v[mid]) < 0)
			name_swap(&v[n - 1], &v[mid]);
		/* v[0] <= v[mid] <= v[n-1]: pivot to n-2, partition 1..n-2 */
		name_swap(&v[mid], &v[n - 2]);
		const struct presence_name *pivot = &v[n - 2];
		size_t i = 0, j = n - 2;
		for (;;) {
			while (name_cmp(&v[++i], pivot) < 0)
				;
			while (name_cmp(&v[--j], pivot) > 0)
				;
			if (i >= j)
				break;
			name_swap(&v[i], &v[j]);
		}
		name_swap(&v[i], &v[n - 2]);
		/* Recurse into the smaller side, loop on the larger: stack depth
		 * stays logarithmic. */
		if (i < n - i - 1) {
			intro_sort(v, i, depth);
			v += i + 1;
			n -= i + 1;
		} else {
			intro_sort(v + i + 1, n - i - 1, depth);
			n = i;
		}
	}
	insertion_sort(v, n);
}

static void sort_names(struct presence_name *v, size_t n)
{
	int depth = 0;
	for (size_t x = n; x > 1; x >>= 1)
		depth += 2;
	intro_sort(v, n, depth);
}

int presence_snapshot(struct presence_name *out, size_t max, size_t *count, uint64_t *version)
{
	if (!tab.h || !count)
		return RT_ERR;
	/* Fault the caller's pages in now (a write per page), so a fresh
	 * buffer does not take its page faults inside the lock. */
	size_t want = presence_count() + 64;
	if (want > max)
		want = max;
	for (size_t off = 0; off < want * sizeof *out; off += 4096)
		((volatile char *)out)[off] = 0;
	if (lock_table() != RT_OK)
		return RT_ERR;
	uint32_t n = count_locked();
	uint64_t v = atomic_load_explicit(&tab.h->version, memory_order_relaxed);
	if (n > 0 && n <= max)
		memcpy(out, tab.names, (size_t)n * sizeof *out);
	unlock_table();

	*count = n;
	if (version)
		*version = v;
	if (n > max)
		return RT_AGAIN;
	sort_names(out, n);
	return RT_OK;
}

/* ---- verification ---- */

int presence_check(struct rt_err *err)
{
	int rc = RT_ERR;

	if (!tab.h) {
		rt_err_set(err, "no presence table");
		return RT_ERR;
	}
	if (lock_table() != RT_OK) {
		rt_err_set(err, "presence lock failed");
		return RT_ERR;
	}
	struct header *h = tab.h;
	uint32_t n = count_locked();
	size_t indexed = 0;

	if (h->magic != PRESENCE_MAGIC) {
		rt_err_set(err, "bad magic %#x", h->magic);
		goto out;
	}
	if (n > h->capacity) {
		rt_err_set(err, "count %u over capacity %u", n, h->capacity);
		goto out;
	}
	if (h->op != OP_NONE || h->op_slot != -1) {
		rt_err_set(err, "interrupted change left over (op %u, op_slot %d)", h->op, h->op_slot);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!entry_ok_locked(i)) {
			rt_err_set(err, "entry %u malformed", i);
			goto out;
		}
		const struct presence_name *k = &tab.names[i];
		uint32_t hash = name_hash(h->key, k->name, strlen(k->name));
		if (tab.meta[i].hash != hash) {
			rt_err_set(err, "entry %u (%s) has a stale hash", i, k->name);
			goto out;
		}
		size_t b = find_locked(k, hash);
		if (b == NO_BUCKET || tab.buckets[b].idx1 != i + 1) {
			rt_err_set(err, "entry %u (%s) not found through the index, or duplicated", i, k->name);
			goto out;
		}
	}
	for (size_t b = 0; b <= tab.mask; b++) {
		uint32_t idx1 = tab.buckets[b].idx1;
		if (idx1 == 0)
			continue;
		indexed++;
		if (idx1 > n) {
			rt_err_set(err, "bucket %zu points past the end (%u > %u)", b, idx1, n);
			goto out;
		}
		if (tab.buckets[b].hash != tab.meta[idx1 - 1].hash) {
			rt_err_set(err, "bucket %zu hash disagrees with entry %u", b, idx1 - 1);
			goto out;
		}
	}
	if (indexed != n) {
		rt_err_set(err, "index holds %zu entries, table %u", indexed, n);
		goto out;
	}
	rc = RT_OK;
out:
	unlock_table();
	return rc;
}
