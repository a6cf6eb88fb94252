/*
 * proc.c: child slots, fork, and the respawn back-off rule.
 * Must not: block, or keep any state a child could inherit by mistake.
 */
#include "autoconf.h"
#include "proc.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct child proc_children[PROC_MAX];

static int close_fds[16];
static int nclose_fds;

void proc_close_in_child(int fd)
{
	rt_assert(nclose_fds < (int)RT_ARRAY_LEN(close_fds)); /* else the fd would leak into children */
	if (nclose_fds < (int)RT_ARRAY_LEN(close_fds))
		close_fds[nclose_fds++] = fd;
}

int64_t proc_backoff_ms(int fails)
{
	/* the first death is answered at once: a killed worker is replaced
	 * within a second; then 100 ms doubling up to 30 s */
	if (fails <= 1)
		return 0;
	int64_t ms = 100;
	for (int i = 2; i < fails && ms < 30000; i++)
		ms *= 2;
	return ms > 30000 ? 30000 : ms;
}

struct child *proc_find_pid(pid_t pid)
{
	for (int i = 0; i < PROC_MAX; i++)
		if (proc_children[i].used && proc_children[i].pid == pid)
			return &proc_children[i];
	return NULL;
}

struct child *proc_alloc(void)
{
	for (int i = 0; i < PROC_MAX; i++)
		if (!proc_children[i].used) {
			memset(&proc_children[i], 0, sizeof proc_children[i]);
			proc_children[i].used = true;
			proc_children[i].chan = -1;
			return &proc_children[i];
		}
	return NULL;
}

int proc_running(void)
{
	int n = 0;
	for (int i = 0; i < PROC_MAX; i++)
		if (proc_children[i].used && proc_children[i].pid > 0)
			n++;
	return n;
}

static void child_reset_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGUSR1, SIGCHLD, SIGPIPE, SIGUSR2 };
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < RT_ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	/* a terminal's ^C and hangup go to the whole process group: only the
	 * master decides how children stop */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

int proc_spawn(struct child *c, proc_body body, void *arg, struct rt_err *err)
{
	fflush(stdout);
	fflush(stderr);
	pid_t ppid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		rt_err_set(err, "fork() failed: %s", strerror(errno));
		return RT_ERR;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != ppid)
			_exit(RT_EXIT_OK); /* the master died before we got here */
		child_reset_signals();
		for (int i = 0; i < PROC_MAX; i++) {
			struct child *o = &proc_children[i];
			if (o->used && o->chan >= 0)
				close(o->chan);
		}
		for (int i = 0; i < nclose_fds; i++)
			close(close_fds[i]);
		body(c, arg);
		_exit(RT_EXIT_OK);
	}
	c->pid = pid;
	c->started_ms = time_mono_ms();
	c->ready = false;
	c->respawn_at_ms = 0;
	return RT_OK;
}
