/*
 * icecheck.c: the metrics child's STUN/TURN checker thread (see icecheck.h).
 * Owns: the thread, its sockets, the per-server results, the ICE summary
 * in shared memory.
 * Must not: touch the event loop or a struct config from the thread (the
 * main thread hands it a plan, a copy of what it needs), or send anything
 * but an attribute-free Binding request: no credentials leave this file.
 */
#include "autoconf.h"
#include "icecheck.h"
#include "config.h"
#include "log.h"
#include "shm.h"
#include "stun.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define REASON_LEN 160
/* The longest answer read; a Binding response is about 100 bytes. */
#define ANSWER_MAX 2048

struct target {
	char url[sizeof(((struct ice_server *)0)->url)];
	char host[ICE_HOST_MAX + 1];
	int port;
	bool tcp, tls;
};

/* What the thread checks: built by the main thread, handed over whole. */
struct plan {
	struct target t[ICE_MAX_SERVERS];
	int n;
	int interval_ms; /* 0: off */
};

enum probe_state { PR_DONE = 0, PR_CONNECTING, PR_SENDING, PR_WAITING };

/* One server during a round (thread only). */
struct probe {
	int fd;
	enum probe_state st;
	struct addrinfo *ai;
	uint8_t tid[STUN_TID_LEN];
	uint8_t req[STUN_HEADER_LEN];
	size_t sent; /* bytes of req sent (TCP may take them in parts) */
	int64_t start_us; /* socket connected or connecting */
	int64_t sent_us; /* the (first) request went out; 0: not yet */
	bool resent;
	size_t have; /* bytes in buf */
	enum icecheck_result result;
	double rtt;
	struct stun_addr mapped;
	char reason[REASON_LEN];
	uint8_t buf[ANSWER_MAX]; /* last: a round clears what comes before */
};

static struct {
	pthread_t thread;
	bool on;
	int wake[2]; /* the main thread writes a byte: stop, or a new plan */
	atomic_bool stop;
	pthread_mutex_t lock;
	/* under lock */
	struct plan *pending; /* from icecheck_apply, not yet taken */
	struct icecheck_server res[ICE_MAX_SERVERS]; /* written by the thread */
	int nres;
	/* main thread only */
	struct plan applied;
	/* thread only */
	struct probe probes[ICE_MAX_SERVERS];
	int last_answering; /* -1: no round yet */
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = { -1, -1 }, .last_answering = -1 };

const char *icecheck_result_name(enum icecheck_result r)
{
	switch (r) {
	case ICECHECK_OK:
		return "ok";
	case ICECHECK_TIMEOUT:
		return "timeout";
	case ICECHECK_ERROR:
		return "error";
	case ICECHECK_UNCHECKED:
		return "unchecked";
	case ICECHECK_NRESULTS:
		break;
	}
	return "?";
}

/* ---- the plan (main thread) ---- */

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void plan_build(const struct config *cfg, struct plan *p)
{
	memset(p, 0, sizeof *p);
	p->interval_ms = cfg->ice_check_interval_ms;
	if (p->interval_ms < 0)
		p->interval_ms = 0;
	else if (p->interval_ms > 0 && p->interval_ms < ICECHECK_MIN_INTERVAL_MS)
		p->interval_ms = ICECHECK_MIN_INTERVAL_MS;

	struct ice_config *ic = xcalloc(1, sizeof *ic);
	struct rt_err err = { "" };
	if (ice_config_init(ic, nz(cfg->stun_servers), nz(cfg->turn_servers), nz(cfg->ice_transport_policy),
			    nz(cfg->turn_secret), cfg->turn_ttl, cfg->p2p_timeout_ms, &err) != RT_OK) {
		/* the master validated these keys, so this is not expected */
		log_error("ice checks: %s; no server is checked", err.msg);
		free(ic);
		return;
	}
	for (int i = 0; i < ic->nservers && p->n < ICE_MAX_SERVERS; i++) {
		const struct ice_server *s = &ic->servers[i];
		const char *url = ice_server_label(s);
		bool dup = false;
		/* with ice_transport_policy=relay browsers use TURN only: a STUN
		 * server answering would not make the service any better */
		if (ic->relay_only && (s->scheme == ICE_STUN || s->scheme == ICE_STUNS))
			continue;
		/* two entries that differ only in credentials are one server
		 * and would be one label set in /metrics */
		for (int j = 0; j < p->n && !dup; j++)
			dup = strcmp(p->t[j].url, url) == 0;
		if (dup)
			continue;
		struct target *t = &p->t[p->n++];
		snprintf(t->url, sizeof t->url, "%s", url);
		snprintf(t->host, sizeof t->host, "%s", s->host);
		t->port = s->port;
		t->tls = s->scheme == ICE_STUNS || s->scheme == ICE_TURNS;
		t->tcp = s->transport == ICE_TP_TCP;
	}
	ice_config_fini(ic);
	free(ic);
}

static bool plan_equal(const struct plan *a, const struct plan *b)
{
	if (a->n != b->n || a->interval_ms != b->interval_ms)
		return false;
	for (int i = 0; i < a->n; i++) {
		const struct target *x = &a->t[i], *y = &b->t[i];
		if (strcmp(x->url, y->url) != 0 || strcmp(x->host, y->host) != 0 || x->port != y->port ||
		    x->tcp != y->tcp || x->tls != y->tls)
			return false;
	}
	return true;
}

static void wake_thread(void)
{
	char c = 1;
	/* a full pipe already wakes it */
	if (write(S.wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_debug("write(ice checker pipe) failed: %s", strerror(errno));
}

static void hand_over(struct plan *p)
{
	S.applied = *p;
	pthread_mutex_lock(&S.lock);
	free(S.pending);
	S.pending = p;
	pthread_mutex_unlock(&S.lock);
}

/* ---- one server (thread) ---- */

static void probe_fail(struct probe *pr, enum icecheck_result r, const char *fmt, ...) RT_PRINTF(3, 4);
static void probe_fail(struct probe *pr, enum icecheck_result r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pr->reason, sizeof pr->reason, fmt, ap);
	va_end(ap);
	pr->result = r;
	pr->st = PR_DONE;
	if (pr->fd >= 0)
		close(pr->fd);
	pr->fd = -1;
}

static const char *errno_text(int e)
{
	return e == ECONNREFUSED ? "connection refused" : strerror(e);
}

static void random_tid(uint8_t tid[STUN_TID_LEN])
{
	size_t got = 0;
	while (got < STUN_TID_LEN) {
		ssize_t n = getrandom(tid + got, STUN_TID_LEN - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* no getrandom (seccomp, old kernel): the id only has to
			 * differ from round to round */
			static atomic_uint_fast64_t ctr;
			uint64_t v = (uint64_t)time_mono_us() ^ ((uint64_t)atomic_fetch_add(&ctr, 1) << 40);
			for (size_t i = got; i < STUN_TID_LEN; i++)
				tid[i] = (uint8_t)(v >> (8 * (i % 8)));
			return;
		}
		got += (size_t)n;
	}
}

static void resolve(const struct target *t, struct probe *pr)
{
	struct addrinfo hints;
	char port[16];
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = t->tcp ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_protocol = t->tcp ? IPPROTO_TCP : IPPROTO_UDP;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", t->port);
	int rc = getaddrinfo(t->host, port, &hints, &pr->ai);
	if (rc != 0) {
		pr->ai = NULL;
		probe_fail(pr, ICECHECK_ERROR, "cannot resolve %s: %s", t->host,
			   rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	}
}

static void send_request(const struct target *t, struct probe *pr)
{
	ssize_t n = send(pr->fd, pr->req + pr->sent, sizeof pr->req - pr->sent, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			pr->st = PR_SENDING;
			return;
		}
		probe_fail(pr, ICECHECK_ERROR, "send() failed: %s", errno_text(errno));
		return;
	}
	pr->sent += (size_t)n;
	if (pr->sent < sizeof pr->req) {
		pr->st = PR_SENDING;
		return;
	}
	pr->st = PR_WAITING;
	pr->sent_us = time_mono_us();
}

static void probe_start(const struct target *t, struct probe *pr)
{
	int fd = -1, err = 0;
	bool pending = false;
	for (const struct addrinfo *ai = pr->ai; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pending = true;
			break;
		}
		/* refused at once, or no route: the next address */
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		probe_fail(pr, ICECHECK_ERROR, "connect() failed: %s", errno_text(err ? err : EADDRNOTAVAIL));
		return;
	}
	pr->fd = fd;
	pr->start_us = time_mono_us();
	random_tid(pr->tid);
	stun_binding_request(pr->req, pr->tid);
	if (pending)
		pr->st = PR_CONNECTING;
	else
		send_request(t, pr);
}

static void take_answer(struct probe *pr, const uint8_t *msg, size_t len)
{
	struct stun_response r;
	struct rt_err err = { "" };
	int64_t now = time_mono_us();
	if (stun_parse_response(msg, len, pr->tid, &r, &err) != RT_OK) {
		probe_fail(pr, ICECHECK_ERROR, "bad answer: %s", err.msg);
		return;
	}
	if (r.type == STUN_BINDING_ERROR) {
		probe_fail(pr, ICECHECK_ERROR, "error response %d%s%s", r.error_code, r.reason[0] ? " " : "", r.reason);
		return;
	}
	pr->rtt = (double)(now - pr->sent_us) / 1e6;
	pr->mapped = r.mapped;
	probe_fail(pr, ICECHECK_OK, "answered");
}

static void read_udp(struct probe *pr)
{
	ssize_t n = recv(pr->fd, pr->buf, sizeof pr->buf, MSG_TRUNC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		/* ECONNREFUSED: an ICMP port unreachable came back */
		probe_fail(pr, ICECHECK_ERROR, "recv() failed: %s", errno_text(errno));
		return;
	}
	if ((size_t)n > sizeof pr->buf) {
		probe_fail(pr, ICECHECK_ERROR, "bad answer: a datagram of %zd bytes", n);
		return;
	}
	take_answer(pr, pr->buf, (size_t)n);
}

static void read_tcp(struct probe *pr)
{
	ssize_t n = recv(pr->fd, pr->buf + pr->have, sizeof pr->buf - pr->have, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		probe_fail(pr, ICECHECK_ERROR, "recv() failed: %s", errno_text(errno));
		return;
	}
	if (n == 0) {
		probe_fail(pr, ICECHECK_ERROR, "connection closed after %zu bytes of an answer", pr->have);
		return;
	}
	pr->have += (size_t)n;
	size_t want;
	struct rt_err err = { "" };
	int rc = stun_frame_len(pr->buf, pr->have, &want, &err);
	if (rc == RT_AGAIN)
		return;
	if (rc != RT_OK) {
		probe_fail(pr, ICECHECK_ERROR, "bad answer: %s", err.msg);
		return;
	}
	if (want > sizeof pr->buf) {
		probe_fail(pr, ICECHECK_ERROR, "bad answer: a message of %zu bytes", want);
		return;
	}
	if (pr->have >= want)
		take_answer(pr, pr->buf, want);
}

static void probe_io(const struct target *t, struct probe *pr, short revents)
{
	if (pr->st == PR_CONNECTING) {
		int e = 0;
		socklen_t elen = sizeof e;
		if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e || !(revents & POLLOUT)) {
			probe_fail(pr, ICECHECK_ERROR, "connect() failed: %s", e ? errno_text(e) : "hung up");
			return;
		}
		send_request(t, pr);
	} else if (pr->st == PR_SENDING) {
		send_request(t, pr);
	} else if (pr->st == PR_WAITING) {
		if (t->tcp)
			read_tcp(pr);
		else
			read_udp(pr);
	}
}

/* The time-outs and the UDP retransmission. */
static void probe_timers(const struct target *t, struct probe *pr, int64_t now)
{
	if (pr->st == PR_DONE)
		return;
	if (now - pr->start_us >= (int64_t)ICECHECK_TIMEOUT_MS * 1000) {
		if (pr->st == PR_CONNECTING)
			probe_fail(pr, ICECHECK_TIMEOUT, "connect() timed out after %d ms", ICECHECK_TIMEOUT_MS);
		else
			probe_fail(pr, ICECHECK_TIMEOUT, "no answer within %d ms%s", ICECHECK_TIMEOUT_MS,
				   t->tcp ? "" : " (2 requests)");
		return;
	}
	if (!t->tcp && pr->st == PR_WAITING && !pr->resent &&
	    now - pr->sent_us >= (int64_t)ICECHECK_RETRANSMIT_MS * 1000) {
		/* the same transaction again (RFC 5389 7.2.1); the round-trip
		 * time stays measured from the first request */
		pr->resent = true;
		if (send(pr->fd, pr->req, sizeof pr->req, MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EINTR)
			probe_fail(pr, ICECHECK_ERROR, "send() failed: %s", errno_text(errno));
	}
}

/* When the next timer of pr is due, in monotonic microseconds. */
static int64_t probe_due(const struct target *t, const struct probe *pr)
{
	int64_t due = pr->start_us + (int64_t)ICECHECK_TIMEOUT_MS * 1000;
	if (!t->tcp && pr->st == PR_WAITING && !pr->resent) {
		int64_t rt = pr->sent_us + (int64_t)ICECHECK_RETRANSMIT_MS * 1000;
		if (rt < due)
			due = rt;
	}
	return due;
}

/* ---- a round (thread) ---- */

static void drain_wake(void)
{
	char buf[64];
	while (read(S.wake[0], buf, sizeof buf) > 0)
		;
}

/* Waits up to timeout_ms (-1: for ever) for the main thread. */
static void wait_wake(int timeout_ms)
{
	struct pollfd pfd = { .fd = S.wake[0], .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) > 0)
		drain_wake();
}

static void probe_release(struct probe *pr)
{
	if (pr->fd >= 0)
		close(pr->fd);
	pr->fd = -1;
	if (pr->ai)
		freeaddrinfo(pr->ai);
	pr->ai = NULL;
}

/* Checks every server of p at once. Returns false when told to stop. */
static bool round_run(const struct plan *p)
{
	struct probe *pr = S.probes;
	bool stopped = false;

	for (int i = 0; i < p->n; i++) {
		memset(&pr[i], 0, offsetof(struct probe, buf));
		pr[i].fd = -1;
	}
	/* every name first: the clock of a probe must not run while another
	 * name is being resolved */
	for (int i = 0; i < p->n && !stopped; i++) {
		if (p->t[i].tls)
			probe_fail(&pr[i], ICECHECK_UNCHECKED, "TLS (stuns:, turns:) is not checked");
		else
			resolve(&p->t[i], &pr[i]);
		stopped = atomic_load(&S.stop);
	}
	for (int i = 0; i < p->n && !stopped; i++)
		if (pr[i].ai)
			probe_start(&p->t[i], &pr[i]);

	while (!stopped) {
		struct pollfd fds[1 + ICE_MAX_SERVERS];
		int which[1 + ICE_MAX_SERVERS];
		int nfds = 1;
		int64_t now = time_mono_us(), due = INT64_MAX;
		fds[0] = (struct pollfd){ .fd = S.wake[0], .events = POLLIN };
		for (int i = 0; i < p->n; i++) {
			if (pr[i].st == PR_DONE)
				continue;
			short ev = pr[i].st == PR_WAITING ? POLLIN : POLLOUT;
			fds[nfds] = (struct pollfd){ .fd = pr[i].fd, .events = ev };
			which[nfds++] = i;
			int64_t d = probe_due(&p->t[i], &pr[i]);
			if (d < due)
				due = d;
		}
		if (nfds == 1)
			break;
		int64_t wait_us = due > now ? due - now : 0;
		int rc = poll(fds, (nfds_t)nfds, (int)((wait_us + 999) / 1000));
		if (rc < 0 && errno != EINTR) {
			int e = errno;
			for (int k = 1; k < nfds; k++)
				probe_fail(&pr[which[k]], ICECHECK_ERROR, "poll() failed: %s", strerror(e));
			break;
		}
		if (rc > 0 && fds[0].revents) {
			/* a new plan waits until the round is over */
			drain_wake();
			if (atomic_load(&S.stop)) {
				stopped = true;
				break;
			}
		}
		for (int k = 1; rc > 0 && k < nfds; k++)
			if (fds[k].revents)
				probe_io(&p->t[which[k]], &pr[which[k]], fds[k].revents);
		now = time_mono_us();
		for (int i = 0; i < p->n; i++)
			probe_timers(&p->t[i], &pr[i], now);
	}
	for (int i = 0; i < p->n; i++)
		probe_release(&pr[i]);
	return !stopped;
}

/* ---- results (thread) ---- */

static int count_checked(const struct plan *p)
{
	int n = 0;
	for (int i = 0; i < p->n; i++)
		n += !p->t[i].tls;
	return n;
}

static void publish(const struct plan *p, int answering, int64_t checked_ms, const char *reason)
{
	struct shm_ice v;
	memset(&v, 0, sizeof v);
	v.servers = p->n;
	v.checked = count_checked(p);
	v.answering = answering;
	v.interval_ms = p->interval_ms;
	v.checked_ms = checked_ms;
	snprintf(v.reason, sizeof v.reason, "%s", reason);
	shm_set_ice(rt_shm, &v);
}

/* A new plan: the results table follows it, counters kept per URL. */
static void install(const struct plan *p)
{
	struct icecheck_server nr[ICE_MAX_SERVERS];
	memset(nr, 0, sizeof nr);
	pthread_mutex_lock(&S.lock);
	for (int i = 0; i < p->n; i++) {
		struct icecheck_server *r = &nr[i];
		for (int j = 0; j < S.nres; j++)
			if (strcmp(S.res[j].url, p->t[i].url) == 0) {
				memcpy(r->results, S.res[j].results, sizeof r->results);
				break;
			}
		snprintf(r->url, sizeof r->url, "%s", p->t[i].url);
		r->is_checked = !p->t[i].tls;
	}
	memcpy(S.res, nr, sizeof nr);
	S.nres = p->n;
	pthread_mutex_unlock(&S.lock);
	S.last_answering = -1;
	publish(p, 0, 0, "");
	if (p->n)
		log_debug("ice checks: %d server%s, %d checked, every %d ms", p->n, p->n == 1 ? "" : "s",
			  count_checked(p), p->interval_ms);
}

static void record(const struct plan *p)
{
	struct probe *pr = S.probes;
	bool had[ICE_MAX_SERVERS], was_up[ICE_MAX_SERVERS];
	int answering = 0, checked = count_checked(p);

	pthread_mutex_lock(&S.lock);
	for (int i = 0; i < p->n; i++) {
		struct icecheck_server *r = &S.res[i];
		had[i] = r->has_result;
		was_up[i] = r->is_up;
		r->results[pr[i].result]++;
		if (p->t[i].tls)
			continue;
		r->has_result = true;
		r->is_up = pr[i].result == ICECHECK_OK;
		r->rtt_seconds = r->is_up ? pr[i].rtt : 0.0;
		answering += r->is_up;
	}
	pthread_mutex_unlock(&S.lock);

	char reason[SHM_ICE_REASON_LEN] = "";
	size_t pos = 0;
	for (int i = 0; i < p->n; i++) {
		const char *url = p->t[i].url;
		if (p->t[i].tls)
			continue;
		if (pr[i].result == ICECHECK_OK) {
			char a[STUN_ADDR_STRLEN];
			if (had[i] && !was_up[i])
				log_info("ice check: %s answers again (%.1f ms)", url, pr[i].rtt * 1000.0);
			log_debug("ice check: %s answered in %.3f ms, mapped address %s", url, pr[i].rtt * 1000.0,
				  stun_addr_format(&pr[i].mapped, a, sizeof a));
			continue;
		}
		if (!had[i] || was_up[i])
			log_warn("ice check: %s failed (%s): %s", url, icecheck_result_name(pr[i].result),
				 pr[i].reason);
		else
			log_debug("ice check: %s failed (%s): %s", url, icecheck_result_name(pr[i].result),
				  pr[i].reason);
		if (pos < sizeof reason - 1) {
			int n = snprintf(reason + pos, sizeof reason - pos, "%s%s: %s", pos ? "; " : "", url,
					 pr[i].reason);
			pos = n < 0 ? pos : pos + (size_t)n;
		}
	}
	if (answering > 0)
		reason[0] = '\0';
	publish(p, answering, time_mono_ms(), reason);

	if (checked > 0 && answering == 0 && S.last_answering != 0)
		log_warn("ice check: no STUN or TURN server answers; /readyz reports degraded");
	else if (answering > 0 && S.last_answering == 0)
		log_info("ice check: %d of %d STUN or TURN servers answer again", answering, checked);
	S.last_answering = answering;
}

/* ---- the thread ---- */

static void *thread_main(void *arg)
{
	struct plan *plan = NULL;
	int64_t next_ms = 0;

	while (!atomic_load(&S.stop)) {
		pthread_mutex_lock(&S.lock);
		struct plan *np = S.pending;
		S.pending = NULL;
		pthread_mutex_unlock(&S.lock);
		if (np) {
			free(plan);
			plan = np;
			install(plan);
			next_ms = 0; /* the new servers now */
		}
		if (!plan || plan->n == 0 || plan->interval_ms == 0) {
			wait_wake(-1);
			continue;
		}
		int64_t now = time_mono_ms();
		if (now < next_ms) {
			wait_wake((int)(next_ms - now));
			continue;
		}
		next_ms = now + plan->interval_ms;
		if (round_run(plan))
			record(plan);
	}
	free(plan);
	return NULL;
}

/* ---- main thread ---- */

int icecheck_start(const struct config *cfg, struct rt_err *err)
{
	if (pipe2(S.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		rt_err_set(err, "pipe2() failed: %s", strerror(errno));
		return RT_ERR;
	}
	struct plan *p = xmalloc(sizeof *p);
	plan_build(cfg, p);
	hand_over(p);
	atomic_store(&S.stop, false);
	int rc = pthread_create(&S.thread, NULL, thread_main, NULL);
	if (rc != 0) {
		rt_err_set(err, "pthread_create(ice checker) failed: %s", strerror(rc));
		free(S.pending); /* no thread took it */
		S.pending = NULL;
		close(S.wake[0]);
		close(S.wake[1]);
		S.wake[0] = S.wake[1] = -1;
		return RT_ERR;
	}
	S.on = true;
	return RT_OK;
}

void icecheck_apply(const struct config *cfg)
{
	if (!S.on)
		return;
	struct plan *p = xmalloc(sizeof *p);
	plan_build(cfg, p);
	if (plan_equal(p, &S.applied)) {
		free(p);
		return;
	}
	hand_over(p);
	wake_thread();
}

void icecheck_stop(void)
{
	if (!S.on)
		return;
	atomic_store(&S.stop, true);
	wake_thread();
	pthread_join(S.thread, NULL);
	S.on = false;
	close(S.wake[0]);
	close(S.wake[1]);
	S.wake[0] = S.wake[1] = -1;
	pthread_mutex_lock(&S.lock);
	free(S.pending);
	S.pending = NULL;
	pthread_mutex_unlock(&S.lock);
}

int icecheck_snapshot(struct icecheck_server *out, int max)
{
	pthread_mutex_lock(&S.lock);
	int n = S.nres < max ? S.nres : max;
	if (n > 0)
		memcpy(out, S.res, (size_t)n * sizeof *out);
	pthread_mutex_unlock(&S.lock);
	return n;
}
