/*
 * bus.c: worker-to-worker frames over abstract Unix stream sockets (see
 * bus.h). The master is not on this path.
 * Must not: block (connect is non-blocking; a local abstract socket accepts
 * at once or refuses), or trust a peer that is not our own uid.
 */
#include "autoconf.h"
#include "bus.h"
#include "log.h"
#include "rbuf.h"
#include "util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUS_MAX_FRAME (64u * 1024 * 1024)
#define BUS_OUT_LIMIT (64u * 1024 * 1024)

struct bus_hdr {
	uint32_t len;
	uint16_t kind;
	int16_t src_slot;
	uint64_t src_conn;
	uint64_t dst_conn;
};

/* A link another worker opened to us: we only read from it (our answers go
 * on our own link to that worker). */
struct link {
	int fd;
	struct event *ev;
	struct evbuffer *in; /* bytes that are not a whole frame yet */
	struct rbuf *big; /* a big frame's payload, read straight into here (rbuf.h) */
	size_t big_have;
	struct bus_hdr big_h;
	struct link *next;
};

static struct {
	struct event_base *base;
	int slot;
	int master_pid;
	bus_handler h;
	struct evconnlistener *lst;
	struct bufferevent *out[RT_MAX_SLOTS];
	struct link *in;
} B;

uint64_t bus_frames_out, bus_frames_in, bus_bytes_out;

/* libevent moves at most 16 KiB per read or write call by default: a
 * relayed file chunk of 256 KiB took 16 system calls on each side. */
#define BUS_IO_MAX (1024 * 1024)
static void big_io(struct bufferevent *bev, int fd)
{
	bufferevent_set_max_single_read(bev, BUS_IO_MAX);
	bufferevent_set_max_single_write(bev, BUS_IO_MAX);
	int sz = BUS_IO_MAX;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static socklen_t bus_addr(struct sockaddr_un *sa, int slot)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	/* abstract namespace: sun_path[0] == 0, gone with the last fd */
	int n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "rtftd/%d/bus/%d", B.master_pid, slot);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void deliver_frame(const struct bus_hdr *h, const char *payload)
{
	bus_frames_in++;
	B.h((enum bus_kind)h->kind, h->src_slot, h->src_conn, h->dst_conn, payload, h->len);
}

static void unlink_in(struct link *l)
{
	for (struct link **pp = &B.in; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	event_free(l->ev);
	close(l->fd);
	if (l->in)
		evbuffer_free(l->in);
	rbuf_unref(l->big);
	free(l);
}

/* Whole frames from l->in; a big frame whose payload is not all there yet
 * goes on in an rbuf. false when the link is dropped. */
static bool read_frames(struct link *l)
{
	for (;;) {
		struct bus_hdr h;
		size_t avail = evbuffer_get_length(l->in);
		if (avail < sizeof h)
			return true;
		evbuffer_copyout(l->in, &h, sizeof h);
		if (h.len > BUS_MAX_FRAME) {
			log_error("bus: frame of %u bytes from worker %d: dropping the link", h.len, h.src_slot);
			unlink_in(l);
			return false;
		}
		if (avail < sizeof h + h.len) {
			if (h.len >= RBUF_MIN && (l->big = rbuf_new(h.len)) != NULL) {
				evbuffer_drain(l->in, sizeof h);
				l->big_h = h;
				l->big_have = avail - sizeof h;
				evbuffer_remove(l->in, l->big->data, l->big_have);
			}
			return true;
		}
		evbuffer_drain(l->in, sizeof h);
		char *payload = (char *)evbuffer_pullup(l->in, (ev_ssize_t)h.len);
		deliver_frame(&h, payload ? payload : "");
		evbuffer_drain(l->in, h.len);
	}
}

static void in_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	ssize_t n;
	if (l->big)
		n = read(fd, l->big->data + l->big_have, l->big->len - l->big_have);
	else
		n = evbuffer_read(l->in, fd, BUS_IO_MAX);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		unlink_in(l); /* that worker is gone */
		return;
	}
	if (n < 0)
		return;
	if (!l->big) {
		(void)read_frames(l);
		return;
	}
	l->big_have += (size_t)n;
	if (l->big_have < l->big->len)
		return;
	struct rbuf *b = l->big;
	l->big = NULL;
	rbuf_enter(b); /* what the handler sends on refers to it */
	deliver_frame(&l->big_h, (const char *)b->data);
	rbuf_leave();
	rbuf_unref(b);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != getuid()) {
		log_warn("bus: refused a connection from uid %d", cl == sizeof cred ? (int)cred.uid : -1);
		close(fd);
		return;
	}
	int sz = BUS_IO_MAX;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	if (fd_set_nonblock(fd) != RT_OK) {
		log_warn("bus: cannot make a link non-blocking: %s", strerror(errno));
		close(fd);
		return;
	}
	struct link *lk = xcalloc(1, sizeof *lk);
	lk->fd = fd;
	lk->in = evbuffer_new();
	lk->ev = event_new(B.base, fd, EV_READ | EV_PERSIST, in_read_cb, lk);
	lk->next = B.in;
	B.in = lk;
	event_add(lk->ev, NULL);
}

int bus_setup(struct event_base *base, int slot, int master_pid, bus_handler h, struct rt_err *err)
{
	B.base = base;
	B.slot = slot;
	B.master_pid = master_pid;
	B.h = h;
	struct sockaddr_un sa;
	socklen_t len = bus_addr(&sa, slot);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rt_err_set(err, "bus: socket() failed: %s", strerror(errno));
		return RT_ERR;
	}
	/* a predecessor in this slot may still be dying: retry briefly */
	int tries = 0;
	while (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		if (errno != EADDRINUSE || ++tries > 50) {
			rt_err_set(err, "bus: bind(@%s) failed: %s", sa.sun_path + 1, strerror(errno));
			close(fd);
			return RT_ERR;
		}
		usleep(20 * 1000);
	}
	if (listen(fd, 256) < 0) {
		rt_err_set(err, "bus: listen() failed: %s", strerror(errno));
		close(fd);
		return RT_ERR;
	}
	B.lst = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!B.lst) {
		rt_err_set(err, "bus: evconnlistener_new() failed");
		close(fd);
		return RT_ERR;
	}
	return RT_OK;
}

static void out_eventcb(struct bufferevent *bev, short what, void *arg)
{
	int slot = (int)(intptr_t)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (B.out[slot] == bev)
			B.out[slot] = NULL;
		bufferevent_free(bev);
	}
}

static void out_readcb(struct bufferevent *bev, void *arg)
{
	/* replies come on the peer's own link to us; nothing is read here */
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static struct bufferevent *link_to(int slot)
{
	if (B.out[slot])
		return B.out[slot];
	struct sockaddr_un sa;
	socklen_t len = bus_addr(&sa, slot);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		close(fd);
		return NULL;
	}
	struct bufferevent *bev = bufferevent_socket_new(B.base, fd, BEV_OPT_CLOSE_ON_FREE);
	big_io(bev, fd);
	bufferevent_setcb(bev, out_readcb, NULL, out_eventcb, (void *)(intptr_t)slot);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	B.out[slot] = bev;
	return bev;
}

int bus_send(int dst_slot, enum bus_kind kind, uint64_t src_conn, uint64_t dst_conn, const struct iovec *iov,
	     int iovcnt)
{
	if (dst_slot < 0 || dst_slot >= RT_MAX_SLOTS || dst_slot == B.slot)
		return RT_ERR;
	struct bufferevent *bev = link_to(dst_slot);
	if (!bev)
		return RT_ERR;
	struct evbuffer *out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) > BUS_OUT_LIMIT)
		return RT_AGAIN;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > BUS_MAX_FRAME)
		return RT_ERR;
	struct bus_hdr h = { .len = (uint32_t)total,
			     .kind = (uint16_t)kind,
			     .src_slot = (int16_t)B.slot,
			     .src_conn = src_conn,
			     .dst_conn = dst_conn };
	evbuffer_add(out, &h, sizeof h);
	for (int i = 0; i < iovcnt; i++)
		(void)rbuf_add(out, iov[i].iov_base, iov[i].iov_len); /* by reference where it can */
	bus_frames_out++;
	bus_bytes_out += total;
	return RT_OK;
}

void bus_shutdown(void)
{
	if (B.lst) {
		evconnlistener_free(B.lst);
		B.lst = NULL;
	}
}
