/*
 * master.c: the supervisor loop. A poll() loop over a self-pipe (signal
 * handlers only set flags and write a byte) and the children's channels,
 * with timers for respawn back-off, drain and shutdown deadlines and the
 * systemd watchdog. No event library: the master holds no client state, and
 * nothing of its loop may leak into a child across fork.
 */
#include "autoconf.h"
#include "master.h"
#include "chan.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "presence.h"
#include "proc.h"
#include "shm.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define QUICK_DEATH_MS 30000 /* a child that ran less than this and died counts as a failure */

struct generation {
	uint32_t id;
	char *host;
	int port;
	int nworkers;
	int fds[RT_MAX_WORKERS]; /* one SO_REUSEPORT socket per worker */
	int slots[RT_MAX_WORKERS];
};

static struct {
	struct config *cfg;
	const struct config_src *src;
	int sigpipe[2];
	struct generation gen; /* the current one */
	int metrics_fd; /* metrics listener or -1 */
	int stats_fds[2]; /* [0] read by metrics, [1] written by workers */
	bool announced_ready; /* READY=1 sent for the current state */
	bool reloading;
	bool stopping;
	int64_t stop_deadline_ms;
	int exit_code;
	uint64_t watchdog_usec;
	int64_t last_watchdog_ms;
	int64_t last_status_ms; /* last CHAN_STATUS from metrics */
	struct chan_status status;
	char status_line[256];
} S = { .metrics_fd = -1, .stats_fds = { -1, -1 } };

static volatile sig_atomic_t got_hup, got_term, got_usr1, got_chld;

static void on_signal(int sig)
{
	int saved = errno;
	switch (sig) {
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	case SIGCHLD:
		got_chld = 1;
		break;
	}
	char b = 0;
	(void)!write(S.sigpipe[1], &b, 1);
	errno = saved;
}

static int setup_signals(struct rt_err *err)
{
	if (pipe2(S.sigpipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		rt_err_set(err, "pipe2() failed: %s", strerror(errno));
		return RT_ERR;
	}
	proc_close_in_child(S.sigpipe[0]);
	proc_close_in_child(S.sigpipe[1]);
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	return RT_OK;
}

/* ---- children ---- */

struct spawn_ctx {
	int child_chan;
	int listen_fd;
	int index;
};

static void close_generation_fds_except(const struct generation *g, int keep)
{
	for (int i = 0; i < g->nworkers; i++)
		if (g->fds[i] >= 0 && g->fds[i] != keep)
			close(g->fds[i]);
}

static struct generation *old_gens[4];

static void close_all_listeners_except(int keep)
{
	close_generation_fds_except(&S.gen, keep);
	for (size_t i = 0; i < RT_ARRAY_LEN(old_gens); i++)
		if (old_gens[i])
			close_generation_fds_except(old_gens[i], keep);
	if (S.metrics_fd >= 0 && S.metrics_fd != keep)
		close(S.metrics_fd);
}

static void worker_body(struct child *c, void *arg)
{
	struct spawn_ctx *sc = arg;
	close_all_listeners_except(sc->listen_fd);
	close(S.stats_fds[0]);
	proctitle_set("rtftd: worker %d", c->slot);
	struct worker_args a = { .slot = c->slot,
				 .index = c->slot,
				 .generation = c->generation,
				 .listen_fd = sc->listen_fd,
				 .chan_fd = sc->child_chan,
				 .stats_fd = S.stats_fds[1],
				 .cfg = S.cfg };
	worker_main(&a);
}

static void metrics_body(struct child *c, void *arg)
{
	struct spawn_ctx *sc = arg;
	close_all_listeners_except(S.metrics_fd);
	close(S.stats_fds[1]);
	proctitle_set("rtftd: metrics");
	struct metrics_args a = { .listen_fd = S.metrics_fd,
				  .chan_fd = sc->child_chan,
				  .stats_fd = S.stats_fds[0],
				  .cfg = S.cfg };
	metrics_main(&a);
}

static int listen_fd_for(const struct child *c)
{
	const struct generation *g = NULL;
	if (S.gen.id == c->generation)
		g = &S.gen;
	for (size_t i = 0; !g && i < RT_ARRAY_LEN(old_gens); i++)
		if (old_gens[i] && old_gens[i]->id == c->generation)
			g = old_gens[i];
	if (!g)
		return -1;
	for (int i = 0; i < g->nworkers; i++)
		if (g->slots[i] == c->slot)
			return g->fds[i];
	return -1;
}

static int start_child(struct child *c, struct rt_err *err)
{
	int fds[2];
	if (chan_pair(fds, err) != RT_OK)
		return RT_ERR;
	c->chan = fds[0];
	struct spawn_ctx sc = { .child_chan = fds[1], .listen_fd = -1 };
	int rc;
	if (c->kind == CHILD_WORKER) {
		sc.listen_fd = listen_fd_for(c);
		if (sc.listen_fd < 0) {
			rt_err_set(err, "no listening socket for worker %d", c->slot);
			close(fds[0]);
			close(fds[1]);
			c->chan = -1;
			return RT_ERR;
		}
		struct shm_slot *s = &rt_shm->slots[c->slot];
		atomic_store(&s->state, SLOT_STARTING);
		atomic_store(&s->generation, c->generation);
		atomic_store(&s->index, c->slot);
		atomic_store(&s->heartbeat_ms, 0);
		rc = proc_spawn(c, worker_body, &sc, err);
		if (rc == RT_OK) {
			atomic_store(&s->pid, (int)c->pid);
			atomic_store(&s->started_ms, time_mono_ms());
		}
	} else {
		rc = proc_spawn(c, metrics_body, &sc, err);
		if (rc == RT_OK)
			atomic_store(&rt_shm->metrics_pid, (int)c->pid);
	}
	close(fds[1]);
	if (rc != RT_OK) {
		close(fds[0]);
		c->chan = -1;
		return RT_ERR;
	}
	return RT_OK;
}

static const char *child_name(const struct child *c, char *buf, size_t len)
{
	if (c->kind == CHILD_METRICS)
		snprintf(buf, len, "metrics");
	else
		snprintf(buf, len, "worker %d", c->slot);
	return buf;
}

static void send_quit(struct child *c, int mode, int timeout_ms)
{
	if (c->pid <= 0 || c->quitting)
		return;
	c->quitting = true;
	struct chan_quit q = { mode, timeout_ms };
	if (c->chan < 0 || chan_send(c->chan, CHAN_QUIT, &q, sizeof q) != RT_OK)
		kill(c->pid, SIGTERM);
	/* a child that outlives its deadline by a margin is killed */
	c->kill_at_ms = time_mono_ms() + timeout_ms + 1000;
	if (c->kind == CHILD_WORKER)
		atomic_store(&rt_shm->slots[c->slot].state, SLOT_DRAINING);
}

/* ---- generations ---- */

static int free_slot(void)
{
	for (int s = 0; s < RT_MAX_SLOTS; s++) {
		bool taken = false;
		for (int i = 0; i < PROC_MAX && !taken; i++)
			taken = proc_children[i].used && proc_children[i].kind == CHILD_WORKER &&
				proc_children[i].slot == s;
		if (!taken)
			return s;
	}
	return -1;
}

static int bind_generation(struct generation *g, const struct config *cfg, bool probe, struct rt_err *err)
{
	memset(g, 0, sizeof *g);
	for (int i = 0; i < RT_MAX_WORKERS; i++)
		g->fds[i] = g->slots[i] = -1;
	g->host = xstrdup(cfg->host);
	g->port = cfg->port;
	g->nworkers = cfg->workers;
	if (probe && listen_probe(cfg->host, cfg->port, err) != RT_OK)
		goto fail;
	for (int i = 0; i < g->nworkers; i++) {
		g->fds[i] = listen_tcp(cfg->host, cfg->port, true, 1024, err);
		if (g->fds[i] < 0)
			goto fail;
	}
	return RT_OK;
fail:
	close_generation_fds_except(g, -1);
	free(g->host);
	g->host = NULL;
	return RT_ERR;
}

static int spawn_generation(struct generation *g, struct rt_err *err)
{
	for (int i = 0; i < g->nworkers; i++) {
		struct child *c = proc_alloc();
		int slot = free_slot();
		if (!c || slot < 0) {
			rt_err_set(err, "no free worker slot");
			return RT_ERR;
		}
		/* proc_alloc marked c used; free_slot ignores it since its kind is 0 */
		c->kind = CHILD_WORKER;
		c->slot = slot;
		c->generation = g->id;
		g->slots[i] = slot;
		if (start_child(c, err) != RT_OK) {
			c->used = false;
			return RT_ERR;
		}
	}
	atomic_store(&rt_shm->workers_wanted, g->nworkers);
	atomic_store(&rt_shm->generation, g->id);
	return RT_OK;
}

static void retire_generation(struct generation *g, int mode, int timeout_ms)
{
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (c->used && c->kind == CHILD_WORKER && c->generation == g->id) {
			if (c->pid > 0)
				send_quit(c, mode, timeout_ms);
			else
				c->used = false; /* waiting for a respawn that will not come */
		}
	}
	/* the workers hold their own copies; ours go so the kernel stops
	 * queueing new connections on them once the workers close theirs */
	close_generation_fds_except(g, -1);
	for (int i = 0; i < g->nworkers; i++)
		g->fds[i] = -1;
}

/* ---- readiness and status ---- */

static bool all_ready(void)
{
	for (int i = 0; i < PROC_MAX; i++) {
		const struct child *c = &proc_children[i];
		if (!c->used || c->quitting)
			continue;
		if (c->kind == CHILD_WORKER && c->generation != S.gen.id)
			continue;
		if (!c->ready)
			return false;
	}
	return true;
}

static void update_status(bool force)
{
	char line[256];
	snprintf(line, sizeof line, "%d/%d workers ready, %lld connections, %lld requests served%s",
		 shm_ready_workers(rt_shm), S.gen.nworkers, (long long)S.status.connections,
		 (long long)S.status.requests, S.stopping ? ", stopping" : "");
	if (force || strcmp(line, S.status_line) != 0) {
		snprintf(S.status_line, sizeof S.status_line, "%s", line);
		notify_status("%s", line);
	}
}

static void check_ready(void)
{
	if (S.announced_ready || S.stopping || !all_ready())
		return;
	S.announced_ready = true;
	notify_ready();
	if (S.reloading) {
		S.reloading = false;
		log_info("reload complete: %d workers ready", S.gen.nworkers);
	} else {
		log_info("ready: %d workers on %s:%d, metrics on %s", S.gen.nworkers, S.gen.host, S.gen.port,
			 S.cfg->metrics_listen[0] ? S.cfg->metrics_listen : "(off)");
	}
	update_status(true);
}

/* ---- events ---- */

static void on_child_message(struct child *c)
{
	char buf[CHAN_MAX_PAYLOAD];
	for (;;) {
		uint16_t type;
		int n = chan_recv(c->chan, &type, buf, sizeof buf);
		if (n == RT_AGAIN)
			return;
		if (n == RT_ERR) {
			/* EOF: the child is exiting; SIGCHLD will tell the rest */
			close(c->chan);
			c->chan = -1;
			return;
		}
		switch (type) {
		case CHAN_READY:
			c->ready = true;
			if (c->kind == CHILD_WORKER && !c->quitting)
				atomic_store(&rt_shm->slots[c->slot].state, SLOT_READY);
			if (c->kind == CHILD_METRICS)
				atomic_store(&rt_shm->metrics_ready, 1);
			check_ready();
			break;
		case CHAN_STATUS:
			if ((size_t)n >= sizeof S.status) {
				memcpy(&S.status, buf, sizeof S.status);
				S.last_status_ms = time_mono_ms();
			}
			break;
		case CHAN_CONFIG_OK: {
			/* a worker took a reload in place; a failure it logs itself */
			char name[32];
			log_debug("%s applied the new configuration", child_name(c, name, sizeof name));
			break;
		}
		default:
			log_warn("unexpected channel message %u from pid %d", type, (int)c->pid);
		}
	}
}

static void begin_stop(void)
{
	if (S.stopping)
		return;
	S.stopping = true;
	notify_stopping();
	atomic_store(&rt_shm->shutting_down, 1);
	log_info("stopping: finishing in-flight requests (up to %d ms)", S.cfg->shutdown_timeout_ms);
	S.stop_deadline_ms = time_mono_ms() + S.cfg->shutdown_timeout_ms;
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (!c->used)
			continue;
		if (c->pid > 0) {
			c->quitting = false; /* a draining worker gets the shorter deadline */
			send_quit(c, QUIT_SHUTDOWN, S.cfg->shutdown_timeout_ms);
			c->kill_at_ms = S.stop_deadline_ms;
		} else {
			c->used = false;
		}
	}
	close_generation_fds_except(&S.gen, -1);
	for (int i = 0; i < S.gen.nworkers; i++)
		S.gen.fds[i] = -1;
	update_status(true);
}

static void fatal_child(struct child *c, int status)
{
	char name[32];
	log_error("%s could not initialise (exit %d): stopping rtftd", child_name(c, name, sizeof name), status);
	S.exit_code = RT_EXIT_FAILURE;
	begin_stop();
}

static void reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		struct child *c = proc_find_pid(pid);
		if (!c)
			continue;
		char name[32];
		child_name(c, name, sizeof name);
		int64_t ran = time_mono_ms() - c->started_ms;
		if (c->chan >= 0) {
			close(c->chan);
			c->chan = -1;
		}
		c->pid = 0;
		c->ready = false;
		if (c->kind == CHILD_WORKER) {
			atomic_store(&rt_shm->slots[c->slot].pid, 0);
			atomic_store(&rt_shm->slots[c->slot].state, SLOT_EMPTY);
			/* its users are gone: every other worker sends fresh lists */
			int released = presence_release_slot(c->slot);
			if (released > 0)
				log_info("%s held %d names: released", name, released);
		} else {
			atomic_store(&rt_shm->metrics_pid, 0);
			atomic_store(&rt_shm->metrics_ready, 0);
		}
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (c->quitting || S.stopping) {
			if (clean)
				log_debug("%s (pid %d) exited", name, (int)pid);
			else
				log_warn("%s (pid %d) stopped with %s %d", name, (int)pid,
					 WIFSIGNALED(status) ? "signal" : "status",
					 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			c->used = false;
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == RT_EXIT_CHILD_INIT) {
			c->used = false;
			fatal_child(c, WEXITSTATUS(status));
			continue;
		}
		if (ran >= QUICK_DEATH_MS)
			c->fails = 0;
		c->fails++;
		int64_t delay = proc_backoff_ms(c->fails);
		if (c->kind == CHILD_WORKER)
			atomic_fetch_add(&rt_shm->worker_restarts, 1);
		if (WIFSIGNALED(status))
			log_warn("%s (pid %d) killed by signal %d after %lld ms", name, (int)pid, WTERMSIG(status),
				 (long long)ran);
		else
			log_warn("%s (pid %d) exited with status %d after %lld ms", name, (int)pid, WEXITSTATUS(status),
				 (long long)ran);
		if (delay > 0)
			log_warn("%s keeps dying (%d times in a row): next start in %lld ms", name, c->fails,
				 (long long)delay);
		else
			log_info("restarting %s", name);
		c->respawn_at_ms = time_mono_ms() + delay;
	}
}

static void run_respawns(int64_t now)
{
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (!c->used || c->pid > 0 || !c->respawn_at_ms || c->respawn_at_ms > now || S.stopping)
			continue;
		struct rt_err err;
		char name[32];
		if (start_child(c, &err) != RT_OK) {
			log_error("cannot restart %s: %s", child_name(c, name, sizeof name), err.msg);
			c->fails++;
			c->respawn_at_ms = now + proc_backoff_ms(c->fails);
		}
	}
}

static void run_kills(int64_t now)
{
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (c->used && c->pid > 0 && c->kill_at_ms && now >= c->kill_at_ms) {
			char name[32];
			log_warn("%s (pid %d) did not stop in time: killing it", child_name(c, name, sizeof name),
				 (int)c->pid);
			kill(c->pid, SIGKILL);
			c->kill_at_ms = 0;
		}
	}
}

static void broadcast(enum chan_type type, const void *payload, size_t len)
{
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (c->used && c->pid > 0 && c->chan >= 0 && !c->quitting)
			if (chan_send(c->chan, type, payload, len) != RT_OK) {
				char name[32];
				log_warn("cannot send to %s: %s", child_name(c, name, sizeof name), strerror(errno));
			}
	}
}

/* Keeps the previous generation until its workers are gone; the oldest of
 * a full list is dropped (its workers have long been told to quit). */
static struct generation *park_generation(const struct generation *g)
{
	struct generation *old = xmalloc(sizeof *old);
	*old = *g;
	size_t i;
	for (i = 0; i < RT_ARRAY_LEN(old_gens) && old_gens[i]; i++)
		;
	if (i == RT_ARRAY_LEN(old_gens)) {
		free(old_gens[0]->host);
		free(old_gens[0]);
		memmove(old_gens, old_gens + 1, sizeof old_gens - sizeof old_gens[0]);
		i = RT_ARRAY_LEN(old_gens) - 1;
	}
	old_gens[i] = old;
	return old;
}

/* The running children that are not quitting take cfg in place. */
static void send_config(const struct config *cfg)
{
	char *text = config_format(cfg, false, false);
	broadcast(CHAN_CONFIG, text, strlen(text));
	free(text);
}

/* host, port or workers changed: new workers on new sockets, the old ones
 * drain. Takes nc; on failure keeps everything as it runs. */
static void reload_new_generation(struct config *nc)
{
	struct rt_err err;
	struct generation g;
	bool same_addr = strcmp(nc->host, S.gen.host) == 0 && nc->port == S.gen.port;
	if (bind_generation(&g, nc, !same_addr, &err) != RT_OK) {
		log_error("reload failed: %s; keeping the current configuration", err.msg);
		config_free(nc);
		(void)log_setup(S.cfg->log_level, S.cfg->log_format, S.cfg->log_file, &err);
		log_set_addr_mode(S.cfg->log_addr);
		notify_ready();
		return;
	}
	g.id = S.gen.id + 1;
	struct generation *old = park_generation(&S.gen);
	struct config *oc = S.cfg;
	S.cfg = nc;
	S.gen = g;
	log_info("reload: starting %d workers on %s:%d (generation %u); the old ones drain for up to %d ms", g.nworkers,
		 g.host, g.port, g.id, nc->drain_timeout_ms);
	retire_generation(old, QUIT_DRAIN, nc->drain_timeout_ms);
	if (spawn_generation(&S.gen, &err) != RT_OK)
		log_error("reload: %s", err.msg);
	send_config(nc); /* the metrics child: the old workers are quitting, the new ones forked with nc */
	config_free(oc);
	S.announced_ready = false;
	S.reloading = true;
	check_ready();
}

static void reload(void)
{
	notify_reloading();
	log_info("reloading configuration");
	struct config_diag d = { 0 };
	struct config *nc = config_load(S.src, &d);
	config_diag_print(&d, true);
	config_diag_fini(&d);
	if (!nc) {
		log_error("reload failed: the configuration is invalid; keeping the current one");
		notify_ready();
		notify_status("reload failed: invalid configuration (see the log); running with the previous one");
		return;
	}
	char kept[256];
	if (config_keep_start_only(S.cfg, nc, kept, sizeof kept) > 0)
		log_warn("reload: %s changed, which takes a restart; keeping the running values", kept);
	struct config_change ch;
	config_diff(S.cfg, nc, &ch);
	struct rt_err err;
	if (log_setup(nc->log_level, nc->log_format, nc->log_file, &err) != RT_OK)
		log_error("reload: %s (keeping the previous log destination)", err.msg);
	log_set_addr_mode(nc->log_addr);
	if (ch.new_generation) {
		reload_new_generation(nc);
		return;
	}
	send_config(nc);
	config_free(S.cfg);
	S.cfg = nc;
	log_info("reload complete: settings applied in place%s", ch.any ? "" : " (nothing changed)");
	notify_ready();
	update_status(true);
}

static void reopen_logs(void)
{
	struct rt_err err;
	if (log_reopen(&err) != RT_OK)
		log_error("reopening the log file failed: %s", err.msg);
	else
		log_info("log file reopened");
	broadcast(CHAN_REOPEN_LOG, NULL, 0);
}

static void watchdog(int64_t now)
{
	if (!S.watchdog_usec)
		return;
	int64_t period = (int64_t)(S.watchdog_usec / 2000);
	if (period < 1)
		period = 1;
	if (now - S.last_watchdog_ms < period)
		return;
	/* only while the metrics child reports every worker alive */
	if (S.last_status_ms && now - S.last_status_ms < period + 2000 && S.status.all_alive) {
		notify_watchdog();
		S.last_watchdog_ms = now;
	}
}

static int64_t next_timeout(int64_t now)
{
	int64_t t = 1000;
	for (int i = 0; i < PROC_MAX; i++) {
		const struct child *c = &proc_children[i];
		if (!c->used)
			continue;
		if (c->pid == 0 && c->respawn_at_ms && c->respawn_at_ms - now < t)
			t = c->respawn_at_ms - now;
		if (c->pid > 0 && c->kill_at_ms && c->kill_at_ms - now < t)
			t = c->kill_at_ms - now;
	}
	if (S.watchdog_usec) {
		int64_t period = (int64_t)(S.watchdog_usec / 2000);
		if (period < t)
			t = period;
	}
	return t < 0 ? 0 : t;
}

/* Every connection is a descriptor in one worker: take the soft limit up
 * to the hard one (LimitNOFILE= in the unit sets both), which workers
 * inherit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("cannot raise the open files limit from %llu to %llu: %s", (unsigned long long)was,
				 (unsigned long long)rl.rlim_max, strerror(errno));
			return;
		}
	}
	log_debug("open files limit: %llu per process", (unsigned long long)rl.rlim_cur);
}

/* The sockets the master holds for its children: the stats pair, the first
 * generation's listeners and the metrics listener. */
static int open_sockets(const struct config *cfg, struct rt_err *err)
{
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, S.stats_fds) < 0) {
		rt_err_set(err, "socketpair(AF_UNIX, SOCK_DGRAM) failed: %s", strerror(errno));
		return RT_ERR;
	}
	int big = 1 << 20;
	(void)setsockopt(S.stats_fds[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

	if (bind_generation(&S.gen, cfg, true, err) != RT_OK)
		return RT_ERR;
	S.gen.id = 1;
	if (cfg->metrics_listen[0]) {
		char *host = NULL;
		int port = 0;
		struct rt_err lerr;
		if (listen_split_addr(cfg->metrics_listen, &host, &port, &lerr) != RT_OK ||
		    (S.metrics_fd = listen_tcp(host, port, false, 128, &lerr)) < 0) {
			rt_err_set(err, "metrics_listen: %s", lerr.msg);
			free(host);
			return RT_ERR;
		}
		free(host);
	}
	return RT_OK;
}

/* One poll() over the self-pipe and every child's channel, then the
 * children's messages. RT_ERR when poll() itself fails. */
static int poll_once(void)
{
	struct pollfd pfds[PROC_MAX + 1];
	struct child *owners[PROC_MAX + 1];
	int n = 0;
	/* a new key for hashed addresses at UTC midnight (this runs at least
	 * once a second) */
	log_addr_key_rotate(&rt_shm->addr_key);
	pfds[n].fd = S.sigpipe[0];
	pfds[n].events = POLLIN;
	owners[n++] = NULL;
	for (int i = 0; i < PROC_MAX; i++) {
		struct child *c = &proc_children[i];
		if (c->used && c->pid > 0 && c->chan >= 0) {
			pfds[n].fd = c->chan;
			pfds[n].events = POLLIN;
			owners[n++] = c;
		}
	}
	int64_t now = time_mono_ms();
	int timeout = (int)next_timeout(now);
	if (S.stopping && S.stop_deadline_ms - now < timeout)
		timeout = (int)(S.stop_deadline_ms - now > 0 ? S.stop_deadline_ms - now : 0);
	int rc = poll(pfds, (nfds_t)n, timeout);
	if (rc < 0 && errno != EINTR) {
		log_error("poll() failed: %s", strerror(errno));
		return RT_ERR;
	}
	if (rc > 0 && (pfds[0].revents & POLLIN)) {
		char drain[64];
		while (read(S.sigpipe[0], drain, sizeof drain) > 0)
			;
	}
	for (int i = 1; rc > 0 && i < n; i++)
		if (pfds[i].revents && owners[i]->chan >= 0)
			on_child_message(owners[i]);
	return RT_OK;
}

/* The flags the signal handlers set, in this order: reap before deciding
 * anything, stop before reload. */
static void act_on_signals(void)
{
	if (got_chld) {
		got_chld = 0;
		reap();
	}
	if (got_term) {
		got_term = 0;
		begin_stop();
	}
	if (got_hup) {
		got_hup = 0;
		if (!S.stopping)
			reload();
	}
	if (got_usr1) {
		got_usr1 = 0;
		reopen_logs();
	}
}

int master_run(struct config *cfg, const struct config_src *src)
{
	struct rt_err err;
	S.cfg = cfg;
	S.src = src;
	log_set_role("master", -1);
	proctitle_set("rtftd: master");
	atomic_store(&rt_shm->master_pid, (int)getpid());
	if (setup_signals(&err) != RT_OK) {
		log_error("%s", err.msg);
		return RT_EXIT_FAILURE;
	}
	S.watchdog_usec = notify_watchdog_usec();
	raise_nofile();
	if (open_sockets(cfg, &err) != RT_OK) {
		log_error("%s", err.msg);
		return RT_EXIT_FAILURE;
	}
	notify_status("starting %d workers", cfg->workers);

	struct child *m = proc_alloc();
	m->kind = CHILD_METRICS;
	m->slot = -1;
	if (start_child(m, &err) != RT_OK) {
		log_error("%s", err.msg);
		return RT_EXIT_FAILURE;
	}
	if (spawn_generation(&S.gen, &err) != RT_OK) {
		log_error("%s", err.msg);
		begin_stop();
	}

	for (;;) {
		if (S.stopping && proc_running() == 0)
			break;
		if (poll_once() != RT_OK)
			break;
		act_on_signals();
		int64_t now = time_mono_ms();
		run_respawns(now);
		run_kills(now);
		if (S.stopping && now >= S.stop_deadline_ms + 2000) {
			log_error("children did not exit after SIGKILL: giving up on them");
			break;
		}
		watchdog(now);
		if (S.announced_ready && !S.stopping)
			update_status(false);
	}
	log_info("stopped");
	return S.exit_code;
}
