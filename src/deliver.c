/*
 * deliver.c: the deliver_bus back end (deliver.h): a name's holder on this
 * worker gets the message through the sink, one on another worker of this
 * machine through bus.c, framed as deliver.h describes.
 * Owns: the bus callback, the [length][name] framing, the mapping of bus
 * answers to deliver results.
 * Must not: know what a user or a protocol message is (the sink does), or
 * count protocol statistics (the session code counts what it sent).
 */
#include "autoconf.h"
#include "deliver.h"
#include "bus.h"
#include "directory.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static struct {
	int slot;
	const struct directory *dir;
	const struct deliver_sink *sink;
} B;

static enum bus_kind frame_of(enum deliver_kind kind)
{
	return kind == DELIVER_BINARY ? BUS_DELIVER_BINARY : BUS_DELIVER;
}

static enum deliver_result bus_send_one(uint64_t sender, const struct dir_holder *h, const char *name,
					enum deliver_kind kind, const struct iovec *iov, int iovcnt)
{
	uint8_t nl = (uint8_t)strlen(name);
	struct iovec v[DELIVER_PIECES_MAX + 2]; /* two more for the framing */
	if (iovcnt > DELIVER_PIECES_MAX)
		return DELIVER_GONE; /* a caller's bug: no message has that many pieces */
	v[0].iov_base = &nl;
	v[0].iov_len = 1;
	v[1].iov_base = (void *)name;
	v[1].iov_len = nl;
	memcpy(v + 2, iov, (size_t)iovcnt * sizeof *iov);
	int rc = bus_send(h->slot, frame_of(kind), sender, h->conn, v, iovcnt + 2);
	return rc == RT_OK ? DELIVERED : rc == RT_AGAIN ? DELIVER_SLOW : DELIVER_GONE;
}

static enum deliver_result bus_deliver(uint64_t sender, const char *name, enum deliver_kind kind, uint32_t need_caps,
				       const struct iovec *iov, int iovcnt)
{
	struct dir_holder h;
	if (B.dir->lookup(name, &h) != RT_OK)
		return DELIVER_GONE;
	if ((h.caps & need_caps) != need_caps)
		return DELIVER_UNSUPPORTED;
	if (h.slot == B.slot)
		return B.sink->take(h.conn, name, kind, iov, iovcnt);
	return bus_send_one(sender, &h, name, kind, iov, iovcnt);
}

const struct deliver deliver_bus = { .send = bus_deliver };

/* ---- the receiving side ---- */

static enum bus_kind answer_of(enum deliver_result r)
{
	return r == DELIVER_SLOW ? BUS_SLOW : r == DELIVER_UNSUPPORTED ? BUS_NO_BINARY : BUS_BOUNCE;
}

static const char *answer_name(enum bus_kind k)
{
	return k == BUS_SLOW ? "a slow reader" : k == BUS_NO_BINARY ? "a refusal of binary" : "a bounce";
}

/* A message from another worker for one of ours: deliver it, and answer
 * the sending worker only when that failed. */
static void take_from_bus(enum bus_kind kind, int src_slot, uint64_t src_conn, uint64_t dst_conn, const char *payload,
			  size_t len)
{
	if (len < 1 || (size_t)(uint8_t)payload[0] + 1 > len)
		return; /* not framed by deliver_bus: nobody to answer */
	size_t nl = (uint8_t)payload[0];
	char name[DIR_NAME_MAX + 1];
	snprintf(name, sizeof name, "%.*s", (int)(nl < DIR_NAME_MAX ? nl : DIR_NAME_MAX), payload + 1);
	struct iovec msg = { (void *)(payload + 1 + nl), len - 1 - nl };
	enum deliver_result r = B.sink->take(dst_conn, name, kind == BUS_DELIVER_BINARY ? DELIVER_BINARY : DELIVER_TEXT,
					     &msg, 1);
	if (r == DELIVERED)
		return;
	enum bus_kind answer = answer_of(r);
	struct iovec who = { name, strlen(name) };
	if (bus_send(src_slot, answer, dst_conn, src_conn, &who, 1) != RT_OK)
		log_debug("bus: cannot send %s to worker %d", answer_name(answer), src_slot);
}

static void bus_cb(enum bus_kind kind, int src_slot, uint64_t src_conn, uint64_t dst_conn, const char *payload,
		   size_t len)
{
	if (kind == BUS_DELIVER || kind == BUS_DELIVER_BINARY) {
		take_from_bus(kind, src_slot, src_conn, dst_conn, payload, len);
		return;
	}
	/* an answer about a message one of our connections sent */
	char name[DIR_NAME_MAX + 1];
	snprintf(name, sizeof name, "%.*s", (int)(len < DIR_NAME_MAX ? len : DIR_NAME_MAX), payload);
	if (kind == BUS_BOUNCE)
		B.sink->undelivered(dst_conn, name, DELIVER_TEXT, DELIVER_GONE);
	else if (kind == BUS_SLOW)
		B.sink->undelivered(dst_conn, name, DELIVER_TEXT, DELIVER_SLOW);
	else if (kind == BUS_NO_BINARY)
		B.sink->undelivered(dst_conn, name, DELIVER_BINARY, DELIVER_UNSUPPORTED);
}

int deliver_bus_setup(struct event_base *base, int slot, int master_pid, const struct directory *dir,
		      const struct deliver_sink *sink, struct rt_err *err)
{
	B.slot = slot;
	B.dir = dir;
	B.sink = sink;
	return bus_setup(base, slot, master_pid, bus_cb, err);
}
