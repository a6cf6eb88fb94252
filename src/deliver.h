/*
 * deliver.h: hand a message to whoever holds a name, wherever that is.
 * The session code (session.c) calls one function and gets one answer; it
 * never learns whether the recipient is on this worker, another worker of
 * this machine, or (later) another machine. Two sides:
 *
 *   struct deliver       what the session code calls (send);
 *   struct deliver_sink  what the session code gives the back end: how to
 *                        put a message on one of this worker's connections
 *                        (take), and how to tell a sender that a message
 *                        the back end had accepted was not delivered after
 *                        all (undelivered).
 *
 * First back end, deliver_bus: this worker's connections directly, other
 * workers' over bus.c. A message for another worker travels as a
 * BUS_DELIVER (text) or BUS_DELIVER_BINARY frame whose payload is
 *   [1 byte: name length n][n bytes: the recipient's name][the message]
 * and the receiving worker answers only when it could not deliver:
 * BUS_BOUNCE (not there), BUS_SLOW (over its outbound limit) or
 * BUS_NO_BINARY, each with the recipient's name as payload. Worker only.
 */
#ifndef RT_DELIVER_H
#define RT_DELIVER_H

#include "rtftd.h"
#include <sys/uio.h>

struct directory;
struct event_base;

/* Most pieces one message may come in (deliver.send's iovcnt). */
#define DELIVER_PIECES_MAX 14

enum deliver_kind {
	DELIVER_TEXT, /* a text message (JSON) */
	DELIVER_BINARY, /* a binary relay message */
};

enum deliver_result {
	DELIVERED = 0, /* queued for the recipient, or handed to the worker
			* that holds it (which may still answer undelivered) */
	DELIVER_SLOW, /* the recipient is over its outbound limit: dropped */
	DELIVER_GONE, /* nobody holds the name (or the holder is leaving) */
	DELIVER_UNSUPPORTED, /* the holder's client lacks a capability the
			      * message needs (binary relay, TRANSFER) */
};

struct deliver_sink {
	/* Put the message (pieces) on this worker's connection conn, which the
	 * directory says holds name. DELIVERED, DELIVER_SLOW, DELIVER_GONE
	 * (not there, or no longer holding name), or DELIVER_UNSUPPORTED
	 * (binary to a client that did not ask for it). */
	enum deliver_result (*take)(uint64_t conn, const char *name, enum deliver_kind kind, const struct iovec *iov,
				    int iovcnt);
	/* A message that sender (a connection of this worker) sent to name
	 * came back: why is DELIVER_SLOW, DELIVER_GONE or DELIVER_UNSUPPORTED. */
	void (*undelivered)(uint64_t sender, const char *name, enum deliver_kind kind, enum deliver_result why);
};

struct deliver {
	/* Sends the message in pieces from this worker's connection sender to
	 * the holder of name (a valid name), if its capabilities include every
	 * bit of need_caps (DIR_CAP_*; else DELIVER_UNSUPPORTED). The pieces
	 * need to live only during the call. */
	enum deliver_result (*send)(uint64_t sender, const char *name, enum deliver_kind kind, uint32_t need_caps,
				    const struct iovec *iov, int iovcnt);
};

/* The worker, once after fork: this worker's bus socket, and where names
 * are looked up. RT_ERR (err filled) when the bus cannot listen. */
int deliver_bus_setup(struct event_base *base, int slot, int master_pid, const struct directory *dir,
		      const struct deliver_sink *sink, struct rt_err *err) RT_MUSTCHECK;
extern const struct deliver deliver_bus;

#endif
