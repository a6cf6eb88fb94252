/*
 * proc.h: the master's table of children: spawn, reap, respawn back-off,
 * and escalation from a polite quit to SIGKILL. Master only.
 */
#ifndef RT_PROC_H
#define RT_PROC_H

#include "rtftd.h"
#include <sys/types.h>

enum child_kind { CHILD_WORKER = 1, CHILD_METRICS };

struct child {
	bool used; /* this entry describes a wanted child */
	enum child_kind kind;
	int slot; /* workers: index into shm slots; metrics: -1 */
	uint32_t generation;
	pid_t pid; /* 0 while not running */
	int chan; /* master's end, -1 when not running */
	bool ready;
	bool quitting; /* CHAN_QUIT sent: do not respawn */
	int64_t kill_at_ms; /* SIGKILL if still alive then (0: none) */
	int64_t started_ms;
	int64_t respawn_at_ms; /* waiting to be started again (0: not waiting) */
	int fails; /* consecutive quick deaths */
};

#define PROC_MAX (RT_MAX_SLOTS + 1)
extern struct child proc_children[PROC_MAX];

/* Body run in the child after fork; must not return. */
typedef void (*proc_body)(struct child *c, void *arg);

/* Forks c. In the child: closes every other child's channel and the fds
 * registered with proc_close_in_child, resets signals, sets
 * PR_SET_PDEATHSIG, then runs body. Returns RT_OK or RT_ERR (fork failed). */
int proc_spawn(struct child *c, proc_body body, void *arg, struct rt_err *err) RT_MUSTCHECK;

/* fds a child must not keep (self-pipe, the other listeners). Each child
 * body closes what it does not need itself; these are closed always. */
void proc_close_in_child(int fd);

/* Back-off before respawning a child that has died fails times in a row
 * (the caller resets fails when a child ran long enough): 0 for the first. */
int64_t proc_backoff_ms(int fails);

struct child *proc_find_pid(pid_t pid);
struct child *proc_alloc(void);
int proc_running(void); /* children with pid > 0 */

#endif
