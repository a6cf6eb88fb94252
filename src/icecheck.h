/*
 * icecheck.h: the metrics child's STUN/TURN reachability checker. A thread
 * of its own sends, every ice_check_interval_ms, one STUN Binding request
 * (stun.c) to each distinct server of stun_servers and turn_servers (a
 * TURN server answers Binding requests too, without credentials), over UDP,
 * or TCP for "?transport=tcp"; stuns: and turns: (TLS) are not checked.
 * Name resolution blocks, so it happens on that thread, never on the
 * event loop. Each round ends with the summary in shared memory
 * (shm_set_ice(), read by /readyz) and the per-server results that
 * /metrics shows (icecheck_snapshot()).
 * Everything here is called from the metrics child's main thread.
 */
#ifndef RT_ICECHECK_H
#define RT_ICECHECK_H

#include "rtftd.h"
#include "ice.h"

struct config;

/* Per server and round: answered (ok), nothing within the time-out
 * (timeout), anything else: resolution, refused, a bad or an error
 * answer (error), or a TLS entry that is not checked (unchecked). */
enum icecheck_result { ICECHECK_OK = 0, ICECHECK_TIMEOUT, ICECHECK_ERROR, ICECHECK_UNCHECKED, ICECHECK_NRESULTS };

/* How long a server has to answer, and when a UDP request is sent again
 * (once, RFC 5389's initial RTO). */
#define ICECHECK_TIMEOUT_MS 2000
#define ICECHECK_RETRANSMIT_MS 500
/* The shortest interval the checker keeps to, whatever the key says. */
#define ICECHECK_MIN_INTERVAL_MS 100

/* One server as /metrics shows it. */
struct icecheck_server {
	char url[sizeof(((struct ice_server *)0)->url)]; /* ice_server_label(): no credentials */
	bool is_checked; /* false: stuns:/turns:, never checked */
	bool has_result; /* a round has checked it since it was configured */
	bool is_up; /* the last check got a Binding success response */
	double rtt_seconds; /* of that answer, when is_up */
	uint64_t results[ICECHECK_NRESULTS]; /* checks so far, by result */
};

/* Starts the thread with the servers of cfg (which it does not keep).
 * RT_ERR with err set when the thread or its pipe cannot be created. An
 * unusable server list (master validated it, so not expected) is logged
 * and checked as empty. */
int icecheck_start(const struct config *cfg, struct rt_err *err) RT_MUSTCHECK;

/* Reload: takes the servers and the interval of cfg (not kept). When they
 * differ from the running ones the thread starts over with a round at
 * once; a server that stays (same URL) keeps its counters. */
void icecheck_apply(const struct config *cfg);

/* Stops and joins the thread; a round in progress is abandoned (a name
 * being resolved is waited for). */
void icecheck_stop(void);

/* Copies the servers into out (at most max); returns how many. */
int icecheck_snapshot(struct icecheck_server *out, int max);

/* "ok", "timeout", "error", "unchecked". */
const char *icecheck_result_name(enum icecheck_result r);

#endif
