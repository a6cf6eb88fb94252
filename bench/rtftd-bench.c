/*
 * rtftd-bench.c: WebSocket load generator for rtftd (RTFT protocol v1).
 *
 * Scenarios: join, relay, idle (see usage()).  Output is one "name value"
 * line per figure.  Traffic only to loopback (127.0.0.0/8 or ::1).
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

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_PENDING_CONNECTS 500
#define SAMPLE_CAP_TOTAL 1000000

enum scenario { SC_JOIN, SC_RELAY, SC_IDLE };
enum cstate { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSED };
enum phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_STOP };

/* ---------- options ---------- */
static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hosthdr[80];
	enum scenario sc;
	int clients, pairs, window, duration, threads;
} opt = { .clients = 100, .pairs = 10, .window = 16, .duration = 10, .threads = 1 };

/* ---------- shared state (atomics) ---------- */
static atomic_int g_phase = PH_SETUP;
static atomic_int g_open;	 /* connections with completed handshake, still open */
static atomic_int g_registered;	 /* clients that received USERNAME_SET */
static atomic_int g_failed;	 /* connect/handshake failures */
static atomic_int g_closed;	 /* connections closed after being open */
static atomic_int g_done;	 /* join: clients registered and current */
static atomic_long g_lists;	 /* join: USER_LIST messages received */
static atomic_long g_errors;	 /* ERROR / USERNAME_ERROR received */
static atomic_llong g_join_done_ns; /* join: time the last client became current */
static int64_t g_t_meas_start, g_t_meas_end; /* relay measurement window (ns) */

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
	char name[24];
	char peer[24];
	char key[32];		/* Sec-WebSocket-Key (base64 of 16 bytes) */
	int is_sender;		/* relay: a<i> */
	int want_register;
	int registered;
	int current;		/* join: counted in g_done */
	int last_count;		/* join: names in latest list */
	int inflight;		/* relay: a side */
	struct evbuffer *frag;	/* continuation assembly */
	int frag_op;
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
	unsigned char *scratch;
	size_t scratch_cap;
	/* relay stats */
	int64_t *samples;
	size_t nsamples, sample_cap;
	uint64_t seen;		/* samples offered */
	int64_t max_lat;
	uint64_t delivered;	/* a->b messages received inside window */
	uint64_t sent;
};

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

/* ---------- framing ---------- */

static void ws_send(struct client *c, int opcode, const void *data, size_t len)
{
	struct worker *w = c->w;
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
	uint32_t mk = (uint32_t)xrand(w);
	unsigned char m[4] = { (unsigned char)(mk >> 24), (unsigned char)(mk >> 16), (unsigned char)(mk >> 8),
			       (unsigned char)mk };
	memcpy(hdr + h, m, 4);
	h += 4;
	if (w->scratch_cap < h + len) {
		w->scratch_cap = (h + len) * 2;
		w->scratch = realloc(w->scratch, w->scratch_cap);
		if (!w->scratch)
			die("out of memory");
	}
	memcpy(w->scratch, hdr, h);
	const unsigned char *p = data;
	unsigned char *o = w->scratch + h;
	for (size_t i = 0; i < len; i++)
		o[i] = p[i] ^ m[i & 3];
	bufferevent_write(c->bev, w->scratch, h + len);
}

static void ws_send_text(struct client *c, const char *s, size_t len)
{
	ws_send(c, 0x1, s, len);
}

/* ---------- lifecycle ---------- */

static void connect_more(struct worker *w);

static void client_close(struct client *c, int failed)
{
	struct worker *w = c->w;
	if (c->st == CS_CLOSED || c->st == CS_IDLE)
		return;
	if (c->st == CS_CONNECTING || c->st == CS_HANDSHAKE) {
		w->pending--;
		atomic_fetch_add(&g_failed, 1);
	} else if (c->st == CS_OPEN) {
		atomic_fetch_sub(&g_open, 1);
		atomic_fetch_add(&g_closed, 1);
	}
	(void)failed;
	if (c->current) {
		c->current = 0;
		atomic_fetch_sub(&g_done, 1);
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

/* Number of strings in the array value of key; -1 if absent.  Names are
 * restricted to [A-Za-z0-9_.-], so no escapes inside the strings. */
static int json_array_count(const char *s, size_t len, const char *key)
{
	const char *v = json_find(s, len, key);
	const char *end = s + len;
	if (!v || *v != '[')
		return -1;
	int quotes = 0, esc = 0, instr = 0;
	for (v++; v < end; v++) {
		if (instr) {
			if (esc)
				esc = 0;
			else if (*v == '\\')
				esc = 1;
			else if (*v == '"') {
				instr = 0;
				quotes++;
			}
		} else if (*v == '"') {
			instr = 1;
			quotes++;
		} else if (*v == ']') {
			break;
		}
	}
	return quotes / 2;
}

/* ---------- scenario logic ---------- */

static void relay_fill(struct client *c)
{
	if (atomic_load_explicit(&g_phase, memory_order_relaxed) != PH_RUN)
		return;
	char buf[512];
	static const char pad[] = "candidate:842163049 1 udp 1677729535 192.0.2.17 52345 typ srflx raddr "
				  "10.0.0.5 rport 52345 generation 0 ufrag abcd network-cost 999 "
				  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	while (c->inflight < opt.window) {
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

static void set_current(struct client *c, int count)
{
	c->last_count = count;
	if (opt.sc != SC_JOIN)
		return;
	int cur = c->registered && count == opt.clients - 1;
	if (cur && !c->current) {
		c->current = 1;
		int d = atomic_fetch_add(&g_done, 1) + 1;
		if (d == opt.clients) {
			long long zero = 0;
			atomic_compare_exchange_strong(&g_join_done_ns, &zero, (long long)now_ns());
		}
	} else if (!cur && c->current) {
		c->current = 0;
		atomic_fetch_sub(&g_done, 1);
	}
}

static void on_message(struct client *c, const char *s, size_t len)
{
	char type[40];
	if (json_type(s, len, type, sizeof type) < 0)
		return;
	if (!strcmp(type, "WEBRTC_ICE_CANDIDATE")) {
		if (c->is_sender) {
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
			int n = json_array_count(s, len, "users");
			if (n >= 0)
				set_current(c, n);
		}
	} else if (!strcmp(type, "USERNAME_SET")) {
		if (!c->registered) {
			c->registered = 1;
			atomic_fetch_add(&g_registered, 1);
		}
		if (opt.sc == SC_JOIN) {
			int n = json_array_count(s, len, "availableUsers");
			set_current(c, n >= 0 ? n : c->last_count);
		}
	} else if (!strcmp(type, "ERROR") || !strcmp(type, "USERNAME_ERROR")) {
		long e = atomic_fetch_add(&g_errors, 1);
		if (e < 5)
			fprintf(stderr, "rtftd-bench: %s got %.*s\n", c->name, (int)(len > 200 ? 200 : len), s);
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

/* Returns 1 if a frame was consumed, 0 if more data is needed, -1 if the
 * connection was closed. */
static int ws_read_frame(struct client *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	if (avail < 2)
		return 0;
	unsigned char *h = evbuffer_pullup(in, avail < 14 ? (ssize_t)avail : 14);
	int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
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
	if (plen > (uint64_t)1 << 31) {
		client_close(c, 1);
		return -1;
	}
	if (avail < hl + plen)
		return 0;
	unsigned char *p = evbuffer_pullup(in, (ssize_t)(hl + plen)) + hl;
	if (masked)
		for (uint64_t i = 0; i < plen; i++)
			p[i] ^= mk[i & 3];
	switch (op) {
	case 0x0: /* continuation */
	case 0x1:
	case 0x2:
		if (op != 0 && fin && !c->frag) {
			if (op == 0x1)
				on_message(c, (const char *)p, plen);
		} else {
			if (!c->frag) {
				c->frag = evbuffer_new();
				c->frag_op = op;
			}
			evbuffer_add(c->frag, p, plen);
			if (fin) {
				size_t fl = evbuffer_get_length(c->frag);
				unsigned char *fp = evbuffer_pullup(c->frag, -1);
				if (c->frag_op == 0x1)
					on_message(c, (const char *)fp, fl);
				evbuffer_free(c->frag);
				c->frag = NULL;
			}
		}
		break;
	case 0x8: /* close: echo and drop */
		ws_send(c, 0x8, p, plen >= 2 ? 2 : 0);
		evbuffer_drain(in, hl + plen);
		client_close(c, 0);
		return -1;
	case 0x9: /* ping */
		ws_send(c, 0xA, p, plen);
		break;
	default: /* pong, others */
		break;
	}
	evbuffer_drain(in, hl + plen);
	return 1;
}

static int handshake_read(struct client *c, struct evbuffer *in)
{
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (e.pos < 0) {
		if (evbuffer_get_length(in) > 16384) {
			client_close(c, 1);
			return -1;
		}
		return 0;
	}
	size_t hl = (size_t)e.pos + 4;
	char *hdr = malloc(hl + 1);
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
		client_close(c, 1);
		return -1;
	}
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

static void eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
		}
		client_close(c, 1);
	}
}

static void client_connect(struct client *c)
{
	struct worker *w = c->w;
	c->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		die("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, readcb, NULL, eventcb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->st = CS_CONNECTING;
	w->pending++;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&opt.addr, (int)opt.addrlen) < 0) {
		/* bufferevent frees nothing here; treat as failure */
		client_close(c, 1);
	}
}

static void connect_more(struct worker *w)
{
	while (w->pending < w->pending_cap && w->next_connect < w->ncl &&
	       atomic_load(&g_phase) != PH_STOP)
		client_connect(w->cl[w->next_connect++]);
}

static void tickcb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	int ph = atomic_load(&g_phase);
	if (ph == w->last_phase)
		return;
	w->last_phase = ph;
	if (ph == PH_RUN && opt.sc == SC_RELAY) {
		for (int i = 0; i < w->ncl; i++)
			if (w->cl[i]->is_sender && w->cl[i]->st == CS_OPEN)
				relay_fill(w->cl[i]);
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
		"usage: rtftd-bench --port N --scenario join|relay|idle [options]\n"
		"  --host H        loopback address (127.0.0.0/8 or ::1; default 127.0.0.1)\n"
		"  --clients N     join/idle: number of connections (default 100)\n"
		"  --pairs P       relay: sender/receiver pairs (default 10)\n"
		"  --window W      relay: messages in flight per pair (default 16)\n"
		"  --duration S    join: timeout; relay: measured seconds (after 1 s warm-up);\n"
		"                  idle: hold time (default 10)\n"
		"  --threads T     event loops (default 1)\n");
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

/* Waits until cond() or deadline; returns 1 if cond() became true. */
static int wait_until(int (*cond)(void), int64_t deadline)
{
	while (!cond()) {
		if (now_ns() >= deadline)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

static int total_clients;
static int cond_all_settled(void)
{
	/* every client either open or failed */
	return atomic_load(&g_open) + atomic_load(&g_failed) + atomic_load(&g_closed) >= total_clients;
}
static int want_registered;
static int cond_registered(void)
{
	/* done when all registered, or nothing more can happen (all settled
	 * and the rest failed or closed) */
	return atomic_load(&g_registered) >= want_registered ||
	       atomic_load(&g_failed) + atomic_load(&g_closed) >= total_clients;
}
static int cond_join_done(void)
{
	return atomic_load(&g_join_done_ns) != 0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *scen = NULL;
	int port = 0;
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },     { "port", required_argument, NULL, 'p' },
		{ "scenario", required_argument, NULL, 's' }, { "clients", required_argument, NULL, 'c' },
		{ "pairs", required_argument, NULL, 'P' },    { "window", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' }, { "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, '?' },	      { NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 's': scen = optarg; break;
		case 'c': opt.clients = atoi(optarg); break;
		case 'P': opt.pairs = atoi(optarg); break;
		case 'w': opt.window = atoi(optarg); break;
		case 'd': opt.duration = atoi(optarg); break;
		case 't': opt.threads = atoi(optarg); break;
		default: usage();
		}
	}
	if (!scen || port <= 0 || port > 65535)
		usage();
	if (!strcmp(scen, "join"))
		opt.sc = SC_JOIN;
	else if (!strcmp(scen, "relay"))
		opt.sc = SC_RELAY;
	else if (!strcmp(scen, "idle"))
		opt.sc = SC_IDLE;
	else
		usage();
	if (opt.clients < 1 || opt.pairs < 1 || opt.window < 1 || opt.duration < 1 || opt.threads < 1 ||
	    opt.threads > 256)
		usage();
	parse_host(host, port);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	int n = opt.sc == SC_RELAY ? 2 * opt.pairs : opt.clients;
	total_clients = n;
	int T = opt.threads;
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
		w->pending_cap = MAX_PENDING_CONNECTS / T > 0 ? MAX_PENDING_CONNECTS / T : 1;
		RAND_bytes((unsigned char *)&w->rng, sizeof w->rng);
		w->rng |= 1;
		if (opt.sc == SC_RELAY) {
			w->sample_cap = SAMPLE_CAP_TOTAL / (size_t)T;
			w->samples = malloc(w->sample_cap * sizeof *w->samples);
			if (!w->samples)
				die("out of memory");
		}
		w->tick = event_new(w->base, -1, EV_PERSIST, tickcb, w);
		struct timeval tv = { 0, 2000 };
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
			c->is_sender = i < opt.pairs;
			snprintf(c->name, sizeof c->name, "%c%04d", c->is_sender ? 'a' : 'b', k);
			snprintf(c->peer, sizeof c->peer, "%c%04d", c->is_sender ? 'b' : 'a', k);
			c->want_register = 1;
		} else if (opt.sc == SC_JOIN) {
			snprintf(c->name, sizeof c->name, "u%04d", i);
			c->want_register = 1;
		} else {
			snprintf(c->name, sizeof c->name, "u%04d", i);
			c->want_register = (i % 2) == 0;
		}
		want_registered += c->want_register;
	}

	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0);
	int64_t t0 = now_ns();
	for (int t = 0; t < T; t++)
		if (pthread_create(&ws[t].th, NULL, worker_main, &ws[t]))
			die("pthread_create failed");

	int64_t dl = (int64_t)opt.duration * 1000000000LL;
	const char *pfx = opt.sc == SC_JOIN ? "join" : opt.sc == SC_RELAY ? "relay" : "idle";
	if (opt.sc == SC_JOIN) {
		int ok = wait_until(cond_join_done, t0 + dl);
		int64_t tend = ok ? (int64_t)atomic_load(&g_join_done_ns) : now_ns();
		printf("join_completed %d\n", ok);
		printf("join_seconds %.6f\n", secs(tend - t0));
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
	} else {
		int ok = wait_until(cond_registered, t0 + 60000000000LL);
		wait_until(cond_all_settled, t0 + 60000000000LL);
		printf("idle_setup_seconds %.6f\n", secs(now_ns() - t0));
		if (!ok)
			fprintf(stderr, "rtftd-bench: only %d of %d clients registered\n", atomic_load(&g_registered),
				want_registered);
		int64_t hold = now_ns() + dl;
		while (now_ns() < hold)
			sleep_ms(10);
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
		printf("join_lists_received %ld\n", atomic_load(&g_lists));
		printf("join_current_clients %d\n", atomic_load(&g_done));
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
	}
	printf("%s_connected %d\n", pfx, open_now);
	printf("%s_registered %d\n", pfx, atomic_load(&g_registered));
	printf("%s_connect_failures %d\n", pfx, atomic_load(&g_failed));
	printf("%s_closed_by_server %d\n", pfx, atomic_load(&g_closed));
	printf("%s_error_msgs %ld\n", pfx, atomic_load(&g_errors));
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
	return 0;
}
