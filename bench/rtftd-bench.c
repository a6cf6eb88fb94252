/*
 * rtftd-bench.c: WebSocket load generator for rtftd (RTFT protocol v1).
 *
 * Scenarios (see usage()):
 *   join   N clients connect and register; the time until every one of them
 *          holds the list the server sends once all have joined
 *   relay  pairs exchange WEBRTC_ICE_CANDIDATE messages, W in flight per pair
 *   idle   N connections (every K-th registers) held open; "idle_ready 1"
 *          is printed once all are open, for a driver that reads memory
 *   file   one sender relays a seeded pseudo-random file to one receiver as
 *          v1 clients do (FILE_METADATA, FILE_CHUNK with a JSON array,
 *          FILE_COMPLETE) or by the binary relay extension; SHA-256 checked
 *
 * Output is one "name value" line per figure on stdout; diagnostics go to
 * stderr; the exit status is non-zero when the scenario failed.  Traffic
 * only to loopback (127.0.0.0/8 or ::1).  One process holds at most about
 * RLIMIT_NOFILE connections: run several (with --sources) for more.
 *
 * Build:
 *   gcc -O2 -Wall -Wextra -o bench/rtftd-bench bench/rtftd-bench.c \
 *       $(pkg-config --cflags --libs libevent) -lcrypto -lm
 *
 * Threads: --threads T runs T event loops (one pthread each, own
 * event_base); client i belongs to thread i % T.  Threads share only
 * atomic counters and a phase flag that each loop polls with a timer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* connects + handshakes in progress at once, over all threads, unless
 * --max-pending (rtftd listens with a backlog of 1024 per worker) */
#define MAX_PENDING_CONNECTS 2000
#define SAMPLE_CAP_TOTAL 1000000
#define MAX_FRAME ((uint64_t)1 << 31)
#define PREGEN_MAX ((uint64_t)1 << 30) /* file: make files up to 1 GiB before timing */
#define FD_RESERVE 32 /* descriptors besides the connections: stdio, epoll, ... */

enum scenario { SC_JOIN, SC_RELAY, SC_IDLE, SC_FILE };
enum cstate { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSING, CS_CLOSED };
enum phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_STOP };
enum role { RO_PLAIN, RO_RELAY_A, RO_RELAY_B, RO_FILE_SEND, RO_FILE_RECV };

/* ---------- options ---------- */
static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hosthdr[80];
	enum scenario sc;
	int clients, pairs, window, duration, threads;
	int duration_set;
	int hold, hold_set;  /* idle: seconds to hold once ready (0: until SIGINT/SIGTERM) */
	int sources;	     /* bind to 127.0.0.2 .. 127.0.0.(sources+1); 0: no bind */
	int list_max;	     /* join: the server's user_list_max; 0: lists are never capped */
	char prefix[24];     /* join/idle: names are prefix + zero-padded index */
	int prefix_set;
	int binary;	     /* file: binary relay instead of JSON FILE_CHUNKs */
	int size_mib, chunk_kib, outbuf_kib, inflight_mib;
	uint64_t seed;
	int progress;	     /* one line a second on stderr */
	int register_every;  /* idle: client i registers when i % register_every == 0 (0: none) */
	int max_pending;     /* connects + handshakes in progress at once */
} opt = { .clients = 100, .pairs = 10, .window = 16, .duration = 10, .threads = 1, .list_max = 1000,
	  .size_mib = 64, .chunk_kib = 256, .outbuf_kib = 4096, .inflight_mib = 8, .seed = 1,
	  .register_every = 2, .max_pending = MAX_PENDING_CONNECTS };

/* ---------- shared state (atomics) ---------- */
static atomic_int g_phase = PH_SETUP;
static atomic_int g_open;	 /* connections with completed handshake, still open */
static atomic_int g_registered;	 /* clients that received USERNAME_SET */
static atomic_int g_failed;	 /* connect/handshake failures */
static atomic_int g_closed;	 /* connections closed after being open */
static atomic_int g_done_full;	 /* join: clients holding the complete list */
static atomic_int g_done_capped; /* join: clients holding the capped list (first list_max names) */
static atomic_int g_list_longest; /* join: most names seen in one list */
static atomic_long g_lists;	 /* USER_LIST messages received */
static atomic_long g_errors;	 /* ERROR / USERNAME_ERROR received */
static atomic_long g_pings;	 /* pings answered */
static atomic_long g_name_retries; /* SET_USERNAME sent again after "Username already taken" */
static atomic_long g_close_frames; /* close frames received from the server */
static atomic_long g_proto_errors; /* frames that broke RFC 6455 */
static atomic_llong g_join_done_ns; /* join: time the last client became current */
static atomic_llong g_all_registered_ns; /* time the last client got USERNAME_SET */
static int64_t g_t_meas_start, g_t_meas_end; /* relay measurement window (ns) */
static volatile sig_atomic_t g_signalled;
static int g_namew; /* digits of the index in join/idle names */
static int want_registered; /* clients that send SET_USERNAME */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------- per-thread ---------- */
struct worker;

struct client {
	struct worker *w;
	struct bufferevent *bev;
	int idx;
	enum cstate st;
	enum role role;
	char name[40];
	char peer[40];
	char key[32];		/* Sec-WebSocket-Key (base64 of 16 bytes) */
	int want_register;
	int registered;
	int cur_full;		/* join: counted in g_done_full */
	int cur_capped;		/* join: counted in g_done_capped */
	int inflight;		/* relay: a side */
	int caps_ok;		/* file: CAPABILITIES confirmed */
	struct evbuffer *frag;	/* continuation assembly */
	int frag_op;
	int worker_slot;	/* X-RTFT-Worker of the 101 (rtftd), -1 if none */
};

struct worker {
	int id;
	pthread_t th;
	struct event_base *base;
	struct event *tick;
	struct client **cl;	/* clients of this worker */
	int ncl;
	int next_connect;	/* next index in cl to connect */
	int pending;		/* connects + handshakes in progress */
	int pending_cap;
	int last_phase;
	uint64_t rng;
	/* join: stamps for the duplicate check of a list */
	uint32_t *stamp;
	uint32_t stamp_gen;
	/* relay stats */
	int64_t *samples;
	size_t nsamples, sample_cap;
	uint64_t seen;		/* samples offered */
	int64_t max_lat;
	uint64_t delivered;	/* a->b messages received inside window */
	uint64_t sent;
};

/* ---------- file scenario state ---------- */
static struct {
	uint64_t size;		/* bytes in the file */
	size_t chunk;		/* bytes per chunk */
	size_t nchunks;
	unsigned char tid[16];	/* binary relay transfer id */
	char fname[64];
	size_t outbuf_limit;	/* write the next chunk only below this much output */
	uint64_t inflight_limit; /* chunk message bytes sent but not yet received */
	struct client *sender, *receiver;
	/* sender thread only */
	int started, complete_sent;
	size_t sent_chunks;
	uint64_t *wire_end;	/* wire_end[k]: message bytes of chunks 0..k-1 */
	uint64_t rng;
	EVP_MD_CTX *tx_sha;
	unsigned char tx_digest[32];
	unsigned char *chunkbuf;
	unsigned char *filebuf;	/* the whole file, made before the transfer (up to PREGEN_MAX) */
	unsigned char *msgbuf;
	size_t msgcap;
	/* receiver thread only */
	int meta_seen, complete_seen;
	uint64_t rx_bytes;
	EVP_MD_CTX *rx_sha;
	unsigned char rx_digest[32];
	unsigned char *decbuf;
	size_t deccap;
	/* shared */
	atomic_long rx_chunks;
	atomic_llong t_first_ns, t_last_ns;
	atomic_int tx_done, rx_done, failed, caps;
	atomic_llong max_message; /* from the server's CAPABILITIES */
} F;

static uint64_t xrand(struct worker *w)
{
	/* xorshift64* */
	uint64_t x = w->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void die(const char *m)
{
	fprintf(stderr, "rtftd-bench: %s\n", m);
	exit(2);
}

static void file_fail(const char *fmt, ...)
{
	if (atomic_fetch_add(&F.failed, 1) > 0)
		return; /* the first reason is the one that counts */
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "rtftd-bench: file transfer failed: %s\n", buf);
}

/* ---------- framing ---------- */

/* o = p XOR mask, the mask starting at byte `phase` of m. */
static void mask_copy(unsigned char *o, const unsigned char *p, size_t n, const unsigned char m[4], size_t phase)
{
	unsigned char mm[8];
	for (int i = 0; i < 8; i++)
		mm[i] = m[(phase + (size_t)i) & 3];
	uint64_t k;
	memcpy(&k, mm, 8);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, p + i, 8);
		x ^= k;
		memcpy(o + i, &x, 8);
	}
	for (; i < n; i++)
		o[i] = p[i] ^ mm[i & 7];
}

/* One masked frame whose payload is a then b, written straight into the
 * output buffer. */
static void ws_send2(struct client *c, int opcode, const void *a, size_t al, const void *b, size_t bl)
{
	if (!c->bev || c->st != CS_OPEN)
		return;
	size_t len = al + bl;
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = 0x80 | (opcode & 0x0f);
	if (len < 126) {
		hdr[h++] = 0x80 | (unsigned char)len;
	} else if (len <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	uint32_t mk = (uint32_t)xrand(c->w);
	unsigned char m[4] = { (unsigned char)(mk >> 24), (unsigned char)(mk >> 16), (unsigned char)(mk >> 8),
			       (unsigned char)mk };
	memcpy(hdr + h, m, 4);
	h += 4;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(h + len), &v, 1) < 1)
		die("out of memory");
	unsigned char *o = v.iov_base;
	memcpy(o, hdr, h);
	if (al)
		mask_copy(o + h, a, al, m, 0);
	if (bl)
		mask_copy(o + h + al, b, bl, m, al & 3);
	v.iov_len = h + len;
	evbuffer_commit_space(out, &v, 1);
}

static void ws_send(struct client *c, int opcode, const void *data, size_t len)
{
	ws_send2(c, opcode, data, len, NULL, 0);
}

static void ws_send_text(struct client *c, const char *s, size_t len)
{
	ws_send(c, 0x1, s, len);
}

/* ---------- lifecycle ---------- */

static void connect_more(struct worker *w);

static void client_close(struct client *c)
{
	struct worker *w = c->w;
	if (c->st == CS_CLOSED || c->st == CS_IDLE)
		return;
	if (c->st == CS_CONNECTING || c->st == CS_HANDSHAKE) {
		w->pending--;
		atomic_fetch_add(&g_failed, 1);
	} else {
		atomic_fetch_sub(&g_open, 1);
		atomic_fetch_add(&g_closed, 1);
		if (c->role == RO_FILE_SEND || c->role == RO_FILE_RECV) {
			if (!atomic_load(&F.rx_done) && atomic_load(&g_phase) != PH_STOP)
				file_fail("%s: the connection was closed during the transfer", c->name);
		}
	}
	if (c->cur_full) {
		c->cur_full = 0;
		atomic_fetch_sub(&g_done_full, 1);
	}
	if (c->cur_capped) {
		c->cur_capped = 0;
		atomic_fetch_sub(&g_done_capped, 1);
	}
	c->st = CS_CLOSED;
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->frag) {
		evbuffer_free(c->frag);
		c->frag = NULL;
	}
	connect_more(w);
}

/* Sends a close frame with code, reads nothing more, and closes the socket
 * once the frame is written (freeing the bufferevent at once would drop
 * it). */
static void start_close(struct client *c, int code)
{
	if (c->st != CS_OPEN) {
		client_close(c);
		return;
	}
	unsigned char b[2] = { (unsigned char)(code >> 8), (unsigned char)code };
	ws_send(c, 0x8, b, code ? 2 : 0);
	c->st = CS_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_close(c);
}

/* The peer broke the framing rules: say so (a few times) and close with
 * 1002. */
static int proto_fail(struct client *c, const char *why)
{
	if (atomic_fetch_add(&g_proto_errors, 1) < 5)
		fprintf(stderr, "rtftd-bench: %s: protocol error from the server: %s\n", c->name, why);
	start_close(c, 1002);
	return -1;
}

/* ---------- JSON scraping (just enough) ---------- */

/* Finds "key" followed by optional spaces and ':' and spaces; returns pointer
 * to the value start, or NULL. */
static const char *json_find(const char *s, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *end = s + len;
	const char *p = s;
	while (p < end) {
		const char *q = memmem(p, (size_t)(end - p), key, kl);
		if (!q)
			return NULL;
		const char *r = q + kl;
		if (q > s && q[-1] == '"' && r < end && *r == '"') {
			r++;
			while (r < end && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r'))
				r++;
			if (r < end && *r == ':') {
				r++;
				while (r < end && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r'))
					r++;
				return r < end ? r : NULL;
			}
		}
		p = q + 1;
	}
	return NULL;
}

/* Copies the string value of "type" into out; returns 0 on success. */
static int json_type(const char *s, size_t len, char *out, size_t outsz)
{
	const char *v = json_find(s, len, "type");
	if (!v || *v != '"')
		return -1;
	v++;
	const char *end = s + len;
	size_t i = 0;
	while (v < end && *v != '"' && i + 1 < outsz)
		out[i++] = *v++;
	out[i] = 0;
	return 0;
}

/* Unsigned integer value of key; -1 if absent or not a number. */
static long long json_uint(const char *s, size_t len, const char *key)
{
	const char *v = json_find(s, len, key);
	const char *end = s + len;
	if (!v || v >= end || *v < '0' || *v > '9')
		return -1;
	long long x = 0;
	while (v < end && *v >= '0' && *v <= '9' && x < (1LL << 56))
		x = x * 10 + (*v++ - '0');
	return x;
}

/* ---------- join: is a list current? ---------- */

/* What a USER_LIST / availableUsers array says, for client c. */
struct listinfo {
	int count;  /* strings in the array */
	int ours;   /* all are names of this run, none is c's own, no duplicate */
	int sorted; /* strictly increasing (byte order = index order here) */
	int maxidx; /* largest index */
};

static int parse_list(struct client *c, const char *s, size_t len, const char *key, struct listinfo *li)
{
	struct worker *w = c->w;
	const char *v = json_find(s, len, key);
	const char *end = s + len;
	memset(li, 0, sizeof *li);
	li->ours = li->sorted = 1;
	li->maxidx = -1;
	if (!v || *v != '[')
		return -1;
	if (++w->stamp_gen == 0) {
		memset(w->stamp, 0, (size_t)opt.clients * sizeof *w->stamp);
		w->stamp_gen = 1;
	}
	size_t pl = strlen(opt.prefix), wl = pl + (size_t)g_namew;
	int prev = -1;
	for (v++; v < end; v++) {
		if (*v == ']')
			break;
		if (*v != '"')
			continue;
		/* names of this run all have the same length and no quote:
		 * try that first, then look for the closing quote */
		const char *nm = v + 1, *q = nm + wl;
		int idx = -1;
		if (q < end && *q == '"' && nm[0] == opt.prefix[0] && !memcmp(nm, opt.prefix, pl)) {
			idx = 0;
			for (size_t i = pl; i < wl; i++) {
				unsigned d = (unsigned)(nm[i] - '0');
				if (d > 9) {
					idx = -1;
					break;
				}
				idx = idx * 10 + (int)d;
			}
		}
		if (idx < 0) {
			q = memchr(nm, '"', (size_t)(end - nm));
			if (!q)
				return -1;
		}
		li->count++;
		if (idx < 0 || idx >= opt.clients || idx == c->idx || w->stamp[idx] == w->stamp_gen) {
			li->ours = 0;
		} else {
			w->stamp[idx] = w->stamp_gen;
			if (idx <= prev)
				li->sorted = 0;
			prev = idx;
			if (idx > li->maxidx)
				li->maxidx = idx;
		}
		v = q;
	}
	return 0;
}

static void join_done_check(atomic_int *ctr)
{
	int d = atomic_fetch_add(ctr, 1) + 1;
	if (d == opt.clients) {
		long long zero = 0;
		atomic_compare_exchange_strong(&g_join_done_ns, &zero, (long long)now_ns());
	}
}

/* A client holds a current list when the list is what the server sends
 * once all clients have joined: every other name (a server that does not
 * cap its lists: the reference), or, when that is more than user_list_max
 * (--list-max) names, the first list_max names in byte order (rtftd caps
 * its lists that way). The capped list is recognised by its content: this
 * run's names only, strictly sorted, no duplicate, list_max of them, and
 * the largest is the list_max-th smallest name other than the client's
 * own. */
static void set_current(struct client *c, const struct listinfo *li)
{
	int n1 = opt.clients - 1;
	int longest = atomic_load_explicit(&g_list_longest, memory_order_relaxed);
	while (li->count > longest &&
	       !atomic_compare_exchange_weak_explicit(&g_list_longest, &longest, li->count, memory_order_relaxed,
						      memory_order_relaxed))
		;
	int full = c->registered && li->ours && li->count == n1;
	int capped = 0;
	if (c->registered && opt.list_max > 0 && opt.list_max < n1 && li->ours && li->sorted &&
	    li->count == opt.list_max) {
		int want_max = c->idx < opt.list_max ? opt.list_max : opt.list_max - 1;
		capped = li->maxidx == want_max;
	}
	if (full && !c->cur_full) {
		c->cur_full = 1;
		join_done_check(&g_done_full);
	} else if (!full && c->cur_full) {
		c->cur_full = 0;
		atomic_fetch_sub(&g_done_full, 1);
	}
	if (capped && !c->cur_capped) {
		c->cur_capped = 1;
		join_done_check(&g_done_capped);
	} else if (!capped && c->cur_capped) {
		c->cur_capped = 0;
		atomic_fetch_sub(&g_done_capped, 1);
	}
}

/* ---------- relay scenario ---------- */

static void relay_fill(struct client *c)
{
	if (atomic_load_explicit(&g_phase, memory_order_relaxed) != PH_RUN)
		return;
	char buf[512];
	static const char pad[] = "candidate:842163049 1 udp 1677729535 192.0.2.17 52345 typ srflx raddr "
				  "10.0.0.5 rport 52345 generation 0 ufrag abcd network-cost 999 "
				  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	while (c->inflight < opt.window && c->st == CS_OPEN) {
		int n = snprintf(buf, sizeof buf,
				 "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"%s\",\"candidate\":"
				 "{\"candidate\":\"%s\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,"
				 "\"usernameFragment\":\"%lld\"}}",
				 c->peer, pad, (long long)now_ns());
		ws_send_text(c, buf, (size_t)n);
		c->inflight++;
		c->w->sent++;
	}
}

static void record_latency(struct worker *w, int64_t lat)
{
	if (lat > w->max_lat)
		w->max_lat = lat;
	w->seen++;
	if (w->nsamples < w->sample_cap) {
		w->samples[w->nsamples++] = lat;
	} else if (w->sample_cap) {
		uint64_t j = xrand(w) % w->seen; /* reservoir sampling */
		if (j < w->sample_cap)
			w->samples[j] = lat;
	}
}

/* ---------- file scenario ---------- */

static char numtxt[256][4]; /* "0".."255" */
static unsigned char numlen[256];

/* The pseudo-random file content, 8 bytes at a time (seeded: the same
 * bytes whatever the chunk size). */
static void file_fill(unsigned char *p, size_t n)
{
	uint64_t x = F.rng;
	for (size_t i = 0; i < n; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545F4914F6CDD1DULL;
		memcpy(p + i, &v, 8); /* the buffers have 8 spare bytes */
	}
	F.rng = x;
}

static void file_setup(void)
{
	for (int i = 0; i < 256; i++)
		numlen[i] = (unsigned char)snprintf(numtxt[i], sizeof numtxt[i], "%d", i);
	F.size = (uint64_t)opt.size_mib << 20;
	F.chunk = (size_t)opt.chunk_kib << 10;
	F.nchunks = (size_t)((F.size + F.chunk - 1) / F.chunk);
	F.outbuf_limit = (size_t)opt.outbuf_kib << 10;
	F.inflight_limit = (uint64_t)opt.inflight_mib << 20;
	snprintf(F.fname, sizeof F.fname, "rtftd-bench-%llu.bin", (unsigned long long)opt.seed);
	F.rng = opt.seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	if (!F.rng)
		F.rng = 1;
	uint64_t t = opt.seed ^ 0x5254465442454E43ULL; /* "RTFTBENC" */
	for (int i = 0; i < 16; i++) {
		t = t * 6364136223846793005ULL + 1442695040888963407ULL;
		F.tid[i] = (unsigned char)(t >> 56);
	}
	F.wire_end = calloc(F.nchunks + 1, sizeof *F.wire_end);
	F.chunkbuf = malloc(F.chunk + 8);
	/* JSON: at most 4 bytes per value ("255,"), plus the envelope */
	F.msgcap = 4 * F.chunk + 512;
	F.msgbuf = malloc(F.msgcap);
	F.tx_sha = EVP_MD_CTX_new();
	F.rx_sha = EVP_MD_CTX_new();
	if (!F.wire_end || !F.chunkbuf || !F.msgbuf || !F.tx_sha || !F.rx_sha)
		die("out of memory");
	EVP_DigestInit_ex(F.tx_sha, EVP_sha256(), NULL);
	EVP_DigestInit_ex(F.rx_sha, EVP_sha256(), NULL);
	if (F.size <= PREGEN_MAX) {
		/* the content and its digest are made now, so that the transfer
		 * costs the sender only the encoding */
		F.filebuf = malloc(F.size + 8);
		if (!F.filebuf)
			die("out of memory");
		file_fill(F.filebuf, F.size);
		EVP_DigestUpdate(F.tx_sha, F.filebuf, F.size);
	}
	size_t json_max = F.msgcap;
	if (!opt.binary && json_max > 2097152)
		fprintf(stderr,
			"rtftd-bench: warning: a %d KiB chunk as a JSON array can be up to %zu bytes, more than "
			"rtftd's default max_message_bytes (2097152)\n",
			opt.chunk_kib, json_max);
}

static void file_send_chunk(struct client *c)
{
	size_t k = F.sent_chunks;
	uint64_t off = (uint64_t)k * F.chunk;
	size_t n = (size_t)(F.size - off < F.chunk ? F.size - off : F.chunk);
	const unsigned char *data = F.chunkbuf;
	if (F.filebuf) {
		data = F.filebuf + off;
	} else {
		file_fill(F.chunkbuf, n);
		EVP_DigestUpdate(F.tx_sha, F.chunkbuf, n);
	}
	size_t wire;
	if (k == 0)
		atomic_store(&F.t_first_ns, (long long)now_ns());
	if (opt.binary) {
		unsigned char hdr[2 + 32 + 16 + 8];
		size_t nl = strlen(c->peer), h = 0;
		hdr[h++] = 0x01;
		hdr[h++] = (unsigned char)nl;
		memcpy(hdr + h, c->peer, nl);
		h += nl;
		memcpy(hdr + h, F.tid, 16);
		h += 16;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)(off >> (8 * i));
		ws_send2(c, 0x2, hdr, h, data, n);
		wire = h + n;
	} else {
		char *o = (char *)F.msgbuf;
		int hl = snprintf(o, 512,
				  "{\"type\":\"FILE_CHUNK\",\"recipient\":\"%s\",\"file\":{\"name\":\"%s\",\"size\":%llu,"
				  "\"offset\":%llu,\"data\":[",
				  c->peer, F.fname, (unsigned long long)F.size, (unsigned long long)off);
		char *p = o + hl;
		for (size_t i = 0; i < n; i++) {
			unsigned char b = data[i];
			memcpy(p, numtxt[b], 4);
			p += numlen[b];
			*p++ = ',';
		}
		if (n)
			p--;
		memcpy(p, "]}}", 3);
		p += 3;
		wire = (size_t)(p - o);
		ws_send_text(c, o, wire);
	}
	F.wire_end[k + 1] = F.wire_end[k] + wire;
	F.sent_chunks = k + 1;
}

/* Writes chunks while the output buffer is below outbuf_limit and the
 * chunks the receiver has not had yet stay below inflight_limit (so the
 * server never holds more than that for the receiver: rtftd refuses a
 * relay past max_outbound_bytes). Called from the write-low-watermark
 * callback, the tick, and the receiver when it shares the thread. */
static void file_pump(struct client *c)
{
	if (c->st != CS_OPEN || !F.started || atomic_load(&F.failed))
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	while (F.sent_chunks < F.nchunks) {
		if (evbuffer_get_length(out) >= F.outbuf_limit)
			return;
		long rx = atomic_load_explicit(&F.rx_chunks, memory_order_acquire);
		if (F.inflight_limit && (size_t)rx < F.sent_chunks &&
		    F.wire_end[F.sent_chunks] - F.wire_end[rx] >= F.inflight_limit)
			return;
		file_send_chunk(c);
	}
	if (!F.complete_sent) {
		F.complete_sent = 1;
		char buf[160];
		int n = snprintf(buf, sizeof buf, "{\"type\":\"FILE_COMPLETE\",\"recipient\":\"%s\",\"fileName\":\"%s\"}",
				 c->peer, F.fname);
		ws_send_text(c, buf, (size_t)n);
		EVP_DigestFinal_ex(F.tx_sha, F.tx_digest, NULL);
		atomic_store(&F.tx_done, 1);
	}
}

static void file_start(struct client *c)
{
	if (F.started || c->st != CS_OPEN)
		return;
	F.started = 1;
	char buf[256];
	int n = snprintf(buf, sizeof buf,
			 "{\"type\":\"FILE_METADATA\",\"recipient\":\"%s\",\"file\":{\"name\":\"%s\",\"size\":%llu,"
			 "\"type\":\"application/octet-stream\"},\"transferMode\":\"websocket\"}",
			 c->peer, F.fname, (unsigned long long)F.size);
	ws_send_text(c, buf, (size_t)n);
	/* pace by the output buffer: the write callback runs once it drains
	 * to outbuf_limit */
	bufferevent_setwatermark(c->bev, EV_WRITE, F.outbuf_limit, 0);
	file_pump(c);
}

static void file_got_data(struct client *c, uint64_t off, const unsigned char *p, size_t n)
{
	if (!F.meta_seen) {
		file_fail("a chunk arrived before FILE_METADATA");
		return;
	}
	if (off != F.rx_bytes) {
		file_fail("chunk at offset %llu, expected %llu (lost or reordered)", (unsigned long long)off,
			  (unsigned long long)F.rx_bytes);
		return;
	}
	if (F.rx_bytes + n > F.size) {
		file_fail("more data than the file size (%llu)", (unsigned long long)F.size);
		return;
	}
	EVP_DigestUpdate(F.rx_sha, p, n);
	F.rx_bytes += n;
	atomic_fetch_add_explicit(&F.rx_chunks, 1, memory_order_release);
	if (F.rx_bytes == F.size) {
		atomic_store(&F.t_last_ns, (long long)now_ns());
		EVP_DigestFinal_ex(F.rx_sha, F.rx_digest, NULL);
	}
	if (F.sender && F.sender->w == c->w)
		file_pump(F.sender);
}

/* The general parser of file.data: white space allowed, errors named. */
static int parse_bytes_slow(const char *s, const char *p, const char *end, size_t *np)
{
	size_t n = 0;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	if (p < end && *p == ']') {
		*np = 0;
		return 0;
	}
	for (;;) {
		unsigned v = 0;
		int digits = 0;
		while (p < end && *p >= '0' && *p <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (!digits || digits > 3 || v > 255) {
			file_fail("file.data is not an array of integers 0..255 (at byte %zu)", (size_t)(p - s));
			return -1;
		}
		F.decbuf[n++] = (unsigned char)v;
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
			p++;
		if (p < end && *p == ',') {
			p++;
			while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
				p++;
			continue;
		}
		if (p < end && *p == ']')
			break;
		file_fail("file.data is not terminated");
		return -1;
	}
	*np = n;
	return 0;
}

static void file_rx_json_chunk(struct client *c, const char *s, size_t len)
{
	long long off = json_uint(s, len, "offset");
	const char *d = json_find(s, len, "data");
	if (off < 0 || !d || *d != '[') {
		file_fail("FILE_CHUNK without file.offset or file.data");
		return;
	}
	const char *end = s + len;
	size_t need = len / 2 + 1;
	if (F.deccap < need) {
		F.deccap = need;
		F.decbuf = realloc(F.decbuf, F.deccap);
		if (!F.decbuf)
			die("out of memory");
	}
	/* fast path for the compact form ("12,255,0"): the ']' that ends the
	 * array is a sentinel, so digits are read without bounds checks */
	const char *close = memchr(d, ']', (size_t)(end - d));
	if (!close) {
		file_fail("file.data is not terminated");
		return;
	}
	const unsigned char *p = (const unsigned char *)d + 1, *e = (const unsigned char *)close;
	unsigned char *out = F.decbuf;
	size_t n = 0;
	int slow = 0;
	while (p < e) {
		unsigned v = (unsigned)*p - '0', b;
		if (v > 9) {
			slow = 1;
			break;
		}
		p++;
		if ((b = (unsigned)*p - '0') <= 9) {
			v = v * 10 + b;
			p++;
			if ((b = (unsigned)*p - '0') <= 9) {
				v = v * 10 + b;
				p++;
			}
		}
		if (v > 255 || (p < e && *p != ',') || (p + 1 == e)) {
			slow = 1;
			break;
		}
		out[n++] = (unsigned char)v;
		if (p < e)
			p++;
	}
	if (slow && parse_bytes_slow(s, d + 1, end, &n) < 0)
		return;
	file_got_data(c, (uint64_t)off, F.decbuf, n);
}

static void on_binary(struct client *c, const unsigned char *p, size_t len)
{
	if (opt.sc != SC_FILE)
		return; /* nobody asked for binary relay: not expected, not used */
	if (c->role != RO_FILE_RECV) {
		file_fail("%s received a binary message", c->name);
		return;
	}
	if (len < 2 || p[0] != 0x01 || p[1] < 1 || p[1] > 32 || len < 2 + (size_t)p[1] + 24) {
		file_fail("malformed binary chunk (%zu bytes)", len);
		return;
	}
	size_t nl = p[1];
	const char *want = F.sender ? F.sender->name : "";
	if (nl != strlen(want) || memcmp(p + 2, want, nl)) {
		file_fail("binary chunk from \"%.*s\", expected \"%s\"", (int)nl, p + 2, want);
		return;
	}
	if (memcmp(p + 2 + nl, F.tid, 16)) {
		file_fail("binary chunk with another transfer id");
		return;
	}
	uint64_t off = 0;
	for (int i = 0; i < 8; i++)
		off = off << 8 | p[2 + nl + 16 + i];
	size_t h = 2 + nl + 24;
	file_got_data(c, off, p + h, len - h);
}

static void file_on_text(struct client *c, const char *type, const char *s, size_t len)
{
	if (c->role == RO_FILE_RECV && !strcmp(type, "FILE_CHUNK")) {
		file_rx_json_chunk(c, s, len);
	} else if (c->role == RO_FILE_RECV && !strcmp(type, "FILE_METADATA")) {
		long long sz = json_uint(s, len, "size");
		if (sz != (long long)F.size)
			file_fail("FILE_METADATA with size %lld, expected %llu", sz, (unsigned long long)F.size);
		F.meta_seen = 1;
	} else if (c->role == RO_FILE_RECV && !strcmp(type, "FILE_COMPLETE")) {
		if (F.rx_bytes != F.size) {
			file_fail("FILE_COMPLETE after %llu of %llu bytes", (unsigned long long)F.rx_bytes,
				  (unsigned long long)F.size);
			return;
		}
		F.complete_seen = 1;
		atomic_store(&F.rx_done, 1);
	} else if (!strcmp(type, "CAPABILITIES")) {
		const char *v = json_find(s, len, "binaryRelay");
		long long mm = json_uint(s, len, "maxMessageBytes");
		if (v && !strncmp(v, "true", 4) && !c->caps_ok) {
			c->caps_ok = 1;
			if (mm > 0)
				atomic_store(&F.max_message, mm);
			atomic_fetch_add(&F.caps, 1);
		}
	}
}

/* ---------- messages ---------- */

static void on_open(struct client *c);

static void retry_name_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	(void)fd;
	(void)what;
	if (c->st == CS_OPEN && !c->registered)
		on_open(c);
}

static void on_message(struct client *c, const char *s, size_t len)
{
	char type[40];
	if (json_type(s, len, type, sizeof type) < 0)
		return;
	if (opt.sc == SC_FILE && strcmp(type, "USERNAME_SET") && strcmp(type, "USER_LIST") && strcmp(type, "ERROR") &&
	    strcmp(type, "USERNAME_ERROR")) {
		file_on_text(c, type, s, len);
		return;
	}
	if (!strcmp(type, "WEBRTC_ICE_CANDIDATE")) {
		if (c->role == RO_RELAY_A) {
			if (c->inflight > 0)
				c->inflight--;
			relay_fill(c);
		} else {
			int64_t t = now_ns();
			const char *v = json_find(s, len, "usernameFragment");
			if (v && *v == '"') {
				long long ts = strtoll(v + 1, NULL, 10);
				if (ts >= g_t_meas_start && t <= g_t_meas_end && g_t_meas_end) {
					c->w->delivered++;
					record_latency(c->w, t - ts);
				}
			}
			char buf[160];
			int n = snprintf(buf, sizeof buf,
					 "{\"type\":\"WEBRTC_ICE_CANDIDATE\",\"recipient\":\"%s\","
					 "\"candidate\":{\"candidate\":\"ack\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
					 c->peer);
			ws_send_text(c, buf, (size_t)n);
		}
	} else if (!strcmp(type, "USER_LIST")) {
		atomic_fetch_add_explicit(&g_lists, 1, memory_order_relaxed);
		if (opt.sc == SC_JOIN) {
			struct listinfo li;
			if (parse_list(c, s, len, "users", &li) == 0)
				set_current(c, &li);
		}
	} else if (!strcmp(type, "USERNAME_SET")) {
		if (!c->registered) {
			c->registered = 1;
			if (atomic_fetch_add(&g_registered, 1) + 1 == want_registered)
				atomic_store(&g_all_registered_ns, (long long)now_ns());
			if (opt.sc == SC_FILE && opt.binary) {
				static const char caps[] = "{\"type\":\"CAPABILITIES\",\"binaryRelay\":true}";
				ws_send_text(c, caps, sizeof caps - 1);
			}
		}
		if (opt.sc == SC_JOIN) {
			struct listinfo li;
			if (parse_list(c, s, len, "availableUsers", &li) == 0)
				set_current(c, &li);
		}
	} else if (!strcmp(type, "USERNAME_ERROR") && !c->registered && c->want_register &&
		   memmem(s, len, "already taken", 13)) {
		/* most likely the name of a client of a previous run whose
		 * connection the server has not yet seen close: ask again, like
		 * the v1 clients that reconnect every 3 s, only sooner */
		if (atomic_fetch_add(&g_name_retries, 1) < 3)
			fprintf(stderr, "rtftd-bench: %s: name taken, asking again in 200 ms\n", c->name);
		struct timeval tv = { 0, 200000 };
		event_base_once(c->w->base, -1, EV_TIMEOUT, retry_name_cb, c, &tv);
	} else if (!strcmp(type, "ERROR") || !strcmp(type, "USERNAME_ERROR")) {
		long e = atomic_fetch_add(&g_errors, 1);
		if (e < 5)
			fprintf(stderr, "rtftd-bench: %s got %.*s\n", c->name, (int)(len > 200 ? 200 : len), s);
		if (opt.sc == SC_FILE)
			file_fail("%s got %.*s", c->name, (int)(len > 200 ? 200 : len), s);
	}
}

static void on_open(struct client *c)
{
	if (!c->want_register)
		return;
	char buf[96];
	int n = snprintf(buf, sizeof buf, "{\"type\":\"SET_USERNAME\",\"username\":\"%s\"}", c->name);
	ws_send_text(c, buf, (size_t)n);
}

static void deliver(struct client *c, int op, const unsigned char *p, size_t len)
{
	if (op == 0x1)
		on_message(c, (const char *)p, len);
	else if (op == 0x2)
		on_binary(c, p, len);
}

static const char *close_meaning(int code)
{
	switch (code) {
	case 1000: return "normal";
	case 1001: return "going away / no answer to ping";
	case 1002: return "protocol error";
	case 1005: return "no code";
	case 1007: return "invalid UTF-8";
	case 1008: return "policy";
	case 1009: return "message too big";
	case 1011: return "server error";
	case 1012: return "service restart";
	default: return "";
	}
}

/* Returns 1 if a frame was consumed, 0 if more data is needed, -1 if the
 * connection is closing or closed. */
static int ws_read_frame(struct client *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	if (avail < 2)
		return 0;
	unsigned char *h = evbuffer_pullup(in, avail < 14 ? (ev_ssize_t)avail : 14);
	int fin = h[0] & 0x80, rsv = h[0] & 0x70, op = h[0] & 0x0f, masked = h[1] & 0x80;
	uint64_t plen = h[1] & 0x7f;
	size_t hl = 2;
	if (plen == 126) {
		if (avail < 4)
			return 0;
		plen = ((uint64_t)h[2] << 8) | h[3];
		hl = 4;
	} else if (plen == 127) {
		if (avail < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = (plen << 8) | h[2 + i];
		hl = 10;
	}
	unsigned char mk[4] = { 0, 0, 0, 0 };
	if (masked) {
		if (avail < hl + 4)
			return 0;
		memcpy(mk, h + hl, 4);
		hl += 4;
	}
	if (rsv)
		return proto_fail(c, "reserved bits set");
	if ((op & 0x8) && (!fin || plen > 125))
		return proto_fail(c, "fragmented or oversized control frame");
	if (plen > MAX_FRAME)
		return proto_fail(c, "frame over 2 GiB");
	if (avail < hl + plen)
		return 0;
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(hl + plen)) + hl;
	if (masked) /* servers must not mask; accept it anyway */
		for (uint64_t i = 0; i < plen; i++)
			p[i] ^= mk[i & 3];
	switch (op) {
	case 0x0: /* continuation */
		if (!c->frag)
			return proto_fail(c, "continuation frame without a message to continue");
		evbuffer_add(c->frag, p, plen);
		if (fin) {
			size_t fl = evbuffer_get_length(c->frag);
			unsigned char *fp = evbuffer_pullup(c->frag, -1);
			deliver(c, c->frag_op, fp, fl);
			if (c->frag) {
				evbuffer_free(c->frag);
				c->frag = NULL;
			}
		}
		break;
	case 0x1:
	case 0x2:
		if (c->frag)
			return proto_fail(c, "new message inside a fragmented one");
		if (fin) {
			deliver(c, op, p, plen);
		} else {
			c->frag = evbuffer_new();
			if (!c->frag)
				die("out of memory");
			c->frag_op = op;
			evbuffer_add(c->frag, p, plen);
		}
		break;
	case 0x8: { /* close: answer with the same code, then close once it is written */
		int code = plen >= 2 ? (p[0] << 8 | p[1]) : 1005;
		long k = atomic_fetch_add(&g_close_frames, 1);
		if (k < 5 || opt.sc == SC_FILE)
			fprintf(stderr, "rtftd-bench: %s: server closed with %d (%s)%s%.*s\n", c->name, code,
				close_meaning(code), plen > 2 ? ": " : "", plen > 2 ? (int)plen - 2 : 0,
				plen > 2 ? (const char *)p + 2 : "");
		evbuffer_drain(in, hl + plen);
		start_close(c, plen >= 2 ? code : 0);
		return -1;
	}
	case 0x9: /* ping: pong with the same payload */
		ws_send(c, 0xA, p, plen);
		atomic_fetch_add_explicit(&g_pings, 1, memory_order_relaxed);
		break;
	case 0xA: /* pong */
		break;
	default:
		return proto_fail(c, "unknown opcode");
	}
	if (c->st == CS_OPEN)
		evbuffer_drain(in, hl + plen);
	return c->st == CS_OPEN ? 1 : -1;
}

static int handshake_read(struct client *c, struct evbuffer *in)
{
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (e.pos < 0) {
		if (evbuffer_get_length(in) > 16384) {
			client_close(c);
			return -1;
		}
		return 0;
	}
	size_t hl = (size_t)e.pos + 4;
	char *hdr = malloc(hl + 1);
	if (!hdr)
		die("out of memory");
	evbuffer_remove(in, hdr, hl);
	hdr[hl] = 0;
	int ok = !strncmp(hdr, "HTTP/1.1 101", 12);
	if (ok) {
		/* check Sec-WebSocket-Accept */
		unsigned char sha[SHA_DIGEST_LENGTH];
		char src[96], want[64];
		snprintf(src, sizeof src, "%s%s", c->key, WS_GUID);
		SHA1((const unsigned char *)src, strlen(src), sha);
		EVP_EncodeBlock((unsigned char *)want, sha, SHA_DIGEST_LENGTH);
		const char *a = strcasestr(hdr, "\r\nSec-WebSocket-Accept:");
		ok = 0;
		if (a) {
			a += strlen("\r\nSec-WebSocket-Accept:");
			while (*a == ' ' || *a == '\t')
				a++;
			ok = !strncmp(a, want, strlen(want));
		}
	}
	if (!ok) {
		static atomic_int warned;
		if (atomic_fetch_add(&warned, 1) < 3)
			fprintf(stderr, "rtftd-bench: handshake refused: %.*s\n", (int)strcspn(hdr, "\r\n"), hdr);
		free(hdr);
		client_close(c);
		return -1;
	}
	const char *xw = strcasestr(hdr, "\r\nX-RTFT-Worker:");
	c->worker_slot = xw ? atoi(xw + strlen("\r\nX-RTFT-Worker:")) : -1;
	free(hdr);
	c->st = CS_OPEN;
	c->w->pending--;
	atomic_fetch_add(&g_open, 1);
	on_open(c);
	connect_more(c->w);
	return 1;
}

static void readcb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (c->st == CS_HANDSHAKE) {
		if (handshake_read(c, in) <= 0)
			return;
	}
	while (c->st == CS_OPEN) {
		int r = ws_read_frame(c, in);
		if (r <= 0)
			return;
	}
}

static void writecb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	if (c->st == CS_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_close(c);
		return;
	}
	if (c->role == RO_FILE_SEND)
		file_pump(c);
}

static void eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->st = CS_HANDSHAKE;
		unsigned char rnd[16];
		RAND_bytes(rnd, sizeof rnd);
		EVP_EncodeBlock((unsigned char *)c->key, rnd, sizeof rnd);
		evbuffer_add_printf(bufferevent_get_output(c->bev),
				    "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
				    opt.hosthdr, c->key);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->st == CS_CONNECTING) {
			static atomic_int warned;
			if (atomic_fetch_add(&warned, 1) < 3)
				fprintf(stderr, "rtftd-bench: connect failed: %s\n", strerror(EVUTIL_SOCKET_ERROR()));
		} else if (c->st == CS_OPEN || c->st == CS_HANDSHAKE) {
			static atomic_int warned;
			if (atomic_fetch_add(&warned, 1) < 3)
				fprintf(stderr, "rtftd-bench: %s: connection %s%s%s without a close frame\n", c->name,
					what & BEV_EVENT_EOF ? "closed by the server" : "failed",
					what & BEV_EVENT_ERROR ? ": " : "",
					what & BEV_EVENT_ERROR ? strerror(EVUTIL_SOCKET_ERROR()) : "");
		}
		client_close(c);
	}
}

/* The socket, made here rather than by bufferevent_socket_connect so that
 * it can be bound to a source address first. */
static int client_socket(struct client *c)
{
	int fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.sources > 0) {
		/* the port is chosen at connect() time, per (source, destination) */
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0) {
			close(fd);
			return -1;
		}
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(c->idx % opt.sources));
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void client_connect(struct client *c)
{
	struct worker *w = c->w;
	c->st = CS_CONNECTING;
	w->pending++;
	int fd = client_socket(c);
	if (fd < 0) {
		static atomic_int warned;
		if (atomic_fetch_add(&warned, 1) < 3)
			fprintf(stderr, "rtftd-bench: socket/bind failed: %s\n", strerror(errno));
		client_close(c);
		return;
	}
	c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		die("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, readcb, writecb, eventcb, c);
	if (opt.sc == SC_FILE) {
		bufferevent_set_max_single_read(c->bev, 1 << 20);
		bufferevent_set_max_single_write(c->bev, 1 << 20);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&opt.addr, (int)opt.addrlen) < 0) {
		static atomic_int warned;
		if (atomic_fetch_add(&warned, 1) < 3)
			fprintf(stderr, "rtftd-bench: connect failed: %s\n", strerror(errno));
		client_close(c);
	}
}

static void connect_more(struct worker *w)
{
	while (w->pending < w->pending_cap && w->next_connect < w->ncl && atomic_load(&g_phase) != PH_STOP)
		client_connect(w->cl[w->next_connect++]);
}

static void tickcb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	int ph = atomic_load(&g_phase);
	if (opt.sc == SC_FILE && F.sender && F.sender->w == w && F.started)
		file_pump(F.sender); /* the receiver may have caught up */
	if (ph == w->last_phase)
		return;
	w->last_phase = ph;
	if (ph == PH_RUN && opt.sc == SC_RELAY) {
		for (int i = 0; i < w->ncl; i++)
			if (w->cl[i]->role == RO_RELAY_A && w->cl[i]->st == CS_OPEN)
				relay_fill(w->cl[i]);
	} else if (ph == PH_RUN && opt.sc == SC_FILE) {
		if (F.sender && F.sender->w == w)
			file_start(F.sender);
	} else if (ph == PH_STOP) {
		event_base_loopbreak(w->base);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	connect_more(w);
	event_base_dispatch(w->base);
	return NULL;
}

/* ---------- setup / main ---------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: rtftd-bench --port N --scenario join|relay|idle|file [options]\n"
		"  --host H          loopback address (127.0.0.0/8 or ::1; default 127.0.0.1)\n"
		"  --clients N       join/idle: number of connections (default 100)\n"
		"  --pairs P         relay: sender/receiver pairs (default 10)\n"
		"  --window W        relay: messages in flight per pair (default 16)\n"
		"  --duration S      join: timeout; relay: measured seconds (after 1 s warm-up);\n"
		"                    idle: hold time unless --hold; file: timeout (default 10, file 600)\n"
		"  --threads T       event loops (default 1)\n"
		"  --sources N       bind connections to 127.0.0.2 .. 127.0.0.(N+1), round robin\n"
		"                    (IPv4 only; about 28k connections per source address;\n"
		"                    default: no bind, the kernel's choice)\n"
		"  --name-prefix P   join/idle: names are P + zero-padded index (default: join \"u\",\n"
		"                    idle \"i<pid>-\" so that several processes never collide)\n"
		"  --list-max M      join: the server's user_list_max (rtftd default 1000; 0: the\n"
		"                    server never caps its lists)\n"
		"  --register-every K\n"
		"                    idle: every K-th connection registers (default 2: half;\n"
		"                    1: all; 0: none)\n"
		"  --hold S          idle: seconds to hold the connections once all are open\n"
		"                    (\"idle_ready 1\" is printed then); 0: until SIGINT/SIGTERM\n"
		"  --mode M          file: json (FILE_CHUNK with a JSON array, as v1 clients) or\n"
		"                    binary (the rtftd binary relay extension); default json\n"
		"  --size-mib N      file: size of the file (default 64)\n"
		"  --chunk-kib K     file: bytes per chunk (default 256)\n"
		"  --seed S          file: seed of the pseudo-random content (default 1)\n"
		"  --outbuf-kib K    file: write the next chunk only while the sender's output\n"
		"                    buffer is below K KiB (default 4096)\n"
		"  --inflight-mib M  file: at most M MiB of chunk messages sent but not yet received\n"
		"                    (below rtftd's max_outbound_bytes; 0: no limit; default 8)\n"
		"  --max-pending N   connects + handshakes in progress at once (default 2000)\n"
		"  --progress        one line a second on stderr (connections, registrations, lists)\n");
	exit(2);
}

static void parse_host(const char *host, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&opt.addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&opt.addr;
	memset(&opt.addr, 0, sizeof opt.addr);
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			die("refusing non-loopback host (only 127.0.0.0/8 and ::1 allowed)");
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		opt.addrlen = sizeof *s4;
		snprintf(opt.hosthdr, sizeof opt.hosthdr, "%s:%d", host, port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			die("refusing non-loopback host (only 127.0.0.0/8 and ::1 allowed)");
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		opt.addrlen = sizeof *s6;
		snprintf(opt.hosthdr, sizeof opt.hosthdr, "[::1]:%d", port);
	} else {
		die("host must be a numeric loopback address (127.0.0.0/8 or ::1)");
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

static int64_t g_t0, g_next_progress;

/* --progress: one line a second on stderr */
static void progress(void)
{
	if (!opt.progress)
		return;
	int64_t t = now_ns();
	if (t < g_next_progress)
		return;
	g_next_progress = t + 1000000000LL;
	fprintf(stderr, "rtftd-bench: %6.1f s: open %d registered %d failed %d closed %d lists %ld current %d/%d\n",
		secs(t - g_t0), atomic_load(&g_open), atomic_load(&g_registered), atomic_load(&g_failed),
		atomic_load(&g_closed), atomic_load(&g_lists), atomic_load(&g_done_full),
		atomic_load(&g_done_capped));
}

/* Waits until cond() or deadline; returns 1 if cond() became true. */
static int wait_until(int (*cond)(void), int64_t deadline)
{
	while (!cond()) {
		if (now_ns() >= deadline || g_signalled)
			return 0;
		sleep_ms(1);
		progress();
	}
	return 1;
}

static int total_clients;
static int cond_all_settled(void)
{
	/* every client either open or failed */
	return atomic_load(&g_open) + atomic_load(&g_failed) + atomic_load(&g_closed) >= total_clients;
}
static int cond_registered(void)
{
	/* done when all registered, or nothing more can happen (all settled
	 * and the rest failed or closed) */
	return atomic_load(&g_registered) >= want_registered ||
	       atomic_load(&g_failed) + atomic_load(&g_closed) >= total_clients;
}
static int cond_join_done(void)
{
	/* done, or nothing more can happen: every client failed or was closed */
	return atomic_load(&g_join_done_ns) != 0 ||
	       atomic_load(&g_failed) + atomic_load(&g_closed) >= total_clients;
}
static int cond_caps(void)
{
	return atomic_load(&F.caps) >= 2 || atomic_load(&F.failed);
}
static int cond_file_done(void)
{
	return (atomic_load(&F.rx_done) && atomic_load(&F.tx_done)) || atomic_load(&F.failed);
}

static void on_signal(int sig)
{
	(void)sig;
	g_signalled = 1;
}

static int parse_int(const char *s, const char *what, int lo, int hi)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi) {
		fprintf(stderr, "rtftd-bench: %s must be an integer from %d to %d\n", what, lo, hi);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *scen = NULL, *mode = "json";
	int port = 0;
	enum { O_SOURCES = 256, O_HOLD, O_PREFIX, O_LISTMAX, O_MODE, O_SIZE, O_CHUNK, O_SEED, O_OUTBUF, O_INFLIGHT, O_PROGRESS, O_REGEVERY, O_MAXPENDING };
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },	   { "port", required_argument, NULL, 'p' },
		{ "scenario", required_argument, NULL, 's' },	   { "clients", required_argument, NULL, 'c' },
		{ "pairs", required_argument, NULL, 'P' },	   { "window", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },	   { "threads", required_argument, NULL, 't' },
		{ "sources", required_argument, NULL, O_SOURCES }, { "hold", required_argument, NULL, O_HOLD },
		{ "name-prefix", required_argument, NULL, O_PREFIX },
		{ "list-max", required_argument, NULL, O_LISTMAX }, { "mode", required_argument, NULL, O_MODE },
		{ "size-mib", required_argument, NULL, O_SIZE },   { "chunk-kib", required_argument, NULL, O_CHUNK },
		{ "seed", required_argument, NULL, O_SEED },	   { "outbuf-kib", required_argument, NULL, O_OUTBUF },
		{ "inflight-mib", required_argument, NULL, O_INFLIGHT },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "register-every", required_argument, NULL, O_REGEVERY },
		{ "max-pending", required_argument, NULL, O_MAXPENDING },
		{ "help", no_argument, NULL, '?' },		   { NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': host = optarg; break;
		case 'p': port = parse_int(optarg, "--port", 1, 65535); break;
		case 's': scen = optarg; break;
		case 'c': opt.clients = parse_int(optarg, "--clients", 1, 10000000); break;
		case 'P': opt.pairs = parse_int(optarg, "--pairs", 1, 1000000); break;
		case 'w': opt.window = parse_int(optarg, "--window", 1, 1000000); break;
		case 'd':
			opt.duration = parse_int(optarg, "--duration", 1, 1000000);
			opt.duration_set = 1;
			break;
		case 't': opt.threads = parse_int(optarg, "--threads", 1, 256); break;
		case O_SOURCES: opt.sources = parse_int(optarg, "--sources", 1, 253); break;
		case O_HOLD:
			opt.hold = parse_int(optarg, "--hold", 0, 10000000);
			opt.hold_set = 1;
			break;
		case O_PREFIX:
			if (strlen(optarg) < 1 || strlen(optarg) > 20 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
				    strlen(optarg))
				die("--name-prefix: 1 to 20 characters of letters, digits, _, - and .");
			snprintf(opt.prefix, sizeof opt.prefix, "%s", optarg);
			opt.prefix_set = 1;
			break;
		case O_LISTMAX: opt.list_max = parse_int(optarg, "--list-max", 0, 10000000); break;
		case O_MODE: mode = optarg; break;
		case O_SIZE: opt.size_mib = parse_int(optarg, "--size-mib", 1, 1 << 20); break;
		case O_CHUNK: opt.chunk_kib = parse_int(optarg, "--chunk-kib", 1, 1 << 20); break;
		case O_SEED: opt.seed = (uint64_t)strtoull(optarg, NULL, 10); break;
		case O_OUTBUF: opt.outbuf_kib = parse_int(optarg, "--outbuf-kib", 1, 1 << 20); break;
		case O_INFLIGHT: opt.inflight_mib = parse_int(optarg, "--inflight-mib", 0, 1 << 20); break;
		case O_PROGRESS: opt.progress = 1; break;
		case O_REGEVERY: opt.register_every = parse_int(optarg, "--register-every", 0, 10000000); break;
		case O_MAXPENDING: opt.max_pending = parse_int(optarg, "--max-pending", 1, 1000000); break;
		default: usage();
		}
	}
	if (optind < argc || !scen || port <= 0)
		usage();
	if (!strcmp(scen, "join"))
		opt.sc = SC_JOIN;
	else if (!strcmp(scen, "relay"))
		opt.sc = SC_RELAY;
	else if (!strcmp(scen, "idle"))
		opt.sc = SC_IDLE;
	else if (!strcmp(scen, "file"))
		opt.sc = SC_FILE;
	else
		usage();
	if (!strcmp(mode, "json"))
		opt.binary = 0;
	else if (!strcmp(mode, "binary"))
		opt.binary = 1;
	else
		die("--mode must be json or binary");
	parse_host(host, port);
	if (opt.sources > 0 && opt.addr.ss_family != AF_INET)
		die("--sources needs an IPv4 loopback --host (127.0.0.0/8)");
	if (!opt.hold_set)
		opt.hold = opt.duration;
	if (opt.sc == SC_FILE && !opt.duration_set)
		opt.duration = 600;
	if (!opt.prefix_set) {
		if (opt.sc == SC_IDLE)
			snprintf(opt.prefix, sizeof opt.prefix, "i%d-", (int)getpid());
		else
			snprintf(opt.prefix, sizeof opt.prefix, "u");
	}

	int n = opt.sc == SC_RELAY ? 2 * opt.pairs : opt.sc == SC_FILE ? 2 : opt.clients;
	total_clients = n;
	int T = opt.threads;
	if (T > n)
		T = opt.threads = n;

	/* descriptors: raise the soft limit to the hard one, and refuse at once
	 * what cannot fit */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rlim_t want = rl.rlim_max;
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		long long need = (long long)n + FD_RESERVE + 4LL * T;
		if (rl.rlim_cur != RLIM_INFINITY && need > (long long)rl.rlim_cur) {
			fprintf(stderr,
				"rtftd-bench: %d connections need about %lld file descriptors, but RLIMIT_NOFILE is %llu "
				"(hard limit %llu): one process can hold at most %lld; run several processes\n",
				n, need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
				(long long)rl.rlim_cur - FD_RESERVE - 4LL * T);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (opt.sc == SC_IDLE) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}

	/* join/idle names: prefix + index, all of the same width so that byte
	 * order is index order */
	g_namew = 4;
	for (int m = 10000; m < opt.clients && g_namew < 9; m *= 10)
		g_namew++;
	if (strlen(opt.prefix) + (size_t)g_namew > 32)
		die("--name-prefix too long for names of at most 32 characters");
	if (opt.sc == SC_FILE)
		file_setup();

	struct client *cls = calloc((size_t)n, sizeof *cls);
	struct worker *ws = calloc((size_t)T, sizeof *ws);
	if (!cls || !ws)
		die("out of memory");
	for (int t = 0; t < T; t++) {
		struct worker *w = &ws[t];
		w->id = t;
		w->base = event_base_new();
		if (!w->base)
			die("event_base_new failed");
		w->cl = calloc((size_t)n / (size_t)T + 1, sizeof *w->cl);
		if (!w->cl)
			die("out of memory");
		w->pending_cap = opt.max_pending / T > 0 ? opt.max_pending / T : 1;
		RAND_bytes((unsigned char *)&w->rng, sizeof w->rng);
		w->rng |= 1;
		if (opt.sc == SC_RELAY) {
			w->sample_cap = SAMPLE_CAP_TOTAL / (size_t)T;
			w->samples = malloc(w->sample_cap * sizeof *w->samples);
			if (!w->samples)
				die("out of memory");
		}
		if (opt.sc == SC_JOIN) {
			w->stamp = calloc((size_t)opt.clients, sizeof *w->stamp);
			if (!w->stamp)
				die("out of memory");
		}
		w->tick = event_new(w->base, -1, EV_PERSIST, tickcb, w);
		struct timeval tv = { 0, opt.sc == SC_FILE ? 1000 : 2000 };
		event_add(w->tick, &tv);
	}
	want_registered = 0;
	for (int i = 0; i < n; i++) {
		struct client *c = &cls[i];
		struct worker *w = &ws[i % T];
		c->w = w;
		c->idx = i;
		w->cl[w->ncl++] = c;
		/* names must be 3..32 chars of [A-Za-z0-9_.-] */
		if (opt.sc == SC_RELAY) {
			int k = i < opt.pairs ? i : i - opt.pairs;
			c->role = i < opt.pairs ? RO_RELAY_A : RO_RELAY_B;
			snprintf(c->name, sizeof c->name, "%c%04d", c->role == RO_RELAY_A ? 'a' : 'b', k);
			snprintf(c->peer, sizeof c->peer, "%c%04d", c->role == RO_RELAY_A ? 'b' : 'a', k);
			c->want_register = 1;
		} else if (opt.sc == SC_FILE) {
			c->role = i == 0 ? RO_FILE_SEND : RO_FILE_RECV;
			snprintf(c->name, sizeof c->name, "%s", i == 0 ? "fs0" : "fr0");
			snprintf(c->peer, sizeof c->peer, "%s", i == 0 ? "fr0" : "fs0");
			c->want_register = 1;
			if (i == 0)
				F.sender = c;
			else
				F.receiver = c;
		} else {
			snprintf(c->name, sizeof c->name, "%s%0*d", opt.prefix, g_namew, i);
			c->want_register = opt.sc == SC_JOIN || (opt.register_every && i % opt.register_every == 0);
		}
		want_registered += c->want_register;
	}

	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0);
	int64_t t0 = now_ns();
	g_t0 = t0;
	for (int t = 0; t < T; t++)
		if (pthread_create(&ws[t].th, NULL, worker_main, &ws[t]))
			die("pthread_create failed");

	int64_t dl = (int64_t)opt.duration * 1000000000LL;
	const char *pfx = opt.sc == SC_JOIN ? "join" : opt.sc == SC_RELAY ? "relay" : opt.sc == SC_IDLE ? "idle" : "file";
	int failed = 0;
	if (opt.sc == SC_JOIN) {
		wait_until(cond_join_done, t0 + dl);
		int ok = atomic_load(&g_join_done_ns) != 0;
		int64_t tend = ok ? (int64_t)atomic_load(&g_join_done_ns) : now_ns();
		printf("join_completed %d\n", ok);
		printf("join_seconds %.6f\n", secs(tend - t0));
		long long tr = atomic_load(&g_all_registered_ns);
		printf("join_registered_seconds %.6f\n", tr ? secs(tr - t0) : 0.0);
		if (!ok) {
			failed = 1;
			fprintf(stderr,
				"rtftd-bench: join: %d of %d clients registered, %d hold the full list, %d the capped "
				"list; the longest list had %d names (--list-max is %d)\n",
				atomic_load(&g_registered), opt.clients, atomic_load(&g_done_full),
				atomic_load(&g_done_capped), atomic_load(&g_list_longest), opt.list_max);
			int longest = atomic_load(&g_list_longest);
			if (atomic_load(&g_registered) == opt.clients && longest < opt.clients - 1 &&
			    longest != opt.list_max)
				fprintf(stderr, "rtftd-bench: the server seems to cap its lists at %d names: try --list-max %d\n",
					longest, longest);
		}
	} else if (opt.sc == SC_RELAY) {
		/* setup: everyone connected and registered (up to 60 s) */
		int ok = wait_until(cond_registered, t0 + 60000000000LL);
		int64_t ts = now_ns();
		printf("relay_setup_seconds %.6f\n", secs(ts - t0));
		if (!ok)
			fprintf(stderr, "rtftd-bench: only %d of %d clients registered\n", atomic_load(&g_registered),
				want_registered);
		g_t_meas_start = ts + 1000000000LL;
		g_t_meas_end = g_t_meas_start + dl;
		atomic_store(&g_phase, PH_RUN);
		while (now_ns() < g_t_meas_end)
			sleep_ms(1);
		atomic_store(&g_phase, PH_DRAIN);
		sleep_ms(200);
	} else if (opt.sc == SC_IDLE) {
		int ok = wait_until(cond_registered, t0 + 300000000000LL);
		ok = wait_until(cond_all_settled, t0 + 300000000000LL) && ok;
		int open_ready = atomic_load(&g_open);
		ok = ok && open_ready == n && atomic_load(&g_registered) == want_registered;
		printf("idle_setup_seconds %.6f\n", secs(now_ns() - t0));
		printf("idle_connected %d\n", open_ready);
		printf("idle_ready %d\n", ok);
		fflush(stdout);
		if (!ok) {
			failed = 1;
			fprintf(stderr, "rtftd-bench: idle: %d of %d connections open, %d of %d registered, %d failed\n",
				open_ready, n, atomic_load(&g_registered), want_registered, atomic_load(&g_failed));
		}
		int64_t hold = now_ns() + (int64_t)opt.hold * 1000000000LL;
		while (!g_signalled && (opt.hold == 0 || now_ns() < hold)) {
			sleep_ms(10);
			progress();
		}
	} else {
		int ok = wait_until(cond_registered, t0 + 30000000000LL) && atomic_load(&g_registered) == 2;
		if (!ok) {
			file_fail("sender and receiver not both registered after 30 s (%d registered)",
				  atomic_load(&g_registered));
		} else if (opt.binary) {
			if (!wait_until(cond_caps, now_ns() + 5000000000LL))
				file_fail("the server did not confirm {\"type\":\"CAPABILITIES\",\"binaryRelay\":true} "
					  "within 5 s: binary relay is an rtftd extension (docs/protocol.md); use "
					  "--mode json against this server");
			long long mm = atomic_load(&F.max_message);
			size_t need = 2 + 3 + 24 + F.chunk;
			if (!atomic_load(&F.failed) && mm > 0 && (long long)need > mm)
				file_fail("a binary chunk of %zu bytes is over the server's maxMessageBytes (%lld)", need,
					  mm);
		}
		if (!atomic_load(&F.failed)) {
			atomic_store(&g_phase, PH_RUN);
			if (!wait_until(cond_file_done, now_ns() + dl))
				file_fail("timed out after %d s with %llu of %llu bytes received", opt.duration,
					  (unsigned long long)F.rx_bytes, (unsigned long long)F.size);
		}
	}
	/* read connected counts before stopping */
	int open_now = atomic_load(&g_open);
	atomic_store(&g_phase, PH_STOP);
	for (int t = 0; t < T; t++)
		pthread_join(ws[t].th, NULL);
	int64_t t1 = now_ns();
	struct rusage ru1;
	getrusage(RUSAGE_SELF, &ru1);

	if (opt.sc == SC_JOIN) {
		int cur = atomic_load(&g_done_full), capped = atomic_load(&g_done_capped);
		printf("join_lists_received %ld\n", atomic_load(&g_lists));
		printf("join_current_clients %d\n", cur > capped ? cur : capped);
		printf("join_longest_list %d\n", atomic_load(&g_list_longest));
	} else if (opt.sc == SC_RELAY) {
		uint64_t delivered = 0, sent = 0, seen = 0;
		size_t ns = 0;
		int64_t mx = 0;
		for (int t = 0; t < T; t++) {
			delivered += ws[t].delivered;
			sent += ws[t].sent;
			seen += ws[t].seen;
			ns += ws[t].nsamples;
			if (ws[t].max_lat > mx)
				mx = ws[t].max_lat;
		}
		int64_t *all = malloc((ns ? ns : 1) * sizeof *all);
		size_t k = 0;
		for (int t = 0; t < T; t++) {
			memcpy(all + k, ws[t].samples, ws[t].nsamples * sizeof *all);
			k += ws[t].nsamples;
		}
		qsort(all, ns, sizeof *all, cmp_i64);
#define PCT(p) (ns ? (double)all[(size_t)fmin((double)ns - 1, floor((p) * (double)ns))] / 1000.0 : 0.0)
		printf("relay_msgs_per_s %.1f\n", (double)delivered / opt.duration);
		printf("relay_delivered %llu\n", (unsigned long long)delivered);
		printf("relay_sent_total %llu\n", (unsigned long long)sent);
		printf("relay_p50_us %.1f\n", PCT(0.50));
		printf("relay_p90_us %.1f\n", PCT(0.90));
		printf("relay_p99_us %.1f\n", PCT(0.99));
		printf("relay_max_us %.1f\n", (double)mx / 1000.0);
		printf("relay_latency_samples %zu\n", ns);
		free(all);
	} else if (opt.sc == SC_FILE) {
		int ok = !atomic_load(&F.failed) && atomic_load(&F.rx_done) && atomic_load(&F.tx_done) &&
			 !memcmp(F.tx_digest, F.rx_digest, sizeof F.tx_digest);
		if (!atomic_load(&F.failed) && atomic_load(&F.rx_done) && !ok)
			fprintf(stderr, "rtftd-bench: file transfer failed: SHA-256 of the received bytes differs\n");
		int64_t tf = atomic_load(&F.t_first_ns), tl = atomic_load(&F.t_last_ns);
		double fs = tf && tl ? secs(tl - tf) : 0.0;
		printf("file_bytes %llu\n", (unsigned long long)F.rx_bytes);
		printf("file_seconds %.6f\n", fs);
		printf("file_mb_per_s %.3f\n", fs > 0 ? (double)F.rx_bytes / 1e6 / fs : 0.0);
		printf("file_checksum_ok %d\n", ok);
		printf("file_chunks %zu\n", (size_t)atomic_load(&F.rx_chunks));
		if (F.sender->worker_slot >= 0 && F.receiver->worker_slot >= 0)
			printf("file_same_worker %d\n", F.sender->worker_slot == F.receiver->worker_slot);
		if (!ok)
			failed = 1;
	}
	printf("%s_connected%s %d\n", pfx, opt.sc == SC_IDLE ? "_at_end" : "", open_now);
	printf("%s_registered %d\n", pfx, atomic_load(&g_registered));
	printf("%s_connect_failures %d\n", pfx, atomic_load(&g_failed));
	printf("%s_closed_by_server %d\n", pfx, atomic_load(&g_closed));
	printf("%s_error_msgs %ld\n", pfx, atomic_load(&g_errors));
	printf("%s_pings_answered %ld\n", pfx, atomic_load(&g_pings));
	printf("%s_name_retries %ld\n", pfx, atomic_load(&g_name_retries));
	double ucpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
	double scpu = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		      (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	printf("gen_cpu_user_s %.3f\n", ucpu);
	printf("gen_cpu_sys_s %.3f\n", scpu);
	printf("gen_cpu_s %.3f\n", ucpu + scpu);
	printf("gen_wall_s %.3f\n", secs(t1 - t0));
	printf("gen_threads %d\n", T);
	fflush(stdout);
	/* connections are dropped by exit (the server sees resets/EOFs) */
	return failed ? 1 : 0;
}
