/*
 * bus.h: messages from one worker to another on this machine. Each worker
 * listens on an abstract Unix stream socket named after the master's pid
 * and its slot; peers connect lazily and keep the connection. A frame
 * carries the destination connection id and the sender's, so a reply
 * ("not online") can find its way back. A dead worker is an EOF to its
 * peers; its replacement listens on the same name.
 */
#ifndef RT_BUS_H
#define RT_BUS_H

#include "rtftd.h"
#include <sys/uio.h>

struct event_base;

enum bus_kind {
	/* DELIVER*: payload [name length: 1 byte][dst_conn's name][the complete message] */
	BUS_DELIVER = 1, /* a text message for dst_conn */
	BUS_DELIVER_BINARY, /* a binary message for dst_conn */
	BUS_BOUNCE, /* dst_conn was not there; payload: the recipient's name */
	BUS_SLOW, /* dst_conn is over its outbound limit; payload: its name */
	BUS_NO_BINARY, /* dst_conn did not ask for binary relay; payload: its name */
};

typedef void (*bus_handler)(enum bus_kind kind, int src_slot, uint64_t src_conn, uint64_t dst_conn, const char *payload,
			    size_t len);

/* Worker only, after fork. RT_ERR if the listening socket cannot be made. */
int bus_setup(struct event_base *base, int slot, int master_pid, bus_handler h, struct rt_err *err) RT_MUSTCHECK;
/* Sends one frame (payload given as pieces). RT_OK, RT_AGAIN when the
 * link to that worker is over its buffer limit, RT_ERR when the worker is
 * not reachable. */
int bus_send(int dst_slot, enum bus_kind kind, uint64_t src_conn, uint64_t dst_conn, const struct iovec *iov,
	     int iovcnt) RT_MUSTCHECK;
void bus_shutdown(void);

/* counters for stats */
extern uint64_t bus_frames_out, bus_frames_in, bus_bytes_out;

#endif
