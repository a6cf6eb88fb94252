/*
 * chan.h: messages between the master and each child over a SOCK_SEQPACKET
 * socketpair made before fork. One datagram per message, so a message is
 * never seen half-written and a dead peer is an EOF.
 */
#ifndef RT_CHAN_H
#define RT_CHAN_H

#include "rtftd.h"

enum chan_type {
	CHAN_READY = 1, /* child -> master: initialised and serving */
	CHAN_QUIT, /* master -> child: payload struct chan_quit */
	CHAN_CONFIG, /* master -> child: payload config_format() text */
	CHAN_REOPEN_LOG, /* master -> child: reopen LOG_FILE */
	CHAN_STATUS, /* metrics -> master: payload struct chan_status */
	CHAN_CONFIG_OK, /* child -> master: the new config was applied */
};

enum chan_quit_mode {
	QUIT_SHUTDOWN = 1, /* SIGTERM: finish in-flight requests, close the rest */
	QUIT_DRAIN, /* reload to a new generation: stop accepting, keep connections until the deadline */
};

struct chan_quit {
	int32_t mode; /* enum chan_quit_mode */
	int32_t timeout_ms; /* from now */
};

struct chan_status {
	int32_t all_alive; /* every worker's heartbeat is fresh */
	int32_t workers_ready;
	int64_t connections;
	int64_t requests;
};

#define CHAN_MAX_PAYLOAD (60 * 1024)

struct chan_hdr {
	uint16_t type;
	uint16_t pad;
	uint32_t len;
};

/* socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_NONBLOCK|SOCK_CLOEXEC). fds[0] is
 * the master's end, fds[1] the child's. */
int chan_pair(int fds[2], struct rt_err *err) RT_MUSTCHECK;

/* Sends one message; RT_OK, RT_AGAIN (the peer's buffer is full), RT_ERR
 * (errno set: EPIPE/ECONNRESET when the peer is gone). */
int chan_send(int fd, enum chan_type type, const void *payload, size_t len) RT_MUSTCHECK;

/* Receives one message into buf (cap bytes of payload). Returns the payload
 * length (>= 0) with *type set, RT_AGAIN when nothing is pending, or RT_ERR
 * on EOF/error (errno 0 on EOF). Truncated messages are an error. */
int chan_recv(int fd, uint16_t *type, void *buf, size_t cap) RT_MUSTCHECK;

#endif
